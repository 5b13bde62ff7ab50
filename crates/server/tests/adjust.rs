//! Per-deployment prompt adjustments: what the upstream receives is the adjusted request, and
//! the ledger's decision says which adjustments the candidate carries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use serde_json::json;
use switchyard_sim::{Sim, SimConfig};

#[tokio::test]
async fn the_upstream_receives_the_adjusted_request_and_the_decision_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let url = common::serve(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{}"
        [[models]]
        name = "tuned"
        provider = "sim"
        upstream = "sim-cheap"
        adjust = {{ system_prefix = "Answer in English.", max_temperature = 0.7, max_tokens = 64, stop = ["END"] }}
        [[models]]
        name = "plain"
        provider = "sim"
        upstream = "sim-premium"
        "#,
        sim.base_url()
    ))
    .await;
    let http = reqwest::Client::new();
    let body = |model: &str| {
        json!({"model": model, "temperature": 1.5, "max_tokens": 1000,
            "messages": [{"role": "system", "content": "You help."}, {"role": "user", "content": "hi"}]})
    };
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&body("tuned"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let sent = sim
        .requests()
        .into_iter()
        .rev()
        .find(|q| q.model == "sim-cheap")
        .unwrap()
        .body;
    assert_eq!(
        sent["messages"][0]["content"],
        "Answer in English.\n\nYou help."
    );
    assert_eq!(sent["temperature"], 0.7);
    assert!(
        sent["max_tokens"] == 64 || sent["max_completion_tokens"] == 64,
        "{sent}"
    );
    assert_eq!(sent["stop"], json!(["END"]));

    // A model without adjustments gets the client's request unchanged.
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&body("plain"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = sim
        .requests()
        .into_iter()
        .rev()
        .find(|q| q.model == "sim-premium")
        .unwrap()
        .body;
    assert_eq!(sent["messages"][0]["content"], "You help.");
    assert_eq!(sent["temperature"], 1.5);

    let decision = common::ledger_row(&ledger, &id).await.decision;
    assert_eq!(
        decision["candidates"][0]["adjust"]["max_tokens"], 64,
        "{decision}"
    );
}
