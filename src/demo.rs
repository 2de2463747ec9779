//! demo
pub fn run(_soak: u64) -> anyhow::Result<()> {
    anyhow::bail!("demo not built yet")
}
