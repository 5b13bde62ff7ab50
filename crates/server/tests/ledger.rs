//! The ledger is off the request path: a database that is locked (slow) does not slow down
//! requests, and every row still lands once it is free again.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{sync::Arc, time::Duration};

use sqlx::{Connection, SqliteConnection};
use switchyard_server::{app, config, Gateway};
use switchyard_sim::{Sim, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_does_not_slow_requests_and_loses_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let toml = format!(
        r#"
        [ledger]
        url = "{url}"
        flush_interval = "5ms"
        batch_size = 10
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{}"
        [[models]]
        name = "sim-cheap"
        provider = "sim"
        "#,
        sim.base_url()
    );
    let gw = Gateway::start(
        config::parse(&toml).unwrap(),
        None,
        Arc::new(|_: &str| None),
    )
    .await
    .unwrap();
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, gw.clone(), async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let send = |n: usize| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let started = std::time::Instant::now();
            for i in 0..n {
                let r = client
                    .post(format!("{base}/v1/chat/completions"))
                    .json(&serde_json::json!({"model": "sim-cheap", "messages": [{"role": "user", "content": format!("q{i}")}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
            started.elapsed()
        }
    };
    send(20).await; // warm up; the table exists

    // Hold an exclusive lock: every ledger write now waits (up to the 5 s busy timeout).
    let mut locker = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let locked = send(200).await;
    // Held for ~1.5 s while 200 requests ran; they must not have waited on the database.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(locked)).await;
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    drop(locker);
    assert!(
        locked < Duration::from_millis(1500),
        "200 requests took {locked:?} with the database locked"
    );

    let _ = tx.send(());
    server.await.unwrap().unwrap();
    gw.shutdown().await;
    let rows = switchyard_store::query_rows(&url, None, None)
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        220,
        "every row written once the database was free"
    );
}
