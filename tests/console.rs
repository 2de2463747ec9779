//! The control room without a terminal: update on messages, and the screen
//! rendered into ratatui's TestBackend, snapshotted with insta.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use gantry::console::keymap::Keymap;
use gantry::console::state::{HostView, Link, Model};
use gantry::console::theme::Theme;
use gantry::console::update::{Command, Msg, update};
use gantry::console::view;
use gantry::pipeline::{Actor, Role, Stage};
use gantry::wire::{AuditEntry, Awaiting, CheckView, Request, ServiceView, Status};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 14, 2, 11).unwrap()
}

fn check(name: &str, value: Option<f64>, op: &str, limit: f64, status: &str) -> CheckView {
    CheckView {
        name: name.into(),
        ok: status == "ok",
        status: status.into(),
        value,
        op: op.into(),
        limit,
        severity: "P0".into(),
        failures: u32::from(status != "ok"),
        failures_allowed: 1,
        age_s: value.map(|_| 0.4),
        applies: true,
        ..CheckView::default()
    }
}

fn status(host: &str, state: &str, release: &str) -> Status {
    Status {
        host: host.into(),
        state: state.into(),
        deploy_id: Some("d-20261124T140000Z-1".into()),
        current_release: Some(release.into()),
        previous_release: Some("20261120T090000Z-9f00e1a2".into()),
        stage_started_at: Some("2026-11-24T14:00:00.000Z".into()),
        checks: vec![
            check("process_alive", Some(1.0), "==", 1.0, "ok"),
            check("telemetry_fresh", Some(0.4), "<", 2.0, "ok"),
            check("pnl_in_band", Some(412.2), ">=", 0.0, "ok"),
            check("drawdown_budget", Some(0.8), "<", 3.0, "ok"),
            check("no_kill_events", Some(0.0), "==", 0.0, "ok"),
            check("reconciliation_clean", Some(0.0), "==", 0.0, "ok"),
        ],
        service: ServiceView {
            kind: "command".into(),
            running: true,
            pid: Some(4411),
            ..Default::default()
        },
        agent_version: "0.1.0".into(),
        now: "2026-11-24T14:02:11.000Z".into(),
        ..Status::default()
    }
}

fn host(name: &str, wave: &str, status: Status, rtt_ms: u64) -> HostView {
    let mut h = HostView::new(name, Some(wave.into()));
    h.link = Link::Up {
        rtt: Some(Duration::from_millis(rtt_ms)),
    };
    h.heard_at = Some(now());
    // Forty samples ten seconds apart, up to now.
    for i in 0..40 {
        h.pnl.record(
            now() - chrono::Duration::seconds(i64::from(39 - i) * 10),
            f64::from(i) * 10.0 + (f64::from(i) * 0.7).sin() * 30.0,
        );
    }
    h.took_status(status, now());
    h
}

fn audit(seq: u64, kind: &str, message: &str) -> AuditEntry {
    AuditEntry {
        seq,
        at: format!("2026-11-24T14:01:{:02}.000Z", 40 + seq),
        host: "lhr-1".into(),
        kind: kind.into(),
        state: "canary".into(),
        actor: None,
        reason: None,
        deploy_id: None,
        release: None,
        message: message.into(),
        detail: None,
        event: None,
        prev: String::new(),
        hash: String::new(),
    }
}

/// The DESIGN screen: one host awaiting approval, one mid-paper, one
/// rolled back and stale, one halted, one live.
fn fleet_model() -> Model {
    let mut awaiting = status("lhr-1", "awaiting_approval", "20261124T133000Z-ab12cd34");
    awaiting.awaiting_approval = Some(Awaiting {
        deploy_id: "d-20261124T133000Z-7".into(),
        release: "20261124T133000Z-ab12cd34".into(),
        digest: "ab12cd34".repeat(8),
        stage: Stage::Canary,
    });
    let mut paper = status("ewr-1", "paper", "20261124T133000Z-ab12cd34");
    paper.soak_remaining_s = Some(462.0);
    paper.soak_total_s = Some(600.0);
    paper.checks[3] = check("drawdown_budget", None, "<", 3.0, "no data");
    let rolled = status("fra-1", "rolled_back", "20261120T090000Z-9f00e1a2");
    let mut halted = status("sin-1", "halted", "20261120T090000Z-9f00e1a2");
    halted.halted_reason = Some("emergency stop by amy: venue outage".into());
    let mut live = status("ord-1", "live", "20261124T100000Z-77aa00bb");
    live.soak_remaining_s = Some(3000.0);
    live.soak_total_s = Some(3600.0);
    let mut stale = host("fra-1", "full", rolled, 31);
    stale.heard_at = Some(now() - chrono::Duration::seconds(42));
    stale.link = Link::Down {
        error: "connection refused".into(),
        retry_at: now() + chrono::Duration::seconds(4),
    };
    let mut model = Model::new(
        "prod-eu",
        vec![
            host("lhr-1", "canary", awaiting, 12),
            host("ewr-1", "primary", paper, 31),
            stale,
            host("sin-1", "full", halted, 44),
            host("ord-1", "full", live, 9),
        ],
        now(),
    );
    model
        .audit
        .push_back((0, audit(1, "gate.pass", "canary soak complete, 6/6 checks")));
    model
        .audit
        .push_back((0, audit(2, "stage.await", "canary → live needs approval")));
    let mut estop = audit(3, "estop", "halted: emergency stop by amy: venue outage");
    estop.actor = Some(Actor {
        name: "amy".into(),
        role: Role::Operator,
        seen_as: None,
        claimed: None,
    });
    estop.reason = Some("venue outage".into());
    model.audit.push_back((3, estop));
    model
}

fn render(model: &Model, width: u16, height: u16) -> String {
    let mut model = model.clone();
    model.size = (width, height);
    let keymap = Keymap::default_map();
    let theme = Theme::default_theme(true);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| view::draw(frame, &model, &keymap, &theme))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        for x in 0..width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(model: &mut Model, keymap: &Keymap, text: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    for c in text.chars() {
        commands.extend(update(model, keymap, key(KeyCode::Char(c))));
    }
    commands
}

#[test]
fn fleet_screen_160x45() {
    insta::assert_snapshot!(render(&fleet_model(), 160, 45));
}

#[test]
fn fleet_screen_80x24() {
    insta::assert_snapshot!(render(&fleet_model(), 80, 24));
}

#[test]
fn approve_dialog_names_what_it_approves_and_sends_the_digest() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    let commands = update(&mut model, &keymap, key(KeyCode::Char('a')));
    assert_eq!(
        commands,
        vec![Command::LoadDiff {
            host: 0,
            release: "20261124T133000Z-ab12cd34".into(),
            against: Some("20261120T090000Z-9f00e1a2".into()),
        }]
    );
    update(
        &mut model,
        &keymap,
        Msg::DiffLoaded(
            0,
            Ok(vec![
                gantry::envfile::DiffLine {
                    change: "~".into(),
                    key: "MAX_POSITION_USD".into(),
                    old: Some("25000".into()),
                    new: Some("30000".into()),
                },
                gantry::envfile::DiffLine {
                    change: "~".into(),
                    key: "API_SECRET".into(),
                    old: Some("••••••".into()),
                    new: Some("••••••".into()),
                },
            ]),
        ),
    );
    // No reason: the dialog stays open and says why.
    assert!(update(&mut model, &keymap, key(KeyCode::Enter)).is_empty());
    insta::assert_snapshot!("approve_dialog_no_reason", render(&model, 100, 30));
    type_text(&mut model, &keymap, "canary clean");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    assert_eq!(
        commands,
        vec![Command::Ask {
            ticket: 1,
            host: 0,
            request: Request::Approve {
                deploy_id: "d-20261124T133000Z-7".into(),
                digest: "ab12cd34".repeat(8),
                stage: Stage::Canary,
            },
            reason: Some("canary clean".into()),
        }]
    );
}

#[test]
fn emergency_stop_needs_the_typed_host_name() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 4;
    assert!(update(&mut model, &keymap, key(KeyCode::Char('e'))).is_empty());
    assert!(model.dialog.is_none(), "a lower-case e does nothing");
    update(
        &mut model,
        &keymap,
        Msg::Key(KeyEvent::new(KeyCode::Char('E'), KeyModifiers::SHIFT)),
    );
    assert!(model.dialog.is_some());
    type_text(&mut model, &keymap, "venue outage");
    assert!(
        update(&mut model, &keymap, key(KeyCode::Enter)).is_empty(),
        "moves to the confirmation"
    );
    type_text(&mut model, &keymap, "ord-2");
    assert!(
        update(&mut model, &keymap, key(KeyCode::Enter)).is_empty(),
        "wrong name keeps it open"
    );
    insta::assert_snapshot!("estop_wrong_confirmation", render(&model, 100, 30));
    for _ in 0..5 {
        update(&mut model, &keymap, key(KeyCode::Backspace));
    }
    type_text(&mut model, &keymap, "ord-1");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(
        matches!(
            &commands[..],
            [Command::Ask {
                host: 4,
                request: Request::Estop,
                ..
            }]
        ),
        "{commands:?}"
    );
    // Esc closes a dialog; nothing more is sent.
    let mut model = fleet_model();
    update(&mut model, &keymap, key(KeyCode::Char('r')));
    assert!(update(&mut model, &keymap, key(KeyCode::Esc)).is_empty());
    assert!(model.dialog.is_none());
}

#[test]
fn a_key_on_a_stale_host_acts_only_after_a_second_confirmation() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 2; // fra-1: link down, last heard 42 s ago
    update(&mut model, &keymap, key(KeyCode::Char('r')));
    type_text(&mut model, &keymap, "pnl off");
    update(&mut model, &keymap, key(KeyCode::Enter));
    type_text(&mut model, &keymap, "fra-1");
    assert!(update(&mut model, &keymap, key(KeyCode::Enter)).is_empty());
    let error = model.dialog.as_ref().unwrap().error.clone().unwrap();
    assert!(error.contains("stale"), "{error}");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(matches!(
        &commands[..],
        [Command::Ask {
            request: Request::Rollback { to: None },
            ..
        }]
    ));
}

#[test]
fn help_lists_the_keys_and_filter_narrows_the_audit() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    update(&mut model, &keymap, key(KeyCode::Char('?')));
    insta::assert_snapshot!("help", render(&model, 100, 40));
    update(&mut model, &keymap, key(KeyCode::Esc));
    update(&mut model, &keymap, key(KeyCode::Char('/')));
    type_text(&mut model, &keymap, "estop");
    update(&mut model, &keymap, key(KeyCode::Enter));
    assert_eq!(model.filtered_audit().len(), 1);
}

#[test]
fn host_strings_with_terminal_escapes_are_drawn_inert() {
    let mut model = fleet_model();
    model.audit.push_back((
        0,
        audit(9, "approve", "evil \u{1b}]0;owned\u{7}\u{1b}[2J message"),
    ));
    if let Some(s) = &mut model.hosts[0].status {
        s.current_release = Some("\u{1b}[31mred".into());
        // What the new surfaces of issue 15 draw: a drill's message, a
        // stop's kill and verify output, a submitter's reason.
        s.last_drill = Some(gantry::wire::drill::DrillView {
            at: "2026-11-24T14:00:00.000Z".into(),
            ok: false,
            message: "drill \u{1b}[2J FAILED".into(),
            timings: None,
        });
        s.deploy_reason = Some("why \u{1b}]0;t\u{7}".into());
        s.submitted_by = Some(Actor {
            name: "ci\u{1b}[5m".into(),
            role: Role::Admin,
            seen_as: None,
            claimed: None,
        });
    }
    let screen = render(&model, 160, 45);
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "{screen:?}"
    );
    assert!(screen.contains("evil"));
    assert!(screen.contains("drill"), "{screen}");
    // The approve dialog (evidence) and a halted pane (kill, flat).
    let keymap = Keymap::default_map();
    update(&mut model, &keymap, key(KeyCode::Char('a')));
    let screen = render(&model, 80, 24);
    assert!(screen.contains("by ci"), "{screen}");
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "{screen:?}"
    );
    update(&mut model, &keymap, key(KeyCode::Esc));
    model.selected = 3;
    if let Some(s) = &mut model.hosts[3].status {
        s.halted_reason = Some("stop \u{1b}[2J now".into());
        s.estop = serde_json::from_value(serde_json::json!({
            "at": "2026-11-24T14:02:00.000Z", "by": null, "reason": "x",
            "kill": {"ok": false, "summary": "kill \u{1b}[31m failed"},
            "flat": {"verified": false, "verdict": "not_flat", "at": "2026-11-24T14:02:04.000Z",
                     "summary": "open \u{7} orders"},
        }))
        .ok();
    }
    let screen = render(&model, 160, 45);
    assert!(screen.contains("✗ kill command FAILED"), "{screen}");
    assert!(screen.contains("✗ venue NOT FLAT"), "{screen}");
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "{screen:?}"
    );
}

#[test]
fn a_mouse_click_selects_a_row() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.size = (160, 45);
    let areas = gantry::console::layout::split(160, 45, model.hosts.len());
    // Border, column header, then host rows: click the fourth host.
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 10,
        row: areas.table.y + 2 + 3,
        modifiers: KeyModifiers::NONE,
    };
    update(&mut model, &keymap, Msg::Mouse(click));
    // Rows go by urgency: the fourth row is the fourth in that order.
    let fourth = model.order()[3];
    assert_eq!(model.selected, fourth);
    let name = &model.hosts[fourth].name;
    assert!(render(&model, 160, 45).contains(&format!("▶ {name}")));
}

#[test]
fn the_header_counts_frozen_hosts() {
    let mut model = fleet_model();
    assert!(!render(&model, 160, 45).contains("frozen"));
    for host in model.hosts.iter_mut().take(2) {
        if let Some(s) = &mut host.status {
            s.freeze = Some("friday-afternoon (fri 14:00–24:00 America/New_York)".into());
        }
    }
    let screen = render(&model, 160, 45);
    let header = screen.lines().next().unwrap();
    assert!(header.contains("· 2 frozen"), "{header}");
}

#[test]
fn a_rollout_in_progress_shows_its_waves_and_whom_it_waits_for() {
    let mut model = fleet_model();
    assert_eq!(
        gantry::console::view::rollout_title(&model),
        "",
        "no rollout, no title"
    );
    let digest = "ab12cd34".repeat(8);
    for (i, host) in model.hosts.iter_mut().enumerate() {
        let status = host.status.as_mut().unwrap();
        status.promotion = Some(format!("rollout wave {}", host.wave.clone().unwrap()));
        status.deploy_digest = Some(digest.clone());
        if i == 0 {
            // The canary is live on the release.
            status.state = "live".into();
            status.current_digest = Some(digest.clone());
        }
    }
    model.hosts[1].status.as_mut().unwrap().state = "awaiting_approval".into();
    let title = gantry::console::view::rollout_title(&model);
    assert!(title.contains("canary 1/1 ✓"), "{title}");
    assert!(
        title.contains("primary 0/1 waits for approval on ewr-1"),
        "{title}"
    );
    assert!(
        title.contains("full 0/3 ✗"),
        "a rolled-back or halted host marks its wave: {title}"
    );
    assert!(render(&model, 160, 45).contains("rollout ab12cd34"));
}

#[test]
fn help_at_80x24_shows_every_key() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    update(&mut model, &keymap, key(KeyCode::Char('?')));
    // Two columns, and what does not fit is reached with j: every key is
    // on one of the screens scrolled through.
    let mut screen = render(&model, 80, 24);
    assert!(screen.contains("j/k scroll"), "{screen}");
    for _ in 0..20 {
        update(&mut model, &keymap, key(KeyCode::Char('j')));
        screen.push_str(&render(&model, 80, 24));
    }
    assert!(model.help, "j scrolls help, it does not close it");
    for needle in [
        "approve canary",
        "emergency stop",
        "close without acting",
        "tab",
        ":rearm",
    ] {
        assert!(
            screen.contains(needle),
            "{needle:?} missing at 80×24:\n{screen}"
        );
    }
}

/// A reply to an emergency stop as the agent sends it.
fn estop_reply(flat: bool) -> gantry::wire::Reply {
    let estop = serde_json::json!({
        "at": "2026-11-24T14:02:11Z",
        "by": "amy",
        "reason": "venue outage",
        "kill": {"ok": true, "summary": "exit 0 in 6 ms: cancelled 2 orders, closed 2 positions"},
        "flat": {
            "verified": flat,
            "verdict": if flat { "flat" } else { "not_flat" },
            "at": "2026-11-24T14:02:11Z",
            "summary": if flat { "verify command said flat" } else { "still not flat after 10.0s: 1 open orders" },
        },
    });
    let data = serde_json::json!({"state": "halted", "estop": estop});
    if flat {
        gantry::wire::Reply::ok("e", Some(data))
    } else {
        gantry::wire::Reply::err("e", gantry::wire::ErrorCode::Failed, "halted, but NOT FLAT")
            .with_data(data)
    }
}

#[test]
fn the_fleet_stop_names_every_host_needs_halt_n_and_shows_each_host_flat() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    let hosts = model.hosts.len();
    update(
        &mut model,
        &keymap,
        Msg::Key(KeyEvent::new(KeyCode::Char('X'), KeyModifiers::SHIFT)),
    );
    assert!(model.fleet_stop.is_some(), "X opens the fleet stop");
    let screen = render(&model, 120, 40);
    for host in &model.hosts {
        assert!(
            screen.contains(&host.name),
            "{} not named:\n{screen}",
            host.name
        );
    }
    assert!(
        screen.contains(&format!("type HALT {hosts} to confirm")),
        "{screen}"
    );
    // No reason: refused; a wrong phrase: refused; nothing sent.
    assert!(update(&mut model, &keymap, key(KeyCode::Enter)).is_empty());
    type_text(&mut model, &keymap, "venue outage");
    update(&mut model, &keymap, key(KeyCode::Tab));
    type_text(&mut model, &keymap, "HALT 4");
    assert!(update(&mut model, &keymap, key(KeyCode::Enter)).is_empty());
    assert!(render(&model, 120, 40).contains(&format!("type HALT {hosts} to confirm")));
    update(&mut model, &keymap, key(KeyCode::Backspace));
    type_text(&mut model, &keymap, &hosts.to_string());
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    assert_eq!(commands.len(), hosts, "one stop per host: {commands:?}");
    let mut tickets = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        assert!(
            matches!(command, Command::Ask { host, request: Request::Estop, reason: Some(r), .. } if *host == i && r == "venue outage"),
            "{command:?}"
        );
        if let Command::Ask { ticket, .. } = command {
            tickets.push(*ticket);
        }
    }
    // Replies arrive one by one; a failed one says why.
    for (i, &ticket) in tickets.iter().enumerate() {
        let reply = if i == 1 {
            Err("link down: connection refused".to_string())
        } else {
            Ok(estop_reply(i != 2))
        };
        let took = Duration::from_millis(100 + 10 * i as u64);
        update(&mut model, &keymap, Msg::Replied(ticket, reply, took));
    }
    let screen = render(&model, 120, 40);
    assert_eq!(
        screen.matches("✓ HALTED · FLAT").count(),
        hosts - 2,
        "{screen}"
    );
    assert!(
        screen.contains("✗ link down: connection refused"),
        "{screen}"
    );
    assert!(screen.contains("HALTED · NOT FLAT"), "{screen}");
    assert!(
        screen.contains(&format!("{}/{hosts} halted and flat", hosts - 2)),
        "{screen}"
    );
    // Each row and the summary carry the time the shell measured.
    assert!(
        screen.contains("0.10s") && screen.contains("all in 0.14s"),
        "{screen}"
    );
    update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(model.fleet_stop.is_none(), "Enter closes once all answered");

    // `:estop all` opens it too; Esc cancels without sending.
    update(&mut model, &keymap, key(KeyCode::Char(':')));
    type_text(&mut model, &keymap, "estop all");
    update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(model.fleet_stop.is_some());
    assert!(update(&mut model, &keymap, key(KeyCode::Esc)).is_empty());
    assert!(model.fleet_stop.is_none());
}

/// Issue 15, part 2: a host whose agent went silent (link up, nothing heard
/// for 4 s) is flagged with its age, its countdown stops where it went
/// silent, and a dialog on it says so at the top before any typing.
#[test]
fn issue_15_a_silent_host_is_flagged_loud_and_its_countdown_stops() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 4; // ord-1: live, 50:00 of its watch left when heard
    let fresh = render(&model, 160, 45);
    assert!(Tmux::row(&fresh, "ord-1").contains("50:00"), "{fresh}");
    assert!(!Tmux::row(&fresh, "ord-1").contains("SILENT"), "{fresh}");

    // Silent for 4 s: the row says so with the age; the countdown shows
    // what was known when the host went silent, not a guess.
    update(
        &mut model,
        &keymap,
        Msg::Tick(now() + chrono::Duration::seconds(4)),
    );
    let screen = render(&model, 160, 45);
    let row = Tmux::row(&screen, "ord-1");
    assert!(row.contains("SILENT 4s"), "{screen}");
    assert!(row.contains("50:00") && row.contains("6/6 ?"), "{screen}");
    assert!(
        screen.contains("ord-1 · STALE: last heard 4s ago"),
        "{screen}"
    );
    // Every host of this model was last heard at the same instant.
    assert!(screen.contains("5 stale"), "{screen}");
    // Check ages are the data's true age: 0.4 s when sampled, 4 s since.
    assert!(screen.contains("0/1 4s"), "{screen}");
    // Its style is the theme's `stale`, which is never fainter than ok.
    let theme = Theme::default_theme(false);
    assert!(
        !theme
            .stale
            .add_modifier
            .contains(ratatui::style::Modifier::DIM)
    );
    assert!(
        theme
            .stale
            .add_modifier
            .contains(ratatui::style::Modifier::BOLD)
    );

    // A dialog on it: the warning is the first line, before the fields.
    update(&mut model, &keymap, key(KeyCode::Char('r')));
    let screen = render(&model, 160, 45);
    let warning = screen
        .find("⚠ ord-1 SILENT 4s")
        .unwrap_or_else(|| panic!("no warning:\n{screen}"));
    let reason = screen.find("reason:").unwrap();
    let what = screen.find("Roll ord-1 back").unwrap();
    assert!(warning < what && what < reason, "{screen}");

    // Heard again: fresh, and the countdown goes on from the new status.
    update(&mut model, &keymap, key(KeyCode::Esc));
    let beat = gantry::wire::AgentMsg::Heartbeat {
        at: "2026-11-24T14:02:15.000Z".into(),
    };
    let later = now() + chrono::Duration::seconds(5);
    update(
        &mut model,
        &keymap,
        Msg::Link(4, gantry::ssh::link::LinkEvent::Message(beat), later),
    );
    update(&mut model, &keymap, Msg::Tick(later));
    let screen = render(&model, 160, 45);
    let row = Tmux::row(&screen, "ord-1");
    assert!(!row.contains("SILENT") && row.contains("49:55"), "{screen}");
}

/// Issue 15, part 1: a request to a host that does not answer shows a
/// timer and a deadline, Esc leaves the dialog at once (the fleet is
/// usable: another host can be approved), past the deadline it reads
/// "unknown whether it ran", and a late answer says how late.
#[test]
fn issue_15_a_request_without_an_answer_never_holds_the_control_room() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 4;
    update(&mut model, &keymap, key(KeyCode::Char('r')));
    type_text(&mut model, &keymap, "drawdown creeping");
    update(&mut model, &keymap, key(KeyCode::Enter));
    type_text(&mut model, &keymap, "ord-1");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    let [
        Command::Ask {
            ticket,
            host: 4,
            request: Request::Rollback { to: None },
            ..
        },
    ] = commands[..]
    else {
        panic!("{commands:?} {:?}", model.dialog);
    };
    let at = |s: i64| now() + chrono::Duration::seconds(s);
    // ord-1 is silent from here on; the others beat.
    let others_beat = |model: &mut Model, at: chrono::DateTime<Utc>| {
        for host in [0, 1, 3] {
            let beat = gantry::wire::AgentMsg::Heartbeat {
                at: at.to_rfc3339(),
            };
            let event = gantry::ssh::link::LinkEvent::Message(beat);
            update(model, &keymap, Msg::Link(host, event, at));
        }
        update(model, &keymap, Msg::Tick(at));
    };
    others_beat(&mut model, at(12));
    let screen = render(&model, 160, 45);
    assert!(
        screen.contains("⧗ sent 12s ago · deadline 60s · waiting for ord-1…"),
        "{screen}"
    );
    // Enter does not close a dialog still waiting; Esc does, at once.
    update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(model.dialog.is_some());
    update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(model.dialog.is_none(), "Esc leaves a pending request");
    assert!(render(&model, 160, 45).contains("⧗ rollback sent 12s ago · deadline 60s"));

    // The rest of the fleet: the table moves, and lhr-1 is approved at once.
    update(&mut model, &keymap, key(KeyCode::Char(':')));
    type_text(&mut model, &keymap, "approve lhr-1");
    update(&mut model, &keymap, key(KeyCode::Enter));
    assert_eq!(model.selected, 0);
    type_text(&mut model, &keymap, "canary clean");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    let [
        Command::Ask {
            ticket: approved,
            host: 0,
            request: Request::Approve { .. },
            ..
        },
    ] = commands[..]
    else {
        panic!("{commands:?}");
    };
    let reply = gantry::wire::Reply::ok("c-2", Some(serde_json::json!({"message": "approved"})));
    update(
        &mut model,
        &keymap,
        Msg::Replied(approved, Ok(reply), Duration::from_millis(40)),
    );
    assert!(render(&model, 160, 45).contains("✓ agent: approved"));
    update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(model.dialog.is_none());

    // Past its deadline: not a failure, not a success: unknown.
    others_beat(&mut model, at(61));
    model.selected = 4;
    let screen = render(&model, 160, 45);
    assert!(
        screen.contains(
            "ord-1: no answer to rollback within 60s — unknown whether it ran; check the audit"
        ),
        "the footer tells, whoever is selected:\n{screen}"
    );
    assert!(
        screen.contains("✗ rollback: no answer within 60s (sent 61s ago) — unknown whether it ran"),
        "{screen}"
    );

    // The answer comes 86 s after it was sent: never a silent success.
    let reply = gantry::wire::Reply::ok("c-1", Some(serde_json::json!({"message": "rolled back"})));
    update(
        &mut model,
        &keymap,
        Msg::Replied(ticket, Ok(reply), Duration::from_secs(86)),
    );
    others_beat(&mut model, at(87));
    let screen = render(&model, 160, 45);
    assert!(
        screen.contains(
            "ord-1: rollback answered 86s after sending, 26s past its 60s deadline: ✓ rolled back"
        ),
        "{screen}"
    );
    assert!(
        screen.contains("⚠ rollback answered LATE, 26s past its 60s deadline: ✓ rolled back"),
        "{screen}"
    );
}

/// Issue 15, part 3: every check is reachable, failing first; the pane
/// says what changed and, for a rolled-back host, what failed and why.
#[test]
fn issue_15_the_host_pane_shows_every_check_failing_first_and_what_changed() {
    let mut model = fleet_model();
    model.selected = 2; // fra-1, rolled back
    let status = model.hosts[2].status.as_mut().unwrap();
    status
        .checks
        .push(check("fills_flowing", Some(3.0), ">", 0.0, "ok"));
    // The failing check is the agent's last: it must come first anyway.
    status.checks[5] = check("reconciliation_clean", Some(2.0), "==", 0.0, "failing");
    status.deploy_release = Some("20261124T133000Z-ab12cd34".into());
    status.current_release = Some("20261120T090000Z-9f00e1a2".into());
    status.submitted_by = Some(Actor {
        name: "ci-bot".into(),
        role: Role::Admin,
        seen_as: None,
        claimed: None,
    });
    status.deploy_reason = Some("v2: tighter spreads (PR #42)".into());
    status.tier = Some(gantry::pipeline::Tier::Balanced);
    status.outcome = Some(gantry::wire::OutcomeView {
        outcome: gantry::wire::OutcomeWord::RolledBack,
        detail: Some("drawdown_budget = 12.116 breaks < 3".into()),
    });
    model.hosts[2].heard_at = Some(now());
    model.hosts[2].link = Link::Up { rtt: None };
    let screen = render(&model, 160, 45);
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains(" 0/1 ") || l.contains(" 1/1 "))
        .collect();
    assert_eq!(rows.len(), 7, "all 7 checks on screen:\n{screen}");
    assert!(rows[0].contains("✗ reconciliation_clean"), "{screen}");
    for needle in [
        "deploy d-20261124T140000Z-1: 20261120T090000Z-9f00e1a2 → 20261124T133000Z-ab12cd34",
        "serving 20261120T090000Z-9f00e1a2",
        "by ci-bot — v2: tighter spreads (PR #42)",
        "tier balanced",
        "known-good 20261120T090000Z-9f00e1a2",
        "✗ ROLLED BACK: 20261124T133000Z-ab12cd34 failed: drawdown_budget = 12.116 breaks < 3",
    ] {
        assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
    }
    // Too short for all of them: the failing one still first, the rest
    // counted and named.
    let small = render(&model, 80, 24);
    assert!(small.contains("✗ reconciliati"), "{small}");
    assert!(small.contains("more (all ok)"), "{small}");
}

/// Rows of a screen by host name (as tests/tmux.rs reads them).
struct Tmux;

impl Tmux {
    fn row<'a>(screen: &'a str, host: &str) -> &'a str {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {host} ")))
            .unwrap_or("")
    }
}

/// Statuses arrive with the soak left as each agent sample put it, so the
/// figure jitters by the sample interval and the transit. The countdown
/// counts down steadily through that jitter, never back up, and moves
/// when the deadline really moved.
#[test]
fn a_soak_countdown_counts_down_steadily_through_jitter() {
    let mut paper = status("demo-2", "paper", "20261124T120000Z-aa");
    paper.soak_remaining_s = Some(100.0);
    paper.soak_total_s = Some(300.0);
    let mut h = host("demo-2", "full", paper.clone(), 1);
    let start = now();
    let mut shown = Vec::new();
    // Ten seconds of statuses every 250 ms; each reports the soak as of
    // a sample up to 200 ms old, and arrives up to 40 ms late.
    for tick in 1..=40i64 {
        let at = start + chrono::Duration::milliseconds(tick * 250 + (tick * 37) % 40);
        let sample_age = ((tick * 53) % 200) as f64 / 1000.0;
        paper.soak_remaining_s = Some(100.0 - tick as f64 * 0.25 + sample_age);
        h.heard_at = Some(at);
        h.took_status(paper.clone(), at);
        let (left, _) = h.soak_left(at).unwrap();
        shown.push(left);
    }
    for pair in shown.windows(2) {
        assert!(pair[1] <= pair[0], "counted back up: {shown:?}");
    }
    let last = *shown.last().unwrap();
    assert!((last - 90.0).abs() < 0.3, "ten seconds on, {last} left");
    // A pause of five seconds moves the deadline: shown at once.
    let at = start + chrono::Duration::milliseconds(10_300);
    paper.soak_remaining_s = Some(95.0);
    h.took_status(paper.clone(), at);
    assert!((h.soak_left(at).unwrap().0 - 95.0).abs() < 0.01);
}

/// Issue 15, part 8: Tab focuses the audit pane, j and k move through its
/// entries, Enter opens one whole (reason, who, every field), Esc closes
/// it; a filter that leaves nothing says so, and Esc on `/` clears it.
#[test]
fn the_audit_pane_is_focused_scrolled_and_opened() {
    let keymap = Keymap::default_map();
    let line = |screen: &str, needle: &str| {
        screen
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or("")
            .to_string()
    };
    let mut model = fleet_model();
    update(&mut model, &keymap, key(KeyCode::Tab));
    let screen = render(&model, 160, 45);
    assert!(screen.contains("Enter opens"), "{screen}");
    // The newest entry is selected: amy's emergency stop.
    assert!(
        line(&screen, "halted: emergency stop by amy").contains('▶'),
        "{screen}"
    );
    // k: one older, and j does not move the host selection meanwhile.
    let host = model.selected;
    update(&mut model, &keymap, key(KeyCode::Char('k')));
    assert_eq!(model.selected, host);
    let screen = render(&model, 160, 45);
    assert!(
        line(&screen, "canary → live needs approval").contains('▶'),
        "{screen}"
    );
    update(&mut model, &keymap, key(KeyCode::Char('j')));
    update(&mut model, &keymap, key(KeyCode::Enter));
    let open = render(&model, 160, 45);
    assert!(open.contains("audit #3 on sin-1"), "{open}");
    for needle in ["venue outage", "amy", "operator", "hash"] {
        assert!(open.contains(needle), "{needle:?} missing:\n{open}");
    }
    update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(!render(&model, 160, 45).contains("audit #3 on sin-1"));
    // Tab gives the keys back to the hosts.
    update(&mut model, &keymap, key(KeyCode::Tab));
    update(&mut model, &keymap, key(KeyCode::Char('j')));
    assert_ne!(model.selected, host);

    update(&mut model, &keymap, key(KeyCode::Char('/')));
    type_text(&mut model, &keymap, "zzz-nothing");
    let screen = render(&model, 160, 45);
    assert!(
        screen.contains("no matches for \"zzz-nothing\""),
        "{screen}"
    );
    update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(model.filter.is_empty());
    assert!(render(&model, 160, 45).contains("halted: emergency stop by amy"));
}

/// Issue 15, part 4: the approve dialog carries what a decision needs
/// (submitter, reason, commit, the canary's evidence, the time waiting,
/// the keys), warns of an earlier wave still waiting, and fits at 80×24
/// with its fields inside the frame.
#[test]
fn issue_15_the_approve_dialog_is_worth_deciding_in_and_fits_at_80x24() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    // ord-1, in the last wave, also awaits approval while lhr-1 (canary)
    // still waits and ewr-1 (primary) still soaks.
    let ord = model.hosts[4].status.as_mut().unwrap();
    ord.state = "awaiting_approval".into();
    ord.awaiting_approval = Some(Awaiting {
        deploy_id: "d-20261124T133000Z-9".into(),
        release: "20261124T133000Z-ab12cd34".into(),
        digest: "ab12cd34".repeat(8),
        stage: Stage::Canary,
    });
    ord.submitted_by = Some(Actor {
        name: "ci-bot".into(),
        role: Role::Admin,
        seen_as: None,
        claimed: None,
    });
    ord.deploy_reason = Some("v2: tighter spreads (PR #42)".into());
    ord.commit = Some("ab12cd3".into());
    ord.soak_total_s = Some(900.0);
    ord.checks
        .push(check("fill_rate", Some(1.4), ">=", 0.2, "ok"));
    model.selected = 4;
    update(&mut model, &keymap, key(KeyCode::Char('a')));
    update(&mut model, &keymap, Msg::DiffLoaded(4, Ok(Vec::new())));
    let wide = render(&model, 160, 45);
    for needle in [
        "by ci-bot",
        "v2: tighter spreads (PR #42)",
        "commit ab12cd3",
        "canary soaked 15m00s",
        "waiting 2m11s for approval",
        "checks 7/7",
        "worst margin",
        "canary PnL +412.20 USD",
        "drawdown 0.8% of 3.0%",
        "fills fill_rate 1.40",
        "an earlier wave still waits: lhr-1 (canary, awaiting_approval), ewr-1 (primary, paper)",
        "Enter send",
        "Esc cancel",
    ] {
        assert!(wide.contains(needle), "{needle:?} missing:\n{wide}");
    }
    insta::assert_snapshot!("approve_dialog_160x45", wide);
    // At 80×24 the evidence gives way, the fields do not: the reason
    // field and the keys are inside the frame, above its bottom border.
    let small = render(&model, 80, 24);
    insta::assert_snapshot!("approve_dialog_80x24", small);
    let lines: Vec<&str> = small.lines().collect();
    let reason = lines
        .iter()
        .position(|l| l.contains("reason:"))
        .unwrap_or_else(|| panic!("no reason field:\n{small}"));
    let keys = lines.iter().position(|l| l.contains("Enter send")).unwrap();
    assert!(reason < keys && keys < 23, "{small}");
    assert!(lines[keys + 1].contains('└'), "{small}");
    assert!(small.contains("by ci-bot"), "{small}");
    assert!(small.contains("an earlier wave still waits"), "{small}");
    // The hosts file's `waves` is the rollout order: with `full` first,
    // nothing comes before ord-1.
    model.waves = vec!["full".into(), "primary".into(), "canary".into()];
    let first = render(&model, 160, 45);
    assert!(!first.contains("an earlier wave"), "{first}");
}

/// Issue 15, part 4: an action that cannot apply is refused with one line
/// and no dialog; a dialog whose host changed under it says so first; a
/// drill on a live host asks for the host's name, typed.
#[test]
fn issue_15_impossible_actions_are_refused_before_any_typing() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    // `r` with known-good none.
    model.hosts[4].status.as_mut().unwrap().previous_release = None;
    model.selected = 4;
    update(&mut model, &keymap, key(KeyCode::Char('r')));
    assert!(model.dialog.is_none());
    let flash = model.flash.clone().unwrap();
    assert!(flash.contains("known-good none"), "{flash}");
    assert!(render(&model, 80, 24).contains("rollback refused"));
    // `d` on a host awaiting approval.
    model.selected = 0;
    update(&mut model, &keymap, key(KeyCode::Char('d')));
    assert!(model.dialog.is_none());
    let flash = model.flash.clone().unwrap();
    assert!(
        flash.contains("drill refused: a drill needs a live release (state awaiting_approval)"),
        "{flash}"
    );
    // `:rearm` on a live host.
    let mut model = fleet_model();
    model.selected = 4;
    update(&mut model, &keymap, key(KeyCode::Char(':')));
    type_text(&mut model, &keymap, "rearm");
    update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(model.dialog.is_none());
    let flash = model.flash.clone().unwrap();
    assert!(flash.contains("not halted (state live)"), "{flash}");

    // A drill on the live host: the typed name is asked for.
    update(&mut model, &keymap, key(KeyCode::Char('d')));
    assert!(model.dialog.is_some());
    type_text(&mut model, &keymap, "monthly drill");
    assert!(update(&mut model, &keymap, key(KeyCode::Enter)).is_empty());
    let screen = render(&model, 80, 24);
    assert!(screen.contains("type ord-1 to confirm:"), "{screen}");
    type_text(&mut model, &keymap, "ord-1");

    // The host changes under the open dialog: said at its top at once.
    let mut changed = model.hosts[4].status.clone().unwrap();
    changed.state = "rolled_back".into();
    changed.deploy_id = Some("d-20261124T150000Z-2".into());
    update(
        &mut model,
        &keymap,
        Msg::Link(
            4,
            gantry::ssh::link::LinkEvent::Message(gantry::wire::AgentMsg::State {
                status: Box::new(changed),
            }),
            now(),
        ),
    );
    let screen = render(&model, 80, 24);
    let warning = screen
        .find("ord-1 CHANGED since this dialog opened: state live → rolled_back, deploy")
        .unwrap_or_else(|| panic!("no warning:\n{screen}"));
    assert!(
        screen.contains("d-20261124T150000Z-2; read again"),
        "{screen}"
    );
    assert!(warning < screen.find("Drill on ord-1").unwrap(), "{screen}");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(
        matches!(
            &commands[..],
            [Command::Ask {
                host: 4,
                request: Request::Drill,
                ..
            }]
        ),
        "{commands:?}"
    );
}

/// Issue 15, part 5: a drill's answer shows each step's time against the
/// SLA and the verdict; once the dialog is closed the host pane keeps it
/// (from the agent's status, so a console opened later shows it too).
/// And "never drilled" is overdue only 30 days after the host first went
/// live.
#[test]
fn issue_15_a_drill_shows_its_timings_against_the_sla_and_keeps_them() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 4;
    update(&mut model, &keymap, key(KeyCode::Char('d')));
    type_text(&mut model, &keymap, "monthly drill");
    update(&mut model, &keymap, key(KeyCode::Enter));
    type_text(&mut model, &keymap, "ord-1");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    let [Command::Ask { ticket, .. }] = commands[..] else {
        panic!("{commands:?}");
    };
    let timings = serde_json::json!({
        "detect_ms": 4.2, "swap_ms": 1.9, "restart_ms": 41.0,
        "healthy_ms": 160.3, "total_ms": 212.4
    });
    let reply = gantry::wire::Reply::ok(
        "c-1",
        Some(serde_json::json!({
            "message": "drill passed: rolled back and forward, 20261124T100000Z-77aa00bb live",
            "timings": timings,
        })),
    );
    update(
        &mut model,
        &keymap,
        Msg::Replied(ticket, Ok(reply), Duration::from_millis(900)),
    );
    let screen = render(&model, 80, 24);
    assert!(
        screen.contains("✓ drill PASS 212ms (target 250ms, SLA 60s)"),
        "{screen}"
    );
    assert!(
        screen.contains("detect 4ms · swap 2ms · restart 41ms · healthy 160ms"),
        "{screen}"
    );
    insta::assert_snapshot!("drill_result_80x24", screen);

    // Closed: the agent's next status carries the drill; the pane shows
    // its age and verdict.
    update(&mut model, &keymap, key(KeyCode::Esc));
    let mut status = model.hosts[4].status.clone().unwrap();
    status.last_drill_at = Some("2026-11-24T14:02:10.000Z".into());
    status.last_drill = Some(gantry::wire::drill::DrillView {
        at: "2026-11-24T14:02:10.000Z".into(),
        ok: true,
        message: "drill passed".into(),
        timings: serde_json::from_value(timings).ok(),
    });
    update(
        &mut model,
        &keymap,
        Msg::Link(
            4,
            gantry::ssh::link::LinkEvent::Message(gantry::wire::AgentMsg::State {
                status: Box::new(status),
            }),
            now(),
        ),
    );
    update(
        &mut model,
        &keymap,
        Msg::Tick(now() + chrono::Duration::seconds(1)),
    );
    for (w, h) in [(80, 24), (160, 45)] {
        let screen = render(&model, w, h);
        assert!(
            screen.contains("drill 2s ago ✓ PASS 212ms (target 250ms, SLA 60s)"),
            "{w}x{h}:\n{screen}"
        );
    }
    let screen = render(&model, 160, 45);
    assert!(screen.contains("restart 41ms · healthy 160ms"), "{screen}");
    insta::assert_snapshot!("drill_kept_160x45", screen);

    // Never drilled: overdue only 30 days after the host first went live.
    let mut model = fleet_model();
    model.selected = 4;
    let ord = model.hosts[4].status.as_mut().unwrap();
    ord.live_since = Some("2026-11-24T14:02:10.000Z".into());
    assert!(!model.hosts[4].drill_overdue(now()));
    let screen = render(&model, 160, 45);
    assert!(!screen.contains("over 30 days"), "{screen}");
    assert!(!screen.contains("drill overdue"), "{screen}");
    model.hosts[4].status.as_mut().unwrap().live_since = Some("2026-10-20T09:00:00.000Z".into());
    assert!(model.hosts[4].drill_overdue(now()));
    let screen = render(&model, 160, 45);
    assert!(
        screen.contains("never drilled · ⚠ over 30 days: press d"),
        "{screen}"
    );
    assert!(screen.contains("1 drill overdue"), "{screen}");
}

/// Issue 15, part 3's leftovers: after an emergency stop the host pane
/// shows the kill command's result and the flat verdict, the halted
/// reason whole (wrapped), and no old sparkline; after a rearm the idle
/// row names no release; a console that connects later draws the hour of
/// PnL the agent kept.
#[test]
fn issue_15_after_a_stop_the_pane_shows_the_kill_and_flat_and_no_old_sparkline() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 4;
    let live = render(&model, 160, 45);
    assert!(live.contains('█'), "a sparkline before the stop:\n{live}");

    let mut halted = model.hosts[4].status.clone().unwrap();
    halted.state = "halted".into();
    let reason = "emergency stop by amy: venue outage at the primary exchange, \
                  orders rejected since 14:01 and the hedge leg is unreachable; \
                  flatten and hold until the venue's status page says resolved";
    halted.halted_reason = Some(reason.into());
    halted.estop = Some(
        serde_json::from_value(serde_json::json!({
            "at": "2026-11-24T14:02:00.000Z",
            "by": "amy",
            "reason": "venue outage",
            "kill": {"ok": true, "summary": "cancelled 12 orders, flattened 3 positions"},
            "flat": {"verified": true, "verdict": "flat", "at": "2026-11-24T14:02:04.000Z",
                     "summary": "0 open orders, 0 positions"},
        }))
        .unwrap(),
    );
    let state = |status: Status| {
        Msg::Link(
            4,
            gantry::ssh::link::LinkEvent::Message(gantry::wire::AgentMsg::State {
                status: Box::new(status),
            }),
            now(),
        )
    };
    update(&mut model, &keymap, state(halted.clone()));
    for (w, h) in [(160, 45), (80, 24)] {
        let screen = render(&model, w, h);
        assert!(
            screen.contains("✓ kill command ok: cancelled 12 orders, flattened 3 positions")
                || w == 80,
            "{screen}"
        );
        assert!(screen.contains("✓ kill command ok"), "{w}x{h}:\n{screen}");
        assert!(
            screen.contains("✓ venue verified FLAT at 14:02:04"),
            "{w}x{h}:\n{screen}"
        );
        // The reason is whole, over as many lines as it takes.
        let pane: String = screen
            .lines()
            .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(pane.contains("says resolved"), "{w}x{h}:\n{screen}");
        // No sparkline from before the stop.
        assert!(
            !screen.contains('█') && !screen.contains('▁'),
            "{w}x{h}:\n{screen}"
        );
    }
    insta::assert_snapshot!("halted_pane_160x45", render(&model, 160, 45));

    // Rearmed: idle, nothing serving, and the row says so.
    let mut idle = halted.clone();
    idle.state = "idle".into();
    idle.halted_reason = None;
    update(&mut model, &keymap, state(idle));
    let screen = render(&model, 160, 45);
    let row = Tmux::row(&screen, "ord-1");
    assert!(
        row.contains("IDLE") && !row.contains("1124T100000Z"),
        "{row}"
    );

    // A console that connects later: the agent's hour of PnL, a sample
    // every 10 s, drawn over the whole width.
    let mut model = fleet_model();
    model.selected = 4;
    model.hosts[4].pnl = Default::default();
    let pnl: Vec<gantry::wire::pnl::PnlPoint> = (0..361)
        .map(|i| gantry::wire::pnl::PnlPoint {
            at: gantry::stamp::rfc3339(now() - chrono::Duration::seconds((360 - i) * 10)),
            value: i as f64,
        })
        .collect();
    let status = model.hosts[4].status.clone().unwrap();
    update(
        &mut model,
        &keymap,
        Msg::Link(
            4,
            gantry::ssh::link::LinkEvent::Message(gantry::wire::AgentMsg::Snapshot {
                status: Box::new(status),
                audit: Vec::new(),
                pnl,
            }),
            now(),
        ),
    );
    let columns = model.hosts[4].pnl.columns(40, now());
    assert_eq!(columns.len(), 40, "{columns:?}");
    assert!(columns[0] < 20.0 && columns[39] >= 359.0, "{columns:?}");
}

#[test]
fn issue_16_r_shows_the_selected_hosts_risk_ledger_full_screen_and_esc_goes_back() {
    use gantry::wire::ledger::{Durations, Report};
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    // In the hosts file's order, the host after lhr-1 is ewr-1.
    update(&mut model, &keymap, key(KeyCode::Char('s')));
    update(&mut model, &keymap, key(KeyCode::Down));
    let commands = update(&mut model, &keymap, key(KeyCode::Char('R')));
    assert_eq!(
        commands,
        vec![Command::LoadReport {
            host: 1,
            since_s: Some(30 * 86_400),
        }]
    );
    // Keys of the fleet do nothing under the view; it waits, saying so.
    assert!(update(&mut model, &keymap, key(KeyCode::Char('a'))).is_empty());
    assert!(model.dialog.is_none());
    let waiting = render(&model, 100, 30);
    assert!(waiting.contains("asking ewr-1 for its ledger"), "{waiting}");

    let mut report = Report {
        host: "ewr-1".into(),
        since: Some("2026-10-25T14:02:11.000Z".into()),
        until: "2026-11-24T14:02:11.000Z".into(),
        entries: 412,
        lead_time: Durations::of(vec![1900.0, 2400.0, 2100.0]),
        recovery: Durations::of(vec![0.18]),
        change_failure_rate: Some(1.0 / 3.0),
        ..Report::default()
    };
    report.deploys.submitted = 5;
    report.deploys.reached_live = 3;
    report.deploys.rolled_back = 2;
    report.deploys.failed_after_live = 1;
    report.deploys.rejected = 1;
    report.caught.validate = 1;
    report.caught.shadow = 1;
    report.caught.paper = 2;
    report.caught.live = 1;
    report.approvals.approved = 3;
    report.approvals.wait = Durations::of(vec![40.0, 300.0, 90.0]);
    report.drills.started = 2;
    report.drills.passed = 2;
    report.drills.within_sla = 2;
    report.drills.sla_ms = 60_000.0;
    report.drills.timing = Durations::of(vec![0.2, 0.25]);
    report.alerts.p0 = 2;
    report.alerts.p2 = 3;
    // An answer for another host is not this view's.
    update(
        &mut model,
        &keymap,
        Msg::ReportLoaded(0, Err("not mine".into())),
    );
    assert!(!render(&model, 100, 30).contains("not mine"));
    update(
        &mut model,
        &keymap,
        Msg::ReportLoaded(1, Ok(Box::new(report))),
    );
    let screen = render(&model, 100, 30);
    insta::assert_snapshot!("ledger_view", screen);
    for needle in [
        "risk ledger · ewr-1",
        "5 submitted · 3 reached live",
        "33.3%",
        "where bad releases were stopped",
    ] {
        assert!(screen.contains(needle), "{needle:?}:\n{screen}");
    }
    update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(model.ledger.is_none());
    assert!(!render(&model, 100, 30).contains("risk ledger"));

    // A host that cannot answer says so in the view.
    update(&mut model, &keymap, key(KeyCode::Char('R')));
    update(
        &mut model,
        &keymap,
        Msg::ReportLoaded(1, Err("link down: connection refused".into())),
    );
    let screen = render(&model, 100, 30);
    assert!(screen.contains("no ledger: link down"), "{screen}");
}

#[test]
fn issue_16_the_host_off_the_fleets_release_is_marked_and_releases_groups_them() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    // Four hosts on one named release, fra-1 still on the old one.
    for (i, host) in model.hosts.iter_mut().enumerate() {
        if i != 2 {
            host.status.as_mut().unwrap().current_release = Some("v7-ab12cd34".into());
        }
    }
    let screen = render(&model, 160, 45);
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap()
            .to_string()
    };
    // A given name is shown whole; the odd host is marked, the rest not.
    assert!(row("lhr-1").contains(" v7-ab12cd34 "), "{screen}");
    assert!(
        row("fra-1").contains("≠20261120T090000Z-9f00e1a2"),
        "{screen}"
    );
    assert_eq!(screen.matches('≠').count(), 1, "{screen}");
    assert!(screen.contains("· 2 releases ·"), "{screen}");
    // At 80 columns the mark still shows.
    let narrow = render(&model, 80, 24);
    assert!(
        narrow
            .lines()
            .any(|l| l.contains("fra-1") && l.contains('≠')),
        "{narrow}"
    );

    update(&mut model, &keymap, key(KeyCode::Char(':')));
    type_text(&mut model, &keymap, "releases");
    update(&mut model, &keymap, key(KeyCode::Enter));
    assert_eq!(
        model.flash.as_deref(),
        Some("2 releases: v7-ab12cd34 ×4 · 20261120T090000Z-9f00e1a2 ×1 (fra-1)")
    );

    // One release everywhere: no mark, no count.
    model.hosts[2].status.as_mut().unwrap().current_release = Some("v7-ab12cd34".into());
    let screen = render(&model, 160, 45);
    assert!(
        !screen.contains('≠') && !screen.contains("releases ·"),
        "{screen}"
    );
}

#[test]
fn issue_16_the_rollback_dialog_picks_any_release_that_passed_live() {
    use gantry::wire::releases::{ReleaseEntry, Releases};
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 4;
    let commands = update(&mut model, &keymap, key(KeyCode::Char('r')));
    assert_eq!(commands, vec![Command::LoadReleases { host: 4 }]);
    assert!(render(&model, 100, 30).contains("asking which releases it may go back to"));
    let entry = |release: &str, from: &str, until: Option<&str>, eligible: bool| ReleaseEntry {
        release: release.into(),
        digest: release.rsplit('-').next().unwrap().repeat(8),
        deploy_id: format!("d-{release}"),
        live_from: from.into(),
        live_until: until.map(str::to_string),
        ended: gantry::wire::OutcomeWord::Live,
        detail: None,
        replaced_by: None,
        serving: until.is_none(),
        known_good: release == "20261120T090000Z-9f00e1a2",
        eligible,
    };
    let list = Releases {
        host: "ord-1".into(),
        serving: Some("20261124T100000Z-77aa00bb".into()),
        known_good: Some("20261120T090000Z-9f00e1a2".into()),
        releases: vec![
            entry(
                "20261124T100000Z-77aa00bb",
                "2026-11-24T10:30:00Z",
                None,
                false,
            ),
            entry(
                "20261120T090000Z-9f00e1a2",
                "2026-11-20T09:30:00Z",
                Some("2026-11-24T10:30:00Z"),
                true,
            ),
            entry(
                "v6-1f2e3d4c",
                "2026-11-10T09:30:00Z",
                Some("2026-11-20T09:30:00Z"),
                true,
            ),
        ],
    };
    // An answer for another host's dialog is not this one's.
    update(
        &mut model,
        &keymap,
        Msg::ReleasesLoaded(0, Err("not mine".into())),
    );
    update(
        &mut model,
        &keymap,
        Msg::ReleasesLoaded(4, Ok(Box::new(list))),
    );
    // The known-good first (a plain rollback), then the older release.
    let dialog = model.dialog.as_ref().unwrap();
    let choices = dialog.picker.as_ref().unwrap().choices();
    let names: Vec<&str> = choices.iter().map(|c| c.release.as_str()).collect();
    assert_eq!(names, ["20261120T090000Z-9f00e1a2", "v6-1f2e3d4c"]);
    assert_eq!(choices[0].to, None);
    update(&mut model, &keymap, key(KeyCode::Down));
    update(&mut model, &keymap, key(KeyCode::Down));
    type_text(&mut model, &keymap, "v7 and 20261120 share the bug");
    update(&mut model, &keymap, key(KeyCode::Tab));
    type_text(&mut model, &keymap, "ord-1");
    let screen = render(&model, 100, 30);
    insta::assert_snapshot!("rollback_picker", screen);
    assert!(
        screen.contains("Roll ord-1 back to release v6-1f2e3d4c now"),
        "{screen}"
    );
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(
        matches!(
            &commands[..],
            [Command::Ask {
                host: 4,
                request: Request::Rollback { to: Some(to) },
                ..
            }] if to == "v6-1f2e3d4c"
        ),
        "{commands:?}"
    );

    // Up to the known-good is a plain rollback, as before.
    let mut model = fleet_model();
    update(&mut model, &keymap, key(KeyCode::Char('r')));
    update(&mut model, &keymap, key(KeyCode::Up));
    type_text(&mut model, &keymap, "bad canary");
    update(&mut model, &keymap, key(KeyCode::Tab));
    type_text(&mut model, &keymap, "lhr-1");
    let commands = update(&mut model, &keymap, key(KeyCode::Enter));
    assert!(
        matches!(
            &commands[..],
            [Command::Ask {
                request: Request::Rollback { to: None },
                ..
            }]
        ),
        "{commands:?}"
    );
}

/// The agent's answer to `logs` as it sends it.
fn log_tail_reply(lines: &[&str]) -> gantry::wire::Reply {
    let tail = gantry::wire::logs::LogTail {
        source: "/var/lib/gantry/service.log".into(),
        lines: lines.iter().map(|l| l.to_string()).collect(),
        following: true,
        phases: vec!["starting".into(), "idle reached".into()],
        forbidden: vec!["order executed".into(), "fatal".into()],
    };
    gantry::wire::Reply::ok("x", Some(serde_json::to_value(tail).unwrap()))
}

#[test]
fn issue_15_l_opens_the_host_log_marked_filtered_paused_and_inert() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 4;
    let commands = update(&mut model, &keymap, key(KeyCode::Char('l')));
    let [
        Command::Ask {
            ticket,
            host: 4,
            request: Request::Logs { follow: true, .. },
            ..
        },
    ] = commands.as_slice()
    else {
        panic!("l asks the selected host for its log and a follow: {commands:?}");
    };
    let waiting = render(&model, 80, 24);
    assert!(waiting.contains("asking the agent"), "{waiting}");
    let reply = log_tail_reply(&[
        "gantry-sim 0.1.0 starting host=ord-1 trade_mode=paper",
        "idle reached",
        "strategy tick n=1 mode=paper pnl_usd=0.00",
        "order executed id=1 side=buy qty=0.010",
        "evil \u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\u{202e} bytes",
        "fatal: risk limit breached: drawdown 25.0% (simulated drawdown fault)",
    ]);
    update(
        &mut model,
        &keymap,
        Msg::Replied(*ticket, Ok(reply), Duration::from_millis(40)),
    );
    let screen = render(&model, 80, 24);
    for hostile in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(!screen.contains(hostile), "{hostile:?} drawn: {screen:?}");
    }
    assert!(screen.contains("✗ fatal: risk limit breached"), "{screen}");
    assert!(screen.contains("▸ idle reached"), "{screen}");
    assert!(screen.contains("⚑ order executed"), "{screen}");
    assert!(screen.contains("following"), "{screen}");
    insta::assert_snapshot!(screen);

    // New lines arrive at the bottom while following.
    let batch = gantry::ssh::link::LinkEvent::Message(gantry::wire::AgentMsg::Log {
        id: "x".into(),
        lines: vec!["rollback: restarting known-good".into()],
        skipped: 0,
    });
    update(&mut model, &keymap, Msg::Link(4, batch, now()));
    let screen = render(&model, 80, 24);
    assert!(
        screen.contains("rollback: restarting known-good"),
        "{screen}"
    );

    // f pauses; what arrives then waits below, counted.
    update(&mut model, &keymap, key(KeyCode::Char('f')));
    let batch = gantry::ssh::link::LinkEvent::Message(gantry::wire::AgentMsg::Log {
        id: "x".into(),
        lines: vec!["after the pause".into()],
        skipped: 2,
    });
    update(&mut model, &keymap, Msg::Link(4, batch, now()));
    let screen = render(&model, 80, 24);
    assert!(screen.contains("paused · 1 new below"), "{screen}");
    assert!(!screen.contains("after the pause"), "{screen}");
    assert!(screen.contains("2 skipped"), "{screen}");

    // `/` filters; no match says so; Esc clears the filter.
    update(&mut model, &keymap, key(KeyCode::Char('/')));
    type_text(&mut model, &keymap, "FATAL");
    update(&mut model, &keymap, key(KeyCode::Enter));
    let screen = render(&model, 80, 24);
    assert!(screen.contains("filter \"FATAL\": 1 of 8"), "{screen}");
    assert!(!screen.contains("idle reached"), "{screen}");
    update(&mut model, &keymap, key(KeyCode::Char('/')));
    type_text(&mut model, &keymap, "zzz");
    let screen = render(&model, 80, 24);
    assert!(screen.contains("no line matches"), "{screen}");
    update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(model.logs.as_ref().unwrap().filter.is_empty());

    // Esc leaves the view and ends the follow.
    let commands = update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(model.logs.is_none());
    assert!(
        matches!(
            commands.as_slice(),
            [Command::Ask {
                host: 4,
                request: Request::Logs { follow: false, .. },
                ..
            }]
        ),
        "{commands:?}"
    );
    let fleet = render(&model, 80, 24);
    assert!(fleet.contains("HOST"), "back to the fleet: {fleet}");
}

#[test]
fn issue_15_a_failing_check_shows_its_runbook_and_b_opens_it_in_a_pager() {
    let keymap = Keymap::default_map();
    let mut model = fleet_model();
    model.selected = 1;
    if let Some(s) = &mut model.hosts[1].status {
        s.checks[5] = check("reconciliation_clean", Some(2.0), "==", 0.0, "failing");
        s.checks[5].runbook = Some("runbooks/positions-not-reconciling.md".into());
    }
    let screen = render(&model, 160, 45);
    assert!(
        screen.contains(
            "▸ runbook (b) for reconciliation_clean: runbooks/positions-not-reconciling.md"
        ),
        "{screen}"
    );
    let commands = update(&mut model, &keymap, key(KeyCode::Char('b')));
    let [
        Command::Ask {
            ticket,
            host: 1,
            request: Request::Runbook { name },
            ..
        },
    ] = commands.as_slice()
    else {
        panic!("b asks the host for the runbook: {commands:?}");
    };
    assert_eq!(name, "reconciliation_clean");
    let text = gantry::wire::runbook::RunbookText {
        name: name.clone(),
        runbook: "runbooks/positions-not-reconciling.md".into(),
        url: None,
        text: Some(
            "# Positions not reconciling\n\n- `gantry ctl estop --reason …`\nevil \u{1b}[2J\u{9b}31m\u{202e} end\n"
                .into(),
        ),
        truncated: false,
    };
    let reply = gantry::wire::Reply::ok("x", Some(serde_json::to_value(text).unwrap()));
    update(
        &mut model,
        &keymap,
        Msg::Replied(*ticket, Ok(reply), Duration::from_millis(30)),
    );
    let screen = render(&model, 80, 24);
    for hostile in ['\u{1b}', '\u{9b}', '\u{202e}'] {
        assert!(!screen.contains(hostile), "{hostile:?} drawn: {screen:?}");
    }
    assert!(screen.contains("# Positions not reconciling"), "{screen}");
    assert!(screen.contains("gantry ctl estop"), "{screen}");
    insta::assert_snapshot!(screen);
    update(&mut model, &keymap, key(KeyCode::Esc));
    assert!(model.pager.is_none(), "Esc closes the pager");

    // A URL is shown, not fetched.
    update(&mut model, &keymap, key(KeyCode::Char('b')));
    let ticket = model.pager.as_ref().unwrap().ticket;
    let url = gantry::wire::runbook::RunbookText {
        name: "reconciliation_clean".into(),
        runbook: "https://wiki.example/recon".into(),
        url: Some("https://wiki.example/recon".into()),
        text: None,
        truncated: false,
    };
    let reply = gantry::wire::Reply::ok("y", Some(serde_json::to_value(url).unwrap()));
    update(
        &mut model,
        &keymap,
        Msg::Replied(ticket, Ok(reply), Duration::from_millis(30)),
    );
    let screen = render(&model, 80, 24);
    assert!(screen.contains("https://wiki.example/recon"), "{screen}");
    assert!(screen.contains("does not fetch"), "{screen}");

    // A host with nothing failing: b says so and opens nothing.
    update(&mut model, &keymap, key(KeyCode::Esc));
    model.selected = 4;
    let commands = update(&mut model, &keymap, key(KeyCode::Char('b')));
    assert!(commands.is_empty() && model.pager.is_none());
    assert!(
        render(&model, 160, 45).contains("no failing check or halt with a runbook"),
        "the footer says why"
    );
}
