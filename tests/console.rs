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
        current_digest: None,
        promotion: None,
        deploy_release: None,
        deploy_digest: None,
        previous_release: Some("20261120T090000Z-9f00e1a2".into()),
        stage_started_at: Some("2026-11-24T14:00:00.000Z".into()),
        soak_remaining_s: None,
        soak_total_s: None,
        soak_paused: None,
        stage: None,
        checks: vec![
            check("process_alive", Some(1.0), "==", 1.0, "ok"),
            check("telemetry_fresh", Some(0.4), "<", 2.0, "ok"),
            check("pnl_in_band", Some(412.2), ">=", 0.0, "ok"),
            check("drawdown_budget", Some(0.8), "<", 3.0, "ok"),
            check("no_kill_events", Some(0.0), "==", 0.0, "ok"),
            check("reconciliation_clean", Some(0.0), "==", 0.0, "ok"),
        ],
        last_drill_at: None,
        awaiting_approval: None,
        halted_reason: None,
        runbook: None,
        estop: None,
        tier: None,
        submitted_by: None,
        deploy_reason: None,
        commit: None,
        outcome: None,
        service: ServiceView {
            kind: "command".into(),
            running: true,
            pid: Some(4411),
            ..Default::default()
        },
        audit_head: None,
        sampled_at: None,
        scrape_error: None,
        freeze: None,
        agent_version: "0.1.0".into(),
        now: "2026-11-24T14:02:11.000Z".into(),
    }
}

fn host(name: &str, wave: &str, status: Status, rtt_ms: u64) -> HostView {
    let mut h = HostView::new(name, Some(wave.into()));
    h.link = Link::Up {
        rtt: Some(Duration::from_millis(rtt_ms)),
    };
    h.heard_at = Some(now());
    h.status_at = Some(now());
    h.checks_at = Some(now());
    h.pnl = (0..40)
        .map(|i| f64::from(i) * 10.0 + (f64::from(i) * 0.7).sin() * 30.0)
        .collect();
    h.status = Some(status);
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
    }
    let screen = render(&model, 160, 45);
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "{screen:?}"
    );
    assert!(screen.contains("evil"));
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
    assert_eq!(model.selected, 3);
    assert!(render(&model, 160, 45).contains("▶ sin-1"));
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
    let screen = render(&model, 80, 24);
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

    // The rest of the fleet: k moves, and lhr-1 is approved at once.
    for _ in 0..4 {
        update(&mut model, &keymap, key(KeyCode::Char('k')));
    }
    assert_eq!(model.selected, 0);
    update(&mut model, &keymap, key(KeyCode::Char('a')));
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
