//! agent
pub fn run(_c: &std::path::Path) -> anyhow::Result<()> { anyhow::bail!("agent not built yet") }
