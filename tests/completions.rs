//! `gantry completions SHELL` and `gantry man`, checked by the tools a user
//! feeds them to: bash loads the script and completes with it; man (or groff)
//! renders the page without a warning.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::GANTRY;

fn gantry(args: &[&str]) -> Vec<u8> {
    let out = Command::new(GANTRY).args(args).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    out.stdout
}

/// What bash's completion offers for `line` (the word under the cursor last).
fn complete_in_bash(line: &str) -> String {
    let script = format!(
        "source <({GANTRY:?} completions bash) && complete -p gantry >&2 && \
         COMP_LINE={line:?}; COMP_POINT=${{#COMP_LINE}}; read -ra COMP_WORDS <<< \"$COMP_LINE\"; \
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
         _gantry gantry \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[*]}}\""
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .output()
        .expect("bash runs");
    let stderr = common::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("-F _gantry gantry"),
        "complete -p gantry: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn bash_loads_the_completions_and_completes_commands_and_flags() {
    assert_eq!(complete_in_bash("gantry ct"), "ctl");
    let offered = complete_in_bash("gantry ctl ro");
    assert!(
        offered.split(' ').any(|w| w == "rollout") && offered.split(' ').any(|w| w == "rollback"),
        "{offered}"
    );
    assert!(
        complete_in_bash("gantry ctl rollback --").contains("--reason"),
        "rollback's flags"
    );
}

#[test]
fn every_shell_gets_a_script_and_a_bad_one_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = String::from_utf8(gantry(&["completions", shell])).unwrap();
        assert!(script.contains("rollout"), "{shell}: {script}");
    }
    // zsh and fish check the syntax when they are installed; CI has bash only.
    for (shell, check) in [
        ("zsh", ["-n", "/dev/stdin"]),
        ("fish", ["-n", "/dev/stdin"]),
    ] {
        let Ok(mut child) = Command::new(shell)
            .args(check)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("skipping the {shell} syntax check: {shell} is not installed");
            continue;
        };
        let script = gantry(&["completions", shell]);
        child.stdin.take().unwrap().write_all(&script).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{shell} -n: {}", common::stderr(&out));
    }
    let out = Command::new(GANTRY)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("tcsh"),
        "{}",
        common::stderr(&out)
    );
}

/// The page rendered by `man -l -` (or groff when man-db is absent), and
/// what the renderer warned. None when neither is installed.
fn render(roff: &[u8]) -> Option<(String, String)> {
    let mut command = if Command::new("man").arg("-w").output().is_ok() {
        let mut c = Command::new("man");
        c.args(["-l", "-"])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100");
        c
    } else if Command::new("groff").arg("-v").output().is_ok() {
        let mut c = Command::new("groff");
        c.args(["-k", "-man", "-Tutf8", "-ww"]);
        c
    } else {
        return None;
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(roff).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    // Words only: the renderer justifies lines with extra spaces.
    let words = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Some((words, common::stderr(&out)))
}

#[test]
fn the_man_pages_render() {
    let Some((page, warnings)) = render(&gantry(&["man"])) else {
        eprintln!("skipping: neither man (man-db) nor groff is installed to render the page");
        return;
    };
    assert_eq!(warnings, "", "the renderer warned");
    assert!(page.contains("NAME"), "{page}");
    assert!(page.contains("gantry - Graduated deploys"), "{page}");
    assert!(page.contains("gantry-ctl(1)"), "subcommands listed: {page}");
    assert!(page.contains("Exit status: 0 ok, 1 failed"), "{page}");

    let (page, warnings) = render(&gantry(&["man", "ctl", "rollback"])).unwrap();
    assert_eq!(warnings, "");
    assert!(page.contains("gantry-ctl-rollback"), "{page}");
    assert!(page.contains("--reason"), "{page}");

    // Every page, for packagers.
    let dir = tempfile::tempdir().unwrap();
    gantry(&["man", "--dir", dir.path().to_str().unwrap()]);
    for name in [
        "gantry.1",
        "gantry-ctl.1",
        "gantry-ctl-rollout.1",
        "gantry-sim-venue.1",
    ] {
        assert!(dir.path().join(name).is_file(), "{name}");
    }

    let out = Command::new(GANTRY)
        .args(["man", "ctl", "rolback"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("no command \"rolback\" under `gantry-ctl`"),
        "{}",
        common::stderr(&out)
    );
}
