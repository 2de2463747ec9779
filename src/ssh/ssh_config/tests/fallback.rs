//! The fallback parser: defaults, first value wins, expansions, and what it
//! refuses or finds invalid, with file and line.

use std::path::PathBuf;

use super::*;
use crate::ssh::ssh_config::Source;
use crate::ssh::ssh_config::fallback::DEFAULT_IDENTITY_FILES;

#[test]
fn defaults_without_config() {
    let r = ok("", "Box.Example");
    assert_eq!(r.host_name, "box.example");
    assert_eq!(r.user.as_deref(), Some("op"));
    assert_eq!(r.port, 22);
    assert_eq!(r.identity_files[0], Path::new("/home/op/.ssh/id_rsa"));
    assert_eq!(r.identity_files.len(), DEFAULT_IDENTITY_FILES.len());
    assert_eq!(
        r.known_hosts_files,
        [
            Path::new("/home/op/.ssh/known_hosts"),
            Path::new("/home/op/.ssh/known_hosts2")
        ]
    );
    assert_eq!(r.strict_host_key_checking.as_deref(), Some("ask"));
    assert_eq!(
        (
            r.proxy_jump,
            r.host_key_alias,
            r.connect_timeout,
            r.server_alive_interval
        ),
        (None, None, None, None)
    );
    assert_eq!(r.source, Source::Fallback("/cfg/config".into()));
}

#[test]
fn first_value_wins_and_identity_files_accumulate() {
    let text = "Port 2200\nHost web-*\n  HostName %h.example.com\n  User deploy\n  IdentityFile ~/.ssh/%r@%h:%p\n\
                Host *\n  User other\n  Port 1\n  IdentityFile /k/%u-%n-%d-%%\n";
    let r = ok(text, "web-1");
    assert_eq!(r.host_name, "web-1.example.com");
    assert_eq!(r.user.as_deref(), Some("deploy"));
    assert_eq!(r.port, 2200);
    assert_eq!(
        r.identity_files,
        [
            PathBuf::from("/home/op/.ssh/deploy@web-1.example.com:2200"),
            PathBuf::from("/k/op-web-1-/home/op-%")
        ]
    );
}

#[test]
fn known_hosts_lists() {
    let r = ok("UserKnownHostsFile ~/kh %d/w %h_kh\n", "a");
    assert_eq!(
        r.known_hosts_files,
        [
            Path::new("/home/op/kh"),
            Path::new("/home/op/w"),
            Path::new("a_kh")
        ]
    );
    let r = ok("UserKnownHostsFile none\n", "a");
    assert!(r.known_hosts_files.is_empty());
    let e = fallback("UserKnownHostsFile none /x\n", "a").unwrap_err();
    assert!(matches!(e, SshConfigError::Invalid { line: 1, .. }), "{e}");
}

#[test]
fn refusals_name_file_and_line() {
    for (text, line, what) in [
        ("Host a\n  Match host b\n", 2, "Match"),
        ("\n\nInclude other\n", 3, "Include"),
        ("Host *\n ForwardAgent yes\n", 2, "forwardagent"),
        ("Host a\n IdentityFile ~/.ssh/%C\n", 2, "%C"),
        ("Host a\n IdentityFile ~bob/k\n", 2, "~user"),
        ("Host a\n IdentityFile ${HOME}/k\n", 2, "${"),
        ("Host a\n User %u\n", 2, "User"),
        ("Host a\n ProxyJump \"j\"\n", 2, "ProxyJump"),
    ] {
        let e = fallback(text, "a").unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, SshConfigError::Refused { line: l, .. } if l == line),
            "{text:?}: {msg}"
        );
        assert!(
            msg.starts_with(&format!("/cfg/config line {line}: ")),
            "{msg}"
        );
        assert!(msg.contains(what), "{msg}");
    }
}

#[test]
fn tokens_in_unused_values_are_not_refused() {
    // OpenSSH expands a value only when it is used; so does the fallback.
    let r = ok(
        "Host other\n IdentityFile ~/.ssh/%C\nHost *\n IdentityFile /k\n",
        "a",
    );
    assert_eq!(r.identity_files, [Path::new("/k")]);
}

#[test]
fn invalid_lines_name_file_and_line() {
    for (text, line) in [
        ("Host a\n Port 0\n", 2),
        ("Host b\n Port 22 33\n", 2),
        ("Port\n", 1),
        ("Host \"\"\n", 1),
        ("User \"open\n", 1),
        ("StrictHostKeyChecking maybe\n", 1),
        ("ConnectTimeout soon\n", 1),
        ("ProxyJump u@h:0\n", 1),
        ("Host a\n HostName %p\n", 2),
    ] {
        let e = fallback(text, "a").unwrap_err();
        assert!(
            matches!(e, SshConfigError::Invalid { line: l, .. } if l == line),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn strict_and_times() {
    let r = ok(
        "StrictHostKeyChecking OFF\nConnectTimeout none\nConnectTimeout 1m\nServerAliveInterval 0\nServerAliveInterval 5\n",
        "a",
    );
    assert_eq!(r.strict_host_key_checking.as_deref(), Some("no"));
    assert_eq!(r.connect_timeout, Some(60));
    assert_eq!(r.server_alive_interval, None);
}

#[test]
fn aliases_that_ssh_would_misread_are_refused() {
    for alias in ["", "-oProxyCommand=x", "a b", "a\nb"] {
        assert!(
            matches!(fallback("", alias), Err(SshConfigError::BadAlias { .. })),
            "{alias:?}"
        );
    }
}

#[test]
fn certificate_files_accumulate_like_identity_files() {
    let text = "Host web-*\n  CertificateFile ~/.ssh/%r@%h-cert.pub\n  CertificateFile /c/x\n\
                Host *\n  CertificateFile /c/x\n  CertificateFile /c/%u\n";
    let r = ok(text, "web-1");
    assert_eq!(
        r.certificate_files,
        [
            PathBuf::from("/home/op/.ssh/op@web-1-cert.pub"),
            PathBuf::from("/c/x"),
            PathBuf::from("/c/op")
        ]
    );
    assert!(ok("", "a").certificate_files.is_empty());
    let e = fallback("Host a\n CertificateFile a b\n", "a").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn existing_identity_files_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("id_ed25519"), "k").unwrap();
    let text = format!(
        "IdentityFile {0}/id_rsa\nIdentityFile {0}/id_ed25519\n",
        dir.path().display()
    );
    let r = ok(&text, "a");
    assert_eq!(r.identity_files.len(), 2);
    assert_eq!(r.existing_identity_files, [dir.path().join("id_ed25519")]);
}
