//! One release, one name (issue 16 part 3) on a real agent: `submit
//! --name` gives the release's id (`NAME-<sha256 prefix>`), old made-up
//! ids stay readable beside it, and a bad name is refused before anything
//! is sent.

mod common;

use std::time::Duration;

use common::{Lab, stderr};

fn audit_lines(lab: &Lab) -> usize {
    std::fs::read_to_string(lab.path("audit.jsonl"))
        .unwrap()
        .lines()
        .count()
}

#[test]
fn a_name_given_at_submit_is_the_release_id_and_old_ids_still_work() {
    let mut lab = Lab::new("name-1", 1);
    lab.start_agent();
    // Without a name: the agent's own `<UTC stamp>-<hash8>`.
    let v1 = lab.write_release("v1.env", b"STRATEGY=mean_reversion\nSIM_PNL_DRIFT=1\n");
    lab.deploy_live(&v1, Duration::from_secs(3));
    let old = lab.status()["current_release"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(old.as_bytes()[8], b'T', "{old}");

    // With one: NAME-<hash8>, stored under it, shown everywhere.
    let content = b"STRATEGY=mean_reversion\nSIM_PNL_DRIFT=2\n";
    let v2 = lab.write_release("v2.env", content);
    let hash8 = &gantry::stamp::sha256_hex(content)[..8];
    let named = format!("v1.4.2-{hash8}");
    let out = lab.ctl_path(&["submit", "--reason", "named", "--name", "v1.4.2"], &v2);
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("awaiting_approval", Duration::from_secs(13));
    let out = lab.ctl(&["approve", "--reason", "ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = lab.wait_state("live", Duration::from_secs(5));
    assert_eq!(status["current_release"], named.as_str());
    assert!(lab.path(&format!("releases/{named}.env")).exists());
    let releases = lab.ctl_json(&["releases"]);
    assert_eq!(releases["serving"], named.as_str());
    let log = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"kind\":\"stage.live\"") && l.contains(&named)),
        "{log}"
    );

    // The same content again under another name: it is already live.
    let out = lab.ctl_path(&["submit", "--reason", "again", "--name", "other"], &v2);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("already live"), "{}", stderr(&out));

    // A name that cannot be a file name is refused before anything is sent.
    let before = audit_lines(&lab);
    let out = lab.ctl_path(&["submit", "--reason", "x", "--name", "../etc"], &v1);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--name: release name \"../etc\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(audit_lines(&lab), before, "nothing reached the agent");

    // The old, made-up id is still a release here: back to it by name.
    let out = lab.ctl(&["rollback", "--to", &old, "--reason", "back to v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lab.status()["current_release"], old.as_str());
    lab.signal_agent(libc::SIGTERM);
}
