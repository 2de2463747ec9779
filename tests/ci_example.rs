//! docs/ci/deploy.yml, run as GitHub Actions would run it: each job's
//! `run:` steps in order, under `bash -e`, with the job's and the step's
//! `env:` (their `${{ }}` expressions filled from the dispatch form, vars
//! and secrets), `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`, against a demo
//! fleet of real agents behind real SSH. A job stops at its first failing
//! step, as on GitHub. The only step not run is `install` (cargo install of
//! gantry): the binary under test is put on PATH instead.
//!
//! An expression, a `uses:` or a step `if:` this runner does not know fails
//! the test, so the example cannot grow something no test runs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::GANTRY;
use common::fleet::DemoFleet;
use serde_yaml::Value;

const WORKFLOW: &str = include_str!("../docs/ci/deploy.yml");

struct Dispatch<'a> {
    inputs: BTreeMap<&'a str, String>,
    vars: BTreeMap<&'a str, String>,
    secrets: BTreeMap<&'a str, String>,
}

struct Step {
    id: String,
    code: i32,
    stdout: String,
    stderr: String,
}

struct JobRun {
    steps: Vec<Step>,
    outputs: BTreeMap<String, String>,
    summary: String,
}

impl JobRun {
    fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
    fn failed(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.code != 0)
    }
    fn all_output(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("--- {} exit {}\n{}{}", s.id, s.code, s.stdout, s.stderr))
            .collect()
    }
}

/// `${{ a.b }}` → its value; anything else is a test failure naming it.
fn expand(text: &str, runner_temp: &Path, form: &Dispatch) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed ${{ }}") + start;
        let expr = rest[start + 3..end].trim();
        let value = match expr.split_once('.') {
            Some(("runner", "temp")) => runner_temp.display().to_string(),
            Some(("inputs", k)) => form.inputs.get(k).cloned().unwrap_or_default(),
            Some(("vars", k)) => form.vars.get(k).cloned().unwrap_or_default(),
            Some(("secrets", k)) => form.secrets.get(k).cloned().unwrap_or_default(),
            _ => panic!("the test runner does not know the expression {expr:?}"),
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn env_of(node: &Value, runner_temp: &Path, form: &Dispatch) -> Vec<(String, String)> {
    node.get("env")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let k = k.as_str().expect("env name").to_string();
            let v = v.as_str().unwrap_or_else(|| panic!("env {k} is a string"));
            (k, expand(v, runner_temp, form))
        })
        .collect()
}

fn workflow() -> Value {
    serde_yaml::from_str(WORKFLOW).expect("docs/ci/deploy.yml is YAML")
}

/// Runs the job meant for `form.inputs["mode"]` in `workspace`.
fn run_job(workspace: &Path, form: &Dispatch, fleet_state: &Path) -> JobRun {
    let workflow = workflow();
    let mode = &form.inputs["mode"];
    let jobs = workflow["jobs"].as_mapping().expect("jobs");
    let job = jobs
        .values()
        .find(|job| job["if"].as_str() == Some(&format!("inputs.mode == '{mode}'")))
        .unwrap_or_else(|| panic!("a job with `if: inputs.mode == '{mode}'`"));
    let runner = tempfile::tempdir().unwrap();
    let temp = runner.path().join("temp");
    let home = runner.path().join("home");
    std::fs::create_dir_all(&temp).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let summary = runner.path().join("summary.md");
    let bin_dir = Path::new(GANTRY).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let job_env = env_of(job, &temp, form);
    let mut run = JobRun {
        steps: Vec::new(),
        outputs: BTreeMap::new(),
        summary: String::new(),
    };
    for step in job["steps"].as_sequence().expect("steps") {
        assert!(
            step.get("if").is_none(),
            "a step `if:` is not run by the test"
        );
        if let Some(uses) = step["uses"].as_str() {
            assert!(
                uses.starts_with("actions/checkout@"),
                "unknown action {uses}"
            );
            continue;
        }
        let id = step["id"]
            .as_str()
            .expect("every run step has an id")
            .to_string();
        if id == "install" {
            continue;
        }
        let script = runner.path().join(format!("{id}.sh"));
        std::fs::write(&script, step["run"].as_str().expect("run")).unwrap();
        let output_file = runner.path().join(format!("{id}.output"));
        std::fs::write(&output_file, "").unwrap();
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-e"])
            .arg(&script)
            .current_dir(workspace)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", &home)
            .env("GANTRY_CLIENT_STATE", fleet_state)
            .env("RUNNER_TEMP", &temp)
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_ACTOR", "ci-bot")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("GITHUB_SERVER_URL", "https://git.example")
            .env("GITHUB_REPOSITORY", "desk/trader")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .envs(job_env.iter().cloned())
            .envs(env_of(step, &temp, form))
            .output()
            .expect("run bash");
        for line in std::fs::read_to_string(&output_file).unwrap().lines() {
            if let Some((k, v)) = line.split_once('=') {
                run.outputs.insert(k.to_string(), v.to_string());
            }
        }
        let code = out.status.code().unwrap_or(-1);
        run.steps.push(Step {
            id,
            code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
        if code != 0 {
            break;
        }
    }
    run.summary = std::fs::read_to_string(&summary).unwrap_or_default();
    run
}

fn form<'a>(fleet: &DemoFleet, mode: &str, env: &str, release: &str, reason: &str) -> Dispatch<'a> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    Dispatch {
        inputs: BTreeMap::from([
            ("mode", mode.to_string()),
            ("environment", env.to_string()),
            ("release", release.to_string()),
            ("reason", reason.to_string()),
        ]),
        vars: BTreeMap::from([
            ("GANTRY_HOSTS_TOML", read(&fleet.hosts_file)),
            ("GANTRY_KNOWN_HOSTS", read(&fleet.known_hosts)),
            ("GANTRY_SMOKE_HOST", "demo-1".to_string()),
        ]),
        secrets: BTreeMap::from([("GANTRY_SSH_KEY", read(&fleet.identity))]),
    }
}

fn audit(fleet: &DemoFleet, host: &str) -> String {
    std::fs::read_to_string(fleet.host_dir(host).join("audit.jsonl")).unwrap()
}

#[test]
fn the_workflow_is_dispatched_by_hand_only_and_splices_no_input_into_a_script() {
    let workflow = workflow();
    // serde_yaml reads the key `on` as the string "on" (YAML 1.2).
    let on = workflow["on"].as_mapping().expect("on:");
    assert_eq!(
        on.len(),
        1,
        "workflow_dispatch only: nothing deploys on push"
    );
    let inputs = &workflow["on"]["workflow_dispatch"]["inputs"];
    for name in ["mode", "environment", "release", "reason"] {
        assert!(inputs.get(name).is_some(), "input {name}");
    }
    for job in workflow["jobs"].as_mapping().unwrap().values() {
        for step in job["steps"].as_sequence().unwrap() {
            if let Some(run) = step["run"].as_str() {
                assert!(
                    !run.contains("${{"),
                    "inputs reach scripts through env only: {run}"
                );
            }
        }
    }
}

#[test]
fn the_workflow_steps_pass_and_fail_against_a_real_fleet() {
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("jq is needed (GitHub's runners have it; .ci/run installs it)");
    }
    let fleet = DemoFleet::start(3, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let approvals = fleet.approver(stop.clone());
    let workspace = tempfile::tempdir().unwrap();
    let deploy = workspace.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    let write = |name: &str, body: &str| std::fs::write(deploy.join(name), body).unwrap();
    write("release.env", "STRATEGY=mean_reversion\nSIM_PNL_DRIFT=5\n");
    write(
        "smoke-forbidden.env",
        "STRATEGY=momentum\nSIM_LOG_LINE=order executed BTC-PERP 1.0 @ 100\n",
    );
    write(
        "canary-fails.env",
        "STRATEGY=momentum\nSIM_FAULT=drawdown\nSIM_FAULT_AFTER_S=0.5\nSIM_FAULT_HOSTS=demo-1\n",
    );
    let state = tempfile::tempdir().unwrap();
    let dispatch = |mode: &str, env: &str, release: &str, reason: &str| {
        run_job(
            workspace.path(),
            &form(&fleet, mode, env, release, reason),
            state.path(),
        )
    };

    // A rollout: every step passes once each host is approved; all live.
    let run = dispatch("rollout", "prod", "deploy/release.env", "weekly promotion");
    assert!(run.failed().is_none(), "{}", run.all_output());
    assert_eq!(run.outputs["result"], "ok");
    for host in ["demo-1", "demo-2", "demo-3"] {
        assert_eq!(fleet.status(host)["state"], "live", "{host}");
        assert!(
            run.summary.contains(&format!("| {host} | live |")),
            "{}",
            run.summary
        );
        assert!(
            audit(&fleet, host).contains("actions/runs/4242"),
            "the promotion names the run"
        );
    }
    assert!(run.summary.contains("rollout complete"), "{}", run.summary);

    // Seed 004's smoke deploy in dev: passes, and the host serves again.
    let before = fleet.status("demo-1")["current_release"].clone();
    let run = dispatch("smoke", "dev", "deploy/release.env", "smoke before release");
    assert!(run.failed().is_none(), "{}", run.all_output());
    assert_eq!(run.outputs["result"], "ok");
    assert!(run.summary.contains("passed"), "{}", run.summary);
    let after = fleet.status("demo-1");
    assert_eq!(after["current_release"], before);
    assert_eq!(after["service"]["running"], true);
    assert!(audit(&fleet, "demo-1").contains("\"kind\":\"smoke.pass\""));

    // A release that logs a forbidden line fails the smoke step and the job.
    let run = dispatch(
        "smoke",
        "dev",
        "deploy/smoke-forbidden.env",
        "smoke a bad one",
    );
    let failed = run.failed().expect("the smoke fails");
    assert_eq!(
        (failed.id.as_str(), failed.code),
        ("smoke", 1),
        "{}",
        run.all_output()
    );
    assert_eq!(run.outputs["result"], "failed");
    assert!(
        failed
            .stdout
            .contains("::error title=gantry smoke failed (exit 1)::"),
        "{}",
        failed.stdout
    );
    assert!(
        run.step("verify").is_none(),
        "no step runs after a failed one"
    );

    // Never in prod: the guard fails before anything reaches a host.
    let smokes = audit(&fleet, "demo-1").matches("smoke.start").count();
    let run = dispatch("smoke", "prod", "deploy/release.env", "smoke in prod");
    let failed = run.failed().expect("refused in prod");
    assert_eq!(failed.id, "guard", "{}", run.all_output());
    assert!(failed.stdout.contains("dev only"), "{}", failed.stdout);
    assert_eq!(
        audit(&fleet, "demo-1").matches("smoke.start").count(),
        smokes
    );

    // A release failing on the canary: the rollout step fails with exit 1,
    // the summary says where.
    let run = dispatch("rollout", "prod", "deploy/canary-fails.env", "risky");
    let failed = run.failed().expect("the rollout fails");
    assert_eq!(
        (failed.id.as_str(), failed.code),
        ("rollout", 1),
        "{}",
        run.all_output()
    );
    assert_eq!(run.outputs["result"], "failed");
    assert!(
        run.summary.contains("| canary | demo-1 |"),
        "{}",
        run.summary
    );
    assert!(!audit(&fleet, "demo-2").contains("\"reason\":\"risky\""));

    stop.store(true, Ordering::Relaxed);
    approvals.join().unwrap();
}
