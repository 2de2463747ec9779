//! `~/.ssh/config` resolution against OpenSSH itself: the fallback parser
//! must give what `ssh -F FILE -G ALIAS` gives on the same file, and must
//! refuse (with file and line) what it does not understand.
//!
//! Needs OpenSSH's `ssh` on PATH. Without it these tests print a skip note
//! and pass, unless `GANTRY_REQUIRE_OPENSSH=1` (CI sets it), where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use gantry::ssh::ssh_config::{
    Resolved, Source, SshConfigError, resolve_fallback, resolve_with_ssh,
};
use proptest::prelude::*;

/// OpenSSH as installed, and the local account as it sees it (its `%u`,
/// `%d`, `~` and default user), learnt from `ssh -G` on an empty config.
struct OpenSsh {
    bin: PathBuf,
    home: PathBuf,
    user: String,
}

fn openssh() -> Option<OpenSsh> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("ssh"))
            .find(|p| p.is_file())
    });
    let Some(bin) = found else {
        if std::env::var("GANTRY_REQUIRE_OPENSSH").as_deref() == Ok("1") {
            panic!(
                "GANTRY_REQUIRE_OPENSSH=1 but `ssh` is not on PATH: install openssh-client \
                 (apt-get install openssh-client) so the fallback parser is checked against OpenSSH"
            );
        }
        eprintln!(
            "skipped: `ssh` is not on PATH (set GANTRY_REQUIRE_OPENSSH=1 to make this a failure)"
        );
        return None;
    };
    let out = Command::new(&bin)
        .args(["-F", "/dev/null", "-G", "probe.invalid"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh -G");
    assert!(
        out.status.success(),
        "ssh -G on an empty config failed: {out:?}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no `{key}` in ssh -G output"))
            .to_string()
    };
    let user = value("user");
    let known_hosts = value("userknownhostsfile");
    let first = known_hosts.split(' ').next().unwrap();
    let home = first
        .strip_suffix("/.ssh/known_hosts")
        .unwrap_or_else(|| panic!("unexpected default known_hosts {first}"));
    Some(OpenSsh {
        bin,
        home: PathBuf::from(if home.is_empty() { "/" } else { home }),
        user,
    })
}

impl OpenSsh {
    fn both(
        &self,
        dir: &Path,
        text: &str,
        alias: &str,
    ) -> (
        Result<Resolved, SshConfigError>,
        Result<Resolved, SshConfigError>,
    ) {
        let file = dir.join("config");
        std::fs::write(&file, text).unwrap();
        let real = resolve_with_ssh(&self.bin, Some(&file), alias);
        let ours = resolve_fallback(text, &file, alias, &self.home, &self.user);
        (real, ours)
    }

    /// Both must resolve `alias`, to the same thing.
    fn same(&self, text: &str, aliases: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        for alias in aliases {
            let (real, ours) = self.both(dir.path(), text, alias);
            let real = real.unwrap_or_else(|e| panic!("ssh -G refused {alias:?} on\n{text}\n{e}"));
            let mut ours =
                ours.unwrap_or_else(|e| panic!("fallback refused {alias:?} on\n{text}\n{e}"));
            assert_eq!(real.source, Source::SshG);
            assert_eq!(ours.source, Source::Fallback(dir.path().join("config")));
            ours.source = Source::SshG;
            assert_eq!(real, ours, "alias {alias:?} on\n{text}");
        }
    }
}

macro_rules! need_openssh {
    () => {
        match openssh() {
            Some(ssh) => ssh,
            None => return,
        }
    };
}

#[test]
fn empty_config_is_openssh_defaults() {
    let ssh = need_openssh!();
    ssh.same("", &["a", "Mixed.Case.Example", "10.0.0.5"]);
}

#[test]
fn host_patterns_and_negation() {
    let ssh = need_openssh!();
    let text = "\
Host web-* db?
  User patterned
Host *.prod !bastion.prod
  Port 2201
Host !only-negated
  HostKeyAlias never
Host exact
  HostName exact.example.com
Host a,b
  User comma-is-literal
";
    ssh.same(
        text,
        &[
            "web-1",
            "db1",
            "db12",
            "app.prod",
            "bastion.prod",
            "exact",
            "Exact",
            "a",
            "b",
            "other",
        ],
    );
}

#[test]
fn first_obtained_value_wins() {
    let ssh = need_openssh!();
    let text = "\
User global
Host lhr-*
  HostName %h.eu.example.net
  Port 2222
  User deploy
Host lhr-1
  User ignored
  HostName ignored.example
  Port 1
Host *
  Port 3
  StrictHostKeyChecking accept-new
  StrictHostKeyChecking no
";
    ssh.same(text, &["lhr-1", "lhr-2", "ewr-1", "LHR-1"]);
}

#[test]
fn line_forms_comments_and_quotes() {
    let ssh = need_openssh!();
    let text = "\
# a comment
   # an indented comment

host=first
\tHOSTNAME = First.Example.COM   # trailing comment
  user=\"quoted user\"
  PORT\t=\t2200
  identityfile \"/keys/with space\"
  IdentityFile=/keys/a\"b c\"d
Host second   # comment after a pattern
  HostKeyAlias 'single quoted'
  HostName \"x%%y%h\"
";
    ssh.same(text, &["first", "second", "third"]);
}

#[test]
fn proxy_jump() {
    let ssh = need_openssh!();
    let text = "\
Host a
  ProxyJump bob@jump.example:2222
Host b
  ProxyJump none
Host c
  ProxyJump 10.0.0.1
Host d
  ProxyJump hop1,ops@[fe80::1]:2200
Host e
  ProxyJump NONE,x
Host *
  ProxyJump later
";
    ssh.same(text, &["a", "b", "c", "d", "e", "f"]);
}

#[test]
fn identity_files_with_tilde_and_tokens() {
    let ssh = need_openssh!();
    let text = "\
Host k
  HostName K.Example
  User remote
  Port 2022
  IdentityFile ~/.ssh/id_%h_%r
  IdentityFile ~/.ssh/%u-%p-%n
  IdentityFile %d/keys/%%literal
  IdentityFile relative/key
Host *
  IdentityFile ~/.ssh/shared
Host none-set
  User x
";
    ssh.same(text, &["k", "other"]);
    ssh.same("Host none-set\n  User x\n", &["none-set"]);
}

#[test]
fn certificate_files_with_tilde_and_tokens() {
    let ssh = need_openssh!();
    let text = "\
Host k
  HostName K.Example
  User remote
  Port 2022
  IdentityFile ~/.ssh/id_%h
  CertificateFile ~/.ssh/id_%h-cert.pub
  CertificateFile %d/certs/%u-%r@%n:%p
  CertificateFile /certs/shared
Host *
  CertificateFile /certs/shared
  CertificateFile relative/cert
";
    ssh.same(text, &["k", "other"]);
}

#[test]
fn existing_identity_files_agree() {
    let ssh = need_openssh!();
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("present"), "key").unwrap();
    let text = format!(
        "IdentityFile {0}/present\nIdentityFile {0}/absent\n",
        keys.path().display()
    );
    ssh.same(&text, &["a"]);
    let dir = tempfile::tempdir().unwrap();
    let (real, _) = ssh.both(dir.path(), &text, "a");
    assert_eq!(
        real.unwrap().existing_identity_files,
        [keys.path().join("present")]
    );
}

#[test]
fn user_known_hosts_file_lists() {
    let ssh = need_openssh!();
    let text = "\
Host list
  HostName List.Example
  UserKnownHostsFile ~/kh1 /abs/kh2 %h_kh %d/%u/kh
Host off
  UserKnownHostsFile none
Host tilde
  UserKnownHostsFile ~
Host *
  UserKnownHostsFile /fleet/known_hosts
";
    ssh.same(text, &["list", "off", "tilde", "other"]);
}

#[test]
fn timeouts_and_host_key_policy() {
    let ssh = need_openssh!();
    let text = "\
Host t1
  ConnectTimeout 1m30s
  ServerAliveInterval 15
  StrictHostKeyChecking yes
Host t2
  ConnectTimeout none
  ServerAliveInterval 0
  StrictHostKeyChecking OFF
Host *
  ConnectTimeout 7
  ServerAliveInterval 1h
  HostKeyAlias fleet
";
    ssh.same(text, &["t1", "t2", "t3"]);
}

/// Lines OpenSSH rejects: the fallback rejects them too, at the same line.
#[test]
fn both_reject_invalid_lines() {
    let ssh = need_openssh!();
    let dir = tempfile::tempdir().unwrap();
    for (text, line) in [
        ("Host a\n  Port 0\n", 2),
        ("Host a\n  Port 65536\n", 2),
        ("Host a\n  Port 22 23\n", 2),
        ("Host a\n  IdentityFile a b\n", 2),
        ("Host a\n  CertificateFile a b\n", 2),
        ("Host \"\"\n", 1),
        ("Host a\n  StrictHostKeyChecking maybe\n", 2),
        ("Host a\n  ConnectTimeout soon\n", 2),
        ("Host a\n  UserKnownHostsFile none /x\n", 2),
        ("Host a\n  ProxyJump u@h:0\n", 2),
        ("\n\nUser \"unclosed\n", 3),
    ] {
        let (real, ours) = ssh.both(dir.path(), text, "a");
        let real = real.expect_err(text);
        assert!(
            real.to_string().contains(&format!("line {line}")),
            "ssh: {real} for {text:?}"
        );
        match ours {
            Err(SshConfigError::Invalid { file, line: l, .. }) => {
                assert_eq!((file, l), (dir.path().join("config"), line), "{text:?}")
            }
            other => panic!("fallback should reject {text:?} at line {line}: {other:?}"),
        }
    }
}

/// What the fallback does not understand it refuses, naming file and line,
/// even where OpenSSH accepts it: a Match block misapplied would send a
/// deploy to the wrong host.
#[test]
fn fallback_refuses_what_it_does_not_understand() {
    let ssh = need_openssh!();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("other"), "User included\n").unwrap();
    let include = format!(
        "Host a\n  Port 2200\nInclude {}/other\n",
        dir.path().display()
    );
    for (text, line, word) in [
        ("Host a\n  User one\nMatch host a\n  User two\n", 3, "Match"),
        ("Match all\n  User two\n", 1, "Match"),
        (include.as_str(), 3, "Include"),
        ("Host *\n  ForwardAgent yes\n", 2, "forwardagent"),
        ("Host a\n  IdentityFile ~/.ssh/%C\n", 2, "%C"),
        ("Host a\n  IdentityFile ~/.ssh/%l\n", 2, "%l"),
        ("Host a\n  UserKnownHostsFile ${HOME}/kh\n", 2, "${"),
    ] {
        let (_, ours) = ssh.both(dir.path(), text, "a");
        let real = Command::new(&ssh.bin)
            .arg("-F")
            .arg(dir.path().join("config"))
            .args(["-G", "a"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(real.status.success(), "OpenSSH accepts {text:?}: {real:?}");
        let err = ours.expect_err(text);
        let msg = err.to_string();
        match &err {
            SshConfigError::Refused { file, line: l, .. } => {
                assert_eq!(
                    (file, *l),
                    (&dir.path().join("config"), line),
                    "{text:?}: {msg}"
                )
            }
            other => panic!("expected a refusal for {text:?}: {other:?}"),
        }
        assert!(
            msg.starts_with(&format!(
                "{} line {line}: ",
                dir.path().join("config").display()
            )),
            "{msg}"
        );
        assert!(msg.contains(word), "{msg}");
    }
}

/// `ssh -G` prints identity files unexpanded; gantry expands the tokens
/// it knows and names the one it does not.
#[test]
fn unexpandable_identity_token_is_named() {
    let ssh = need_openssh!();
    let dir = tempfile::tempdir().unwrap();
    let (real, _) = ssh.both(dir.path(), "Host a\n  IdentityFile ~/.ssh/%C\n", "a");
    let err = real.unwrap_err();
    assert!(matches!(err, SshConfigError::Expand { .. }), "{err:?}");
    assert!(err.to_string().contains("%C"), "{err}");
}

#[test]
fn ssh_failure_is_reported_with_its_message() {
    let ssh = need_openssh!();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-config");
    let err = resolve_with_ssh(&ssh.bin, Some(&missing), "a").unwrap_err();
    assert!(matches!(err, SshConfigError::SshFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-config"), "{err}");
    let err = resolve_with_ssh(Path::new("/nonexistent/ssh"), None, "a").unwrap_err();
    assert!(matches!(err, SshConfigError::Spawn { .. }), "{err:?}");
}

// Random configs built from what the fallback understands: it must agree
// with OpenSSH on every alias.

fn keyword(name: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(name.to_string()),
        Just(name.to_ascii_lowercase()),
        Just(name.to_ascii_uppercase())
    ]
}

fn option_line() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        (
            keyword("HostName"),
            prop::sample::select(vec![
                "x.example",
                "%h.example",
                "H%%",
                "BIG.Example",
                "10.1.2.3"
            ])
        ),
        (
            keyword("User"),
            prop::sample::select(vec!["u1", "u2", "\"u 3\""])
        ),
        (
            keyword("Port"),
            prop::sample::select(vec!["22", "2200", "1", "65535"])
        ),
        (
            keyword("IdentityFile"),
            prop::sample::select(vec![
                "~/.ssh/k1",
                "/k/%h-%r-%p",
                "/k/%u",
                "rel/%n",
                "%d/k",
                "\"/k/sp ace\""
            ])
        ),
        (
            keyword("CertificateFile"),
            prop::sample::select(vec!["~/.ssh/k1-cert.pub", "/c/%h-%r", "/c/%u", "/c/%u"])
        ),
        (
            keyword("ProxyJump"),
            prop::sample::select(vec!["j", "u@j:2", "none", "10.0.0.1", "a,b@c:3"])
        ),
        (
            keyword("UserKnownHostsFile"),
            prop::sample::select(vec!["~/kh", "/a /b", "none", "%h_kh ~/x"])
        ),
        (
            keyword("StrictHostKeyChecking"),
            prop::sample::select(vec!["yes", "no", "ask", "accept-new", "off", "true"])
        ),
        (
            keyword("HostKeyAlias"),
            prop::sample::select(vec!["ka", "kb"])
        ),
        (
            keyword("ConnectTimeout"),
            prop::sample::select(vec!["5", "1m", "none", "0"])
        ),
        (
            keyword("ServerAliveInterval"),
            prop::sample::select(vec!["0", "10", "none", "2m3"])
        ),
    ];
    let sep = prop::sample::select(vec![" ", "=", " = ", "\t"]);
    let indent = prop::sample::select(vec!["", "  ", "\t"]);
    (indent, value, sep)
        .prop_map(|(indent, (key, value), sep)| format!("{indent}{key}{sep}{value}"))
}

fn host_line() -> impl Strategy<Value = String> {
    let pattern = prop::sample::select(vec![
        "a", "b", "web-1", "web-*", "*", "?eb-1", "!a", "!web-*", "a*", "*-1", "Web-1",
    ]);
    prop::collection::vec(pattern, 1..4).prop_map(|patterns| format!("Host {}", patterns.join(" ")))
}

fn config() -> impl Strategy<Value = String> {
    let block = (host_line(), prop::collection::vec(option_line(), 0..5));
    (
        prop::collection::vec(option_line(), 0..3),
        prop::collection::vec(block, 0..5),
    )
        .prop_map(|(global, blocks)| {
            let mut text = global.join("\n");
            for (host, options) in blocks {
                text.push('\n');
                text.push_str(&host);
                for option in options {
                    text.push('\n');
                    text.push_str(&option);
                }
            }
            text.push('\n');
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_configs_agree_with_openssh(text in config()) {
        let Some(ssh) = openssh() else { return Ok(()) };
        ssh.same(&text, &["a", "b", "web-1", "Web-1", "x"]);
    }
}
