//! Gemini's API as an ingress over real HTTP: the ledger row and the cost header agree, a
//! stream cut after its first token ends with an error object (never a finish reason), and bad
//! input is a Google-shaped 400.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

#[tokio::test]
async fn gemini_clients_are_billed_as_told_and_a_cut_stream_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let (_gw, url) = common::start(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{}"
        [[models]]
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.10, output = 0.40 }}
        [[models]]
        name = "cutter"
        provider = "sim"
        upstream = "sim-cut-5"
        price = {{ input = 0.10, output = 0.40 }}
        "#,
        sim.base_url()
    ))
    .await;
    let http = reqwest::Client::new();
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "Hello there."}]}]});

    let r = http
        .post(format!("{url}/v1beta/models/cheap:generateContent"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let told = Decimal::from_str(r.headers()["x-switchyard-cost-usd"].to_str().unwrap()).unwrap();
    let v: Value = r.json().await.unwrap();
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(row.ingress, "gemini");
    assert_eq!(row.cost(), Some(told));
    assert_eq!(
        v["usageMetadata"]["candidatesTokenCount"].as_u64().unwrap(),
        row.usage.output
    );

    let r = http
        .post(format!(
            "{url}/v1beta/models/cutter:streamGenerateContent?alt=sse"
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    let events: Vec<Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(events[0]["candidates"][0]["content"]["parts"][0]["text"].is_string());
    let last = events.last().unwrap();
    assert_eq!(last["error"]["status"], "UNAVAILABLE", "{events:?}");
    assert!(events
        .iter()
        .all(|e| e["candidates"][0].get("finishReason").is_none()));

    let r = http
        .post(format!("{url}/v1beta/models/cheap:generateContent"))
        .json(&json!({"contents": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(e["error"]["code"], 400);
}
