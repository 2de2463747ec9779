//! Running the configured helper commands (validate, kill) with a timeout.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

/// How a helper command ended.
pub struct Ran {
    pub ok: bool,
    /// False when it could not be started at all (not found, not
    /// executable): asking again will not help.
    pub started: bool,
    /// "exit 0 in 12 ms", "timed out after 30 s", …
    pub summary: String,
    /// The last lines it printed (stderr, else stdout), made inert.
    pub output: String,
}

/// Runs `argv` with `{placeholder}` substitutions, killing it at `timeout`.
pub async fn run(
    argv: &[String],
    substitutions: &[(&str, &str)],
    env: &[(&str, &str)],
    cwd: &Path,
    timeout_ms: u64,
) -> Ran {
    let args: Vec<String> = argv
        .iter()
        .map(|arg| {
            substitutions
                .iter()
                .fold(arg.clone(), |a, (key, value)| a.replace(key, value))
        })
        .collect();
    let started = Instant::now();
    let mut command = Command::new(&args[0]);
    command
        .args(&args[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The agent's test hooks and the service's marker are not the
    // command's: a validate or kill command is neither crashed nor owned.
    for key in ["GANTRY_CRASH_AT", "GANTRY_DISK_FULL_AT", "GANTRY_OWNER"] {
        command.env_remove(key);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Ran {
                ok: false,
                started: false,
                summary: format!("cannot run {}: {e}", args[0]),
                output: String::new(),
            };
        }
    };
    match tokio::time::timeout(Duration::from_millis(timeout_ms), child.wait_with_output()).await {
        Err(_) => Ran {
            ok: false,
            started: true,
            summary: format!("timed out after {:.1}s", timeout_ms as f64 / 1000.0),
            output: String::new(),
        },
        Ok(Err(e)) => Ran {
            ok: false,
            started: true,
            summary: format!("{} failed: {e}", args[0]),
            output: String::new(),
        },
        Ok(Ok(output)) => {
            let text = if output.stderr.is_empty() {
                &output.stdout
            } else {
                &output.stderr
            };
            let text = String::from_utf8_lossy(text);
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Ran {
                ok: output.status.success(),
                started: true,
                summary: format!(
                    "{} in {} ms",
                    match output.status.code() {
                        Some(code) => format!("exit {code}"),
                        None => "killed by a signal".to_string(),
                    },
                    started.elapsed().as_millis()
                ),
                output: crate::text::inert(&tail.join(" / ")),
            }
        }
    }
}
