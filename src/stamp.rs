//! Stamps: how gantry writes a moment and names content, the same way
//! wherever one is written (audit log, status, history, alerts, releases,
//! rollout names).
//!
//! - A time is RFC 3339 in UTC with milliseconds and a `Z`
//!   (`2026-01-05T12:00:00.000Z`): sortable as text, and exact enough to
//!   order the steps of a rollback that takes tens of milliseconds.
//! - A digest is the SHA-256 of the bytes as 64 lowercase hex digits, the
//!   spelling `sha256sum` prints, so an operator can check one by hand.
//!
//! A leaf: it imports nothing of gantry's, so the agent, the wire types
//! and the fleet commands can all use it without importing each other.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

/// `t` as RFC 3339, UTC, milliseconds, `Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_are_utc_with_milliseconds_and_z() {
        let t = Utc.timestamp_millis_opt(1_767_614_400_007).unwrap();
        assert_eq!(rfc3339(t), "2026-01-05T12:00:00.007Z");
    }

    #[test]
    fn digests_are_sha256sum_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
