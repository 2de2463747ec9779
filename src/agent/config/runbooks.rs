//! Runbooks: what to do when a check fails, named beside it in
//! gantry.toml (`runbook = "runbooks/recon.md"` in a `[[check]]`, or a
//! URL), and for what is no check (`[runbooks]`: the built-in
//! `process_alive`, a failed rollback, a stop not proven flat).
//!
//! A relative path resolves against the config's directory. The file must
//! be there when the agent starts (`check_on_disk`), or the config is
//! refused naming the check; it is read afresh each time a client asks,
//! so an edit needs no restart. A URL is shown, never fetched.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::PROCESS_ALIVE;
use super::file::{CheckSection, RunbooksSection};
use crate::wire::runbook::{MAX_BYTES, RunbookText};
use crate::wire::{ErrorCode, Reply};

/// Where a runbook is.
#[derive(Debug, Clone, PartialEq)]
pub enum Runbook {
    /// A file on the host: as written, and resolved.
    File {
        shown: String,
        path: PathBuf,
    },
    Url(String),
}

impl Runbook {
    /// As the config wrote it: what status and the screen show.
    pub fn shown(&self) -> &str {
        match self {
            Runbook::File { shown, .. } => shown,
            Runbook::Url(url) => url,
        }
    }
}

/// What a runbook is for: a check's name, or one of these.
pub const ROLLBACK_FAILED: &str = "rollback_failed";
pub const NOT_FLAT: &str = "not_flat";

/// One configured runbook: what it is for, the field that named it (for
/// errors), and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub field: String,
    pub runbook: Runbook,
}

/// Every runbook the config names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runbooks {
    pub entries: Vec<Entry>,
}

impl Runbooks {
    /// The runbook for a check (or `ROLLBACK_FAILED`, `NOT_FLAT`).
    pub fn get(&self, name: &str) -> Option<&Runbook> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.runbook)
    }

    /// Every file named is a readable file: refused naming the field.
    pub fn check_on_disk(&self) -> Result<(), String> {
        for entry in &self.entries {
            let Runbook::File { path, .. } = &entry.runbook else {
                continue;
            };
            let readable = std::fs::metadata(path)
                .map_err(|e| super::io_reason(&e))
                .and_then(|m| {
                    if m.is_file() {
                        std::fs::File::open(path)
                            .map(drop)
                            .map_err(|e| super::io_reason(&e))
                    } else {
                        Err("not a file".into())
                    }
                });
            if let Err(why) = readable {
                return Err(format!(
                    "{}: runbook {} cannot be read ({why}); write it, or remove the runbook line",
                    entry.field,
                    path.display()
                ));
            }
        }
        Ok(())
    }
}

/// The reply to `runbook`: the file's text (read now, so an edit shows
/// without a restart), or the URL.
pub fn answer(runbooks: &Runbooks, name: &str, id: &str) -> Reply {
    let Some(runbook) = runbooks.get(name) else {
        return Reply::err(
            id,
            ErrorCode::Failed,
            format!("no runbook is configured for {}", crate::text::inert(name)),
        );
    };
    let mut answer = RunbookText {
        name: name.to_string(),
        runbook: runbook.shown().to_string(),
        url: None,
        text: None,
        truncated: false,
    };
    match runbook {
        Runbook::Url(url) => answer.url = Some(url.clone()),
        Runbook::File { path, .. } => {
            let mut bytes = Vec::new();
            let read = std::fs::File::open(path)
                .and_then(|f| f.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes));
            if let Err(e) = read {
                return Reply::err(
                    id,
                    ErrorCode::Failed,
                    format!(
                        "runbook {} cannot be read: {}",
                        path.display(),
                        super::io_reason(&e)
                    ),
                );
            }
            answer.truncated = bytes.len() > MAX_BYTES;
            bytes.truncate(MAX_BYTES);
            answer.text = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Reply::ok(id, serde_json::to_value(answer).ok())
}

/// The runbooks of `[[check]]`s and `[runbooks]`, each checked as text.
pub(super) fn parse(
    checks: &[CheckSection],
    section: Option<&RunbooksSection>,
    config_path: &Path,
) -> Result<Runbooks, String> {
    // Absolute, so a file is found whatever the agent's working directory.
    let dir = match config_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let dir = dir.as_path();
    let mut entries = Vec::new();
    for (index, check) in checks.iter().enumerate() {
        if let Some(value) = &check.runbook {
            let field = format!("check[{index}] ({}).runbook", check.name);
            entries.push(Entry {
                name: check.name.clone(),
                runbook: one(&field, value, dir)?,
                field,
            });
        }
    }
    if let Some(section) = section {
        for (name, value) in [
            (PROCESS_ALIVE, &section.process_alive),
            (ROLLBACK_FAILED, &section.rollback_failed),
            (NOT_FLAT, &section.not_flat),
        ] {
            if let Some(value) = value {
                let field = format!("runbooks.{name}");
                entries.push(Entry {
                    name: name.to_string(),
                    runbook: one(&field, value, dir)?,
                    field,
                });
            }
        }
    }
    Ok(Runbooks { entries })
}

fn one(field: &str, value: &str, dir: &Path) -> Result<Runbook, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field}: must not hold control characters"));
    }
    if value.starts_with("http://") || value.starts_with("https://") {
        return Ok(Runbook::Url(value.to_string()));
    }
    if value.contains("://") {
        return Err(format!(
            "{field}: {value:?} is neither a file nor an http(s) URL"
        ));
    }
    let path = Path::new(value);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    };
    Ok(Runbook::File {
        shown: value.to_string(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_path_resolves_against_the_config_and_a_url_stays_a_url() {
        let dir = Path::new("/etc/gantry");
        assert_eq!(
            one("f", "runbooks/recon.md", dir).unwrap(),
            Runbook::File {
                shown: "runbooks/recon.md".into(),
                path: "/etc/gantry/runbooks/recon.md".into()
            }
        );
        assert_eq!(
            one("f", "https://wiki.example/recon", dir).unwrap(),
            Runbook::Url("https://wiki.example/recon".into())
        );
        assert!(one("f", "ftp://x", dir).unwrap_err().contains("neither"));
        assert!(one("f", " ", dir).unwrap_err().contains("empty"));
    }
}
