//! Replay: a known ledger re-decided under a changed price goes where the new prices say, and
//! its projected cost is exactly the recorded usage at the new choice's price.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::{str::FromStr, sync::Arc};

use rust_decimal::Decimal;
use serde_json::json;
use switchyard_core::replay::{replan, NotReplayed};
use switchyard_server::config;
use switchyard_sim::{Sim, SimConfig};
use switchyard_store::LedgerReader;

fn config_text(sim: &str, ledger: &str, cheap_price: &str) -> String {
    format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [routing]
        default = "auto"
        baseline = "premium"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{sim}"
        [[models]]
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ {cheap_price} }}
        [[models]]
        name = "premium"
        provider = "sim"
        upstream = "sim-premium"
        price = {{ input = 2.50, output = 10.00 }}
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["cheap", "premium"]
        "#
    )
}

#[tokio::test]
async fn a_ledger_replayed_under_a_price_change_goes_where_the_new_prices_say() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let before = config_text(&sim.base_url(), &ledger, "input = 0.10, output = 0.40");
    let (gw, url) = common::start(&before).await;
    let http = reqwest::Client::new();
    for i in 0..12 {
        let r = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&json!({"model": "auto", "messages": [{"role": "user", "content": format!("question {i}")}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-switchyard-model"], "cheap");
    }
    gw.shutdown().await;
    let reader = LedgerReader::connect(&ledger).await.unwrap();
    let rows = reader.rows(None, None).await.unwrap();
    assert_eq!(rows.len(), 12);

    // The same config re-decides every request as it was served, at the same cost.
    let no_keys: switchyard_server::SecretLookup = Arc::new(|_: &str| None);
    let same = switchyard_server::check(&config::parse(&before).unwrap(), &no_keys).unwrap();
    for row in &rows {
        let r = replan(&same, row).unwrap();
        assert_eq!(r.model, "cheap");
        assert_eq!(r.cost.amount(), row.cost());
    }

    // The cheap model's price goes above the premium one: everything moves, priced exactly.
    let after = config_text(&sim.base_url(), &ledger, "input = 20, output = 80");
    let snap = switchyard_server::check(&config::parse(&after).unwrap(), &no_keys).unwrap();
    let per_token = |usd_per_million: &str| {
        Decimal::from_str(usd_per_million).unwrap() / Decimal::from(1_000_000)
    };
    for row in &rows {
        let r = replan(&snap, row).unwrap();
        assert_eq!(r.model, "premium");
        let expected = Decimal::from(row.usage.input) * per_token("2.50")
            + Decimal::from(row.usage.output) * per_token("10.00");
        assert_eq!(r.cost.amount(), Some(expected), "usage {:?}", row.usage);
        assert_eq!(r.baseline.and_then(|b| b.amount()), Some(expected));
    }

    // A route the new config does not have is refused, and says so.
    let renamed = after
        .replace("name = \"auto\"", "name = \"other\"")
        .replace("default = \"auto\"", "");
    let snap = switchyard_server::check(&config::parse(&renamed).unwrap(), &no_keys).unwrap();
    match replan(&snap, &rows[0]) {
        Err(NotReplayed::Refused(why)) => assert!(why.contains("auto"), "{why}"),
        other => panic!("{other:?}"),
    }
}
