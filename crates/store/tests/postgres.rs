//! Ledger round trips against a real PostgreSQL, when `SWITCHYARD_TEST_POSTGRES_URL` is set
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`). Unset: these tests pass without running,
//! except under `CI=true`, where they fail.
//! Set but unreachable: they FAIL, naming PostgreSQL. Each test uses a fresh schema
//! `sy_test_<uuid>` (via `options=-c search_path=…`), dropped at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;

const ENV: &str = "SWITCHYARD_TEST_POSTGRES_URL";

/// Run `scenario(url, dir)` in a fresh schema; `None` when the env var is unset.
async fn with_schema<F, Fut>(scenario: F)
where
    F: FnOnce(String, std::path::PathBuf) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(base) = std::env::var(ENV) else {
        // Under CI a missing service is a failure, never a silent skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{ENV} is not set but CI=true: the PostgreSQL suite must run in CI"
        );
        eprintln!("{ENV} not set: skipping PostgreSQL test");
        return;
    };
    let admin = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&base)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {ENV} is unreachable ({e}); unset {ENV} to skip these tests")
        });
    let schema = format!("sy_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let dir = tempfile::tempdir().unwrap();
    // Run in a task so a failed assertion still drops the schema.
    let res = tokio::spawn(scenario(url, dir.path().to_path_buf())).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    if let Err(e) = res {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_roundtrip_exact_content() {
    with_schema(|url, dir| async move {
        common::roundtrip(&url, &dir, 1_000_000, 1_234, 500).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unpriced_stays_unpriced() {
    with_schema(|url, dir| async move {
        common::unpriced_stays_unpriced(&url, &dir, 1_000_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_boundaries() {
    with_schema(|url, dir| async move {
        common::batch_boundaries(&url, &dir, 1_000_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_shutdown_flushes_20k() {
    with_schema(|url, dir| async move {
        common::shutdown_flushes_everything(&url, &dir, 1_000_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_overflow_spills_then_replays() {
    with_schema(|url, dir| async move {
        common::queue_overflow_spills_then_replays(&url, &dir, 1_000_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_database_spills_and_replays() {
    with_schema(|url, dir| async move {
        common::down_database_spills_and_replays(&url, &dir, 1_000_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_summary_groups() {
    with_schema(|url, dir| async move {
        common::summary_groups(&url, &dir, 1_000_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sub_nano_costs_sum_exactly() {
    with_schema(|url, dir| async move {
        common::sub_nano_costs_sum_exactly(&url, &dir, 1_000_000).await;
    })
    .await;
}

/// Open against a closed port fails fast and names PostgreSQL.
#[tokio::test]
async fn postgres_unreachable_open_names_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = switchyard_store::LedgerConfig::new(
        "postgres://postgres@127.0.0.1:1/none",
        dir.path().join("spill.jsonl"),
    );
    let err = switchyard_store::Ledger::open(cfg)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("PostgreSQL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_signals_roundtrip() {
    with_schema(|url, dir| async move {
        common::signals_roundtrip(&url, &dir, 1_000_000).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rollups_match_the_ledger() {
    with_schema(|url, dir| async move {
        common::rollups_match_the_ledger(&url, &dir).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_captures_roundtrip() {
    with_schema(|url, dir| async move {
        common::captures_roundtrip(&url, &dir, switchyard_store::now_ms()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_responses_roundtrip() {
    with_schema(|url, dir| async move {
        common::responses_roundtrip(&url, &dir).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_roundtrip() {
    with_schema(|url, dir| async move {
        common::keys_roundtrip(&url, &dir).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_roundtrip() {
    with_schema(|url, dir| async move {
        common::batches_roundtrip(&url, &dir).await;
    })
    .await;
}
