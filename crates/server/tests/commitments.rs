//! Committed capacity: tokens inside a paid monthly commitment cost nothing more, so `cheapest`
//! prefers the committed deployment until its included tokens are used up, then the
//! pay-as-you-go one; the crossing is counted across replicas through the real Redis
//! (`SWITCHYARD_TEST_REDIS_URL`; under `CI=true` a missing URL fails).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

/// `committed` (overage dearer than `payg`) includes `included` tokens a month.
fn config(sim: &str, ledger: &str, state: &str, committed: &str, included: u64) -> String {
    format!(
        r#"
        [state]
        {state}
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "sim"
        base_url = "{sim}"
        [[models]]
        name = "{committed}"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 1, output = 4, commitment = {{ monthly_fee = 100, included_tokens = {included} }} }}
        [[models]]
        name = "payg"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.5, output = 2 }}
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["payg", "{committed}"]
        "#
    )
}

struct Answer {
    model: String,
    cost: Decimal,
    tokens: u64,
    id: String,
}

async fn ask(url: &str, model: &str) -> Answer {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": model, "max_tokens": 8,
            "messages": [{"role": "user", "content": "Label this ticket."}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
    let (model, cost, id) = (
        h("x-switchyard-model"),
        h("x-switchyard-cost-usd").parse().unwrap(),
        h("x-switchyard-request-id"),
    );
    let body: Value = r.json().await.unwrap();
    Answer {
        model,
        cost,
        tokens: body["usage"]["total_tokens"].as_u64().unwrap(),
        id,
    }
}

#[tokio::test]
async fn routing_switches_when_the_commitment_is_used_up_and_the_bill_follows() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let url = common::serve(&config(&sim.base_url(), &ledger, "", "committed", 100)).await;
    let mut used = 0;
    let mut on_commitment = 0;
    loop {
        let a = ask(&url, "auto").await;
        if used < 100 {
            // Inside the commitment: the committed deployment, at no cost per request.
            assert_eq!(a.model, "committed", "after {used} tokens");
            assert_eq!(a.cost, Decimal::ZERO);
            let row = common::ledger_row(&ledger, &a.id).await;
            assert_eq!(row.cost(), Some(Decimal::ZERO));
            used += a.tokens;
            on_commitment += 1;
        } else {
            // Used up: its marginal cost is now the overage price, dearer than pay-as-you-go.
            assert_eq!(a.model, "payg", "after {used} tokens");
            assert!(a.cost > Decimal::ZERO);
            break;
        }
        assert!(on_commitment < 50, "the commitment never ran out");
    }
    assert!(on_commitment >= 2);
    // Named directly, the committed model now bills its overage rates.
    let a = ask(&url, "committed").await;
    assert_eq!(a.model, "committed");
    assert!(a.cost > Decimal::ZERO);
}

#[tokio::test]
async fn replicas_count_the_commitment_together_through_redis() {
    let Some(redis) = (match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "SWITCHYARD_TEST_REDIS_URL is not set but CI=true: the Redis suite must run"
            );
            eprintln!("SWITCHYARD_TEST_REDIS_URL not set: skipping the shared commitment test");
            None
        }
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    // A name of its own: the counter lives in Redis for the month.
    let committed = format!("committed-{}", uuid::Uuid::now_v7().simple());
    let state = format!("url = \"{redis}\"");
    let cfg = config(&sim.base_url(), &ledger, &state, &committed, 100);
    let a = common::serve(&cfg).await;
    let b = common::serve(&cfg).await;
    // Replica a uses the commitment up.
    let mut used = 0;
    while used < 100 {
        let r = ask(&a, "auto").await;
        assert_eq!(r.model, committed);
        used += r.tokens;
    }
    assert_eq!(ask(&a, "auto").await.model, "payg");
    // Once the counts are shared (each replica pushes and reads back every second), replica b
    // knows it is used up too: its very first request goes pay-as-you-go (counting alone, it
    // would have had all 100 tokens left).
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = ask(&b, "auto").await;
    assert_eq!(
        r.model, "payg",
        "replica b did not see replica a's use of the commitment"
    );
}
