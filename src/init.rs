//! init
pub struct InitArgs { pub dir: std::path::PathBuf, pub name: Option<String>, pub sim: bool, pub soak: Option<u64>, pub force: bool }
pub fn run(_a: &InitArgs) -> anyhow::Result<()> { anyhow::bail!("init not built yet") }
