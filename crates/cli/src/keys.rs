//! `switchyard keys create|list|revoke --config FILE`: gateway keys, in the database the
//! config's ledger uses (so every replica on it sees them within seconds). A key is printed
//! once, at creation; only its hash is stored.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use switchyard_server::keys::KeySpec;
use switchyard_store::LedgerReader;

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create a key and print it (once).
    Create(Box<CreateArgs>),
    /// List keys (never their text).
    List {
        #[command(flatten)]
        at: At,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        at: At,
        /// The key's id (`key_…`).
        id: String,
    },
}

/// `keys create` options.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    at: At,
    /// The key's name: the tenant its requests are recorded under.
    #[arg(long)]
    name: String,
    /// Team.
    #[arg(long)]
    team: Option<String>,
    /// Routes it may use, comma-separated (default: any).
    #[arg(long, value_delimiter = ',')]
    routes: Vec<String>,
    /// Models it may name directly, comma-separated.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Requests per minute (shared by every replica with `[state]`).
    #[arg(long)]
    rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    tpm: Option<u64>,
    /// Budget per UTC day, dollars (e.g. `25` or `2.50`).
    #[arg(long)]
    daily_usd: Option<rust_decimal::Decimal>,
    /// Budget per UTC month, dollars.
    #[arg(long)]
    monthly_usd: Option<rust_decimal::Decimal>,
    /// Send every request to this route, whatever it names.
    #[arg(long)]
    pin_route: Option<String>,
    /// Constrain every request to this region.
    #[arg(long)]
    region: Option<String>,
    /// Tags added to every request, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
}

/// Where the keys are: the config's ledger.
#[derive(Debug, Args)]
pub struct At {
    /// The gateway config (its ledger holds the keys).
    #[arg(long, short)]
    config: PathBuf,
}

async fn reader(at: &At) -> anyhow::Result<LedgerReader> {
    let text = std::fs::read_to_string(&at.config)
        .with_context(|| format!("read {}", at.config.display()))?;
    let cfg = switchyard_server::config::parse(&text)
        .map_err(|e| anyhow::anyhow!("invalid config {}: {e:?}", at.config.display()))?;
    let url = switchyard_server::ledger_url(&cfg, Some(&at.config)).map_err(anyhow::Error::msg)?;
    // Creates the database (and runs its migrations) if the gateway never ran yet.
    let ledger = switchyard_store::Ledger::open(switchyard_store::LedgerConfig::new(
        url.clone(),
        std::env::temp_dir().join(format!(
            "switchyard-keys-{}.spill.jsonl",
            std::process::id()
        )),
    ))
    .await
    .with_context(|| format!("open the ledger at {}", switchyard_store::redact_url(&url)))?;
    ledger.shutdown().await.ok();
    Ok(LedgerReader::connect(&url).await?)
}

/// Run a `keys` command.
pub async fn run(cmd: KeysCmd) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        KeysCmd::Create(args) => {
            let CreateArgs {
                at,
                name,
                team,
                routes,
                models,
                rpm,
                tpm,
                daily_usd,
                monthly_usd,
                pin_route,
                region,
                tags,
            } = *args;
            let reader = reader(&at).await?;
            let spec = KeySpec {
                team,
                routes,
                models,
                rpm,
                tpm,
                daily_usd,
                monthly_usd,
                pin_route,
                region,
                tags,
            };
            let (row, key) = switchyard_server::keys::create(&reader, &name, &spec)
                .await
                .map_err(anyhow::Error::msg)?;
            writeln!(out, "{key}")?;
            eprintln!(
                "created {} ({}); the key is shown only this once",
                row.id, row.name
            );
        }
        KeysCmd::List { at } => {
            let reader = reader(&at).await?;
            writeln!(
                out,
                "{:<18} {:<24} {:<12} {:<10} routes / models",
                "id", "name", "team", "state"
            )?;
            for k in reader.keys().await? {
                let spec: KeySpec = serde_json::from_str(&k.spec).unwrap_or_default();
                let state = if k.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let scope = [spec.routes.join(","), spec.models.join(",")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" / ");
                writeln!(
                    out,
                    "{:<18} {:<24} {:<12} {:<10} {}",
                    k.id,
                    k.name,
                    spec.team.as_deref().unwrap_or("-"),
                    state,
                    if scope.is_empty() { "any" } else { &scope }
                )?;
            }
        }
        KeysCmd::Revoke { at, id } => {
            let reader = reader(&at).await?;
            if !reader.revoke_key(&id, switchyard_store::now_ms()).await? {
                anyhow::bail!("no active key `{id}`");
            }
            writeln!(out, "revoked {id}: every replica refuses it within seconds")?;
        }
    }
    Ok(())
}
