//! Reading lines and keys: separators, markers, hashed names, base64 and
//! key blobs, and the lines skipped with their reasons.

use super::*;
use crate::ssh::known_hosts::SkipReason;
use crate::ssh::known_hosts::line::b64_pton;

/// Found by tests/fuzz.rs: an `ssh-rsa` blob whose modulus is an
/// empty mpint (`ssh-rsa` then two zero lengths) overflowed the bit
/// count. It is a malformed key, skipped like any other.
#[test]
fn regression_rsa_key_with_empty_modulus_is_skipped() {
    let known = KnownHosts::parse("h ssh-rsa AAAAB3NzaC1yc2EAAAAAAAAAAA==\n", Path::new("kh"));
    assert!(known.is_empty());
    assert_eq!(known.skipped()[0].reason, SkipReason::BadKey);
}

#[test]
fn bad_hash_salt_is_skipped() {
    let k = ed_key(1);
    let known = kh(&format!(
        "{}\n{}\n{}",
        line("|1|c2FsdA==|x", &k),
        line("|2|abc|def", &k),
        line("|1|", &k)
    ));
    assert!(known.is_empty());
    assert_eq!(
        known.skipped().iter().map(|s| s.reason).collect::<Vec<_>>(),
        vec![SkipReason::BadHostHash; 3]
    );
}

#[test]
fn separators_comments_and_line_endings() {
    let k = ed_key(1);
    let b64 = STANDARD.encode(&k);
    for text in [
        format!("h\tssh-ed25519\t{b64}"),
        format!("  \t h \t  ssh-ed25519  \t{b64}   a comment with  spaces"),
        format!("h ssh-ed25519 {b64}\r"),
        format!("h ssh-ed25519 {b64} comment\r"),
        format!("# comment\n\n   \n\t# indented\nh ssh-ed25519 {b64}"),
    ] {
        let got = verdict(&text, "h", 22, &k);
        assert!(got.is_trusted(), "{text:?}: {got:?}");
    }
    assert_eq!(verdict("", "h", 22, &k), Verdict::Unknown);
    assert_eq!(verdict("# only a comment\n", "h", 22, &k), Verdict::Unknown);
    assert!(kh("# c\n\n  \n").skipped().is_empty());
}

#[test]
fn marker_quirks() {
    let k = ed_key(1);
    let b64 = STANDARD.encode(&k);
    let accept = line("h", &k);
    // Tabs only: the marker ends at the tab, the line revokes.
    let text = format!("@revoked\th\tssh-ed25519\t{b64}\n{accept}");
    assert_eq!(verdict(&text, "h", 22, &k), revoked(1));
    // A space later on the line: the "marker" runs up to it, is invalid,
    // and ssh ignores the whole line.
    let text = format!("@revoked\th\tssh-ed25519\t{b64} comment\n{accept}");
    assert_eq!(verdict(&text, "h", 22, &k), trusted(2));
    assert_eq!(kh(&text).skipped()[0].reason, SkipReason::InvalidMarker);
    for bad in [
        "@revoked @revoked",
        "@REVOKED",
        "@",
        "@foo",
        "@cert-authority @revoked",
    ] {
        let known = kh(&format!("{bad} {accept}"));
        assert!(known.is_empty(), "{bad}");
        assert_eq!(
            known.skipped()[0].reason,
            SkipReason::InvalidMarker,
            "{bad}"
        );
    }
    // A marker with nothing after it.
    assert_eq!(
        kh("@revoked").skipped()[0].reason,
        SkipReason::InvalidMarker
    );
}

#[test]
fn malformed_lines_are_skipped_with_their_numbers() {
    let k = ed_key(1);
    let b64 = STANDARD.encode(&k);
    let text = [
        "garbage".to_string(),
        "h".to_string(),
        "h # comment".to_string(),
        "h ssh-ed25519".to_string(),
        "h ssh-ed25519 ".to_string(),
        format!("h ssh-foo {b64}"),
        "h ssh-ed25519 !!!notbase64".to_string(),
        format!("h ssh-ed25519 {}", &b64[..b64.len() - 4]),
        format!("h ecdsa-sha2-nistp256 {b64}"),
        format!("h ssh-ed25519 {b64}="),
        format!(
            "h ssh-ed25519 {}",
            STANDARD.encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x01x")
        ),
        format!("h ssh-ed25519 {b64}#comment"),
        line("h", &k),
    ]
    .join("\n");
    let known = kh(&text);
    assert_eq!(known.len(), 1);
    let reasons: Vec<(usize, SkipReason)> =
        known.skipped().iter().map(|s| (s.line, s.reason)).collect();
    assert_eq!(
        reasons,
        vec![
            (1, SkipReason::MissingKey),
            (2, SkipReason::MissingKey),
            (3, SkipReason::MissingKey),
            (4, SkipReason::MissingKey),
            (5, SkipReason::MissingKey),
            (6, SkipReason::UnknownKeyType),
            (7, SkipReason::BadBase64),
            (8, SkipReason::BadKey),
            (9, SkipReason::KeyTypeMismatch),
            (10, SkipReason::BadBase64),
            (11, SkipReason::BadKey),
            (12, SkipReason::BadBase64), // a comment needs a blank before it
        ]
    );
    assert_eq!(verdict(&text, "h", 22, &k), trusted(13));
    assert_eq!(
        known.skipped()[0].to_string(),
        "kh:1: ignored: no key after the host names"
    );
}

#[test]
fn base64_is_openssh_strict() {
    assert_eq!(b64_pton(b"QUJD").as_deref(), Some(&b"ABC"[..]));
    assert_eq!(b64_pton(b"QUI=").as_deref(), Some(&b"AB"[..]));
    assert_eq!(b64_pton(b"QQ==").as_deref(), Some(&b"A"[..]));
    assert_eq!(b64_pton(b"Q U\rI=\n").as_deref(), Some(&b"AB"[..]));
    assert_eq!(b64_pton(b"QQ= =").as_deref(), Some(&b"A"[..]));
    assert_eq!(b64_pton(b""), Some(vec![]));
    assert_eq!(b64_pton(b"QUI"), None); // padding required
    assert_eq!(b64_pton(b"QR=="), None); // non-zero unused bits
    assert_eq!(b64_pton(b"QQ="), None);
    assert_eq!(b64_pton(b"Q==="), None);
    assert_eq!(b64_pton(b"QUI=x"), None);
    assert_eq!(b64_pton(b"QU-I"), None);
}

#[test]
fn rsa_and_cert_keys() {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s);
    }
    let mut n = vec![0u8];
    n.extend_from_slice(&[0xc5; 256]);
    let mut rsa = Vec::new();
    string(&mut rsa, b"ssh-rsa");
    string(&mut rsa, &[1, 0, 1]);
    string(&mut rsa, &n);
    assert!(parse_blob(&rsa, false).is_some());
    let b64 = STANDARD.encode(&rsa);
    // The RSA signature names are accepted as key types on a line.
    let known = kh(&format!("h ssh-rsa {b64}\nh rsa-sha2-512 {b64}"));
    assert_eq!(known.len(), 2);
    assert!(known.check("h", 22, "rsa-sha2-512", &rsa).is_trusted());
    // Under 1024 bits: refused, as OpenSSH does.
    let mut small = Vec::new();
    string(&mut small, b"ssh-rsa");
    string(&mut small, &[1, 0, 1]);
    string(&mut small, &[0x7f; 64]);
    assert!(parse_blob(&small, false).is_none());

    // A certificate for key k is not k when accepting (sshkey_equal),
    // but a revoked certificate revokes k (sshkey_equal_public).
    let k = ed_key(1);
    let mut cert = Vec::new();
    string(&mut cert, b"ssh-ed25519-cert-v01@openssh.com");
    string(&mut cert, b"nonce");
    string(&mut cert, &[1; 32]);
    cert.extend_from_slice(&1u64.to_be_bytes());
    cert.extend_from_slice(&2u32.to_be_bytes());
    string(&mut cert, b"id");
    string(&mut cert, b"");
    cert.extend_from_slice(&0u64.to_be_bytes());
    cert.extend_from_slice(&u64::MAX.to_be_bytes());
    string(&mut cert, b"");
    string(&mut cert, b"");
    string(&mut cert, b"");
    string(&mut cert, &ed_key(9));
    string(&mut cert, b"sig");
    let cert_key = parse_blob(&cert, true).expect("cert parses");
    assert!(cert_key.kind.cert);
    let text = format!(
        "h ssh-ed25519-cert-v01@openssh.com {}",
        STANDARD.encode(&cert)
    );
    assert!(matches!(
        verdict(&text, "h", 22, &k),
        Verdict::Changed { .. }
    ));
    let text = format!(
        "@revoked * ssh-ed25519-cert-v01@openssh.com {}\n{}",
        STANDARD.encode(&cert),
        line("h", &k)
    );
    assert_eq!(verdict(&text, "h", 22, &k), revoked(1));
}
