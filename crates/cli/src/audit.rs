//! `switchyard audit --config FILE [--ledger URL] [--since 7d]`: routing assumptions gone
//! stale, each finding naming what to change; the checks are `switchyard_server::audit`.

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Context;

use clap::Args;
use switchyard_server::audit;
use switchyard_store::{now_ms, LedgerReader};

/// Audit options.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The gateway config.
    #[arg(long, short)]
    config: PathBuf,
    /// Ledger URL (default: the one the config uses, else `.switchyard/ledger.db`).
    #[arg(long)]
    ledger: Option<String>,
    /// The window the ledger checks read; the task mix is compared with the window before.
    #[arg(long, default_value = "7d")]
    since: humantime::Duration,
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    format: String,
}

/// Run the audit.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("read {}", args.config.display()))?;
    audit(
        &text,
        &args.config.display().to_string(),
        args.ledger,
        args.since,
        &args.format,
    )
    .await
}

/// The audit of the embedded setup's last `window` (the demo's ending).
pub async fn embedded(window: Duration) -> anyhow::Result<()> {
    audit(
        switchyard_server::config::EMBEDDED,
        "the embedded setup",
        Some("sqlite://.switchyard/ledger.db".into()),
        window.into(),
        "table",
    )
    .await
}

async fn audit(
    text: &str,
    name: &str,
    ledger: Option<String>,
    since_arg: humantime::Duration,
    format: &str,
) -> anyhow::Result<()> {
    let cfg = switchyard_server::config::parse(text)
        .map_err(|e| anyhow::anyhow!("invalid config {name}: {e:?}"))?;
    let catalog = crate::prices::load_catalog(cfg.prices.catalog.as_deref())?;
    let url = match (&ledger, &cfg.ledger.url) {
        (Some(u), _) | (None, Some(u)) => u.clone(),
        (None, None) => "sqlite://.switchyard/ledger.db".into(),
    };
    let reader = LedgerReader::connect(&url)
        .await
        .with_context(|| format!("open the ledger at {url}"))?;
    let audit = audit::audit(&cfg, &catalog, &reader, since_arg.into(), now_ms()).await;
    reader.close().await;
    let audit = audit?;
    let (since, findings) = (audit.since_ms, &audit.findings);
    let mut out = std::io::stdout().lock();
    if format == "json" {
        let doc = serde_json::json!({
            "config": name, "ledger": switchyard_store::redact_url(&url),
            "since_ms": since, "requests": audit.requests, "findings": findings,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "audit of {} with {} request(s) from the last {} ({}): {} finding(s)",
        name,
        audit.requests,
        since_arg,
        switchyard_store::redact_url(&url),
        findings.len()
    )?;
    for f in findings {
        writeln!(
            out,
            "- [{}] {} — {}: {}",
            f.severity, f.kind, f.subject, f.message
        )?;
        writeln!(out, "    fix: {}", f.fix)?;
    }
    Ok(())
}
