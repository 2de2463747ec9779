//! Checking single fields: commands that must be executable, comparison
//! operators, seconds, the `[smoke]` section.

use std::path::{Path, PathBuf};

use super::{SmokeConfig, SmokeSection};
use crate::pipeline::Comparison;

pub(super) fn smoke_config(section: &Option<SmokeSection>) -> Result<Option<SmokeConfig>, String> {
    let Some(section) = section else {
        return Ok(None);
    };
    let compile = |field: &str,
                   patterns: &[String]|
     -> Result<Vec<(String, regex_lite::Regex)>, String> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                regex_lite::Regex::new(p)
                    .map(|r| (p.clone(), r))
                    .map_err(|e| format!("smoke.{field}[{i}]: {p:?} is not a valid pattern: {e}"))
            })
            .collect()
    };
    let phases = compile("phases", &section.phases)?;
    if phases.is_empty() {
        return Err("smoke.phases: name at least one startup phase".into());
    }
    Ok(Some(SmokeConfig {
        phases,
        forbidden: compile("forbidden", &section.forbidden)?,
        timeout_ms: seconds_field("smoke.timeout_s", section.timeout_s)?,
    }))
}

/// An io error in words, without the path (the message already has it).
pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Resolves argv[0] as execvp would (a name with a `/` relative to `cwd`,
/// a bare name on PATH) and checks it is an executable regular file.
/// Only argv[0] is quoted in the error: the other words may be secrets.
pub(super) fn executable(argv: &[String], cwd: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let Some(program) = argv.first().filter(|p| !p.is_empty()) else {
        return Err(
            "is empty; give the program and its arguments, e.g. [\"/usr/bin/trader\"]".into(),
        );
    };
    let is_executable = |path: &Path| -> Result<(), String> {
        let meta = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
        if !meta.is_file() {
            return Err("is not a regular file".into());
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err("is not executable".into());
        }
        // The mode bits may be for someone else; ask the kernel for us.
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| "contains a NUL byte".to_string())?;
        // SAFETY: access(2) reads a NUL-terminated path and nothing else.
        if unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } != 0 {
            return Err("is not executable by this user".into());
        }
        Ok(())
    };
    if program.contains('/') {
        let path = cwd.join(program);
        is_executable(&path).map_err(|why| format!("{program:?} {why}"))?;
        return Ok(path);
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    for dir in std::env::split_paths(&search) {
        // An empty PATH entry is the current directory, as for execvp.
        let dir = if dir.as_os_str().is_empty() {
            cwd.to_path_buf()
        } else {
            cwd.join(dir)
        };
        let path = dir.join(program);
        if is_executable(&path).is_ok() {
            return Ok(path);
        }
    }
    Err(format!("{program:?} is not an executable file on PATH"))
}

pub(super) fn parse_op(op: &str) -> Option<Comparison> {
    Some(match op {
        "<" => Comparison::Lt,
        "<=" => Comparison::Le,
        ">" => Comparison::Gt,
        ">=" => Comparison::Ge,
        "==" => Comparison::Eq,
        "!=" => Comparison::Ne,
        _ => return None,
    })
}

/// Seconds from the file, as milliseconds: finite and not negative.
pub(super) fn seconds_field(field: &str, value: f64) -> Result<u64, String> {
    if !value.is_finite() {
        return Err(format!("{field}: {value} is not a finite number"));
    }
    if value < 0.0 {
        return Err(format!("{field}: {value} is negative"));
    }
    Ok((value * 1000.0).round() as u64)
}
