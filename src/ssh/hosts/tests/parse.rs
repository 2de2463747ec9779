//! Reading the file: lines, fields and their defaults, TOML errors, values
//! refused everywhere, waves.

use super::*;
use crate::ssh::hosts::parse::Lines;
use crate::ssh::hosts::{DEFAULT_COMMAND, Jump};

#[test]
fn lines_are_found_by_offset() {
    let lines = Lines::new("a\nbb\n\nc");
    let got: Vec<usize> = (0..=8).map(|o| lines.at(o)).collect();
    assert_eq!(got, [1, 1, 2, 2, 2, 3, 4, 4, 4]);
}

#[test]
fn full_entry_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), KEY).unwrap();
    let text = r#"
waves = ["canary", "full"]

[[host]]
name = "bastion"
address = "bastion.example.net"

[[host]]
name = "lhr-1"
address = "10.0.0.5"
port = 2222
user = "deploy"
identity = "key"
known_hosts = "~/kh"
wave = "canary"
jump = "bastion"
command = "gantry attach --role operator"

[[host]]
name = "ewr-1"
address = "ewr-1.example.net"
jump = "ops@jump.example.net:2200"
"#;
    let file = parse_in(dir.path(), text).unwrap();
    assert_eq!(file.waves, ["canary", "full"]);
    let b = file.get("bastion").unwrap();
    assert_eq!((b.port, b.user.as_deref(), b.line), (22, None, 4));
    assert_eq!(b.command, DEFAULT_COMMAND);
    assert_eq!(
        (
            b.identity.as_ref(),
            b.known_hosts.as_ref(),
            b.wave.as_ref(),
            b.jump.as_ref()
        ),
        (None, None, None, None)
    );
    let l = file.get("lhr-1").unwrap();
    assert_eq!(l.line, 8);
    assert_eq!(l.port, 2222);
    assert_eq!(l.user.as_deref(), Some("deploy"));
    assert_eq!(
        l.identity.as_deref(),
        Some(dir.path().join("key").as_path())
    );
    assert_eq!(l.known_hosts.as_deref(), Some(Path::new("/home/op/kh")));
    assert_eq!(l.jump, Some(Jump::Host("bastion".into())));
    assert_eq!(l.command, "gantry attach --role operator");
    let e = file.get("ewr-1").unwrap();
    assert_eq!(
        e.jump,
        Some(Jump::Address {
            user: Some("ops".into()),
            host: "jump.example.net".into(),
            port: 2200
        })
    );
    assert_eq!(
        file.jump_chain("lhr-1")
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["bastion"]
    );
    assert!(file.get("nope").is_none());
}

#[test]
fn empty_file_has_no_hosts() {
    let file = parse_in(Path::new("/x"), "").unwrap();
    assert!(file.hosts.is_empty() && file.waves.is_empty());
}

#[test]
fn unknown_key_names_its_line() {
    let (line, problem, msg) = err("[[host]]\nname = \"a\"\naddress = \"b\"\nprot = 22\n");
    assert_eq!(line, 4);
    assert!(
        matches!(problem, Problem::Toml(ref m) if m.contains("unknown field `prot`")),
        "{problem:?}"
    );
    assert!(
        msg.contains("hosts.toml line 4: unknown field `prot`"),
        "{msg}"
    );
}

#[test]
fn unknown_top_level_key() {
    let (line, problem, _) = err("wave = [\"a\"]\n");
    assert_eq!(line, 1);
    assert!(
        matches!(problem, Problem::Toml(ref m) if m.contains("unknown field `wave`")),
        "{problem:?}"
    );
}

#[test]
fn syntax_error_names_its_line() {
    let (line, _, msg) = err("[[host]]\nname = \"a\"\naddress = \"b\n");
    assert_eq!(line, 3, "{msg}");
}

#[test]
fn missing_name_or_address_points_at_the_table() {
    let (line, problem, _) =
        err("[[host]]\nname = \"a\"\naddress = \"b\"\n\n[[host]]\naddress = \"c\"\n");
    assert_eq!((line, problem), (5, Problem::Missing("name")));
    let (line, problem, msg) = err("\n[[host]]\nname = \"a\"\n");
    assert_eq!((line, problem), (2, Problem::Missing("address")));
    assert!(
        msg.ends_with("line 2: this [[host]] has no `address`"),
        "{msg}"
    );
}

#[test]
fn duplicate_names_name_both_lines() {
    let (line, problem, msg) =
        err("[[host]]\nname = \"a\"\naddress = \"b\"\n[[host]]\nname = \"a\"\naddress = \"c\"\n");
    assert_eq!(line, 4);
    assert_eq!(
        problem,
        Problem::DuplicateName {
            name: "a".into(),
            first_line: 1
        }
    );
    assert!(
        msg.contains("line 4: host name \"a\" is used twice: at line 1 and here"),
        "{msg}"
    );
}

#[test]
fn port_out_of_range() {
    for (port, shown) in [("0", 0), ("65536", 65536), ("-1", -1)] {
        let (line, problem, _) = err(&format!(
            "[[host]]\nname = \"a\"\naddress = \"b\"\nport = {port}\n"
        ));
        assert_eq!((line, problem), (4, Problem::PortRange(shown)));
    }
    let (line, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"b\"\nport = \"22\"\n");
    assert_eq!(line, 4);
    assert!(matches!(problem, Problem::Toml(_)));
}

#[test]
fn tilde_without_home_is_an_error() {
    let e = parse_with_home(
        Path::new("h.toml"),
        "[[host]]\nname = \"a\"\naddress = \"b\"\nknown_hosts = \"~/kh\"\n",
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("h.toml line 4:") && e.to_string().contains("$HOME"),
        "{e}"
    );
}

#[test]
fn control_characters_are_refused_everywhere() {
    for key in [
        "name",
        "address",
        "user",
        "identity",
        "known_hosts",
        "wave",
        "jump",
        "command",
    ] {
        let mut text = String::from("[[host]]\n");
        for (k, v) in [("name", "a"), ("address", "b")] {
            if k != key {
                text.push_str(&format!("{k} = \"{v}\"\n"));
            }
        }
        text.push_str(&format!("{key} = \"x\\u001by\"\n"));
        let (line, problem, _) = err(&text);
        assert_eq!(
            line,
            4 - usize::from(matches!(key, "name" | "address")),
            "{key}"
        );
        assert_eq!(
            problem,
            Problem::ControlChar {
                key: key.into(),
                ch: '\u{1b}'
            }
        );
    }
    let (line, problem, _) = err("waves = [\"ok\", \"\"\"\nmulti\nline\"\"\"]\n");
    assert_eq!(line, 1);
    assert!(matches!(problem, Problem::ControlChar { ch: '\n', .. }));
}

#[test]
fn empty_strings_are_refused_everywhere() {
    for key in [
        "name",
        "address",
        "user",
        "identity",
        "known_hosts",
        "wave",
        "jump",
        "command",
    ] {
        let mut text = String::from("[[host]]\n");
        for (k, v) in [("name", "a"), ("address", "b")] {
            if k != key {
                text.push_str(&format!("{k} = \"{v}\"\n"));
            }
        }
        text.push_str(&format!("{key} = \"\"\n"));
        let (_, problem, msg) = err(&text);
        assert_eq!(problem, Problem::Empty { key: key.into() }, "{msg}");
    }
    let (_, problem, _) = err("waves = [\"\"]\n");
    assert_eq!(
        problem,
        Problem::Empty {
            key: "waves".into()
        }
    );
}

#[test]
fn words_that_ssh_would_misread() {
    let (line, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"-oProxyCommand=x\"\n");
    assert_eq!(line, 3);
    assert!(matches!(problem, Problem::BadValue { ref key, .. } if key == "address"));
    let (_, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"b\"\nuser = \"de ploy\"\n");
    assert!(matches!(problem, Problem::BadValue { ref key, .. } if key == "user"));
}

#[test]
fn waves_must_list_every_hosts_wave() {
    let (line, problem, msg) = err(
        "waves = [\"canary\", \"full\"]\n[[host]]\nname = \"a\"\naddress = \"b\"\nwave = \"canry\"\n",
    );
    assert_eq!(line, 5);
    assert_eq!(
        problem,
        Problem::UnknownWave {
            host: "a".into(),
            wave: "canry".into(),
            waves: vec!["canary".into(), "full".into()]
        }
    );
    assert!(
        msg.contains("host \"a\" is in unknown wave \"canry\""),
        "{msg}"
    );
    let (line, problem, _) = err("waves = [\"a\",\n  \"a\"]\n");
    assert_eq!((line, problem), (2, Problem::DuplicateWave("a".into())));
    // Without `waves`, any wave name goes.
    parse_in(
        Path::new("/x"),
        "[[host]]\nname = \"a\"\naddress = \"b\"\nwave = \"any\"\n",
    )
    .unwrap();
}

#[test]
fn duplicate_toml_keys_are_refused() {
    let (line, problem, _) = err("[[host]]\nname = \"a\"\nname = \"b\"\naddress = \"c\"\n");
    assert_eq!(line, 3);
    assert!(matches!(problem, Problem::Toml(_)));
}

#[test]
fn inline_host_tables_get_their_line() {
    let file = parse_in(
        Path::new("/x"),
        "\nhost = [\n  { name = \"a\", address = \"b\" },\n]\n",
    )
    .unwrap();
    assert_eq!(file.hosts[0].line, 3);
}
