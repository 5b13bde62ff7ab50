//! Regional pricing: a provider account that processes in a region at a surcharge
//! (`uplift_percent`, e.g. Anthropic's US-only inference at 1.1×) is ranked and billed at the
//! price charged there, so "cheapest in the EU" is computed on EU prices.

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

#[tokio::test]
async fn a_regional_surcharge_changes_the_route_and_the_bill() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let url = common::serve(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "acme-us"
        kind = "sim"
        base_url = "{base}"
        regions = ["us"]
        [[providers]]
        name = "acme-eu"          # the same vendor's EU-resident processing, 10% dearer
        kind = "sim"
        base_url = "{base}"
        regions = ["eu"]
        uplift_percent = 10
        [[providers]]
        name = "other-eu"
        kind = "sim"
        base_url = "{base}"
        regions = ["eu"]
        [[models]]
        name = "acme-us-model"
        provider = "acme-us"
        upstream = "sim-cheap"
        price = {{ input = 1, output = 4 }}
        [[models]]
        name = "acme-eu-model"
        provider = "acme-eu"
        upstream = "sim-cheap"
        price = {{ input = 1, output = 4 }}
        [[models]]
        name = "other-eu-model"
        provider = "other-eu"
        upstream = "sim-cheap"
        price = {{ input = 1.05, output = 4.2 }}
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["acme-eu-model", "other-eu-model", "acme-us-model"]
        "#,
        base = sim.base_url()
    ))
    .await;
    let ask = |model: &'static str, region: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut rb = reqwest::Client::new()
                .post(format!("{url}/v1/chat/completions"))
                .json(&json!({"model": model, "max_tokens": 8,
                    "messages": [{"role": "user", "content": "Where is my order?"}]}));
            if let Some(r) = region {
                rb = rb.header("x-switchyard-region", r);
            }
            let r = rb.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let model = r.headers()["x-switchyard-model"]
                .to_str()
                .unwrap()
                .to_owned();
            let cost: Decimal = r.headers()["x-switchyard-cost-usd"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body: Value = r.json().await.unwrap();
            let u = &body["usage"];
            let tokens = (
                Decimal::from(u["prompt_tokens"].as_u64().unwrap()),
                Decimal::from(u["completion_tokens"].as_u64().unwrap()),
            );
            (model, cost, tokens)
        }
    };
    let per_million = |(p, c): (Decimal, Decimal), i: &str, o: &str| {
        (p * i.parse::<Decimal>().unwrap() + c * o.parse::<Decimal>().unwrap())
            / Decimal::from(1_000_000)
    };
    // Anywhere: acme's US account, at 1 / 4, is the cheapest at the prices charged.
    let (model, _, _) = ask("auto", None).await;
    assert_eq!(model, "acme-us-model");
    // In the EU, acme's 1 / 4 is really 1.1 / 4.4: the other vendor's 1.05 / 4.2 is cheaper.
    let (model, cost, tokens) = ask("auto", Some("eu")).await;
    assert_eq!(model, "other-eu-model");
    assert_eq!(cost, per_million(tokens, "1.05", "4.2"));
    // Named directly, the EU account bills what it charges.
    let (model, cost, tokens) = ask("acme-eu-model", Some("eu")).await;
    assert_eq!(model, "acme-eu-model");
    assert_eq!(cost, per_million(tokens, "1.1", "4.4"));
}
