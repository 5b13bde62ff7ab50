//! Ledger ingest throughput: rows/s from `record` to committed, end to end (open → record N →
//! shutdown), for SQLite and, when `SWITCHYARD_TEST_POSTGRES_URL` is set, PostgreSQL.
//! PostgreSQL uses one UNNEST insert per batch (a multi-row VALUES list measured 13k rows/s vs
//! 31k). Also compares SQLite insert strategies: multi-row INSERT (what the writer does) against a
//! transaction of prepared single-row INSERTs.
//!
//! `cargo bench -p switchyard-store --bench ingest`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use sqlx::types::Json;
use switchyard_store::{AttemptRow, Ledger, LedgerConfig, LedgerRow};
use switchyard_types::Usage;

const ROWS: usize = 50_000;

fn row(i: usize) -> LedgerRow {
    let mut r = LedgerRow::new();
    r.tenant = "acme".into();
    r.key_id = Some("sk-sy-1a2b".into());
    r.tags = vec!["team:search".into()];
    r.task = Some("classification".into());
    r.ingress = "openai".into();
    r.route = Some("auto".into());
    r.rule = Some("short-classification".into());
    r.decision = json!({"features": {"input_tokens_est": 120, "task": "classification"},
        "candidates": [{"model": "gpt-4o-mini", "kept": true, "reason": "cheapest"},
                       {"model": "gpt-4o", "kept": false, "reason": "rule"}]});
    let usage = Usage {
        input: 120 + i as u64 % 50,
        output: 30,
        ..Usage::default()
    };
    r.attempts = vec![AttemptRow {
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        status: 200,
        error_class: None,
        latency_ms: 250,
        ttft_ms: None,
        usage,
        cost_nanos: Some(36_000),
        billed: true,
        rejected: None,
        served_model: None,
        offset_us: 0,
        cost_rem_femtos: 0,
        usage_estimated: false,
    }];
    r.provider = Some("openai".into());
    r.model = Some("gpt-4o-mini".into());
    r.usage = usage;
    r.cost_nanos = Some(36_000);
    r.baseline_cost_nanos = Some(600_000);
    r.catalog_version = Some("2025-06-01".into());
    r.overhead_us = 180;
    r.latency_ms = 260;
    r.status = "ok".into();
    r.http_status = 200;
    r
}

fn cfg(url: &str, dir: &Path) -> LedgerConfig {
    LedgerConfig {
        url: url.into(),
        batch_size: 500,
        flush_interval: Duration::from_millis(200),
        queue_capacity: 100_000,
        spill_path: dir.join("spill.jsonl"),
    }
}

/// Open, record `ROWS` rows, shut down; the time until every row is committed.
async fn ingest(url: &str, dir: &Path) -> Duration {
    let rows: Vec<LedgerRow> = (0..ROWS).map(row).collect();
    let ledger = Ledger::open(cfg(url, dir)).await.unwrap();
    let t = Instant::now();
    for r in rows {
        ledger.record(r);
    }
    let report = ledger.shutdown().await.unwrap();
    let took = t.elapsed();
    assert_eq!(report.stats.written, ROWS as u64);
    took
}

/// The alternative strategy: one transaction of prepared single-row INSERTs per 500 rows.
async fn prepared_per_row(pool: &sqlx::SqlitePool, rows: &[LedgerRow]) -> Duration {
    let sql = "INSERT INTO ledger (id, ts_ms, tenant, key_id, tags, task, ingress, route, rule, \
        stream, decision, provider, model, attempt_count, attempts, input_tokens, \
        cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, \
        reasoning_tokens, cost_nanos, baseline_cost_nanos, unpriced, catalog_version, \
        overhead_us, latency_ms, status, http_status, error_class) VALUES \
        (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    let t = Instant::now();
    for chunk in rows.chunks(500) {
        let mut tx = pool.begin().await.unwrap();
        for r in chunk {
            sqlx::query(sql)
                .bind(&r.id)
                .bind(r.ts)
                .bind(&r.tenant)
                .bind(&r.key_id)
                .bind(Json(&r.tags))
                .bind(&r.task)
                .bind(&r.ingress)
                .bind(&r.route)
                .bind(&r.rule)
                .bind(r.stream)
                .bind(Json(&r.decision))
                .bind(&r.provider)
                .bind(&r.model)
                .bind(r.attempts.len() as i32)
                .bind(Json(&r.attempts))
                .bind(r.usage.input as i64)
                .bind(r.usage.cache_read as i64)
                .bind(r.usage.cache_write_5m as i64)
                .bind(r.usage.cache_write_1h as i64)
                .bind(r.usage.output as i64)
                .bind(r.usage.reasoning as i64)
                .bind(r.cost_nanos)
                .bind(r.baseline_cost_nanos)
                .bind(r.unpriced)
                .bind(&r.catalog_version)
                .bind(r.overhead_us as i64)
                .bind(r.latency_ms as i64)
                .bind(&r.status)
                .bind(i32::from(r.http_status))
                .bind(&r.error_class)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    t.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("ledger.db").display());

    let mut g = c.benchmark_group("ledger_ingest");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("sqlite_multi_row", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(ingest(&sqlite, dir.path())))
                .sum()
        })
    });
    g.bench_function("sqlite_prepared_per_row", |b| {
        let pool = rt.block_on(sqlx::SqlitePool::connect(&sqlite)).unwrap();
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let rows: Vec<LedgerRow> = (0..ROWS).map(row).collect();
                    rt.block_on(prepared_per_row(&pool, &rows))
                })
                .sum()
        });
        rt.block_on(pool.close());
    });
    if let Ok(base) = std::env::var("SWITCHYARD_TEST_POSTGRES_URL") {
        let schema = format!("sy_bench_{}", uuid::Uuid::now_v7().simple());
        let admin = rt
            .block_on(sqlx::PgPool::connect(&base))
            .expect("PostgreSQL unreachable");
        let create = format!("CREATE SCHEMA {schema}");
        rt.block_on(sqlx::query(&create).execute(&admin)).unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        g.bench_function("postgres_unnest", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(ingest(&url, dir.path())))
                    .sum()
            })
        });
        let drop = format!("DROP SCHEMA {schema} CASCADE");
        rt.block_on(sqlx::query(&drop).execute(&admin)).unwrap();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
