//! The simulated trading service (`gantry sim`).

use std::path::PathBuf;

pub fn main(_listen: Option<String>, _validate_config: Option<PathBuf>) -> anyhow::Result<()> {
    anyhow::bail!("gantry sim is not built yet")
}
