//! `switchyard report`: spend, savings against the baseline, success rates and latency from
//! the ledger, grouped by route, rule, provider, model, task or tenant.

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Args, ValueEnum};
use rust_decimal::prelude::ToPrimitive;
use switchyard_pricing::Decimal;
use switchyard_store::{now_ms, GroupBy, LedgerReader, SummaryRow, DAY_MS};

fn date(day: i64) -> String {
    let (y, m, d) = switchyard_store::civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Report options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Ledger URL (`sqlite://…` or `postgres://…`); default: the one `--config` uses, else
    /// the embedded setup's `.switchyard/ledger.db`.
    #[arg(long)]
    ledger: Option<String>,
    /// Config file whose `[ledger]` to read.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// How far back the window starts, e.g. `1h`, `24h`, `7d`.
    #[arg(long, default_value = "24h")]
    since: humantime::Duration,
    /// How long ago the window ends (default: now), e.g. `1d` with `--since 8d` for the week
    /// before yesterday.
    #[arg(long)]
    until: Option<humantime::Duration>,
    /// Dimensions to group by (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', default_values = ["route", "rule", "model"])]
    by: Vec<Dim>,
    /// Output format.
    #[arg(long, default_value = "table")]
    format: Format,
    /// This month's budget in USD: the forecast says on which day it runs out.
    #[arg(long)]
    budget: Option<f64>,
}

impl ReportArgs {
    /// The report of the last `window` on the ledger at `url`, by route (the demo's ending).
    pub fn recent(url: String, window: Duration) -> ReportArgs {
        ReportArgs {
            ledger: Some(url),
            config: None,
            since: window.into(),
            until: None,
            by: vec![Dim::Route],
            format: Format::Table,
            budget: None,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Dim {
    Route,
    Rule,
    Provider,
    Model,
    Task,
    Tenant,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

impl Dim {
    fn group(self) -> GroupBy {
        match self {
            Dim::Route => GroupBy::Route,
            Dim::Rule => GroupBy::Rule,
            Dim::Provider => GroupBy::Provider,
            Dim::Model => GroupBy::Model,
            Dim::Task => GroupBy::Task,
            Dim::Tenant => GroupBy::Tenant,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Dim::Route => "route",
            Dim::Rule => "rule",
            Dim::Provider => "provider",
            Dim::Model => "model",
            Dim::Task => "task",
            Dim::Tenant => "tenant",
        }
    }
}

/// Run the report.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let url = ledger_url(&args)?;
    let window: Duration = args.since.into();
    let since = now_ms() - window.as_millis() as i64;
    let until = args
        .until
        .map(|u| now_ms() - Duration::from(u).as_millis() as i64);
    let reader = LedgerReader::connect(&url)
        .await
        .with_context(|| format!("read the ledger at {url}"))?;
    // One connection pool; the groupings run concurrently (each reads whole hours from the
    // rollups). Tenant totals and the route summary (escalations) are always read.
    let mut dims: Vec<GroupBy> = vec![GroupBy::Tenant, GroupBy::Route];
    for d in &args.by {
        if !dims.contains(&d.group()) {
            dims.push(d.group());
        }
    }
    let read =
        futures::future::try_join_all(dims.iter().map(|g| reader.summary(Some(since), until, *g)));
    let (summaries, fc, q) = tokio::join!(
        read,
        reader.month_forecast(now_ms(), args.budget),
        quality(&reader, since, until)
    );
    let summaries = summaries.context("summarise the ledger")?;
    let fc = fc.context("forecast from the ledger")?;
    let mut q = q.context("read quality signals from the ledger")?;
    let judge = reader
        .judge_spend(Some(since), until)
        .await
        .context("read the judge's spend from the ledger")?;
    let econ = reader
        .economics(since, until.unwrap_or_else(|| now_ms() + 1))
        .await
        .context("read the response cache's and service tiers' use from the ledger")?;
    let commitments = commitments(&args, &reader)
        .await
        .context("read this month's tokens from the ledger")?;
    reader.close().await;
    let of = |g: GroupBy| -> Vec<SummaryRow> {
        dims.iter()
            .position(|d| *d == g)
            .map(|i| summaries[i].clone())
            .unwrap_or_default()
    };
    let total = of(GroupBy::Tenant);
    let routes = of(GroupBy::Route);
    // A judged route's effective cost includes its judge's calls.
    q.judge = judge
        .into_iter()
        .map(|(route, calls, usd)| {
            let effective = routes
                .iter()
                .find(|r| route.as_deref() == Some(r.key.as_str()))
                .map(|r| (r.cost() + usd).normalize().to_string());
            serde_json::json!({"route": route, "calls": calls, "cost_usd": usd.to_string(),
                "effective_cost_usd": effective})
        })
        .collect();
    q.escalations = routes
        .iter()
        .filter(|g| g.escalated > 0)
        .map(|g| serde_json::json!({"route": (g.key != switchyard_store::NONE_KEY).then_some(&g.key), "requests": g.escalated}))
        .collect();
    let groups: Vec<(Dim, Vec<SummaryRow>)> = args.by.iter().map(|d| (*d, of(d.group()))).collect();
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let by: serde_json::Map<String, serde_json::Value> = groups
                .iter()
                .map(|(d, rows)| {
                    (
                        d.name().to_owned(),
                        serde_json::to_value(rows).unwrap_or_default(),
                    )
                })
                .collect();
            let doc = serde_json::json!({"since_ms": since, "until_ms": until, "ledger": switchyard_store::redact_url(&url), "by_tenant": total, "by": by, "forecast": fc, "quality": q.rows, "escalations": q.escalations, "judge": q.judge, "economics": econ, "commitments": commitments, "budget_usd": args.budget, "budget_exhausted_date": fc.budget_exhausted_day.map(date)});
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Csv => {
            writeln!(out, "dimension,key,requests,ok,errors,cancelled,unpriced,cost_usd,baseline_usd,savings_usd,cost_per_request_usd,p50_ms,p95_ms,p99_ms,input_tokens,output_tokens,retried,escalated,answer_cost_usd,p50_ttft_ms,p95_ttft_ms")?;
            for (d, rows) in &groups {
                for r in rows {
                    writeln!(
                        out,
                        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        d.name(),
                        csv(&r.key),
                        r.requests,
                        r.ok,
                        r.errors,
                        r.cancelled,
                        r.unpriced_requests,
                        r.cost(),
                        r.baseline_cost(),
                        r.savings(),
                        r.cost_per_request(),
                        r.p50_latency_ms,
                        r.p95_latency_ms,
                        r.p99_latency_ms,
                        r.input_tokens,
                        r.output_tokens,
                        r.retried,
                        r.escalated,
                        r.answer_cost(),
                        r.p50_ttft_ms,
                        r.p95_ttft_ms
                    )?;
                }
            }
        }
        Format::Table => {
            let t = total.iter().fold(SummaryRow::default(), |mut a, r| {
                a.absorb(r);
                a
            });
            writeln!(
                out,
                "ledger {} — from {} ago to {}",
                switchyard_store::redact_url(&url),
                args.since,
                args.until
                    .map_or_else(|| "now".to_owned(), |u| format!("{u} ago"))
            )?;
            writeln!(
                out,
                "requests {} (ok {}, errors {}), spend ${} vs baseline ${} → saved ${} ({}){}",
                t.requests,
                t.ok,
                t.errors,
                t.cost(),
                t.baseline_cost(),
                t.savings(),
                pct(&t),
                if t.unpriced_requests > 0 {
                    format!(
                        "; {} UNPRICED request(s) not in the sums",
                        t.unpriced_requests
                    )
                } else {
                    String::new()
                }
            )?;
            if econ.cache_hits > 0 {
                writeln!(
                    out,
                    "response cache: {} hit(s) at $0, saved ${} (what those answers cost where they came from)",
                    econ.cache_hits,
                    econ.cache_saved.normalize()
                )?;
            }
            if econ.prompt_cache_requests > 0 {
                writeln!(
                    out,
                    "prompt cache: {} request(s) read or wrote providers' prompt caches, saved ${} (their tokens at the plain input rate minus what was billed, cache writes' premium included)",
                    econ.prompt_cache_requests,
                    econ.prompt_cache_saved.normalize()
                )?;
            }
            for c in &commitments {
                writeln!(
                    out,
                    "commitment {}: ${}/month for {} tokens; {} used this month ({:.1}%); fee to date ${} ({:.1}% of the month), ${} per million tokens used",
                    c["model"].as_str().unwrap_or_default(),
                    c["monthly_fee_usd"].as_str().unwrap_or_default(),
                    c["included_tokens"],
                    c["used_tokens"],
                    c["used_percent"].as_f64().unwrap_or_default(),
                    c["fee_to_date_usd"].as_str().unwrap_or_default(),
                    c["month_elapsed_percent"].as_f64().unwrap_or_default(),
                    c["fee_per_million_used_usd"].as_str().unwrap_or("-"),
                )?;
            }
            if !commitments.is_empty() {
                let fees: Decimal = commitments
                    .iter()
                    .filter_map(|c| c["fee_to_date_usd"].as_str()?.parse::<Decimal>().ok())
                    .sum();
                writeln!(
                    out,
                    "spend with commitment fees to date: ${} (the window's spend plus each fee's share of the month elapsed)",
                    (t.cost() + fees).normalize()
                )?;
            }
            if econ.batch.requests > 0 {
                writeln!(
                    out,
                    "batch lane: {} line(s) through providers' batch APIs, ${} vs ${} at the baseline's standard rates",
                    econ.batch.requests,
                    econ.batch.cost.normalize(),
                    econ.batch.baseline.normalize()
                )?;
            }
            for (tier, u) in &econ.tiers {
                writeln!(
                    out,
                    "{tier} tier: {} request(s), ${} vs ${} at the baseline's standard rates",
                    u.requests,
                    u.cost.normalize(),
                    u.baseline.normalize()
                )?;
            }
            for (d, rows) in &groups {
                writeln!(out, "\nby {}:", d.name())?;
                writeln!(
                    out,
                    "  {:<24} {:>8} {:>7} {:>9} {:>14} {:>14} {:>14} {:>8} {:>14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
                    "key",
                    "requests",
                    "ok %",
                    "unpriced",
                    "cost $",
                    "list $",
                    "baseline $",
                    "saved",
                    "$ / request",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "ttft p50",
                    "retried",
                    "escalated"
                )?;
                for r in rows {
                    writeln!(
                        out,
                        "  {:<24} {:>8} {:>6.1}% {:>9} {:>14} {:>14} {:>14} {:>8} {:>14} {:>8} {:>8} {:>8} {:>8} {:>7.1}% {:>8.1}%",
                        r.key,
                        r.requests,
                        if r.requests > 0 {
                            100.0 * r.ok as f64 / r.requests as f64
                        } else {
                            0.0
                        },
                        r.unpriced_requests,
                        r.cost(),
                        r.answer_cost(),
                        r.baseline_cost(),
                        pct(r),
                        r.cost_per_request().round_dp(9),
                        r.p50_latency_ms,
                        r.p95_latency_ms,
                        r.p99_latency_ms,
                        r.p50_ttft_ms,
                        rate(r.retried, r.requests),
                        rate(r.escalated, r.requests),
                    )?;
                }
            }
            q.print(&mut out)?;
            writeln!(
                out,
                "\nforecast (estimate): month to date ${:.2} (today at its rate so far); month end ${:.2} (90%: ${:.2}–${:.2}) from {} day(s) of history",
                fc.month_to_date_usd,
                fc.month_end_usd,
                fc.month_end_low_usd,
                fc.month_end_high_usd,
                fc.history_days
            )?;
            if let Some(b) = args.budget {
                match fc.budget_exhausted_day {
                    Some(d) => writeln!(out, "  budget ${b:.2} runs out on {}", date(d))?,
                    None => writeln!(out, "  budget ${b:.2} lasts the month")?,
                }
            }
            writeln!(out, "  method: {}", fc.method)?;
        }
    }
    Ok(())
}

/// Quality in the window: verdicts and feedback per (task, model), with the quality model's
/// all-time posterior under a uniform prior, and escalations per route.
struct Quality {
    rows: Vec<serde_json::Value>,
    escalations: Vec<serde_json::Value>,
    /// The LLM judge's spend per judged route, with the route's effective cost including it.
    judge: Vec<serde_json::Value>,
}

async fn quality(reader: &LedgerReader, since: i64, until: Option<i64>) -> anyhow::Result<Quality> {
    use switchyard_core::{
        config::Prior,
        quality::{Beta, Observed},
    };
    let window = reader.quality(Some(since), until).await;
    let all = reader.observations().await?;
    let rows = window?
        .into_iter()
        .map(|r| {
            let o = all
                .iter()
                .find(|o| o.task == r.task && o.model == r.model)
                .map_or_else(Observed::default, |o| Observed {
                    sum: o.sum,
                    n: o.n as f64,
                });
            let b = Beta::posterior(Prior::default(), o);
            serde_json::json!({
                "task": r.task, "model": r.model,
                "verdicts": r.verdicts, "verdicts_passed": r.verdicts_passed,
                "feedback": r.feedback,
                "feedback_mean": (r.feedback > 0).then(|| r.feedback_score_sum / r.feedback as f64),
                "all_time_observations": o.n, "all_time_mean": b.mean(), "all_time_lower_95": b.lower(),
            })
        })
        .collect();
    // Escalations and the judge's spend are filled in by the caller, beside the route summary.
    Ok(Quality {
        rows,
        escalations: Vec::new(),
        judge: Vec::new(),
    })
}

impl Quality {
    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        if self.rows.is_empty() && self.escalations.is_empty() && self.judge.is_empty() {
            return writeln!(out, "\nquality: no signals in the window (configure evaluators on a route, or send POST /v1/feedback)");
        }
        writeln!(out, "\nquality (verdicts: the route's evaluators; feedback: clients; all-time: the quality model, uniform prior):")?;
        writeln!(
            out,
            "  {:<16} {:<20} {:>9} {:>7} {:>9} {:>10} {:>10} {:>10}",
            "task",
            "model",
            "verdicts",
            "pass %",
            "feedback",
            "mean score",
            "all-time",
            "lower 95%"
        )?;
        for r in &self.rows {
            let n = |k: &str| r[k].as_f64().unwrap_or(0.0);
            writeln!(
                out,
                "  {:<16} {:<20} {:>9} {:>7} {:>9} {:>10} {:>10.3} {:>10.3}",
                r["task"].as_str().unwrap_or("-"),
                r["model"].as_str().unwrap_or("-"),
                n("verdicts"),
                if n("verdicts") > 0.0 {
                    format!("{:.1}%", 100.0 * n("verdicts_passed") / n("verdicts"))
                } else {
                    "-".to_owned()
                },
                n("feedback"),
                r["feedback_mean"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), |m| format!("{m:.3}")),
                n("all_time_mean"),
                n("all_time_lower_95"),
            )?;
        }
        for e in &self.escalations {
            writeln!(
                out,
                "  escalations: route {} — {} request(s) had an answer rejected and re-asked",
                e["route"].as_str().unwrap_or("-"),
                e["requests"]
            )?;
        }
        for j in &self.judge {
            writeln!(
                out,
                "  judge: route {} — {} call(s), ${}; the route's effective cost with judging ${}",
                j["route"].as_str().unwrap_or("-"),
                j["calls"],
                j["cost_usd"].as_str().unwrap_or("0"),
                j["effective_cost_usd"].as_str().unwrap_or("-"),
            )?;
        }
        Ok(())
    }
}

/// `part` as a percentage of `whole` (0 when empty).
pub(crate) fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Savings as a percentage of the baseline, computed on exact decimals.
fn pct(r: &SummaryRow) -> String {
    let base = r.baseline_cost();
    if base.is_zero() {
        return "-".to_owned();
    }
    format!(
        "{:.1}%",
        (r.savings() / base * rust_decimal::Decimal::ONE_HUNDRED).round_dp(1)
    )
}

/// The config's monthly commitments (with `--config`), with this month's use from the ledger
/// and the fee amortised: the share of the month elapsed, and per million tokens used.
async fn commitments(
    args: &ReportArgs,
    reader: &LedgerReader,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let Some(path) = &args.config else {
        return Ok(Vec::new());
    };
    let cfg = switchyard_server::config::load(path)
        .map_err(|e| anyhow::anyhow!("invalid config: {e:?}"))?;
    let committed: Vec<_> = cfg
        .models
        .iter()
        .filter_map(|m| Some((m.name.clone(), m.price.as_ref()?.commitment.clone()?)))
        .collect();
    if committed.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let (start_day, end_day) = switchyard_store::month_bounds(now.div_euclid(DAY_MS));
    let (start, end) = (start_day * DAY_MS, end_day * DAY_MS);
    let used = reader.tokens_by_model(start).await?;
    let elapsed = Decimal::from(now - start) / Decimal::from(end - start);
    Ok(committed
        .into_iter()
        .map(|(model, c)| {
            let n = used
                .iter()
                .find(|(m, _)| *m == model)
                .map_or(0, |(_, n)| *n);
            let per_million = (n > 0)
                .then(|| (c.monthly_fee * Decimal::from(1_000_000) / Decimal::from(n)).round_dp(6));
            serde_json::json!({
                "model": model,
                "monthly_fee_usd": c.monthly_fee.normalize().to_string(),
                "included_tokens": c.included_tokens,
                "used_tokens": n,
                "used_percent": 100.0 * n as f64 / c.included_tokens.max(1) as f64,
                "fee_to_date_usd": (c.monthly_fee * elapsed).round_dp(6).normalize().to_string(),
                "month_elapsed_percent": (elapsed * Decimal::ONE_HUNDRED).round_dp(1).to_f64(),
                "fee_per_million_used_usd": per_million.map(|d| d.normalize().to_string()),
            })
        })
        .collect())
}

fn ledger_url(args: &ReportArgs) -> anyhow::Result<String> {
    if let Some(u) = &args.ledger {
        return Ok(u.clone());
    }
    if let Some(path) = &args.config {
        let cfg = switchyard_server::config::load(path)
            .map_err(|e| anyhow::anyhow!("invalid config: {e:?}"))?;
        if let Some(u) = cfg.ledger.url {
            return Ok(u);
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        return Ok(format!(
            "sqlite://{}",
            dir.join("switchyard-ledger.db").display()
        ));
    }
    Ok("sqlite://.switchyard/ledger.db".to_owned())
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
