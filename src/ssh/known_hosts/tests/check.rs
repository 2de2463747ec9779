//! Verdicts on plain keys and certificates: names and ports, patterns,
//! hashed names, revocation, changed keys, key types for algorithm order.

use super::*;
use crate::ssh::known_hosts::{Authority, HostKeyTypes, fingerprint, hash_host_name};

#[test]
fn fingerprint_and_hash_are_openssh_s() {
    let blob = STANDARD.decode(ED_BLOB_B64).unwrap();
    assert_eq!(fingerprint(&blob), ED_FINGERPRINT);
    assert!(parse_blob(&blob, false).is_some());
    let salt: [u8; 20] = STANDARD
        .decode("fNODx6D7/JiRkSUHRHOFWHhXk0g=")
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(hash_host_name("localhost", &salt), LOCALHOST_HASHED);
    let text = format!("{LOCALHOST_HASHED} ssh-ed25519 {ED_BLOB_B64}");
    assert!(
        kh(&text)
            .check("LocalHost", 22, "ssh-ed25519", &blob)
            .is_trusted()
    );
}

#[test]
fn exact_name_and_port_forms() {
    let k = ed_key(1);
    assert_eq!(
        verdict(&line("example.com", &k), "example.com", 22, &k),
        trusted(1)
    );
    assert_eq!(
        verdict(&line("[example.com]:2222", &k), "example.com", 2222, &k),
        trusted(1)
    );
    // A bracketed line never answers for port 22 or another port.
    assert_eq!(
        verdict(&line("[example.com]:2222", &k), "example.com", 22, &k),
        Verdict::Unknown
    );
    assert_eq!(
        verdict(&line("[example.com]:2222", &k), "example.com", 2223, &k),
        Verdict::Unknown
    );
    // A bare line answers for any port, via ssh's fallback.
    assert_eq!(
        verdict(&line("example.com", &k), "example.com", 2222, &k),
        trusted(1)
    );
    assert_eq!(
        verdict(&line("other.com", &k), "example.com", 22, &k),
        Verdict::Unknown
    );
}

#[test]
fn names_are_case_insensitive() {
    let k = ed_key(1);
    assert_eq!(
        verdict(&line("Example.COM", &k), "example.com", 22, &k),
        trusted(1)
    );
    assert_eq!(
        verdict(&line("example.com", &k), "EXAMPLE.com", 22, &k),
        trusted(1)
    );
    assert_eq!(
        verdict(&line("[EXAMPLE.com]:2222", &k), "example.Com", 2222, &k),
        trusted(1)
    );
}

#[test]
fn wildcards_and_negation() {
    let k = ed_key(1);
    for (pattern, host, expect) in [
        ("*", "a.b", true),
        ("*.b", "a.b", true),
        ("*.b", "b", false),
        ("a.?", "a.b", true),
        ("a.?", "a.bc", false),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("10.0.0.0/8", "10.1.2.3", false), // no CIDR
        ("*,!a.b", "a.b", false),
        ("!a.b,*", "a.b", false),
        ("*,!a.b", "c.b", true),
        ("!a.b", "c.b", false), // a negation alone accepts nothing
        ("x,,y", "y", true),
    ] {
        let got = verdict(&line(pattern, &k), host, 22, &k);
        assert_eq!(got.is_trusted(), expect, "{pattern} vs {host}: {got:?}");
    }
}

#[test]
fn negated_bracket_form_falls_back_to_bare_name() {
    let k = ed_key(1);
    // "[h]:p" is vetoed, so nothing is known for it, and the bare name
    // then matches "*": ssh accepts.
    assert_eq!(verdict(&line("*,![h]:2222", &k), "h", 2222, &k), trusted(1));
    assert_eq!(
        verdict(&line("*,![h]:2222,!h", &k), "h", 2222, &k),
        Verdict::Unknown
    );
}

#[test]
fn hashed_names() {
    let k = ed_key(1);
    let salt = [7u8; 20];
    let plain = hash_host_name("example.com", &salt);
    let bracket = hash_host_name("[example.com]:2222", &salt);
    assert_eq!(
        verdict(&line(&plain, &k), "Example.com", 22, &k),
        trusted(1)
    );
    assert_eq!(
        verdict(&line(&bracket, &k), "example.com", 2222, &k),
        trusted(1)
    );
    assert_eq!(
        verdict(&line(&plain, &k), "example.com", 2222, &k),
        trusted(1)
    );
    assert_eq!(
        verdict(&line(&plain, &k), "example.org", 22, &k),
        Verdict::Unknown
    );
    // A hashed field is compared whole: no list after it.
    assert_eq!(
        verdict(&line(&format!("{plain},x"), &k), "x", 22, &k),
        Verdict::Unknown
    );
    assert_eq!(
        verdict(&line(&format!("{plain},x"), &k), "example.com", 22, &k),
        Verdict::Unknown
    );
}

#[test]
fn revoked_wins_over_any_acceptance() {
    let k = ed_key(1);
    let accept = line("h", &k);
    let revoke = format!("@revoked {}", line("*", &k));
    assert_eq!(
        verdict(&format!("{accept}\n{revoke}"), "h", 22, &k),
        revoked(2)
    );
    assert_eq!(
        verdict(&format!("{revoke}\n{accept}"), "h", 22, &k),
        revoked(1)
    );
    assert_eq!(verdict(&revoke, "h", 22, &k), revoked(1));
    // Revoking another key does not touch this one.
    let other = format!("@revoked {}", line("*", &ed_key(2)));
    assert_eq!(
        verdict(&format!("{other}\n{accept}"), "h", 22, &k),
        trusted(2)
    );
    // A revoked line for another host does not apply.
    let elsewhere = format!("@revoked {}", line("g", &k));
    assert_eq!(
        verdict(&format!("{elsewhere}\n{accept}"), "h", 22, &k),
        trusted(2)
    );
}

#[test]
fn revoked_bare_name_and_ports() {
    let k = ed_key(1);
    let revoke_bare = format!("@revoked {}", line("h", &k));
    // Only a revoked bare line: the fallback finds it.
    assert_eq!(verdict(&revoke_bare, "h", 2222, &k), revoked(1));
    // The bracketed name accepts first, so the fallback never runs.
    let text = format!("{}\n{revoke_bare}", line("[h]:2222", &k));
    assert_eq!(verdict(&text, "h", 2222, &k), trusted(1));
}

#[test]
fn changed_key_and_other_key_types() {
    let k = ed_key(1);
    let other = ed_key(2);
    let ec = ec_key(3);
    let v = verdict(&line("h", &other), "h", 22, &k);
    let Verdict::Changed { offered, known } = v else {
        panic!("{v:?}")
    };
    assert_eq!(offered, fingerprint(&k));
    assert_eq!(known.len(), 1);
    assert_eq!(
        (known[0].line, known[0].key_type.as_str()),
        (1, "ssh-ed25519")
    );
    assert_eq!(known[0].fingerprint, fingerprint(&other));
    // Only another key type known: OpenSSH calls that changed too.
    let v = verdict(&line("h", &ec), "h", 22, &k);
    let Verdict::Changed { known, .. } = v else {
        panic!("{v:?}")
    };
    assert_eq!(known[0].key_type, "ecdsa-sha2-nistp256");
    // Any line with the key accepts, whatever other lines say.
    assert_eq!(
        verdict(
            &format!(
                "{}\n{}\n{}",
                line("h", &ec),
                line("h", &other),
                line("h", &k)
            ),
            "h",
            22,
            &k
        ),
        trusted(3)
    );
    // A changed bracketed name does not fall back to the bare name.
    let text = format!("{}\n{}", line("[h]:2222", &ec), line("h", &k));
    assert!(matches!(
        verdict(&text, "h", 2222, &k),
        Verdict::Changed { .. }
    ));
    // A different key under the bare name only: ssh says unknown.
    assert_eq!(verdict(&line("h", &other), "h", 2222, &k), Verdict::Unknown);
}

#[test]
fn cert_authority_never_matches_a_host_key() {
    let k = ed_key(1);
    assert_eq!(
        verdict(&format!("@cert-authority {}", line("*", &k)), "h", 22, &k),
        Verdict::Unknown
    );
    let text = format!("@cert-authority {}\n{}", line("*", &k), line("h", &k));
    assert_eq!(verdict(&text, "h", 22, &k), trusted(2));
}

#[test]
fn host_key_types_for_algorithm_order() {
    let text = format!(
        "{}\n{}\n@revoked h {}\n@cert-authority *.example {}\n{}",
        line("h,g", &ed_key(1)),
        line("h", &ed_key(2)),
        line("", &ec_key(3)).trim_start(),
        line("", &ed_key(4)).trim_start(),
        line("[h]:2222", &ec_key(5)),
    );
    let known = kh(&text);
    assert_eq!(
        known.host_key_types("H", 22),
        HostKeyTypes {
            authority: false,
            known: vec!["ssh-ed25519"],
        }
    );
    // As looked up for another port: no bare-name fallback here.
    assert_eq!(
        known.host_key_types("h", 2222),
        HostKeyTypes {
            authority: false,
            known: vec!["ecdsa-sha2-nistp256"],
        }
    );
    assert_eq!(
        known.host_key_types("a.example", 22),
        HostKeyTypes {
            authority: true,
            known: vec![],
        }
    );
    assert_eq!(known.host_key_types("x", 22), HostKeyTypes::default());
}

#[test]
fn a_certificate_that_does_not_parse_or_verify_is_never_trusted() {
    let k = ed_key(1);
    let known = kh(&format!(
        "@cert-authority * {}\n{}",
        line("", &k).trim_start(),
        line("h", &k)
    ));
    for blob in [&b""[..], b"junk", &k] {
        let got = known.check_certificate("h", 22, blob, 1);
        assert_eq!(got.verdict, Verdict::Unknown);
        assert!(matches!(got.authority, Authority::Unusable(_)));
    }
}

#[test]
fn overlong_pattern_fails_the_whole_list() {
    let k = ed_key(1);
    let long = "a".repeat(1023);
    assert_eq!(
        verdict(&line(&format!("h,{long}"), &k), "h", 22, &k),
        Verdict::Unknown
    );
    let ok = "a".repeat(1022);
    assert!(verdict(&line(&format!("h,{ok}"), &k), "h", 22, &k).is_trusted());
}
