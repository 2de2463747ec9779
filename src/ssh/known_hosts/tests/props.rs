//! Properties over random lines and bytes: no panics, and hashed lines
//! agree with plain ones.

use proptest::prelude::*;

use super::*;
use crate::ssh::known_hosts::hash_host_name;
use crate::ssh::known_hosts::line::b64_pton;

fn token() -> impl Strategy<Value = String> {
    let k = STANDARD.encode(ed_key(1));
    prop_oneof![
        Just("@revoked".to_string()),
        Just("@cert-authority".to_string()),
        Just("@".to_string()),
        Just("h".to_string()),
        Just("[h]:2222".to_string()),
        Just("*".to_string()),
        Just("!h".to_string()),
        Just(",".to_string()),
        Just("?".to_string()),
        Just("|1|".to_string()),
        Just(hash_host_name("h", &[1; 20])),
        Just("ssh-ed25519".to_string()),
        Just("ecdsa-sha2-nistp256".to_string()),
        Just("ssh-rsa".to_string()),
        Just(k.clone()),
        Just(k[..k.len() / 2].to_string()),
        Just(STANDARD.encode(ec_key(2))),
        Just("=".to_string()),
        Just("#".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("\r".to_string()),
        Just("\n".to_string()),
        Just("\0".to_string()),
        "[ -~]{0,12}",
    ]
}

proptest! {
    #[test]
    fn random_text_never_panics(tokens in prop::collection::vec(token(), 0..40), host in "[a-zA-Z0-9.*?!\\[\\]:]{0,12}", port in any::<u16>()) {
        let text = tokens.concat();
        let known = kh(&text);
        let k = ed_key(1);
        let _ = known.check(&host, port, "ssh-ed25519", &k);
        let _ = known.check(&host, port, "ssh-ed25519", b"");
        for s in known.skipped() {
            let _ = s.to_string();
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), blob in prop::collection::vec(any::<u8>(), 0..80)) {
        let known = KnownHosts::parse_bytes(&bytes, Path::new("kh"));
        let _ = known.check("h", 2222, "ssh-ed25519", &blob);
        let _ = known.check_certificate("h", 2222, &blob, 0);
        let _ = known.host_key_types("h", 2222);
        let _ = parse_blob(&blob, true);
        let _ = b64_pton(&bytes);
    }

    #[test]
    fn plain_and_hashed_lines_agree(host in "[a-z0-9.-]{1,20}", port in 1u16.., salt in any::<[u8; 20]>()) {
        let k = ed_key(1);
        let name = if port == 22 { host.clone() } else { format!("[{host}]:{port}") };
        let plain = line(&name, &k);
        let hashed = line(&hash_host_name(&name, &salt), &k);
        prop_assert_eq!(verdict(&plain, &host.to_uppercase(), port, &k), trusted(1));
        prop_assert_eq!(verdict(&hashed, &host, port, &k), trusted(1));
        prop_assert_eq!(verdict(&plain, &host, port, &ed_key(2)).is_trusted(), false);
    }
}
