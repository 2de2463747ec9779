//! Where the control room finds the user's own files (the keymap, the
//! theme) and how it reads them. The keymap and the theme both load through
//! [`overlay_user_file`], so the places looked at and what a missing file
//! means are decided here once (`docs/keys-and-themes.md`, "your file").

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A user's config file for the control room, and whether they named it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UserFile {
    /// Named by an environment variable: it must exist.
    Named(PathBuf),
    /// The conventional place: it may be absent.
    Default(PathBuf),
}

impl UserFile {
    fn path(&self) -> &Path {
        match self {
            UserFile::Named(path) | UserFile::Default(path) => path,
        }
    }
}

/// Lays the user's `file` over a default with `overlay(text, origin)`,
/// where `origin` is the path as error messages name it. The file is `$var`,
/// else `$XDG_CONFIG_HOME/gantry/<file>`, else `~/.config/gantry/<file>`
/// (see [`user_file`]). No file at a default path leaves the default as it
/// is; a named file that is missing, or any file that cannot be read, is
/// `unreadable(path, error)`.
pub(super) fn overlay_user_file<E>(
    env: &dyn Fn(&str) -> Option<OsString>,
    var: &str,
    file: &str,
    overlay: impl FnOnce(&str, &str) -> Result<(), E>,
    unreadable: impl FnOnce(PathBuf, std::io::Error) -> E,
) -> Result<(), E> {
    let Some(file) = user_file(env, var, file) else {
        return Ok(());
    };
    match read_user_file(&file) {
        Ok(None) => Ok(()),
        Ok(Some(text)) => overlay(&text, &file.path().display().to_string()),
        Err(source) => Err(unreadable(file.path().to_path_buf(), source)),
    }
}

/// `$var`, else `$XDG_CONFIG_HOME/gantry/<file>`, else
/// `$HOME/.config/gantry/<file>`. Empty variables count as unset, and a
/// relative `XDG_CONFIG_HOME` is ignored, as the XDG spec asks.
fn user_file(env: &dyn Fn(&str) -> Option<OsString>, var: &str, file: &str) -> Option<UserFile> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(path) = set(var) {
        return Some(UserFile::Named(PathBuf::from(path)));
    }
    if let Some(dir) = set("XDG_CONFIG_HOME").map(PathBuf::from)
        && dir.is_absolute()
    {
        return Some(UserFile::Default(dir.join("gantry").join(file)));
    }
    let home = PathBuf::from(set("HOME")?);
    Some(UserFile::Default(home.join(".config/gantry").join(file)))
}

/// The file's text; `None` when a default-path file does not exist.
fn read_user_file(file: &UserFile) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(file.path()) {
        Ok(text) => Ok(Some(text)),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound && matches!(file, UserFile::Default(_)) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_file_precedence() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let f = |e: &dyn Fn(&str) -> Option<OsString>| user_file(e, "GANTRY_KEYMAP", "keymap.toml");
        assert_eq!(
            f(&env(&[
                ("GANTRY_KEYMAP", "/k.toml"),
                ("XDG_CONFIG_HOME", "/x"),
                ("HOME", "/h")
            ])),
            Some(UserFile::Named("/k.toml".into()))
        );
        assert_eq!(
            f(&env(&[
                ("GANTRY_KEYMAP", ""),
                ("XDG_CONFIG_HOME", "/x"),
                ("HOME", "/h")
            ])),
            Some(UserFile::Default("/x/gantry/keymap.toml".into()))
        );
        assert_eq!(
            f(&env(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/h")])),
            Some(UserFile::Default("/h/.config/gantry/keymap.toml".into()))
        );
        assert_eq!(f(&env(&[])), None);
    }
}
