//! `switchyard prices import|check|diff`.

use clap::Subcommand;

/// Price catalog commands.
#[derive(Debug, Subcommand)]
pub enum PricesCmd {
    /// Placeholder until the catalog lands.
    Check,
}

/// Run a prices command.
pub fn run(_cmd: PricesCmd) -> anyhow::Result<()> {
    anyhow::bail!("prices commands are not available yet")
}
