//! The runbooks `gantry init` ships in DIR/runbooks/, one per scenario
//! the templates' checks and `[runbooks]` name. They are the operator's to
//! edit: a file already there is never overwritten.

use std::path::Path;

/// (file name, text), from assets/runbooks/.
pub(super) const RUNBOOKS: [(&str, &str); 6] = [
    (
        "wont-start.md",
        include_str!("../../assets/runbooks/wont-start.md"),
    ),
    (
        "positions-not-reconciling.md",
        include_str!("../../assets/runbooks/positions-not-reconciling.md"),
    ),
    (
        "circuit-breaker.md",
        include_str!("../../assets/runbooks/circuit-breaker.md"),
    ),
    (
        "high-latency.md",
        include_str!("../../assets/runbooks/high-latency.md"),
    ),
    (
        "rollback-failed.md",
        include_str!("../../assets/runbooks/rollback-failed.md"),
    ),
    (
        "not-flat-after-estop.md",
        include_str!("../../assets/runbooks/not-flat-after-estop.md"),
    ),
];

/// `[runbooks]` as every template writes it (before its checks).
pub(super) const SECTION: &str = r#"[runbooks]
# What to do when something is no check: the built-in process_alive, a
# rollback that failed (a halt), a stop not proven flat. A check names its
# own with `runbook = "…"`. Relative paths are relative to this file; a
# URL is shown, not fetched. `gantry init` wrote these: edit them.
process_alive = "runbooks/wont-start.md"
rollback_failed = "runbooks/rollback-failed.md"
not_flat = "runbooks/not-flat-after-estop.md"

"#;

/// Writes DIR/runbooks/*.md, keeping any file already there.
pub(super) fn write(dir: &Path) -> std::io::Result<()> {
    let runbooks = dir.join("runbooks");
    std::fs::create_dir_all(&runbooks)?;
    for (name, text) in RUNBOOKS {
        let path = runbooks.join(name);
        if !path.exists() {
            crate::durable::write_atomic(&path, text.as_bytes())?;
        }
    }
    Ok(())
}
