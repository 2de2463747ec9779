//! The real binary in tmux, as a person runs it: `gantry demo` opens the
//! control room on five hosts; approve a host and see it go live, fire an
//! emergency stop with its typed confirmation and see it halted, quit and
//! find nothing left running; and kill the tmux session under a running
//! demo and find nothing left either.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::GANTRY;
use common::fleet::processes_mentioning;
use common::procs;

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(command: &str) -> Option<Self> {
        Self::start_sized(command, 160, 45)
    }

    fn start_sized(command: &str, width: u16, height: u16) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            if std::env::var("GANTRY_REQUIRE_OPENSSH").as_deref() == Ok("1") {
                panic!("tmux is required in CI (the README's test command installs it)");
            }
            eprintln!("skipping: tmux not installed");
            return None;
        }
        // Tests run in parallel in one process: a session each.
        static SESSIONS: AtomicUsize = AtomicUsize::new(0);
        let session = format!(
            "gantry-test-{}-{}",
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .env("USER", "tester")
            .status()
            .unwrap();
        assert!(status.success());
        Some(Self { session })
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let status = Command::new("tmux")
                .args(["send-keys", "-t", &self.session, k])
                .status()
                .unwrap();
            assert!(status.success());
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(100));
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn row<'a>(screen: &'a str, host: &str) -> &'a str {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {host} ")))
            .unwrap_or("")
    }

    /// The pid of the process the pane runs (the demo, or the shell
    /// running it).
    fn pane_pid(&self) -> i32 {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    }

    fn kill(&self) {
        let status = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.session])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn demo_in_tmux_approve_estop_quit() {
    // Keep the session open after the demo exits, to read its last words.
    let Some(tmux) = Tmux::start(&format!("{GANTRY} demo; sleep 30")) else {
        return;
    };
    // Within 30 s the story is on screen.
    let screen = tmux.wait_for(
        "the story",
        |s| {
            Tmux::row(s, "demo-1").contains("approve")
                && Tmux::row(s, "demo-2").contains("ROLLED BACK")
                && Tmux::row(s, "demo-3").contains("PAPER")
                && Tmux::row(s, "demo-4").contains("LIVE")
        },
        Duration::from_secs(30),
    );
    assert!(screen.contains("1 awaiting approval"), "{screen}");
    assert!(screen.contains("1 rolled back"), "{screen}");

    // demo-1 is selected first: approve it.
    assert!(Tmux::row(&screen, "demo-1").contains('▶'), "{screen}");
    tmux.keys(&["a"]);
    tmux.wait_for(
        "the approve dialog",
        |s| s.contains("Approve canary → live on demo-1"),
        Duration::from_secs(5),
    );
    tmux.text("canary clean in tmux");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the agent's reply",
        |s| s.contains("✓ agent"),
        Duration::from_secs(10),
    );
    tmux.wait_for(
        "the audit entry in the dialog",
        |s| s.contains("audit #") && s.contains("approve"),
        Duration::from_secs(10),
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for(
        "demo-1 live",
        |s| Tmux::row(s, "demo-1").contains("LIVE"),
        Duration::from_secs(10),
    );

    // Emergency stop on demo-4, named on the command line (rows go by
    // urgency, so the table's order is not the hosts file's), with the
    // typed confirmation.
    tmux.keys(&[":"]);
    tmux.text("estop demo-4");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "demo-4 selected",
        |s| Tmux::row(s, "demo-4").contains('▶'),
        Duration::from_secs(5),
    );
    tmux.wait_for(
        "the estop dialog",
        |s| s.contains("EMERGENCY STOP demo-4"),
        Duration::from_secs(5),
    );
    tmux.text("venue outage drill");
    tmux.keys(&["Enter"]);
    tmux.text("demo-5");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "a wrong confirmation refused",
        |s| s.contains("type the host's name, demo-4"),
        Duration::from_secs(5),
    );
    for _ in 0..6 {
        tmux.keys(&["BSpace"]);
    }
    tmux.text("demo-4");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the estop reply: halted and the venue verified flat",
        |s| s.contains("✓ HALTED · FLAT"),
        Duration::from_secs(10),
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for(
        "demo-4 halted and flat",
        |s| Tmux::row(s, "demo-4").contains("HALTED · FLAT"),
        Duration::from_secs(10),
    );

    // The fleet stop: every host named, a reason, the typed HALT 5, then
    // every row ends halted and flat.
    tmux.keys(&["X"]);
    tmux.wait_for(
        "the fleet stop naming every host",
        |s| s.contains("EMERGENCY STOP · ALL 5 HOSTS") && s.contains("type HALT 5 to confirm"),
        Duration::from_secs(5),
    );
    tmux.text("venue outage, whole fleet");
    tmux.keys(&["Enter"]);
    tmux.text("HALT 4");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "a wrong phrase refused",
        |s| s.contains("type HALT 5 to confirm") && !s.contains("/5 answered"),
        Duration::from_secs(5),
    );
    tmux.keys(&["BSpace"]);
    tmux.text("5");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "every host halted and flat",
        |s| s.contains("5/5 halted and flat"),
        Duration::from_secs(20),
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for(
        "every row HALTED · FLAT",
        |s| (1..=5).all(|i| Tmux::row(s, &format!("demo-{i}")).contains("HALTED · FLAT")),
        Duration::from_secs(10),
    );

    // q leaves nothing running: nothing that names this demo's fleet dir
    // (another demo on the machine is not this test's business).
    let dir =
        procs::demo_dir(tmux.pane_pid()).expect("the demo's fleet dir, from an agent's --config");
    let dir = dir.display().to_string();
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_mentioning(&dir);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left running after q: {left:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(tmux.alive());
}

#[test]
fn demo_in_tmux_session_killed_leaves_nothing() {
    // Issue 9, item 6: a closed terminal (here, `tmux kill-session`: SIGHUP
    // and a tty that fails with EIO) ends the demo like `q` does.
    let Some(tmux) = Tmux::start(&format!("{GANTRY} demo")) else {
        return;
    };
    tmux.wait_for(
        "the control room with every host serving",
        |s| {
            Tmux::row(s, "demo-2").contains("ROLLED BACK")
                && Tmux::row(s, "demo-4").contains("LIVE")
        },
        Duration::from_secs(30),
    );
    let pane = tmux.pane_pid();
    let dir = procs::demo_dir(pane).expect("the demo's fleet dir, from an agent's --config");
    let started: Vec<procs::Proc> = procs::descendants(pane)
        .into_iter()
        .chain(procs::read(pane))
        .collect();
    // The pane, five agents, and a service for each host the story deployed.
    assert!(started.len() >= 1 + 5 + 4, "{started:#?}");
    let serving = (1..=5)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("demo-{i}/service.pid"))).ok())
        .count();
    assert!(serving >= 4, "services running in {}", dir.display());

    let _sweep = Sweep(&started, &dir);

    tmux.kill();
    procs::assert_all_gone(&started, &dir, Duration::from_secs(5));
}

/// Issue 15, acceptance: SIGSTOP one demo agent and press `r` on it:
/// within 3 s its row is flagged with its age, the dialog says so first,
/// Esc leaves the dialog with the request pending, another host is
/// approved at once, and the frozen host's answer arrives as a notice
/// once it runs again. And every check of a host is on screen at
/// 160×45 (GATES n/n → n rows).
#[test]
fn issue_15_a_frozen_agent_never_freezes_the_control_room() {
    let Some(tmux) = Tmux::start(&format!("{GANTRY} demo; sleep 30")) else {
        return;
    };
    let screen = tmux.wait_for(
        "the story",
        |s| Tmux::row(s, "demo-1").contains("approve") && Tmux::row(s, "demo-4").contains("LIVE"),
        Duration::from_secs(30),
    );
    // demo-1 is selected: GATES n/n, and n check rows in its pane.
    let gates = Tmux::row(&screen, "demo-1")
        .split_whitespace()
        .find_map(|w| w.split_once('/').and_then(|(_, n)| n.parse::<usize>().ok()))
        .expect("GATES n/n");
    let rows = screen
        .lines()
        .filter(|l| {
            ["│✓ ", "│✗ ", "│? ", "│… "]
                .iter()
                .any(|m| l.starts_with(m))
        })
        .filter(|l| {
            l.split_whitespace().any(|w| {
                w.split_once('/')
                    .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
            })
        })
        .count();
    assert_eq!(
        rows, gates,
        "GATES {gates}/{gates} but {rows} check rows:\n{screen}"
    );

    let pane = tmux.pane_pid();
    let agent = procs::descendants(pane)
        .into_iter()
        .find(|p| p.cmdline.contains(" agent ") && p.cmdline.contains("/demo-4/"))
        .expect("demo-4's agent");
    let dir = procs::demo_dir(pane).expect("the demo's fleet dir");
    let _sweep = Sweep(&[], &dir);
    // demo-4 goes live twice; a rollback needs its second release live
    // (with no known-good, `r` is refused in one line, no dialog). `s`
    // puts the rows in the hosts file's order, so j j j reaches it.
    tmux.keys(&["s", "j", "j", "j"]);
    tmux.wait_for(
        "demo-4 live on its second release",
        |s| {
            Tmux::row(s, "demo-4").contains('▶')
                && Tmux::row(s, "demo-4").contains("LIVE")
                && s.contains("known-good good-")
        },
        Duration::from_secs(30),
    );
    let frozen = Frozen::new(agent.pid);
    let stopped_at = Instant::now();
    tmux.keys(&["r"]);
    let screen = tmux.wait_for(
        "demo-4 flagged silent with its age",
        |s| Tmux::row(s, "demo-4").contains("SILENT "),
        Duration::from_secs(5),
    );
    // 3 s of silence, then a tick, a draw and a capture: well under 5 s.
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
    assert!(Tmux::row(&screen, "demo-4").contains('▶'), "{screen}");
    let dialog = tmux.wait_for(
        "the dialog warns first",
        |s| s.contains("⚠ demo-4 SILENT"),
        Duration::from_secs(5),
    );
    let warning = dialog.find("⚠ demo-4 SILENT").unwrap();
    assert!(warning < dialog.find("reason:").unwrap(), "{dialog}");

    tmux.text("agent frozen");
    tmux.keys(&["Enter"]);
    tmux.text("demo-4");
    tmux.keys(&["Enter"]);
    // The second Enter acts on stale data, as the dialog asked.
    tmux.wait_for(
        "the stale warning on sending",
        |s| s.contains("press Enter again"),
        Duration::from_secs(5),
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "a timer and a deadline",
        |s| s.contains("⧗ sent") && s.contains("deadline 60s · waiting for demo-4"),
        Duration::from_secs(5),
    );
    // Esc leaves at once; demo-1 is approved at once.
    tmux.keys(&["Escape", ":"]);
    tmux.text("approve demo-1");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the approve dialog on demo-1",
        |s| s.contains("Approve canary → live on demo-1"),
        Duration::from_secs(5),
    );
    tmux.text("canary clean");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "demo-1 approved while demo-4 is frozen",
        |s| s.contains("✓ agent") && Tmux::row(s, "demo-4").contains("SILENT"),
        Duration::from_secs(10),
    );
    tmux.keys(&["Escape"]);
    // Thawed: the pending rollback's answer lands as a notice.
    drop(frozen);
    tmux.wait_for(
        "the frozen host's answer as a notice",
        |s| s.contains("demo-4: rollback answered"),
        Duration::from_secs(15),
    );
    tmux.wait_for(
        "demo-4 fresh again",
        |s| !Tmux::row(s, "demo-4").contains("SILENT"),
        Duration::from_secs(5),
    );
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&dir.display().to_string()).is_empty() {
        assert!(Instant::now() < deadline, "left running after q");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issue 15, acceptance at 80×24: the approve dialog shows the submitter,
/// the reason and the canary's evidence, and its reason field and keys
/// are inside its frame; a drill's answer shows its timings against the
/// SLA, and the host pane still shows its verdict once the dialog is
/// closed.
#[test]
fn issue_15_dialogs_at_80x24_the_approval_evidence_and_a_drill_kept() {
    let Some(tmux) = Tmux::start_sized(&format!("{GANTRY} demo; sleep 30"), 80, 24) else {
        return;
    };
    tmux.wait_for(
        "demo-1 awaiting approval",
        |s| Tmux::row(s, "demo-1").contains("APPROVE"),
        Duration::from_secs(30),
    );
    let dir = procs::demo_dir(tmux.pane_pid()).expect("the demo's fleet dir");
    let _sweep = Sweep(&[], &dir);
    tmux.keys(&["a"]);
    let dialog = tmux.wait_for(
        "the approve dialog with its evidence",
        |s| s.contains("Approve canary → live on demo-1") && s.contains("reason:"),
        Duration::from_secs(5),
    );
    for needle in [
        "demo: nightly promotion",
        "by root",
        "canary soaked",
        "for approval",
        "checks ",
        "canary PnL",
        "drawdown",
        "Enter send",
    ] {
        assert!(dialog.contains(needle), "{needle:?} missing:\n{dialog}");
    }
    let lines: Vec<&str> = dialog.lines().collect();
    let reason = lines.iter().position(|l| l.contains("reason:")).unwrap();
    let keys = lines.iter().position(|l| l.contains("Enter send")).unwrap();
    assert!(reason < keys, "{dialog}");
    assert!(
        lines.get(keys + 1).is_some_and(|l| l.contains('└')),
        "the keys are the dialog's last line, inside its frame:\n{dialog}"
    );
    // `s`: the hosts file's order, so j j j reaches demo-4.
    tmux.keys(&["Escape", "s", "j", "j", "j"]);
    tmux.wait_for(
        "demo-4 selected",
        |s| Tmux::row(s, "demo-4").contains('▶'),
        Duration::from_secs(5),
    );
    // demo-4 goes live twice; until its second release is live it has no
    // known-good to drill to, and `d` is refused in one line.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tmux.keys(&["d"]);
        let screen = tmux.wait_for(
            "a drill dialog or a refusal",
            |s| s.contains("Drill on demo-4") || s.contains("drill refused"),
            Duration::from_secs(5),
        );
        if screen.contains("Drill on demo-4") {
            break;
        }
        assert!(Instant::now() < deadline, "{screen}");
        std::thread::sleep(Duration::from_secs(1));
    }
    tmux.text("monthly drill");
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the typed name asked for",
        |s| s.contains("type demo-4 to confirm"),
        Duration::from_secs(5),
    );
    tmux.text("demo-4");
    tmux.keys(&["Enter"]);
    let result = tmux.wait_for(
        "the drill's timings against the SLA",
        |s| s.contains("✓ drill PASS") && s.contains("restart "),
        Duration::from_secs(30),
    );
    // The verdict names the SLA: `PASS 42ms (target 250ms, SLA 60s)`, or
    // `PASS 1.25s, within the 60s SLA, …` on a loaded machine.
    assert!(result.contains("SLA"), "{result}");
    tmux.keys(&["Escape"]);
    let pane = tmux.wait_for(
        "the drill kept in the host pane",
        |s| !s.contains("Enter or Esc closes") && s.contains("ago ✓ PASS"),
        Duration::from_secs(10),
    );
    assert!(pane.contains("SLA"), "{pane}");
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&dir.display().to_string()).is_empty() {
        assert!(Instant::now() < deadline, "left running after q");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// SIGSTOPs a process, and SIGCONTs it when dropped, however the test ends.
struct Frozen(i32);

impl Frozen {
    fn new(pid: i32) -> Self {
        // SAFETY: kill(2) on a pid of this test's demo.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        Self(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

/// Kills what a failed test left behind (a no-op once it passed).
struct Sweep<'a>(&'a [procs::Proc], &'a std::path::Path);

impl Drop for Sweep<'_> {
    fn drop(&mut self) {
        procs::kill_all(self.0);
        procs::kill_all(&procs::in_dir(self.1));
        let _ = std::fs::remove_dir_all(self.1);
    }
}

#[test]
fn issue_15_l_on_demo_2_shows_its_bad_release_crash_line_and_b_its_runbook() {
    let Some(tmux) = Tmux::start(&format!("{GANTRY} demo")) else {
        return;
    };
    tmux.wait_for(
        "demo-2 rolled back",
        |s| Tmux::row(s, "demo-2").contains("ROLLED BACK"),
        Duration::from_secs(40),
    );
    // The hosts file's order (s), the first host (g), the next (j).
    tmux.keys(&["s", "g", "j"]);
    tmux.wait_for(
        "demo-2 selected",
        |s| Tmux::row(s, "demo-2").contains('▶'),
        Duration::from_secs(5),
    );
    tmux.keys(&["l"]);
    let log = tmux.wait_for(
        "demo-2's log with the crash line",
        |s| s.contains("logs · demo-2") && s.contains("✗ fatal: risk limit breached"),
        Duration::from_secs(10),
    );
    assert!(log.contains("following"), "{log}");
    // The good release it rolled back to started after it.
    let crash = log.find("fatal: risk limit breached").unwrap();
    assert!(log[crash..].contains("starting host=demo-2"), "{log}");
    // Filter to the crash, then back to the fleet.
    tmux.keys(&["/"]);
    tmux.text("risk limit");
    tmux.keys(&["Enter"]);
    let filtered = tmux.wait_for(
        "the filter",
        |s| s.contains("filter \"risk limit\""),
        Duration::from_secs(5),
    );
    assert!(!filtered.contains("idle reached"), "{filtered}");
    tmux.keys(&["Escape"]);
    let fleet = tmux.wait_for(
        "the fleet again",
        |s| s.contains("HOST") && !s.contains("logs · demo-2"),
        Duration::from_secs(5),
    );
    // The check that failed the deploy names its runbook; b opens it.
    assert!(
        fleet.contains("runbook (b) for drawdown_budget: runbooks/circuit-breaker.md"),
        "{fleet}"
    );
    tmux.keys(&["b"]);
    let runbook = tmux.wait_for(
        "the runbook",
        |s| s.contains("runbook · demo-2 · drawdown_budget") && s.contains("# Circuit breaker"),
        Duration::from_secs(10),
    );
    assert!(runbook.contains("gantry ctl logs"), "{runbook}");
    tmux.keys(&["Escape"]);
    tmux.wait_for(
        "the fleet after the runbook",
        |s| s.contains("HOST") && !s.contains("runbook · demo-2"),
        Duration::from_secs(5),
    );
    tmux.keys(&["q"]);
}
