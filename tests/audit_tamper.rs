//! The audit chain under tampering: a real log, written by a real agent
//! driven through `gantry ctl`, then every single-bit flip and every
//! truncation of it, each checked by the library's `audit::verify`.
//!
//! The claims (src/agent/audit.rs): any changed byte breaks its line's hash,
//! and `verify` names that line; a log cut anywhere but at the end of an
//! entry is refused; a log cut at the end of an entry verifies, but to an
//! older head than the one a client remembers, which is how `ctl` and the
//! control room notice that entries went missing.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Lab, stderr};
use gantry::agent::audit::{self, AuditError};

/// A log of real entries: deploys to live, an approval, a crashing
/// release rolled back, an estop and a rearm, a refused command, and a
/// reason full of quotes, escapes and non-ASCII so the JSON escaping is
/// in the bytes under test.
fn real_log() -> Vec<u8> {
    let mut lab = Lab::new("tamper-1", 1);
    lab.start_agent();
    lab.deploy_live(&lab.example("good.env"), Duration::from_secs(3));
    let out = lab.ctl_path(
        &[
            "submit",
            "--reason",
            "new \"strategy\" \u{1b}[2J ünïcødé \\ \t",
        ],
        &lab.example("bad-crash.env"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    lab.wait_state("rolled_back", Duration::from_secs(15));
    for args in [
        ["estop", "--reason", "venue outage"],
        ["rearm", "--reason", "venue back"],
        ["rollback", "--reason", "nothing to roll back"],
    ] {
        // The last one is refused (idle), which is audited too.
        lab.ctl(&args);
    }
    lab.signal_agent(libc::SIGTERM);
    let bytes = fs::read(lab.path("audit.jsonl")).expect("audit log");
    let entries = bytes.iter().filter(|b| **b == b'\n').count();
    assert!(
        entries >= 10,
        "only {entries} entries:\n{}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

/// The 1-based line a byte belongs to, its newline included.
fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes[..at].iter().filter(|b| **b == b'\n').count() + 1
}

#[test]
fn every_bit_flip_and_every_truncation_is_caught() {
    let started = Instant::now();
    let original = real_log();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    fs::write(&path, &original).expect("copy");
    let sound = audit::verify(&path).expect("the agent's own log verifies");
    let head = sound.head.clone().expect("a head");
    let lines = original.iter().filter(|b| **b == b'\n').count();
    assert_eq!(sound.entries, lines);
    assert_eq!(head.seq as usize, lines);

    let built = started.elapsed();
    let flips = flip_every_bit(&path, &original);
    let flipped = started.elapsed() - built;
    let truncations = truncate_everywhere(&path, &original, &head);
    let truncated = started.elapsed() - built - flipped;

    if std::env::var_os("GANTRY_FUZZ_REPORT").is_some() {
        eprintln!(
            "audit tamper: {} bytes, {lines} entries (built in {built:.2?}); \
             {flips} bit flips, all detected, in {flipped:.2?}; \
             {} truncations: {} refused by verify, {} at an entry's end caught by the head, \
             in {truncated:.2?}",
            original.len(),
            truncations.0 + truncations.1,
            truncations.0,
            truncations.1,
        );
    }
}

/// Flips each bit of the file in place (and back), checking that verify
/// refuses the log and names the line the byte belongs to. Returns the
/// number of flips.
fn flip_every_bit(path: &Path, original: &[u8]) -> usize {
    let file = File::options().write(true).open(path).expect("open copy");
    let mut flips = 0;
    for (at, byte) in original.iter().enumerate() {
        for bit in 0..8 {
            file.write_at(&[byte ^ (1 << bit)], at as u64)
                .expect("flip");
            match audit::verify(path) {
                Err(AuditError::Broken { line, .. }) => assert_eq!(
                    line,
                    line_of(original, at),
                    "byte {at} bit {bit}: wrong line named"
                ),
                Err(e) => panic!("byte {at} bit {bit}: {e}"),
                Ok(v) => panic!(
                    "byte {at} ({:?}) bit {bit}: undetected, verified {v:?}",
                    *byte as char
                ),
            }
            flips += 1;
        }
        file.write_at(&[*byte], at as u64).expect("restore");
    }
    assert_eq!(
        audit::verify(path).map(|v| v.entries).ok(),
        Some(line_of(original, original.len()) - 1)
    );
    flips
}

/// Cuts the file at every offset short of its length. A cut inside an
/// entry (its newline included) must be refused by verify; a cut right
/// after a newline leaves sound entries, which verify accepts with an
/// older head: that difference is what catches it. Returns (refused, older
/// head) counts.
fn truncate_everywhere(
    path: &Path,
    original: &[u8],
    head: &gantry::wire::AuditHead,
) -> (usize, usize) {
    let (mut refused, mut older) = (0, 0);
    for cut in 0..original.len() {
        fs::write(path, &original[..cut]).expect("truncate");
        let at_boundary = cut == 0 || original[cut - 1] == b'\n';
        match audit::verify(path) {
            Ok(v) if at_boundary => {
                let kept = original[..cut].iter().filter(|b| **b == b'\n').count();
                assert_eq!(v.entries, kept, "cut at {cut}");
                assert_ne!(v.head.as_ref(), Some(head), "cut at {cut} kept the head");
                assert_eq!(v.head.map_or(0, |h| h.seq), kept as u64);
                older += 1;
            }
            Ok(v) => panic!(
                "cut at {cut}, inside line {}: undetected, {v:?}",
                line_of(original, cut)
            ),
            Err(AuditError::Broken { line, .. }) => {
                assert!(
                    !at_boundary,
                    "cut at {cut}: sound entries refused at line {line}"
                );
                assert_eq!(line, line_of(original, cut), "cut at {cut}");
                refused += 1;
            }
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
    (refused, older)
}
