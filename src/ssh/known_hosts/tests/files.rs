//! Several files read as one list, and `accept-new` appending to one.

use std::{fs, io};

use super::*;
use crate::ssh::known_hosts::append;

#[test]
fn multiple_files_are_one_list() {
    let dir = tempfile::tempdir().unwrap();
    let k = ed_key(1);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    fs::write(&a, line("h", &ed_key(2))).unwrap();
    fs::write(&b, format!("x\n{}", line("h", &k))).unwrap();
    let known = KnownHosts::load(&[a.clone(), dir.path().join("missing"), b.clone()]).unwrap();
    assert_eq!(
        known.check("h", 22, "ssh-ed25519", &k),
        Verdict::Trusted {
            path: b.clone(),
            line: 2
        }
    );
    assert_eq!(known.skipped()[0].path, b);
    fs::write(&b, format!("@revoked {}", line("h", &k))).unwrap();
    let known = KnownHosts::load(&[a, b.clone()]).unwrap();
    assert_eq!(
        known.check("h", 22, "ssh-ed25519", &k),
        Verdict::Revoked { path: b, line: 1 }
    );
    // A directory is not a file: that is an error, not "empty".
    let err = KnownHosts::load(&[dir.path().to_path_buf()]).unwrap_err();
    assert!(
        err.to_string().contains("cannot read known_hosts file"),
        "{err}"
    );
}

#[test]
fn append_records_new_hosts_and_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/known_hosts");
    let k = ed_key(1);
    append(&path, "Host.Example", 2222, "ssh-ed25519", &k).unwrap();
    append(&path, "host.example", 22, "ssh-ed25519", &k).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            "[host.example]:2222 ssh-ed25519 {0}\nhost.example ssh-ed25519 {0}\n",
            STANDARD.encode(&k)
        )
    );
    // Already trusted (for port 2223 through the bare name, as ssh
    // does): nothing is written.
    append(&path, "host.example", 22, "ssh-ed25519", &k).unwrap();
    append(&path, "host.example", 2223, "ssh-ed25519", &k).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    // Known with another key (even of another type): refused.
    let err = append(&path, "host.example", 22, "ssh-ed25519", &ed_key(2)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    let err = append(&path, "host.example", 22, "ecdsa-sha2-nistp256", &ec_key(1)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    for bad in [
        "", "a b", "a,b", "*", "h?", "!h", "@h", "#h", "|1|x", "a\nb",
    ] {
        let err = append(&path, bad, 22, "ssh-ed25519", &ed_key(3)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
    }
    assert!(append(&path, "new", 22, "ssh-ed25519", b"junk").is_err());
    // Revoked: refused.
    let revoked_path = dir.path().join("revoked");
    fs::write(&revoked_path, format!("@revoked {}", line("*", &k))).unwrap();
    let err = append(&revoked_path, "h", 22, "ssh-ed25519", &k).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    // A last line without a newline keeps its own line.
    let ragged = dir.path().join("ragged");
    fs::write(&ragged, line("a", &ed_key(4))).unwrap();
    append(&ragged, "b", 22, "ssh-ed25519", &k).unwrap();
    let known = KnownHosts::load(&[ragged]).unwrap();
    assert_eq!(known.len(), 2);
    assert!(known.check("b", 22, "ssh-ed25519", &k).is_trusted());
}
