//! Unit tests of ssh_config, by job; the fallback helpers they share.

mod fallback;
mod ssh_g;
mod syntax;

use std::path::Path;

use super::{Resolved, SshConfigError, resolve_fallback};

fn fallback(text: &str, alias: &str) -> Result<Resolved, SshConfigError> {
    resolve_fallback(
        text,
        Path::new("/cfg/config"),
        alias,
        Path::new("/home/op"),
        "op",
    )
}

fn ok(text: &str, alias: &str) -> Resolved {
    fallback(text, alias).unwrap_or_else(|e| panic!("{e}"))
}
