//! Ledger round trips against a real SQLite file in a temp dir.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

fn url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("ledger.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_roundtrip_exact_content() {
    let dir = tempfile::tempdir().unwrap();
    common::roundtrip(&url(dir.path()), dir.path(), 1_000_000, 1_234, 500).await;
    assert!(dir.path().join("ledger.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unpriced_stays_unpriced() {
    let dir = tempfile::tempdir().unwrap();
    common::unpriced_stays_unpriced(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batch_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    common::batch_boundaries(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_shutdown_flushes_20k() {
    let dir = tempfile::tempdir().unwrap();
    common::shutdown_flushes_everything(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_overflow_spills_then_replays() {
    let dir = tempfile::tempdir().unwrap();
    common::queue_overflow_spills_then_replays(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_down_database_spills_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    common::down_database_spills_and_replays(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_summary_groups() {
    let dir = tempfile::tempdir().unwrap();
    common::summary_groups(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test]
async fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let cfg = switchyard_store::LedgerConfig::new(url(&nested), nested.join("spill.jsonl"));
    let ledger = switchyard_store::Ledger::open(cfg).await.unwrap();
    ledger.record(switchyard_store::LedgerRow::new());
    assert_eq!(ledger.shutdown().await.unwrap().stats.written, 1);
    assert_eq!(
        switchyard_store::query_rows(&url(&nested), None, None)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn reader_does_not_create_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = switchyard_store::query_rows(&url(dir.path()), None, None).await;
    assert!(err.is_err());
    assert!(!dir.path().join("ledger.db").exists());
}

#[tokio::test]
async fn unsupported_url_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = switchyard_store::LedgerConfig::new("mysql://u:secret@h/db", dir.path().join("s"));
    let err = switchyard_store::Ledger::open(cfg)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsupported"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sub_nano_costs_sum_exactly() {
    let dir = tempfile::tempdir().unwrap();
    common::sub_nano_costs_sum_exactly(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_signals_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    common::signals_roundtrip(&url(dir.path()), dir.path(), 1_000_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rollups_match_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    common::rollups_match_the_ledger(&url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_captures_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    common::captures_roundtrip(&url(dir.path()), dir.path(), switchyard_store::now_ms()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_responses_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    common::responses_roundtrip(&url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keys_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    common::keys_roundtrip(&url(dir.path()), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batches_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    common::batches_roundtrip(&url(dir.path()), dir.path()).await;
}
