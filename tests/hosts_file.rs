//! The hosts file loaded from real files: the documented example fleet,
//! paths relative to the file, and errors that name the file and line.

use std::path::{Path, PathBuf};

use gantry::ssh::hosts::{self, HostsError, Jump, Problem};

/// The shape of a key file (the hosts file checks shape, not the key).
const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";

/// A temp dir holding `hosts.toml` with `text`.
fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosts.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Loading `text` fails; returns the message and the line it names.
fn load_err(text: &str) -> (String, usize, PathBuf, tempfile::TempDir) {
    let (dir, path) = write(text);
    let err = hosts::load(&path).unwrap_err();
    let line = err.line().expect("error names a line");
    let msg = err.to_string();
    let prefix = format!("{} line {line}: ", path.display());
    assert!(
        msg.starts_with(&prefix),
        "{msg:?} should start with {prefix:?}"
    );
    (msg, line, path, dir)
}

/// The first ```toml block under "### Example fleet" in docs/hosts.md, so
/// the documented example is the tested one.
fn documented_example() -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/hosts.md"))
        .unwrap();
    let section = doc
        .split("### Example fleet")
        .nth(1)
        .expect("example section");
    let block = section.split("```toml\n").nth(1).expect("toml block");
    block.split("```").next().unwrap().to_string()
}

#[test]
fn documented_example_fleet_loads() {
    let (dir, path) = write(&documented_example());
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/deploy_ed25519"), KEY).unwrap();
    let file = hosts::load(&path).unwrap();
    assert_eq!(file.path, path);
    assert_eq!(file.waves, ["canary", "primary", "full"]);
    let names: Vec<&str> = file.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["bastion-eu", "lhr-1", "fra-1", "ewr-1"]);

    let fra = file.get("fra-1").unwrap();
    assert_eq!(fra.address, "10.30.0.7");
    assert_eq!(fra.port, 2222);
    assert_eq!(fra.user.as_deref(), Some("deploy"));
    assert_eq!(
        fra.identity.as_deref(),
        Some(dir.path().join("keys/deploy_ed25519").as_path())
    );
    assert_eq!(
        fra.known_hosts.as_deref(),
        Some(dir.path().join("known_hosts").as_path())
    );
    assert_eq!(fra.wave.as_deref(), Some("primary"));
    assert_eq!(fra.jump, Some(Jump::Host("bastion-eu".into())));
    assert_eq!(fra.command, "gantry attach --role operator");
    let chain: Vec<&str> = file
        .jump_chain("fra-1")
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(chain, ["bastion-eu"]);

    let ewr = file.get("ewr-1").unwrap();
    assert_eq!(
        (ewr.port, ewr.user.as_deref(), ewr.identity.as_deref()),
        (22, None, None)
    );
    assert_eq!(ewr.command, hosts::DEFAULT_COMMAND);
    assert_eq!(
        ewr.jump,
        Some(Jump::Address {
            user: Some("ops".into()),
            host: "bastion.us.example.net".into(),
            port: 2200
        })
    );
    assert!(file.jump_chain("ewr-1").is_empty());
    // Lines point at each [[host]] header of the file as written.
    let text = std::fs::read_to_string(&path).unwrap();
    for host in &file.hosts {
        assert_eq!(
            text.lines().nth(host.line - 1),
            Some("[[host]]"),
            "{}",
            host.name
        );
    }
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = hosts::load(&path).unwrap_err();
    assert!(matches!(err, HostsError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read the hosts file", path.display()))
    );
}

#[test]
fn unknown_key_names_file_and_line() {
    let (msg, line, ..) = load_err("[[host]]\nname = \"a\"\naddress = \"b\"\nprot = 22\n");
    assert_eq!(line, 4);
    assert!(msg.contains("unknown field `prot`"), "{msg}");
}

#[test]
fn syntax_error_names_file_and_line() {
    let (_, line, ..) = load_err("[[host]]\nname = \"a\"\naddress = \"b\n");
    assert_eq!(line, 3);
}

#[test]
fn duplicate_names_name_both_lines() {
    let (msg, line, ..) = load_err(
        "[[host]]\nname = \"lhr-1\"\naddress = \"a\"\n\n[[host]]\nname = \"lhr-1\"\naddress = \"b\"\n",
    );
    assert_eq!(line, 5);
    assert!(
        msg.ends_with("host name \"lhr-1\" is used twice: at line 1 and here"),
        "{msg}"
    );
}

#[test]
fn missing_identity_is_named_with_its_resolved_path() {
    let (msg, line, path, _dir) =
        load_err("[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"keys/id\"\n");
    assert_eq!(line, 4);
    let resolved = path.parent().unwrap().join("keys/id");
    assert!(
        msg.ends_with(&format!(
            "host \"a\": identity file {} does not exist",
            resolved.display()
        )),
        "{msg}"
    );
}

#[test]
fn bad_port_unknown_wave_jump_and_cycle() {
    let (msg, line, ..) = load_err("[[host]]\nname = \"a\"\naddress = \"b\"\nport = 70000\n");
    assert_eq!(line, 4);
    assert!(
        msg.ends_with("port 70000 is out of range: use 1 to 65535"),
        "{msg}"
    );

    let (msg, line, ..) = load_err(
        "waves = [\"canary\", \"full\"]\n\n[[host]]\nname = \"a\"\naddress = \"b\"\nwave = \"canry\"\n",
    );
    assert_eq!(line, 6);
    assert!(
        msg.contains("host \"a\" is in unknown wave \"canry\""),
        "{msg}"
    );

    let (msg, line, ..) = load_err("[[host]]\nname = \"a\"\naddress = \"b\"\njump = \"bastoin\"\n");
    assert_eq!(line, 4);
    assert!(
        msg.contains("jumps through \"bastoin\", which is not a host in this file"),
        "{msg}"
    );

    let (msg, line, ..) = load_err(
        "[[host]]\nname = \"a\"\naddress = \"x\"\njump = \"b\"\n\n[[host]]\nname = \"b\"\naddress = \"y\"\njump = \"a\"\n",
    );
    assert_eq!(line, 1);
    assert!(msg.ends_with("jump cycle: a -> b -> a"), "{msg}");
}

#[test]
fn empty_and_control_character_values() {
    let (msg, line, ..) = load_err("[[host]]\nname = \"a\"\naddress = \"b\"\nuser = \"\"\n");
    assert_eq!(line, 4);
    assert!(msg.ends_with("`user` is empty"), "{msg}");
    let (msg, line, ..) = load_err("[[host]]\nname = \"a\\u001b[31m\"\naddress = \"b\"\n");
    assert_eq!(line, 2);
    assert!(
        msg.contains("`name` contains the control character"),
        "{msg}"
    );
}

#[test]
fn errors_are_matchable() {
    let (_dir, path) = write("[[host]]\naddress = \"b\"\n");
    let err = hosts::load(&path).unwrap_err();
    assert_eq!(err.problem(), Some(&Problem::Missing("name")));
}

#[test]
fn ten_thousand_hosts_load_whole_with_their_lines() {
    // The size that took 19 s when every line lookup counted from the top;
    // the time is a bench figure (docs/benchmarks.md), not asserted here.
    let mut text = String::from("waves = [\"canary\", \"full\"]\n");
    for i in 0..10_000 {
        let jump = if i == 0 { "" } else { "jump = \"h-0\"\n" };
        text.push_str(&format!(
            "\n[[host]]\nname = \"h-{i}\"\naddress = \"10.0.{}.{}\"\nidentity = \"id\"\nknown_hosts = \"known_hosts\"\nwave = \"{}\"\n{jump}",
            i / 256,
            i % 256,
            if i < 10 { "canary" } else { "full" }
        ));
    }
    let (dir, path) = write(&text);
    std::fs::write(dir.path().join("id"), KEY).unwrap();
    std::fs::write(dir.path().join("known_hosts"), "h ssh-ed25519 AAAAC3Nza\n").unwrap();
    let file = hosts::load(&path).unwrap();
    assert_eq!(file.hosts.len(), 10_000);
    let lines: Vec<&str> = text.lines().collect();
    for host in [&file.hosts[0], &file.hosts[4_999], &file.hosts[9_999]] {
        assert_eq!(lines[host.line - 1], "[[host]]", "{}", host.name);
        assert_eq!(lines[host.line], format!("name = \"{}\"", host.name));
    }
    assert_eq!(
        file.get("h-9999").unwrap().jump,
        Some(Jump::Host("h-0".into()))
    );

    // A duplicate at the very end is still found, naming both lines.
    std::fs::write(
        &path,
        format!("{text}\n[[host]]\nname = \"h-3\"\naddress = \"x\"\n"),
    )
    .unwrap();
    let err = hosts::load(&path).unwrap_err();
    let first = file.get("h-3").unwrap().line;
    assert!(
        err.to_string().ends_with(&format!(
            "host name \"h-3\" is used twice: at line {first} and here"
        )),
        "{err}"
    );
    assert_eq!(err.line(), Some(lines.len() + 2));
}

#[test]
fn identity_and_known_hosts_of_the_wrong_kind_are_refused_by_field_and_host() {
    for (key, value, want) in [
        (
            "known_hosts",
            "/tmp",
            "host \"a\": known_hosts file /tmp is a directory",
        ),
        (
            "identity",
            "/etc/passwd",
            "host \"a\": identity file /etc/passwd does not look like a key file",
        ),
        (
            "known_hosts",
            "/etc/passwd",
            "host \"a\": known_hosts file /etc/passwd does not look like a known_hosts file",
        ),
        (
            "identity",
            "/tmp",
            "host \"a\": identity file /tmp is a directory",
        ),
    ] {
        let (msg, line, ..) = load_err(&format!(
            "[[host]]\nname = \"a\"\naddress = \"b\"\n{key} = \"{value}\"\n"
        ));
        assert_eq!(line, 4);
        assert!(msg.contains(want), "{msg}");
    }
}
