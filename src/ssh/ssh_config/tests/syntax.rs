//! Lines, quoted arguments, times and `ProxyJump` spellings.

use super::*;
use crate::ssh::ssh_config::syntax::{parse_proxy_jump, parse_time, split_args, split_keyword};
use crate::ssh::ssh_config::{JumpHop, parse_jump_hops};

#[test]
fn line_forms() {
    assert_eq!(split_keyword("  Port=22"), Some(("Port", "22")));
    assert_eq!(split_keyword("Port = 22  "), Some(("Port", "22")));
    assert_eq!(split_keyword("\tPort\t 22"), Some(("Port", "22")));
    assert_eq!(split_keyword("  # note"), None);
    assert_eq!(split_keyword("   "), None);
    assert_eq!(
        split_args(r#"a "b c" d"e f"g # x"#).unwrap(),
        ["a", "b c", "de fg"]
    );
    assert_eq!(
        split_args(r#"\"q\" \\ \x a\ b"#).unwrap(),
        ["\"q\"", "\\", "\\x", "a b"]
    );
    assert!(split_args("\"open").is_err());
    assert_eq!(split_args("a#b").unwrap(), ["a#b"]);
}

#[test]
fn times() {
    assert_eq!(parse_time("90"), Some(90));
    assert_eq!(parse_time("1m30"), Some(90));
    assert_eq!(parse_time("1h1M1s"), Some(3661));
    assert_eq!(parse_time("1x"), None);
    assert_eq!(parse_time("-5"), None);
}

/// Found by tests/fuzz.rs: `ConnectTimeout 1\u{fffd}0` panicked,
/// slicing inside the character that follows the digits.
#[test]
fn regression_non_ascii_time_unit_is_refused() {
    assert_eq!(parse_time("1\u{fffd}0"), None);
    assert_eq!(parse_time("10é"), None);
    let err = resolve_fallback(
        "Host x\n  ConnectTimeout 1é\n",
        Path::new("config"),
        "x",
        Path::new("/home/op"),
        "op",
    )
    .unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn proxy_jumps_in_ssh_g_spelling() {
    assert_eq!(parse_proxy_jump("none"), Some(None));
    assert_eq!(parse_proxy_jump("u@h:22"), Some(Some("u@h:22".into())));
    assert_eq!(
        parse_proxy_jump("10.0.0.1"),
        Some(Some("[10.0.0.1]".into()))
    );
    assert_eq!(
        parse_proxy_jump("x,u@[fe80::1]:2"),
        Some(Some("x,u@[fe80::1]:2".into()))
    );
    for bad in ["u@h:0", "fe80::1", "a,,b", "@h", "u@h/22", "ssh://h"] {
        assert_eq!(parse_proxy_jump(bad), None, "{bad}");
    }
    let r = ok("Host a\n ProxyJump none\nHost *\n ProxyJump j\n", "a");
    assert_eq!(r.proxy_jump, None);
    let r = ok("Host *\n ProxyJump j\n", "a");
    assert_eq!(r.proxy_jump.as_deref(), Some("j"));
    let r = ok(
        "Host *\n ProxyJump a@b@j1:2,[10.0.0.1],[fe80::1]:2200\n",
        "a",
    );
    assert_eq!(
        r.jump_hops(),
        [
            JumpHop {
                user: Some("a@b".into()),
                host: "j1".into(),
                port: Some(2)
            },
            JumpHop {
                user: None,
                host: "10.0.0.1".into(),
                port: None
            },
            JumpHop {
                user: None,
                host: "fe80::1".into(),
                port: Some(2200)
            },
        ]
    );
    assert!(parse_jump_hops("none").is_empty());
    assert!(parse_jump_hops("a,,b").is_empty());
}
