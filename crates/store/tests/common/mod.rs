//! Scenarios shared by the SQLite and PostgreSQL tests: each takes a ledger URL and a temp dir.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::json;
use switchyard_store::*;
use switchyard_types::{ServiceTier, Usage};

pub fn cfg(url: &str, dir: &Path, batch_size: usize, queue_capacity: usize) -> LedgerConfig {
    LedgerConfig {
        url: url.to_string(),
        batch_size,
        flush_interval: Duration::from_millis(20),
        queue_capacity,
        spill_path: dir.join("ledger-spill.jsonl"),
    }
}

/// A varied row at `ts`: every 5th is unpriced, every 7th failed over once, every 11th errored.
pub fn row(ts: i64, i: usize) -> LedgerRow {
    let mut r = LedgerRow::new();
    r.ts = ts;
    r.tenant = format!("tenant-{}", i % 3);
    r.key_id = (!i.is_multiple_of(4)).then(|| format!("sk-sy-{:04x}", i % 4));
    r.tags = vec!["team:search".into(), format!("n{}", i % 2)];
    r.task = (!i.is_multiple_of(6)).then(|| ["classification", "reasoning"][i % 2].to_string());
    r.ingress = ["openai", "anthropic"][i % 2].into();
    r.route = Some("auto".into());
    r.rule = (i.is_multiple_of(3)).then(|| "short-classification".to_string());
    r.stream = i % 2 == 1;
    r.ttft_ms = r.stream.then_some(30 + i as u64);
    if !i.is_multiple_of(7) {
        r.set_answer_cost(Some(Decimal::new(123_456_789 + i as i64, 15)));
    }
    r.decision = json!({
        "features": {"input_tokens_est": 120 + i, "task": "classification", "tools": false},
        "candidates": [
            {"model": "gpt-4o-mini", "kept": true, "reason": "cheapest", "est_cost": "0.000021"},
            {"model": "gpt-4o", "kept": false, "reason": "excluded: rule"}
        ]
    });
    let unpriced = i.is_multiple_of(5);
    let usage = Usage {
        tier: [
            ServiceTier::Standard,
            ServiceTier::Flex,
            ServiceTier::Priority,
        ][i % 3],
        input: 100 + i as u64,
        cache_read: (i % 3) as u64 * 10,
        cache_write_5m: (i % 2) as u64,
        cache_write_1h: 0,
        output: 20 + (i % 50) as u64,
        reasoning: (i % 4) as u64,
        input_audio: (i % 5) as u64,
        input_image: (i % 9) as u64,
        cache_read_audio: (i % 3) as u64,
        output_audio: (i % 2) as u64 * 3,
        output_image: (i % 4) as u64,
    };
    let cost = (!unpriced).then_some(1_000 + i as i64 * 7);
    r.cached_from = i.is_multiple_of(11).then(|| format!("cached-source-{i}"));
    // What prompt caching saved, on rows whose usage touched the cache; negative when the
    // writes cost more than the reads saved.
    if usage.touched_cache() && !unpriced {
        r.set_cache_saved(Some(Decimal::new(2_700 - 3_750 * (i % 2) as i64, 12)));
    }
    // A sub-nano remainder (femto-dollars) on every priced row.
    let rem = (i as i64 * 37_337) % 1_000_000;
    if i.is_multiple_of(7) {
        r.attempts.push(AttemptRow {
            provider: "cheapco".into(),
            model: "llama-3-8b".into(),
            status: 0,
            error_class: Some("connect".into()),
            latency_ms: 3,
            ttft_ms: None,
            usage: Usage::default(),
            cost_nanos: None,
            billed: false,
            rejected: None,
            served_model: None,
            offset_us: 0,
            cost_rem_femtos: 0,
            usage_estimated: false,
        });
    }
    r.attempts.push(AttemptRow {
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        status: 200,
        error_class: None,
        latency_ms: 40 + (i % 100) as u64,
        ttft_ms: r.stream.then_some(12),
        usage,
        cost_nanos: cost,
        billed: true,
        rejected: None,
        served_model: None,
        offset_us: 3_100 + i as u64,
        cost_rem_femtos: if unpriced { 0 } else { rem },
        usage_estimated: i.is_multiple_of(13),
    });
    r.provider = Some("openai".into());
    r.model = Some("gpt-4o-mini".into());
    r.usage = usage;
    r.cost_nanos = cost;
    r.cost_rem_femtos = if unpriced { 0 } else { rem };
    r.usage_estimated = i.is_multiple_of(13);
    r.set_baseline_cost(Some(Decimal::from_str("0.0000325000000123").unwrap()));
    r.unpriced = unpriced;
    r.catalog_version = Some("2025-06-01".into());
    r.overhead_us = 150 + i as u64;
    r.latency_ms = 45 + (i % 100) as u64;
    if i.is_multiple_of(11) {
        r.status = "error".into();
        r.http_status = 502;
        r.error_class = Some("upstream_5xx".into());
    } else {
        r.status = "ok".into();
        r.http_status = 200;
    }
    r
}

fn sorted(mut rows: Vec<LedgerRow>) -> Vec<LedgerRow> {
    rows.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
    rows
}

/// Write `n` rows at `base..base+n`, shut down, read back exactly those rows.
pub async fn roundtrip(url: &str, dir: &Path, base: i64, n: usize, batch: usize) {
    let ledger = Ledger::open(cfg(url, dir, batch, 100_000)).await.unwrap();
    let rows: Vec<LedgerRow> = (0..n).map(|i| row(base + i as i64, i)).collect();
    for r in &rows {
        ledger.record(r.clone());
    }
    let report = ledger.shutdown().await.unwrap();
    assert_eq!(report.stats.written, n as u64, "{report:?}");
    assert_eq!(report.stats.spilled, 0);
    assert_eq!(report.stats.lost, 0);
    let got = query_rows(url, Some(base), Some(base + n as i64))
        .await
        .unwrap();
    assert_eq!(got.len(), n);
    assert_eq!(got, sorted(rows));
}

/// An unpriced row keeps NULL cost and its flag; a zero cost stays a priced zero.
pub async fn unpriced_stays_unpriced(url: &str, dir: &Path, base: i64) {
    let ledger = Ledger::open(cfg(url, dir, 10, 100)).await.unwrap();
    let mut unpriced = row(base, 5);
    unpriced.cost_nanos = None;
    unpriced.unpriced = true;
    let mut free = row(base + 1, 1);
    free.cost_nanos = Some(0);
    free.unpriced = false;
    ledger.record(unpriced);
    ledger.record(free);
    ledger.shutdown().await.unwrap();
    let got = query_rows(url, Some(base), Some(base + 2)).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].cost_nanos, got[0].unpriced), (None, true));
    assert_eq!((got[1].cost_nanos, got[1].unpriced), (Some(0), false));
}

/// Row counts around the batch size all arrive intact.
pub async fn batch_boundaries(url: &str, dir: &Path, base: i64) {
    let batch = 7;
    for (k, n) in [0usize, 1, 6, 7, 8, 14, 22].into_iter().enumerate() {
        roundtrip(url, dir, base + k as i64 * 1_000, n, batch).await;
    }
    // A batch larger than one INSERT statement (1000 rows) is split inside one transaction.
    roundtrip(url, dir, base + 100_000, 2_345, 2_500).await;
}

/// 20k rows recorded as fast as possible are all written by `shutdown`.
pub async fn shutdown_flushes_everything(url: &str, dir: &Path, base: i64) {
    let n = 20_000;
    let mut c = cfg(url, dir, 500, 100_000);
    c.flush_interval = Duration::from_secs(60); // only full batches and shutdown flush
    let ledger = Ledger::open(c).await.unwrap();
    for i in 0..n {
        ledger.record(row(base + i as i64, i));
    }
    let report = ledger.shutdown().await.unwrap();
    assert_eq!(report.stats.written, n as u64);
    assert_eq!(report.stats.queued, 0);
    let got = query_rows(url, Some(base), Some(base + n as i64))
        .await
        .unwrap();
    assert_eq!(got.len(), n);
}

/// A tiny queue overflows into the spill file; with the database up, shutdown replays it.
pub async fn queue_overflow_spills_then_replays(url: &str, dir: &Path, base: i64) {
    let n = 5_000;
    let ledger = Ledger::open(cfg(url, dir, 100, 10)).await.unwrap();
    for i in 0..n {
        ledger.record(row(base + i as i64, i));
    }
    let report = ledger.shutdown().await.unwrap();
    assert!(report.stats.spilled > 0, "{report:?}");
    assert_eq!(report.stats.replayed, report.stats.spilled);
    assert_eq!(report.stats.written, n as u64);
    let got = query_rows(url, Some(base), Some(base + n as i64))
        .await
        .unwrap();
    assert_eq!(got.len(), n);
}

/// Run SQL on the ledger database outside the writer.
pub async fn exec(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// With the table gone (database "down"), `record` stays instant and every row is spilled;
/// the next `open` against a working database replays them all.
pub async fn down_database_spills_and_replays(url: &str, dir: &Path, base: i64) {
    let n = 10_000usize;
    let spill_dir = dir.join("down");
    // The writer fails, retries with backoff, goes to down mode and spills.
    let ledger = Ledger::open(cfg(url, &spill_dir, 500, 100_000))
        .await
        .unwrap();
    exec(url, "ALTER TABLE ledger RENAME TO ledger_offline").await;
    let rows: Vec<LedgerRow> = (0..n).map(|i| row(base + i as i64, i)).collect();
    let to_send = rows.clone();
    let t = Instant::now();
    for r in to_send {
        ledger.record(r);
    }
    let took = t.elapsed();
    eprintln!("10k record() calls with the database down: {took:?}");
    assert!(
        took < Duration::from_millis(50),
        "10k record() calls took {took:?}"
    );
    let report = ledger.shutdown().await.unwrap();
    assert_eq!(report.stats.written, 0, "{report:?}");
    assert_eq!(report.stats.spilled, n as u64);
    assert!(report.stats.failed_batches >= 1);
    assert!(report.spill_path.exists());
    exec(url, "ALTER TABLE ledger_offline RENAME TO ledger").await;
    // Reopen with the database back: the spill file is replayed by `open`.
    let ledger = Ledger::open(cfg(url, &spill_dir, 500, 100_000))
        .await
        .unwrap();
    assert_eq!(ledger.stats().replayed, n as u64);
    let report = ledger.shutdown().await.unwrap();
    assert_eq!(report.stats.written, n as u64);
    assert!(!report.spill_path.exists());
    let got = query_rows(url, Some(base), Some(base + n as i64))
        .await
        .unwrap();
    assert_eq!(got, sorted(rows));
}

/// Summary grouping on a small hand-checked fixture.
pub async fn summary_groups(url: &str, dir: &Path, base: i64) {
    let ledger = Ledger::open(cfg(url, dir, 10, 100)).await.unwrap();
    let mk = |i: i64, route: &str, provider: &str, status: &str, cost: Option<i64>, lat: u64| {
        let mut r = LedgerRow::new();
        r.ts = base + i;
        r.tenant = "t".into();
        r.ingress = "openai".into();
        r.route = Some(route.into());
        r.rule = (route == "auto").then(|| "cheap".to_string());
        r.provider = Some(provider.into());
        r.model = Some(format!("{provider}-m"));
        r.status = status.into();
        r.http_status = if status == "ok" { 200 } else { 502 };
        r.cost_nanos = cost;
        r.unpriced = cost.is_none();
        r.baseline_cost_nanos = Some(1_000);
        r.latency_ms = lat;
        r.usage = Usage {
            input: 10,
            cache_read: 5,
            output: 3,
            ..Usage::default()
        };
        r
    };
    let rows = vec![
        mk(0, "auto", "openai", "ok", Some(100), 10),
        mk(1, "auto", "openai", "ok", Some(200), 20),
        mk(2, "auto", "anthropic", "error", None, 30),
        mk(3, "premium", "anthropic", "ok", Some(900), 40),
        mk(4, "premium", "anthropic", "client_cancelled", Some(50), 50),
    ];
    for r in rows {
        ledger.record(r);
    }
    ledger.shutdown().await.unwrap();

    // Monthly token counts (seeded at start for volume price tiers): one SQL GROUP BY.
    let reader = switchyard_store::LedgerReader::connect(url).await.unwrap();
    let mut tokens = reader.tokens_by_model(base).await.unwrap();
    tokens.sort();
    assert_eq!(
        tokens,
        vec![("anthropic-m".to_owned(), 54), ("openai-m".to_owned(), 36)]
    );
    assert!(reader.tokens_by_model(base + 5).await.unwrap().is_empty());
    // Daily priced spend for the forecast: exact, unpriced rows left out.
    let day = base.div_euclid(86_400_000);
    assert_eq!(
        reader.daily_cost(base, base + 5).await.unwrap(),
        vec![(day, rust_decimal::Decimal::new(1_250, 9))],
        "100 + 200 + 900 + 50 nano-dollars"
    );
    // The dashboard's spend series: exact per bucket, baseline beside it, unpriced counted.
    let series = reader.cost_series(base, base + 5, 2).await.unwrap();
    let dec = |n: i64| rust_decimal::Decimal::new(n, 9);
    assert_eq!(base % 2, 0, "the scenario's base is even");
    let got: Vec<_> = series
        .iter()
        .map(|p| (p.bucket, p.requests, p.cost, p.baseline, p.unpriced))
        .collect();
    assert_eq!(
        got,
        vec![
            (base / 2, 2, dec(300), dec(2_000), 0),
            (base / 2 + 1, 2, dec(900), dec(2_000), 1),
            (base / 2 + 2, 1, dec(50), dec(1_000), 0),
        ]
    );
    assert_eq!(
        reader.span(base, base + 5).await.unwrap(),
        Some((base, base + 4))
    );
    assert_eq!(reader.span(base + 10, base + 20).await.unwrap(), None);
    // Recent requests, newest first, and one request by id.
    let recent = reader.recent(2, Some(base + 5)).await.unwrap();
    assert_eq!(
        recent.iter().map(|r| r.ts).collect::<Vec<_>>(),
        vec![base + 4, base + 3]
    );
    let one = reader.row(&recent[1].id).await.unwrap().expect("row by id");
    assert_eq!(one, recent[1]);
    assert!(reader.row("no-such-id").await.unwrap().is_none());
    assert!(reader.signals_of(&one.id).await.unwrap().is_empty());
    reader.close().await;

    let by_route = summary(url, Some(base), Some(base + 5), GroupBy::Route)
        .await
        .unwrap();
    assert_eq!(by_route.len(), 2);
    let auto = &by_route[0];
    assert_eq!(auto.key, "auto");
    assert_eq!(
        (auto.requests, auto.ok, auto.errors, auto.cancelled),
        (3, 2, 1, 0)
    );
    assert_eq!(auto.cost_femtos, 300_000_000);
    assert_eq!(auto.baseline_cost_femtos, 3_000_000_000);
    assert_eq!(auto.savings_femtos, (2_000 - 300) * 1_000_000);
    assert_eq!(auto.unpriced_requests, 1);
    assert_eq!(
        (
            auto.p50_latency_ms,
            auto.p95_latency_ms,
            auto.p99_latency_ms
        ),
        (20, 30, 30)
    );
    assert_eq!(
        (
            auto.input_tokens,
            auto.cache_read_tokens,
            auto.output_tokens
        ),
        (45, 15, 9)
    );
    assert_eq!(auto.cost(), Decimal::from_str("0.0000003").unwrap());
    assert_eq!(
        auto.cost_per_request(),
        Decimal::from_str("0.00000015").unwrap(),
        "over the two priced requests"
    );
    let premium = &by_route[1];
    assert_eq!(premium.key, "premium");
    assert_eq!((premium.requests, premium.ok, premium.cancelled), (2, 1, 1));
    assert_eq!(premium.cost_femtos, 950_000_000);
    assert_eq!(premium.savings_femtos, (2_000 - 950) * 1_000_000);

    let by_provider = summary(url, Some(base), Some(base + 5), GroupBy::Provider)
        .await
        .unwrap();
    let keys: Vec<_> = by_provider
        .iter()
        .map(|s| (s.key.as_str(), s.requests))
        .collect();
    assert_eq!(keys, vec![("anthropic", 3), ("openai", 2)]);

    let by_rule = summary(url, Some(base), Some(base + 5), GroupBy::Rule)
        .await
        .unwrap();
    let keys: Vec<_> = by_rule
        .iter()
        .map(|s| (s.key.as_str(), s.requests))
        .collect();
    assert_eq!(keys, vec![(NONE_KEY, 2), ("cheap", 3)]);

    // The window is half-open: `until` excludes its own millisecond.
    let early = summary(url, Some(base), Some(base + 2), GroupBy::Tenant)
        .await
        .unwrap();
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].requests, 2);
}

/// Sub-nano costs survive the ledger and sum exactly: 1,000 requests of 0.3751 nano-dollars
/// each total exactly 375.1 nano-dollars (rounding each to the nano would report 0).
pub async fn sub_nano_costs_sum_exactly(url: &str, dir: &Path, base: i64) {
    let ledger = Ledger::open(cfg(url, dir, 100, 10_000)).await.unwrap();
    let each = Decimal::from_str("0.0000000003751").unwrap();
    let baseline = Decimal::from_str("0.000000012345678").unwrap();
    for i in 0..1_000 {
        let mut r = LedgerRow::new();
        r.ts = base + i;
        r.tenant = "t".into();
        r.ingress = "openai".into();
        r.route = Some("auto".into());
        r.status = "ok".into();
        r.http_status = 200;
        r.set_cost(Some(each));
        r.set_baseline_cost(Some(baseline));
        ledger.record(r);
    }
    ledger.shutdown().await.unwrap();
    let rows = query_rows(url, Some(base), Some(base + 1_000))
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.cost() == Some(each.normalize())));
    let s = summary(url, Some(base), Some(base + 1_000), GroupBy::Route)
        .await
        .unwrap();
    assert_eq!(s[0].cost(), Decimal::from_str("0.0000003751").unwrap());
    assert_eq!(
        s[0].baseline_cost(),
        Decimal::from_str("0.000012345678").unwrap()
    );
    assert_eq!(
        s[0].savings(),
        Decimal::from_str("0.000012345678").unwrap() - Decimal::from_str("0.0000003751").unwrap()
    );
}

fn signal(request: &LedgerRow, n: usize, source: &str, model: &str, score: f64) -> SignalRow {
    SignalRow {
        id: format!("{}:{n}", request.id),
        request_id: request.id.clone(),
        ts: request.ts,
        source: source.into(),
        name: if source == "evaluator" {
            "json"
        } else {
            source
        }
        .into(),
        model: Some(model.into()),
        task: request.task.clone(),
        route: request.route.clone(),
        score,
        passed: Some(score >= 0.5),
        observed: source != "evaluator",
        label: None,
        detail: (score < 0.5).then(|| "not valid JSON".into()),
    }
}

/// Signals travel with their rows (written once, even when a row is recorded twice), feedback
/// is written directly, and the observations sum per (task, model).
pub async fn signals_roundtrip(url: &str, dir: &Path, base: i64) {
    let ledger = Ledger::open(cfg(url, dir, 100, 100_000)).await.unwrap();
    let mut rows = Vec::new();
    for i in 0..10usize {
        let mut r = row(base + i as i64, i);
        r.task = Some(if i % 2 == 0 { "math" } else { "chat" }.into());
        r.model = Some("cheap".into());
        let pass = if i % 3 == 0 { 0.0 } else { 1.0 };
        if i == 4 {
            r.attempts[0].rejected = Some("evaluator failed: json".into());
        }
        r.signals = vec![
            signal(&r, 0, "evaluator", "cheap", pass),
            signal(&r, 1, "verdict", "cheap", pass),
        ];
        rows.push(r);
    }
    for r in rows.iter().chain(&rows[..3]) {
        ledger.record(r.clone());
    }
    ledger.shutdown().await.unwrap();
    let reader = LedgerReader::connect(url).await.unwrap();
    let mut feedback = signal(&rows[0], 0, "feedback", "cheap", 0.25);
    feedback.id = "feedback-1".into();
    feedback.label = Some("wrong".into());
    reader.insert_signals(&[feedback.clone()]).await.unwrap();
    let all = reader.signals(Some(base), Some(base + 10)).await.unwrap();
    assert_eq!(all.len(), 21, "two per row, once each, plus the feedback");
    assert!(all.contains(&feedback));
    assert!(all.contains(&rows[3].signals[0]));
    let mut obs = reader.observations().await.unwrap();
    obs.sort_by(|a, b| a.task.cmp(&b.task));
    // math: rows 0,2,4,6,8 → verdicts 0,1,1,0,1 and feedback 0.25 on row 0; chat: 1,3,5,7,9 → 1,0,1,1,0.
    assert_eq!(obs.len(), 2, "{obs:?}");
    assert_eq!(
        (obs[0].task.as_deref(), obs[0].sum, obs[0].n),
        (Some("chat"), 3.0, 5)
    );
    assert_eq!(
        (obs[1].task.as_deref(), obs[1].sum, obs[1].n),
        (Some("math"), 3.25, 6)
    );
    // The summary counts escalated requests apart from retried ones.
    let total = summary(url, Some(base), Some(base + 10), GroupBy::Tenant)
        .await
        .unwrap()
        .into_iter()
        .fold(SummaryRow::default(), |mut a, r| {
            a.absorb(&r);
            a
        });
    let multi = rows.iter().filter(|r| r.attempts.len() > 1).count() as u64;
    assert_eq!(total.escalated, 1);
    assert_eq!(total.retried, multi - u64::from(rows[4].attempts.len() > 1));
    let facts = reader.request_facts(&rows[2].id).await.unwrap().unwrap();
    assert_eq!(facts.model.as_deref(), Some("cheap"));
    assert_eq!(facts.task.as_deref(), Some("math"));
    assert_eq!(reader.request_facts("missing").await.unwrap(), None);
    reader.close().await;
}

/// A report window over several hours reads whole hours from the rollups and the edges from
/// the ledger, and adds up to exactly what the rows say; a rollup rebuilt from the ledger by
/// the migration's backfill agrees; a replayed row is not counted twice.
pub async fn rollups_match_the_ledger(url: &str, dir: &Path) {
    const HOUR: i64 = 3_600_000;
    let base = 480_000 * HOUR;
    // 300 rows from half an hour before `base` to ~3.4 h after it, latencies under 64 ms
    // (binned exactly), a second route on every third row, an escalation on every 10th.
    let rows: Vec<LedgerRow> = (0..300)
        .map(|i| {
            let mut r = row(base - HOUR / 2 + i as i64 * 47_000, i);
            r.latency_ms = (i % 60) as u64;
            r.ttft_ms = r.stream.then_some((i % 50) as u64);
            if i % 3 == 0 {
                r.route = Some("premium".into());
            }
            if i % 10 == 0 {
                let mut rejected = r.attempts[0].clone();
                rejected.rejected = Some("evaluator failed: json".into());
                r.attempts.insert(0, rejected);
            }
            r
        })
        .collect();
    let ledger = Ledger::open(cfg(url, dir, 64, 100_000)).await.unwrap();
    for r in &rows {
        ledger.record(r.clone());
    }
    ledger.shutdown().await.unwrap();
    let (since, until) = (Some(base - HOUR / 4), Some(base + 3 * HOUR + HOUR / 4));
    let inside: Vec<&LedgerRow> = rows
        .iter()
        .filter(|r| r.ts >= since.unwrap() && r.ts < until.unwrap())
        .collect();
    let reader = LedgerReader::connect(url).await.unwrap();
    let by_route = reader.summary(since, until, GroupBy::Route).await.unwrap();
    for g in &by_route {
        let mine: Vec<&&LedgerRow> = inside
            .iter()
            .filter(|r| r.route.as_deref() == Some(g.key.as_str()))
            .collect();
        assert_eq!(g.requests as usize, mine.len(), "{}", g.key);
        let cost: Decimal = mine
            .iter()
            .filter(|r| !r.unpriced)
            .filter_map(|r| r.cost())
            .sum();
        assert_eq!(g.cost(), cost.normalize(), "{}", g.key);
        let escalated = mine
            .iter()
            .filter(|r| r.attempts.iter().any(|a| a.rejected.is_some()));
        assert_eq!(g.escalated as usize, escalated.count());
        let mut lat: Vec<u64> = mine.iter().map(|r| r.latency_ms).collect();
        lat.sort_unstable();
        let rank = |p: usize| lat[(p * lat.len()).div_ceil(100).max(1) - 1];
        assert_eq!(
            (g.p50_latency_ms, g.p95_latency_ms),
            (rank(50), rank(95)),
            "{}",
            g.key
        );
    }
    assert_eq!(
        by_route.iter().map(|g| g.requests).sum::<u64>() as usize,
        inside.len()
    );
    // The spend series per hour: whole hours from the rollups, the edges from the ledger.
    let series = reader
        .cost_series(since.unwrap(), until.unwrap(), HOUR)
        .await
        .unwrap();
    let priced: Decimal = inside
        .iter()
        .filter(|r| !r.unpriced)
        .filter_map(|r| r.cost())
        .sum();
    assert_eq!(
        series.iter().map(|p| p.cost).sum::<Decimal>(),
        priced.normalize()
    );
    assert_eq!(
        series.iter().map(|p| p.requests).sum::<u64>() as usize,
        inside.len()
    );
    assert_eq!(
        series.len(),
        5,
        "two partial hours and three whole ones: {series:?}"
    );
    let by_tenant = reader.summary(since, until, GroupBy::Tenant).await.unwrap();
    let by_task = reader.summary(None, None, GroupBy::Task).await.unwrap();
    assert_eq!(by_task.iter().map(|g| g.requests).sum::<u64>(), 300);
    reader.close().await;

    // A replay of rows already written adds nothing.
    let again = Ledger::open(cfg(url, dir, 64, 100_000)).await.unwrap();
    for r in rows.iter().take(40) {
        again.record(r.clone());
    }
    again.shutdown().await.unwrap();
    let reader = LedgerReader::connect(url).await.unwrap();
    assert_eq!(
        reader.summary(since, until, GroupBy::Route).await.unwrap(),
        by_route
    );
    reader.close().await;

    // The migration's backfill, run on this ledger, rebuilds the same rollups.
    exec(url, "DROP TABLE ledger_rollup").await;
    exec(url, "DROP TABLE ledger_rollup_hist").await;
    exec(url, "DELETE FROM _sqlx_migrations WHERE version = 5").await;
    let reader = LedgerReader::connect(url).await.unwrap();
    assert_eq!(
        reader.summary(since, until, GroupBy::Route).await.unwrap(),
        by_route
    );
    assert_eq!(
        reader.summary(since, until, GroupBy::Tenant).await.unwrap(),
        by_tenant
    );
    assert_eq!(
        reader.summary(None, None, GroupBy::Task).await.unwrap(),
        by_task
    );
    reader.close().await;
}

/// Captures are written with their rows (a replayed row does not duplicate one), read back
/// while kept, and deleted once expired. `base` is now (the writer deletes what expired
/// before it).
pub async fn captures_roundtrip(url: &str, dir: &Path, base: i64) {
    let ledger = Ledger::open(cfg(url, dir, 100, 100_000)).await.unwrap();
    let mut rows = Vec::new();
    for i in 0..4usize {
        let mut r = row(base + i as i64, i);
        if i > 0 {
            r.capture = Some(switchyard_store::CaptureRow {
                request_id: r.id.clone(),
                ts: r.ts,
                expires_ms: base + 1_000 * i as i64,
                prompt: format!("[user]\nquestion {i} ünïcode"),
                answer: (i != 2).then(|| format!("answer {i}")),
                truncated: i == 3,
            });
        }
        rows.push(r);
    }
    for r in rows.iter().chain(&rows[1..3]) {
        ledger.record(r.clone());
    }
    ledger.shutdown().await.unwrap();
    let reader = LedgerReader::connect(url).await.unwrap();
    assert!(reader.capture(&rows[0].id, base).await.unwrap().is_none());
    for r in &rows[1..] {
        let got = reader.capture(&r.id, base).await.unwrap();
        assert_eq!(got.as_ref(), r.capture.as_ref());
    }
    // Expired at base + 2000: rows 1 and 2 are no longer shown, then deleted.
    let now = base + 2_000;
    assert!(reader.capture(&rows[2].id, now).await.unwrap().is_none());
    assert!(reader.capture(&rows[3].id, now).await.unwrap().is_some());
    assert_eq!(reader.purge_expired(now).await.unwrap(), 2);
    assert!(reader.capture(&rows[1].id, base).await.unwrap().is_none());
    assert!(reader.capture(&rows[3].id, base).await.unwrap().is_some());
}

/// Stored Responses turns: written, read back by their tenant only, replaced, deleted, and
/// never read (then purged) once expired.
pub async fn responses_roundtrip(url: &str, dir: &Path) {
    let ledger = Ledger::open(cfg(url, dir, 100, 100_000)).await.unwrap();
    ledger.shutdown().await.unwrap();
    let reader = LedgerReader::connect(url).await.unwrap();
    let now = now_ms();
    let turn = |id: &str, tenant: &str, expires_ms: i64| StoredResponse {
        id: id.into(),
        tenant: tenant.into(),
        request_id: format!("req-{id}"),
        created_ms: now,
        expires_ms,
        body: format!(r#"{{"response":{{"id":"{id}"}},"items":["ünïcode"]}}"#),
    };
    let a = turn("resp_a", "acme", now + 60_000);
    reader.put_response(&a).await.unwrap();
    reader
        .put_response(&turn("resp_old", "acme", now - 1))
        .await
        .unwrap();
    assert_eq!(
        reader.get_response("resp_a", "acme", now).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        reader.get_response("resp_a", "other", now).await.unwrap(),
        None
    );
    assert_eq!(
        reader.get_response("resp_old", "acme", now).await.unwrap(),
        None
    );
    let mut b = a.clone();
    b.body = r#"{"replaced":true}"#.into();
    reader.put_response(&b).await.unwrap();
    assert_eq!(
        reader.get_response("resp_a", "acme", now).await.unwrap(),
        Some(b)
    );
    assert!(!reader.delete_response("resp_a", "other").await.unwrap());
    assert!(reader.delete_response("resp_a", "acme").await.unwrap());
    assert!(!reader.delete_response("resp_a", "acme").await.unwrap());
    assert_eq!(
        reader.purge_expired(now).await.unwrap(),
        1,
        "the expired turn"
    );
}

/// Gateway keys: stored with their hash only, listed oldest first, revoked once.
pub async fn keys_roundtrip(url: &str, dir: &Path) {
    let ledger = Ledger::open(cfg(url, dir, 100, 100_000)).await.unwrap();
    ledger.shutdown().await.unwrap();
    let reader = LedgerReader::connect(url).await.unwrap();
    let key = |id: &str, hash: &str, at: i64| KeyRow {
        id: id.into(),
        hash: hash.into(),
        name: format!("tenant-{id}"),
        spec: r#"{"routes":["auto"]}"#.into(),
        created_ms: at,
        revoked_ms: None,
    };
    reader.create_key(&key("key_b", "h2", 2)).await.unwrap();
    reader.create_key(&key("key_a", "h1", 1)).await.unwrap();
    assert!(
        reader.create_key(&key("key_c", "h1", 3)).await.is_err(),
        "a hash is unique"
    );
    let all = reader.keys().await.unwrap();
    assert_eq!(
        all.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        ["key_a", "key_b"]
    );
    assert_eq!(all[0], key("key_a", "h1", 1));
    assert!(reader.revoke_key("key_a", 10).await.unwrap());
    assert!(
        !reader.revoke_key("key_a", 11).await.unwrap(),
        "revoked once"
    );
    assert!(!reader.revoke_key("key_zz", 11).await.unwrap());
    assert_eq!(reader.keys().await.unwrap()[0].revoked_ms, Some(10));
}

pub async fn batches_roundtrip(url: &str, dir: &Path) {
    use switchyard_store::{BatchFile, StoredBatch};
    let ledger = Ledger::open(cfg(url, dir, 100, 100_000)).await.unwrap();
    ledger.shutdown().await.unwrap();
    let reader = LedgerReader::connect(url).await.unwrap();
    let f = BatchFile {
        id: format!("file-{}", uuid::Uuid::now_v7().simple()),
        tenant: "acme".into(),
        purpose: "batch".into(),
        filename: "in.jsonl".into(),
        created_ms: now_ms(),
        content: "{\"custom_id\":\"ü\"}\n".into(),
    };
    reader.put_file(&f).await.unwrap();
    assert_eq!(
        reader.get_file(&f.id, "acme").await.unwrap(),
        Some(f.clone())
    );
    assert_eq!(reader.get_file(&f.id, "other").await.unwrap(), None);
    let mut b = StoredBatch {
        id: format!("batch_{}", uuid::Uuid::now_v7().simple()),
        tenant: "acme".into(),
        status: "in_progress".into(),
        created_ms: now_ms(),
        state: "{\"step\":1}".into(),
    };
    reader.put_batch(&b).await.unwrap();
    assert!(reader.open_batches().await.unwrap().contains(&b));
    // A write over a state that is no longer there does nothing; over the current one, it wins.
    let mut claimed = b.clone();
    claimed.state = "{\"step\":1,\"lease\":[\"me\",1]}".into();
    assert!(!reader.swap_batch(&claimed, "{\"step\":0}").await.unwrap());
    assert!(reader.swap_batch(&claimed, &b.state).await.unwrap());
    assert!(!reader.swap_batch(&claimed, &b.state).await.unwrap());
    b.state = claimed.state.clone();
    b.status = "completed".into();
    b.state = "{\"step\":2}".into();
    reader.put_batch(&b).await.unwrap();
    assert_eq!(
        reader.get_batch(&b.id, Some("acme")).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(reader.get_batch(&b.id, Some("other")).await.unwrap(), None);
    assert!(!reader
        .open_batches()
        .await
        .unwrap()
        .iter()
        .any(|x| x.id == b.id));
}
