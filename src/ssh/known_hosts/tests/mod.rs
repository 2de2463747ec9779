//! Unit tests of known_hosts, by job; the keys, lines and helpers they share.

mod check;
mod files;
mod line;
mod props;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::key::parse_blob;
use super::{KnownHosts, Verdict};

// A real host key, its `ssh-keygen -lf` fingerprint, and an
// `ssh-keygen -H` line for "localhost" made from it.
const ED_BLOB_B64: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIKXs0GK/Xm+DgN7c2pkJuitvxzb6MoQ5lRnz5AgCz3qB";
const ED_FINGERPRINT: &str = "SHA256:S92SIlE5XfBprnupUOk2yYi2Kw9/lmDMhOsQapxxopQ";
const LOCALHOST_HASHED: &str = "|1|fNODx6D7/JiRkSUHRHOFWHhXk0g=|kVmyIHJ0GQg/SMWHadcM6LykFbQ=";

fn ed_key(seed: u8) -> Vec<u8> {
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[seed; 32]);
    blob
}

fn ec_key(seed: u8) -> Vec<u8> {
    let mut blob = Vec::new();
    for part in [&b"ecdsa-sha2-nistp256"[..], b"nistp256"] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let mut point = vec![4u8];
    point.extend_from_slice(&[seed; 64]);
    blob.extend_from_slice(&65u32.to_be_bytes());
    blob.extend_from_slice(&point);
    blob
}

fn line(hosts: &str, blob: &[u8]) -> String {
    let kind = parse_blob(blob, true).expect("test key parses").kind.name();
    format!("{hosts} {kind} {}", STANDARD.encode(blob))
}

fn kh(text: &str) -> KnownHosts {
    KnownHosts::parse(text, Path::new("kh"))
}

fn verdict(text: &str, host: &str, port: u16, blob: &[u8]) -> Verdict {
    kh(text).check(host, port, "ssh-ed25519", blob)
}

fn trusted(line: usize) -> Verdict {
    Verdict::Trusted {
        path: PathBuf::from("kh"),
        line,
    }
}

fn revoked(line: usize) -> Verdict {
    Verdict::Revoked {
        path: PathBuf::from("kh"),
        line,
    }
}
