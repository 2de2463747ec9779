//! The `container` service kind against real engines, the same scenarios
//! on docker and on podman (tests/common/engines.rs): a private dockerd,
//! or podman with runc, a local registry, and an image of this build's
//! `gantry sim` under the tags `good` and `crash` (crashes 1 s after each
//! start). The container uses the host network, so the agent probes the
//! sim's port as on a host; the lab's state dir is the sim's /data.

mod common;

use std::time::Duration;

use common::engines::{self, Engine, Kind, container_lab};
use common::{Lab, stderr, wait_until};
use serde_json::Value;

const NAME: &str = "gantry-trader";

fn release(lab: &Lab, file: &str, port: u16, body: &str) -> std::path::PathBuf {
    lab.write_release(
        file,
        format!("SIM_LISTEN=127.0.0.1:{port}\n{body}").as_bytes(),
    )
}

fn audit(lab: &Lab) -> String {
    std::fs::read_to_string(lab.path("audit.jsonl")).unwrap_or_default()
}

fn env_of(c: &Value) -> Vec<String> {
    c["Config"]["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The container once it runs the live stage (CANARY_MODE=0).
fn live_container(engine: &Engine) -> Value {
    let mut found = Value::Null;
    wait_until("the live container", Duration::from_secs(20), || {
        found = engine.inspect(NAME).unwrap_or_default();
        found["State"]["Running"] == true
            && env_of(&found).iter().any(|e| e == "TRADE_MODE=live")
            && env_of(&found).iter().any(|e| e == "CANARY_MODE=0")
    });
    found
}

fn live_rollback_estop(kind: Kind) {
    if !engines::available(kind) {
        return;
    }
    let engine = Engine::start(kind);
    let (mut lab, port) = container_lab(&engine, "lab-ctr", NAME);
    lab.start_agent();
    let good = release(
        &lab,
        "good.env",
        port,
        "IMAGE_TAG=good\nSTRATEGY=mean_reversion\nSIM_PNL_DRIFT=5\n",
    );
    lab.deploy_live(&good, Duration::from_secs(15));

    // The container runs the release's tag with the release's env and the
    // stage overlay, labelled as gantry's. "live" is said when the restart
    // into live begins: the canary's container is replaced after it.
    let c = live_container(&engine);
    let image = format!("{}:good", engine.repo);
    assert_eq!(c["Config"]["Image"], image.as_str(), "{c:#}");
    assert_eq!(c["State"]["Running"], true);
    let env = env_of(&c);
    for want in [
        "STRATEGY=mean_reversion",
        "TRADE_MODE=live",
        "IMAGE_TAG=good",
    ] {
        assert!(env.iter().any(|e| e == want), "{want} in {env:?}");
    }
    let live = lab.status();
    assert!(
        env.iter().any(|e| *e
            == format!(
                "GANTRY_RELEASE={}",
                live["current_release"].as_str().unwrap()
            )),
        "{env:?}"
    );
    assert!(
        c["Config"]["Labels"]["io.gantry.owner"].is_string(),
        "{c:#}"
    );

    // status --json names the container as the engine sees it.
    wait_until("status to show the pid", Duration::from_secs(5), || {
        lab.status()["service"]["pid"] == c["State"]["Pid"]
    });
    let s = lab.status();
    let service = &s["service"];
    assert_eq!(service["kind"], "container", "{s:#}");
    assert_eq!(service["running"], true);
    assert_eq!(service["container_name"], NAME);
    assert_eq!(service["image"], image.as_str());
    assert_eq!(service["image_id"], c["Image"]);
    let started =
        chrono::DateTime::parse_from_rfc3339(service["started_at"].as_str().unwrap()).unwrap();
    let engine_started =
        chrono::DateTime::parse_from_rfc3339(c["State"]["StartedAt"].as_str().unwrap()).unwrap();
    assert!(
        (started - engine_started).num_milliseconds().abs() <= 1,
        "{started} vs {engine_started}"
    );

    // An agent killed and started again adopts the container: same id,
    // not restarted.
    lab.signal_agent(libc::SIGKILL);
    lab.start_agent();
    std::thread::sleep(Duration::from_secs(1));
    let after = engine.inspect(NAME).unwrap();
    assert_eq!(
        after["Id"],
        c["Id"],
        "adopted, not replaced: {}",
        lab.agent_log()
    );
    assert_eq!(lab.status()["state"], "live");

    // A tag that cannot be pulled fails the candidate; the container
    // serving is untouched.
    let missing = release(&lab, "missing.env", port, "IMAGE_TAG=nope\nSTRATEGY=x\n");
    let out = lab.ctl_path(&["submit", "--reason", "no such tag"], &missing);
    assert_ne!(out.status.code(), Some(0));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("image {}:nope cannot be pulled", engine.repo)),
        "{said}"
    );
    // A release without IMAGE_TAG is refused naming the key.
    let untagged = release(&lab, "untagged.env", port, "STRATEGY=x\n");
    let out = lab.ctl_path(&["submit", "--reason", "no tag"], &untagged);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("the release has no IMAGE_TAG"),
        "{}",
        stderr(&out)
    );
    let still = engine.inspect(NAME).unwrap();
    assert_eq!(still["Id"], c["Id"]);
    assert_eq!(still["State"]["Running"], true);
    assert_eq!(lab.status()["state"], "live");

    // An image that crashes a second after start is rolled back to the
    // known-good image.
    let crash = release(
        &lab,
        "crash.env",
        port,
        "IMAGE_TAG=crash\nSTRATEGY=momentum\n",
    );
    let out = lab.ctl_path(&["submit", "--reason", "crashy"], &crash);
    assert!(out.status.success(), "{}", stderr(&out));
    let back = lab.wait_state("rolled_back", Duration::from_secs(40));
    assert_eq!(back["current_release"], live["current_release"], "{back:#}");
    wait_until(
        "the known-good container running",
        Duration::from_secs(20),
        || {
            engine.inspect(NAME).is_some_and(|c| {
                c["State"]["Running"] == true && c["Config"]["Image"] == image.as_str()
            })
        },
    );
    assert!(audit(&lab).contains("rollback"));

    // Emergency stop: the container is stopped (kept, for inspection).
    let out = lab.ctl(&["estop", "--reason", "drill the stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let halted = lab.wait_state("halted", Duration::from_secs(20));
    let c = engine.inspect(NAME).expect("kept");
    assert_eq!(c["State"]["Running"], false, "{c:#}");
    assert_eq!(halted["service"]["running"], false, "{halted:#}");
}

fn smoke(kind: Kind) {
    if !engines::available(kind) {
        return;
    }
    let engine = Engine::start(kind);
    let (mut lab, port) = container_lab(&engine, "lab-ctr-smoke", NAME);
    lab.start_agent();
    let good = release(&lab, "good.env", port, "IMAGE_TAG=good\nSIM_PNL_DRIFT=5\n");
    lab.deploy_live(&good, Duration::from_secs(15));
    let live = lab.status();

    // The service's log: the live container's, then (following) each
    // container that replaces it.
    let out = lab.ctl(&["logs", "-n", "200"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tail = String::from_utf8_lossy(&out.stdout);
    assert!(tail.contains("trade_mode=live"), "{tail}");
    assert!(
        stderr(&out).contains(&format!("container {NAME} logs")),
        "{}",
        stderr(&out)
    );
    let (mut follow, followed) = lab.follow_logs();
    std::thread::sleep(Duration::from_millis(500));

    let v2 = release(&lab, "v2.env", port, "IMAGE_TAG=good\nSIM_PNL_DRIFT=6\n");
    let out = lab.ctl_path(&["smoke", "--reason", "pre-prod"], &v2);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("passed") && said.contains(&format!("container {NAME} running image")),
        "{said}"
    );

    let forbidden = release(
        &lab,
        "forbidden.env",
        port,
        "IMAGE_TAG=good\nSIM_LOG_LINE=order executed BTC-PERP 1.0 @ 100\n",
    );
    let out = lab.ctl_path(&["smoke", "--reason", "check"], &forbidden);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("forbidden line"), "{}", stderr(&out));

    // The known-good serves again, in live, in a container of its own.
    let back = lab.wait_state("live", Duration::from_secs(20));
    assert_eq!(back["current_release"], live["current_release"]);
    let current = live["current_release"].as_str().unwrap().to_string();
    wait_until("the known-good container", Duration::from_secs(20), || {
        engine.inspect(NAME).is_some_and(|c| {
            c["State"]["Running"] == true
                && c["Config"]["Labels"]["io.gantry.release"] == current.as_str()
                && env_of(&c).iter().any(|e| e == "TRADE_MODE=live")
        })
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline
        && !(seen
            .iter()
            .any(|l: &String| l.contains("execution_plane=paper"))
            && seen.iter().any(|l: &String| l.contains("trade_mode=live")))
    {
        if let Ok(line) = followed.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        seen.iter().any(|l| l.contains("execution_plane=paper")),
        "the smoke's container was followed: {seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains("trade_mode=live")),
        "and the known-good's after it: {seen:?}"
    );
}

fn bad_input(kind: Kind) {
    if !engines::available(kind) {
        return;
    }
    let engine = Engine::start(kind);

    // A container of that name that gantry did not start: refused, named,
    // never removed.
    let stranger = "not-gantrys";
    let out = engine.cli(&[
        "run",
        "-d",
        "--name",
        stranger,
        "--network",
        "none",
        &format!("{}:good", engine.repo),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let theirs = engine.inspect(stranger).unwrap();
    let (mut lab, port) = container_lab(&engine, "lab-ctr-bad", stranger);
    lab.start_agent();
    let good = release(&lab, "good.env", port, "IMAGE_TAG=good\n");
    let before = lab.tree();
    let out = lab.ctl_path(&["submit", "--reason", "first"], &good);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(&format!(
            "container {stranger} exists and was not started by gantry"
        )),
        "{}",
        stderr(&out)
    );
    let still = engine.inspect(stranger).expect("never removed");
    assert_eq!(still["Id"], theirs["Id"]);
    assert_eq!(still["State"]["Running"], true);
    assert_unchanged(&lab, before);
    drop(lab);

    // A bind mount whose host path does not exist.
    let (mut lab, port) = container_lab(&engine, "lab-ctr-vol", NAME);
    let text = std::fs::read_to_string(&lab.config).unwrap().replacen(
        "volumes = [",
        "volumes = [\"/nonexistent/gantry-test:/srv\", ",
        1,
    );
    std::fs::write(&lab.config, text).unwrap();
    lab.start_agent();
    let good = release(&lab, "good.env", port, "IMAGE_TAG=good\n");
    let before = lab.tree();
    let out = lab.ctl_path(&["submit", "--reason", "first"], &good);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("host path /nonexistent/gantry-test of /nonexistent/gantry-test:/srv cannot be mounted (it does not exist)"),
        "{}",
        stderr(&out)
    );
    assert_unchanged(&lab, before);
    assert!(engine.inspect(NAME).is_none());
    drop(lab);

    // An engine that is not installed (not on the agent's PATH).
    let (mut lab, port) = container_lab(&engine, "lab-ctr-none", NAME);
    let empty = tempfile::tempdir().unwrap();
    lab.agent_env
        .push(("PATH".into(), empty.path().display().to_string()));
    lab.start_agent();
    let good = release(&lab, "good.env", port, "IMAGE_TAG=good\n");
    let out = lab.ctl_path(&["submit", "--reason", "first"], &good);
    assert_ne!(out.status.code(), Some(0));
    let program = kind.program();
    assert!(
        stderr(&out).contains(&format!(
            "container engine {program} is not installed: no `{program}` on PATH"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(lab.status()["state"], "idle");
    drop(lab);

    // docker: a daemon that is down.
    if kind == Kind::Docker {
        let (mut lab, port) = container_lab(&engine, "lab-ctr-down", NAME);
        lab.agent_env = vec![(
            "DOCKER_HOST".into(),
            format!("unix://{}/no-daemon.sock", lab.dir.path().display()),
        )];
        lab.start_agent();
        let good = release(&lab, "good.env", port, "IMAGE_TAG=good\n");
        let out = lab.ctl_path(&["submit", "--reason", "first"], &good);
        assert_ne!(out.status.code(), Some(0));
        assert!(
            stderr(&out).contains("container engine docker cannot be reached"),
            "{}",
            stderr(&out)
        );
        assert_eq!(lab.status()["state"], "idle");
    }
}

/// The release files and links are as they were (the agent's own
/// bookkeeping may have moved); current.env never named the candidate.
fn assert_unchanged(lab: &Lab, before: Vec<(String, Vec<u8>)>) {
    let files = |mut tree: Vec<(String, Vec<u8>)>| {
        tree.retain(|(name, _)| {
            matches!(name.as_str(), "current.env" | "previous.env" | "stage.env")
                || name.starts_with("releases/")
        });
        tree
    };
    assert_eq!(files(before), files(lab.tree()), "no file changed");
    assert!(!lab.path("current.env").exists());
    assert_eq!(lab.status()["state"], "idle");
}

#[test]
fn docker_goes_live_survives_a_bad_pull_rolls_back_a_crash_and_estop_stops_it() {
    live_rollback_estop(Kind::Docker);
}

#[test]
fn podman_goes_live_survives_a_bad_pull_rolls_back_a_crash_and_estop_stops_it() {
    live_rollback_estop(Kind::Podman);
}

#[test]
fn docker_smoke_passes_and_fails_on_the_containers_logs() {
    smoke(Kind::Docker);
}

#[test]
fn podman_smoke_passes_and_fails_on_the_containers_logs() {
    smoke(Kind::Podman);
}

#[test]
fn docker_bad_input_fails_the_candidate_and_changes_nothing() {
    bad_input(Kind::Docker);
}

#[test]
fn podman_bad_input_fails_the_candidate_and_changes_nothing() {
    bad_input(Kind::Podman);
}
