//! Identity and known_hosts files: their kind, shape, and how they are named.

use super::*;

#[test]
fn identity_and_known_hosts_must_be_files_of_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
    put("id", KEY);
    put(
        "kh",
        "# pinned\n@cert-authority *.x ssh-ed25519 AAAAC3Nza\nh ssh-ed25519 AAAAC3Nza\n",
    );
    put("empty_kh", "");
    put("shadow", "root:$6$salt$hash:19000:0:99999:7:::\n");
    put(
        "passwd",
        "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n",
    );
    let host = |key: &str, value: &str| {
        format!("[[host]]\nname = \"a\"\naddress = \"b\"\n{key} = \"{value}\"\n")
    };
    for ok in [
        host("identity", "id"),
        host("known_hosts", "kh"),
        host("known_hosts", "empty_kh"),
        host("known_hosts", "not-yet"),
    ] {
        parse_in(dir.path(), &ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let refused = [
        (
            host("identity", "shadow"),
            "identity file",
            "does not look like a key file",
        ),
        (
            host("identity", "kh"),
            "identity file",
            "does not look like a key file",
        ),
        (
            host("known_hosts", "/tmp"),
            "known_hosts file /tmp",
            "is a directory",
        ),
        (
            host("known_hosts", "shadow"),
            "known_hosts file",
            "does not look like a known_hosts file",
        ),
        (
            host("known_hosts", "passwd"),
            "known_hosts file",
            "does not look like a known_hosts file",
        ),
        (
            host("known_hosts", "id"),
            "known_hosts file",
            "does not look like a known_hosts file",
        ),
        (
            host("identity", "/dev/null"),
            "identity file /dev/null",
            "is not a regular file",
        ),
    ];
    for (text, field, reason) in refused {
        let e = parse_in(dir.path(), &text).unwrap_err().to_string();
        assert!(
            e.contains("line 4")
                && e.contains("host \"a\"")
                && e.contains(field)
                && e.contains(reason),
            "{text}: {e}"
        );
        assert!(!e.contains("$6$"), "never quotes the content: {e}");
    }
    // Unreadable (as a normal user; root reads it, and the shape check
    // above refuses it instead).
    if std::fs::File::open("/etc/shadow").is_err() {
        let e = parse_in(dir.path(), &host("identity", "/etc/shadow"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("identity file /etc/shadow cannot be read"),
            "{e}"
        );
    }
}

#[test]
fn missing_identity_is_named_as_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let e = parse_in(
        dir.path(),
        "[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"keys/id\"\n",
    )
    .unwrap_err();
    let want = dir.path().join("keys/id");
    assert_eq!(e.line(), Some(4));
    assert_eq!(
        e.problem(),
        Some(&Problem::Identity {
            host: "a".into(),
            path: want.clone(),
            reason: "does not exist".into()
        })
    );
    assert!(
        e.to_string()
            .contains(&format!("identity file {} does not exist", want.display()))
    );
    let (_, problem, _) =
        err("[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"~/.ssh/none\"\n");
    assert!(
        matches!(problem, Problem::Identity { ref path, .. } if path == Path::new("/home/op/.ssh/none"))
    );
    let (_, problem, _) = err("[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"~bob/k\"\n");
    assert!(matches!(problem, Problem::BadValue { .. }), "{problem:?}");
}

#[test]
fn identity_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let e = parse_in(
        dir.path(),
        "[[host]]\nname = \"a\"\naddress = \"b\"\nidentity = \"keys\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
}
