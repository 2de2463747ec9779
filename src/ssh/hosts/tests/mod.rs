//! Unit tests of the hosts file, by job; the key and helpers they share.

mod files;
mod jump;
mod parse;

use std::path::Path;

use super::parse::parse_with_home;
use super::{HostsError, HostsFile, Problem};

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";

fn parse_in(dir: &Path, text: &str) -> Result<HostsFile, HostsError> {
    parse_with_home(&dir.join("hosts.toml"), text, Some(Path::new("/home/op")))
}

fn err(text: &str) -> (usize, Problem, String) {
    let dir = tempfile::tempdir().unwrap();
    let e = parse_in(dir.path(), text).unwrap_err();
    let msg = e.to_string();
    match e {
        HostsError::Invalid { line, problem, .. } => (line, problem, msg),
        other => panic!("unexpected {other:?}"),
    }
}
