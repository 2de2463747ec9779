//! Reading `ssh -G` output.

use std::path::PathBuf;

use super::*;
use crate::ssh::ssh_config::Source;
use crate::ssh::ssh_config::expand::LocalAccount;
use crate::ssh::ssh_config::ssh_g::parse_ssh_g;

/// Found by tests/fuzz.rs: `ssh -G` output saying `port 0` resolved to
/// port 0, though the error for a bad port promises 1 to 65535.
#[test]
fn regression_ssh_g_port_0_is_refused() {
    let account = LocalAccount {
        home: Some(PathBuf::from("/home/op")),
        user: Some("op".into()),
    };
    for port in ["0", "+22", "65536"] {
        let out = format!("hostname h\nport {port}\n");
        let err = parse_ssh_g(&out, "h", "ssh -G h", &account).unwrap_err();
        assert!(err.to_string().contains("1 to 65535"), "{err}");
    }
    assert_eq!(
        parse_ssh_g("hostname h\nport 22\n", "h", "ssh -G h", &account)
            .unwrap()
            .port,
        22
    );
}

#[test]
fn ssh_g_output_is_read() {
    let out = "host a\nuser root\nhostname a.example\nport 2200\nstricthostkeychecking true\n\
               identityfile ~/.ssh/id_%h\nidentityfile /k/%%x\nuserknownhostsfile /r/kh ~/kh2\n\
               certificatefile ~/.ssh/id_%h-cert.pub\n\
               proxyjump j:2\nconnecttimeout none\nserveraliveinterval 15\nhostkeyalias ka\n";
    let account = LocalAccount {
        home: Some("/home/op".into()),
        user: Some("op".into()),
    };
    let r = parse_ssh_g(out, "a", "ssh -G a", &account).unwrap();
    assert_eq!(r.host_name, "a.example");
    assert_eq!(r.port, 2200);
    assert_eq!(
        r.identity_files,
        [Path::new("/home/op/.ssh/id_a.example"), Path::new("/k/%x")]
    );
    assert_eq!(
        r.certificate_files,
        [Path::new("/home/op/.ssh/id_a.example-cert.pub")]
    );
    assert_eq!(
        r.known_hosts_files,
        [Path::new("/r/kh"), Path::new("/home/op/kh2")]
    );
    assert_eq!(r.strict_host_key_checking.as_deref(), Some("yes"));
    assert_eq!(r.proxy_jump.as_deref(), Some("j:2"));
    assert_eq!(
        (r.connect_timeout, r.server_alive_interval),
        (None, Some(15))
    );
    assert_eq!(r.host_key_alias.as_deref(), Some("ka"));
    assert_eq!(r.source, Source::SshG);
    let e = parse_ssh_g("hostname a\nport x\n", "a", "ssh -G a", &account).unwrap_err();
    assert!(e.to_string().contains("port x"), "{e}");
}
