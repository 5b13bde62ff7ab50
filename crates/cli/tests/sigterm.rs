//! SIGTERM under load: the real binary drains in-flight requests and flushes every ledger row
//! before it exits. Every request that got an HTTP response has exactly one ledger row.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{collections::HashSet, process::Command, time::Duration};

use futures::StreamExt;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_ledger_row() {
    let common::Served {
        mut child,
        base,
        dir,
        ledger: db,
        log,
    } = common::serve(
        "sigterm",
        r#"
            [ledger]
            url = "sqlite://{LEDGER}"
            [[providers]]
            name = "sim"
            kind = "sim"
            [[models]]
            name = "sim-cheap"
            provider = "sim"
            [[models]]
            name = "sim-premium"
            provider = "sim"
            [[routes]]
            name = "auto"
            candidates = ["sim-cheap", "sim-premium"]
            "#,
        &[],
    )
    .await;
    let client = reqwest::Client::new();

    let pid = child.id();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
    });
    // ~600 requests over ~1.2 s, half streaming; SIGTERM lands in the middle.
    let results: Vec<Option<(u16, String)>> = futures::stream::iter(0..600)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(2 * i)).await;
                let stream = i % 2 == 0;
                let resp = client
                    .post(format!("{base}/v1/chat/completions"))
                    .json(&serde_json::json!({
                        "model": "auto", "stream": stream,
                        "messages": [{"role": "user", "content": format!("request {i}")}],
                    }))
                    .send()
                    .await
                    .ok()?;
                let status = resp.status().as_u16();
                let id = resp
                    .headers()
                    .get("x-switchyard-request-id")?
                    .to_str()
                    .ok()?
                    .to_owned();
                resp.bytes().await.ok()?;
                Some((status, id))
            }
        })
        .buffer_unordered(600)
        .collect()
        .await;
    killer.await.unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "switchyard exited with {status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let answered: Vec<&(u16, String)> = results.iter().flatten().collect();
    assert!(
        answered.len() > 50,
        "some requests were served before the signal: {}",
        answered.len()
    );
    assert!(
        answered.len() < 600,
        "the signal stopped new requests: {}",
        answered.len()
    );
    assert!(
        answered.iter().all(|(s, _)| *s == 200),
        "in-flight requests completed normally"
    );
    let rows = switchyard_store::query_rows(&format!("sqlite://{}", db.display()), None, None)
        .await
        .unwrap();
    let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(rows.len(), answered.len(), "one row per answered request");
    for (_, id) in &answered {
        assert!(
            ids.contains(id.as_str()),
            "no ledger row for answered request {id}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
