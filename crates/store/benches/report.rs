//! A month's report over a large ledger: how long `summary` (per group) and the month-end
//! forecast take once the ledger holds `SWITCHYARD_BENCH_ROWS` rows (default 10,000,000) spread
//! over the last 30 days. The ledger is written once through the normal writer (so the hourly
//! rollups are what the writer keeps) and reused by later runs from `target/bench-ledger/`.
//! PostgreSQL too when `SWITCHYARD_BENCH_POSTGRES_URL` is set (its `ledger` table is dropped
//! and refilled when its row count differs).
//!
//! `cargo bench -p switchyard-store --bench report`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a benchmark prints its figures and fails loudly"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_store::{
    now_ms, AttemptRow, GroupBy, Ledger, LedgerConfig, LedgerReader, LedgerRow,
};
use switchyard_types::Usage;

const DAY_MS: i64 = 86_400_000;

fn row(i: usize, n: usize, now: i64) -> LedgerRow {
    let mut r = LedgerRow::new();
    r.ts = now - 30 * DAY_MS + (i as i64) * (30 * DAY_MS / n as i64);
    r.tenant = format!("tenant-{}", i % 20);
    r.task = Some(["faq", "code", "extraction", "chat", "summary"][i % 5].into());
    r.ingress = "openai".into();
    r.route = Some(["auto", "support", "batch"][i % 3].into());
    r.rule = (!i.is_multiple_of(4)).then(|| ["short", "code", "long"][i % 3].to_string());
    r.stream = i.is_multiple_of(2);
    r.decision = json!({"route": r.route, "candidates": [{"model": "gpt-4o-mini"}]});
    let model = [
        "gpt-4o-mini",
        "claude-haiku-4-5",
        "gemini-2.5-flash",
        "gpt-4o",
    ][i % 4];
    let provider = ["openai", "anthropic", "gemini", "openai"][i % 4];
    let usage = Usage {
        input: 200 + (i % 700) as u64,
        cache_read: (i % 3) as u64 * 64,
        output: 40 + (i % 300) as u64,
        ..Usage::default()
    };
    let latency = 80 + ((i * 7919) % 4_000) as u64;
    r.attempts = vec![AttemptRow {
        provider: provider.into(),
        model: model.into(),
        status: 200,
        error_class: None,
        latency_ms: latency,
        ttft_ms: r.stream.then_some(latency / 4),
        usage,
        cost_nanos: Some(30_000 + (i % 1000) as i64),
        billed: true,
        rejected: None,
        served_model: None,
        offset_us: 0,
        cost_rem_femtos: (i % 1_000_000) as i64,
        usage_estimated: false,
    }];
    r.provider = Some(provider.into());
    r.model = Some(model.into());
    r.usage = usage;
    r.cost_nanos = Some(30_000 + (i % 1000) as i64);
    r.cost_rem_femtos = (i % 1_000_000) as i64;
    r.baseline_cost_nanos = Some(600_000);
    r.latency_ms = latency;
    r.ttft_ms = r.attempts[0].ttft_ms;
    r.status = if i.is_multiple_of(97) { "error" } else { "ok" }.into();
    r.http_status = if i.is_multiple_of(97) { 502 } else { 200 };
    r
}

async fn count(url: &str) -> u64 {
    match LedgerReader::connect(url).await {
        Ok(reader) => {
            let n = reader.summary(None, None, GroupBy::Route).await.unwrap();
            reader.close().await;
            n.iter().map(|g| g.requests).sum()
        }
        Err(_) => 0,
    }
}

async fn fill(url: &str, dir: &Path, n: usize) {
    let now = now_ms();
    let ledger = Ledger::open(LedgerConfig {
        url: url.into(),
        batch_size: 2_000,
        flush_interval: Duration::from_millis(200),
        queue_capacity: 200_000,
        spill_path: dir.join("spill.jsonl"),
    })
    .await
    .unwrap();
    let t = Instant::now();
    for i in 0..n {
        while ledger.stats().queued > 150_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ledger.record(row(i, n, now));
    }
    let report = ledger.shutdown().await.unwrap();
    assert_eq!(report.stats.written, n as u64, "{:?}", report.stats);
    let s = t.elapsed().as_secs_f64();
    println!(
        "filled {n} rows in {s:.0} s ({:.0} rows/s, rollups included)",
        n as f64 / s
    );
}

async fn time_report(name: &str, url: &str) {
    let reader = LedgerReader::connect(url).await.unwrap();
    let since = Some(now_ms() - 30 * DAY_MS);
    for g in [
        GroupBy::Route,
        GroupBy::Rule,
        GroupBy::Provider,
        GroupBy::Model,
        GroupBy::Task,
        GroupBy::Tenant,
    ] {
        let mut best = Duration::MAX;
        let mut rows = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let out = reader.summary(since, None, g).await.unwrap();
            best = best.min(t.elapsed());
            rows = out.iter().map(|r| r.requests).sum::<u64>();
        }
        println!("{name}: summary by {g:?} over 30 days ({rows} requests): {best:?}");
    }
    let t = Instant::now();
    let f = reader.month_forecast(now_ms(), None).await.unwrap();
    println!(
        "{name}: month-end forecast ({} days of history): {:?}",
        f.history_days,
        t.elapsed()
    );
    reader.close().await;
}

fn main() {
    let n: usize = std::env::var("SWITCHYARD_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-ledger");
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join(format!("ledger-{n}.db")).display());
        // Reuse a ledger of the right size (its rows age: a later run's window sees fewer).
        if count(&url).await < n as u64 * 9 / 10 {
            let _ = std::fs::remove_file(dir.join(format!("ledger-{n}.db")));
            fill(&url, &dir, n).await;
        }
        time_report("SQLite", &url).await;
        if let Ok(pg) = std::env::var("SWITCHYARD_BENCH_POSTGRES_URL") {
            if count(&pg).await != n as u64 {
                let admin = sqlx::PgPool::connect(&pg).await.unwrap();
                for t in [
                    "ledger",
                    "ledger_rollup",
                    "ledger_rollup_hist",
                    "signals",
                    "_sqlx_migrations",
                ] {
                    sqlx::query(&format!("DROP TABLE IF EXISTS {t}"))
                        .execute(&admin)
                        .await
                        .unwrap();
                }
                admin.close().await;
                fill(&pg, &dir, n).await;
            }
            // A bulk-loaded table has no statistics until autovacuum's ANALYZE runs; without them
            // the planner scans the whole ledger for the edges. Do what autovacuum would.
            let admin = sqlx::PgPool::connect(&pg).await.unwrap();
            for t in ["ledger", "ledger_rollup", "ledger_rollup_hist"] {
                sqlx::query(&format!("ANALYZE {t}"))
                    .execute(&admin)
                    .await
                    .unwrap();
            }
            admin.close().await;
            time_report("PostgreSQL", &pg).await;
        }
    });
}
