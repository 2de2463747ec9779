//! Jump hosts: unknown names, cycles, addresses.

use super::*;
use crate::ssh::hosts::Jump;
use crate::ssh::hosts::jump::parse_jump_address;

#[test]
fn jump_to_unknown_host() {
    let (line, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"b\"\njump = \"bastoin\"\n");
    assert_eq!(line, 4);
    assert_eq!(
        problem,
        Problem::UnknownJumpHost {
            host: "a".into(),
            jump: "bastoin".into()
        }
    );
}

#[test]
fn jump_cycle() {
    let text = "[[host]]\nname = \"a\"\naddress = \"x\"\njump = \"b\"\n\
                [[host]]\nname = \"b\"\naddress = \"y\"\njump = \"c\"\n\
                [[host]]\nname = \"c\"\naddress = \"z\"\njump = \"a\"\n";
    let (line, problem, msg) = err(text);
    assert_eq!(line, 1);
    assert_eq!(
        problem,
        Problem::JumpCycle {
            cycle: vec!["a".into(), "b".into(), "c".into(), "a".into()]
        }
    );
    assert!(
        msg.ends_with("line 1: jump cycle: a -> b -> c -> a"),
        "{msg}"
    );
    let (line, problem, _) = err(
        "[[host]]\nname = \"x\"\naddress = \"x\"\n[[host]]\nname = \"a\"\naddress = \"x\"\njump = \"a\"\n",
    );
    assert_eq!(line, 4);
    assert_eq!(
        problem,
        Problem::JumpCycle {
            cycle: vec!["a".into(), "a".into()]
        }
    );
    // A chain that ends is fine.
    let chain = "[[host]]\nname = \"a\"\naddress = \"x\"\njump = \"b\"\n[[host]]\nname = \"b\"\naddress = \"y\"\njump = \"c\"\n[[host]]\nname = \"c\"\naddress = \"z\"\n";
    let file = parse_in(Path::new("/x"), chain).unwrap();
    let names: Vec<_> = file
        .jump_chain("a")
        .iter()
        .map(|h| h.name.clone())
        .collect();
    assert_eq!(names, ["c", "b"]);
}

#[test]
fn jump_addresses() {
    let ok = |s: &str| parse_jump_address(s).unwrap();
    assert_eq!(
        ok("j.example"),
        Jump::Address {
            user: None,
            host: "j.example".into(),
            port: 22
        }
    );
    assert_eq!(
        ok("a@b@j:2"),
        Jump::Address {
            user: Some("a@b".into()),
            host: "j".into(),
            port: 2
        }
    );
    assert_eq!(
        ok("[::1]:2200"),
        Jump::Address {
            user: None,
            host: "::1".into(),
            port: 2200
        }
    );
    assert_eq!(
        ok("[fe80::1]"),
        Jump::Address {
            user: None,
            host: "fe80::1".into(),
            port: 22
        }
    );
    assert_eq!(ok("u@[::1]:2200").to_string(), "u@[::1]:2200");
    assert_eq!(ok("u@h.example:22").to_string(), "u@h.example");
    for bad in [
        "a,b",
        "ssh://h",
        "@h",
        "h:0",
        "h:x",
        "[::1",
        "h:",
        "h:+22",
        ":22",
        "fe80::1",
        "-oProxyCommand=x:1",
        "a b.c",
    ] {
        assert!(parse_jump_address(bad).is_err(), "{bad}");
    }
    let (line, problem, _) =
        err("[[host]]\nname = \"a\"\naddress = \"b\"\n\njump = \"u@j:99999\"\n");
    assert_eq!(line, 5);
    assert!(matches!(problem, Problem::BadJump { .. }), "{problem:?}");
}
