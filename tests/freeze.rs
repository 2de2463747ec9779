//! Freeze windows as a user meets them: a real agent whose gantry.toml has
//! a `[[freeze]]` covering now refuses a submit naming the window; an
//! admin's `--override-freeze` goes through and is in the audit log; a bad
//! window keeps the agent from starting, naming the field.

mod common;

use std::time::Duration;

use chrono::{Datelike, Months, Utc, Weekday};
use common::{GANTRY, Lab, stderr};

fn day(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// Two windows: a yearly one six months away (never active now), then a
/// weekly one over today and tomorrow (UTC), so a test that runs across
/// midnight is still inside it.
fn windows_covering_now() -> String {
    let now = Utc::now();
    let away = now.date_naive() + Months::new(6);
    let today = now.weekday();
    format!(
        r#"
[[freeze]]
name = "far-away"
zone = "Europe/London"
dates = {{ from = "{m:02}-01", to = "{m:02}-02" }}

[[freeze]]
name = "test-window"
zone = "UTC"
weekly = {{ days = ["{today}", "{tomorrow}"], from = "00:00", to = "24:00" }}
"#,
        m = away.month(),
        today = day(today),
        tomorrow = day(today.succ()),
    )
}

fn append_config(lab: &Lab, extra: &str) {
    let mut text = std::fs::read_to_string(&lab.config).unwrap();
    text.push_str(extra);
    std::fs::write(&lab.config, text).unwrap();
}

#[test]
fn a_freeze_refuses_submits_and_an_admin_override_is_audited() {
    let mut lab = Lab::new("lab-freeze", 1);
    append_config(&lab, &windows_covering_now());
    lab.start_agent();

    let status = lab.status();
    let freeze = status["freeze"].as_str().expect("status names the freeze");
    assert!(
        freeze.starts_with("test-window (") && freeze.contains("UTC"),
        "{freeze}"
    );
    let out = lab.ctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FROZEN: test-window"), "{text}");

    let good = lab.example("good.env");
    let out = lab.ctl_path(&["submit", "--reason", "routine"], &good);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("deploy freeze test-window") && err.contains("--override-freeze"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    assert_eq!(lab.status()["state"], "idle", "nothing changed");

    let out = lab.ctl_path(
        &[
            "submit",
            "--override-freeze",
            "--reason",
            "venue fee change takes effect at the open",
        ],
        &good,
    );
    assert!(out.status.success(), "override: {}", stderr(&out));
    lab.wait_state("shadow", Duration::from_secs(5));

    let audit = lab.ctl_json(&["audit", "--tail", "50"]);
    let entries = audit.as_array().unwrap();
    let refused = entries
        .iter()
        .find(|e| e["kind"] == "submit.refused")
        .expect("the refused submit is audited");
    assert_eq!(refused["reason"], "routine");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("deploy freeze test-window")
    );
    let submitted = entries
        .iter()
        .find(|e| e["kind"] == "deploy.submit")
        .expect("the override is audited");
    assert!(
        submitted["message"]
            .as_str()
            .unwrap()
            .starts_with("FREEZE OVERRIDE of test-window ("),
        "{submitted}"
    );
    assert_eq!(
        submitted["reason"],
        "venue fee change takes effect at the open"
    );
    assert_eq!(submitted["actor"]["role"], "admin");
}

#[test]
fn bad_freeze_windows_are_refused_naming_the_field() {
    let lab = Lab::new("lab-freeze-bad", 1);
    let base = std::fs::read_to_string(&lab.config).unwrap();
    let window = |body: &str| {
        format!(
            "{base}\n[[freeze]]\nname = \"ok\"\nzone = \"UTC\"\ndates = {{ from = \"12-20\", to = \"01-02\" }}\n\n[[freeze]]\nname = \"bad\"\n{body}\n"
        )
    };
    let cases = [
        (
            window(
                "zone = \"America/NewYork\"\nweekly = { days = [\"fri\"], from = \"14:00\", to = \"24:00\" }",
            ),
            "freeze[1] (bad).zone",
        ),
        (
            window(
                "zone = \"America/New_York\"\nweekly = { days = [\"fri\"], from = \"14:00\", to = \"13:00\" }",
            ),
            "freeze[1] (bad).weekly.to",
        ),
        (
            window("zone = \"America/New_York\"\ndates = { from = \"03-10\", to = \"03-01\" }"),
            "freeze[1] (bad).dates.to",
        ),
        (
            window(
                "zone = \"America/New_York\"\nweekly = { days = [\"fry\"], from = \"14:00\", to = \"24:00\" }",
            ),
            "freeze[1] (bad).weekly.days",
        ),
        (
            window("zone = \"UTC\"\nweekly = { days = [\"fri\"], from = \"2pm\", to = \"24:00\" }"),
            "freeze[1] (bad).weekly.from",
        ),
    ];
    for (body, field) in cases {
        std::fs::write(&lab.config, &body).unwrap();
        let out = std::process::Command::new(GANTRY)
            .args(["agent", "--config"])
            .arg(&lab.config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{field}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("gantry.toml") && err.contains(field), "{err}");
        assert!(!lab.path("audit.jsonl").exists(), "nothing written");
    }
}

#[test]
fn a_smoke_deploy_is_held_back_by_a_freeze_too() {
    let mut lab = Lab::new("lab-freeze-smoke", 1);
    append_config(&lab, &windows_covering_now());
    lab.start_agent();
    let good = lab.example("good.env");
    let out = lab.ctl_path(&["smoke", "--reason", "check"], &good);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("deploy freeze test-window"),
        "{}",
        stderr(&out)
    );
    let out = lab.ctl_path(
        &[
            "smoke",
            "--override-freeze",
            "--reason",
            "must verify before the open",
        ],
        &good,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let audit = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(audit.contains("FREEZE OVERRIDE of test-window"), "{audit}");
    assert!(audit.contains("\"kind\":\"smoke.pass\""), "{audit}");
}
