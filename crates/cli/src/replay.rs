//! `switchyard replay --config OTHER.toml [--catalog FILE] [--since 7d]`: what logged traffic
//! would have cost, where it would have gone and, where quality signals exist, how good it
//! would have been under another config or price catalog — no provider is called. The
//! re-decision itself is `switchyard_core::replay`.

use std::{collections::BTreeMap, io::Write, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Args;
use rust_decimal::Decimal;
use switchyard_core::replay::{expected_quality, replan, NotReplayed};
use switchyard_store::{now_ms, LedgerReader};

/// Replay options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The config to re-decide under.
    #[arg(long, short)]
    config: PathBuf,
    /// A price catalog to use instead of the config's (`switchyard prices import` output).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Ledger URL (default: the embedded setup's `.switchyard/ledger.db`).
    #[arg(long)]
    ledger: Option<String>,
    /// How far back, e.g. `24h`, `7d`.
    #[arg(long, default_value = "7d")]
    since: humantime::Duration,
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    format: String,
}

#[derive(Default)]
struct Side {
    cost: Decimal,
    baseline: Decimal,
    unpriced: u64,
    mix: BTreeMap<String, u64>,
    quality_sum: f64,
}

/// Run the replay.
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let mut cfg = switchyard_server::config::load(&args.config)
        .map_err(|e| anyhow::anyhow!("invalid config {}: {e:?}", args.config.display()))?;
    if let Some(c) = &args.catalog {
        cfg.prices.catalog = Some(c.clone());
    }
    // No provider is called: any key the config names is a stand-in.
    let stand_in: switchyard_server::SecretLookup = Arc::new(|_: &str| Some("replay".into()));
    let snap = switchyard_server::check(&cfg, &stand_in)
        .map_err(|e| anyhow::anyhow!("config does not validate: {e:?}"))?;
    let url = args
        .ledger
        .clone()
        .unwrap_or_else(|| "sqlite://.switchyard/ledger.db".into());
    let window: Duration = args.since.into();
    let since = now_ms() - window.as_millis() as i64;
    let reader = LedgerReader::connect(&url)
        .await
        .with_context(|| format!("open the ledger at {url}"))?;
    let rows = reader.rows(Some(since), None).await;
    let observed = reader.observations().await;
    reader.close().await;
    let rows = rows?;
    for o in observed? {
        snap.quality.add(
            o.task.as_deref(),
            &o.model,
            switchyard_core::quality::Observed {
                sum: o.sum,
                n: o.n as f64,
            },
        );
    }

    let (mut served, mut replayed) = (Side::default(), Side::default());
    let (mut n, mut with_quality) = (0u64, 0u64);
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.status == "ok") {
        if row.ingress.contains("embeddings") {
            *skipped
                .entry("embeddings (not replayed)".into())
                .or_default() += 1;
            continue;
        }
        let new = match replan(&snap, row) {
            Ok(r) => r,
            Err(NotReplayed::NoDecision) => {
                *skipped.entry("no recorded decision".into()).or_default() += 1;
                continue;
            }
            Err(NotReplayed::Refused(why)) => {
                *skipped.entry(format!("refused: {why}")).or_default() += 1;
                continue;
            }
        };
        n += 1;
        let old_model = row.model.clone().unwrap_or_default();
        *served.mix.entry(old_model.clone()).or_default() += 1;
        *replayed.mix.entry(new.model.clone()).or_default() += 1;
        match (row.cost(), new.cost.amount()) {
            (Some(old), Some(now)) => {
                served.cost += old;
                replayed.cost += now;
                let base = new
                    .baseline
                    .and_then(|b| b.amount())
                    .or(row.baseline_cost());
                if let Some(b) = base {
                    served.baseline += b;
                    replayed.baseline += b;
                }
            }
            (old, _) => {
                served.unpriced += u64::from(old.is_none());
                replayed.unpriced += u64::from(new.cost.amount().is_none());
            }
        }
        let task = row.task.as_deref();
        if let (Some(a), Some(b)) = (
            expected_quality(&snap, task, &old_model),
            expected_quality(&snap, task, &new.model),
        ) {
            with_quality += 1;
            served.quality_sum += a;
            replayed.quality_sum += b;
        }
    }
    let saved = |s: &Side| {
        if s.baseline.is_zero() {
            "-".to_owned()
        } else {
            format!(
                "{:.1}%",
                ((s.baseline - s.cost) / s.baseline * Decimal::ONE_HUNDRED).round_dp(1)
            )
        }
    };
    let quality = |s: &Side| (with_quality > 0).then(|| s.quality_sum / with_quality as f64);
    let mut out = std::io::stdout().lock();
    if args.format == "json" {
        let side = |s: &Side| {
            serde_json::json!({
                "cost_usd": s.cost.normalize().to_string(),
                "baseline_usd": s.baseline.normalize().to_string(),
                "savings": saved(s), "unpriced": s.unpriced, "mix": s.mix,
                "expected_quality": quality(s),
            })
        };
        let doc = serde_json::json!({
            "config": args.config, "ledger": switchyard_store::redact_url(&url),
            "since_ms": since, "replayed": n, "with_quality": with_quality,
            "served": side(&served), "replay": side(&replayed), "skipped": skipped,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "replay of {n} request(s) from the last {} of {} under {} — no provider called",
        args.since,
        switchyard_store::redact_url(&url),
        args.config.display()
    )?;
    writeln!(
        out,
        "  {:<10} {:>14} {:>14} {:>8} {:>9}  answered by",
        "", "cost $", "baseline $", "saved", "quality"
    )?;
    for (name, s) in [("as served", &served), ("replayed", &replayed)] {
        let mix: Vec<String> = s.mix.iter().map(|(m, k)| format!("{m}×{k}")).collect();
        writeln!(
            out,
            "  {:<10} {:>14} {:>14} {:>8} {:>9}  {}",
            name,
            s.cost.normalize(),
            s.baseline.normalize(),
            saved(s),
            quality(s).map_or_else(|| "-".to_owned(), |q| format!("{q:.3}")),
            mix.join(" ")
        )?;
    }
    if served.unpriced + replayed.unpriced > 0 {
        writeln!(
            out,
            "  unpriced (not in the sums): {} as served, {} replayed",
            served.unpriced, replayed.unpriced
        )?;
    }
    for (why, k) in &skipped {
        writeln!(out, "  not replayed: {k} — {why}")?;
    }
    writeln!(
        out,
        "  quality: the quality model's expected acceptability of the chosen model for each request's task, over the {with_quality} request(s) whose task has signals for both models"
    )?;
    writeln!(
        out,
        "  assumptions: the recorded usage on the new choice; no retries, escalations or judge calls projected; prompt_regex rules do not match (no prompt is logged)"
    )?;
    Ok(())
}
