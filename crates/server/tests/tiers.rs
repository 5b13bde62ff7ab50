//! Service tiers: the flex lane routes on flex prices, asks the upstream for the tier, and bills
//! the tier the upstream says it served; a tier out of capacity falls back to the standard
//! tier of the same deployment.

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
use switchyard_types::ServiceTier;

struct Env {
    sim: Sim,
    url: String,
    ledger: String,
    _dir: tempfile::TempDir,
}

/// `steady` is cheaper at the standard tier; `flexy` (same upstream model) sells flex at half
/// its price, which makes it the cheaper one on the flex lane. `nosell` is priced with flex
/// rates but its upstream does not sell flex; `busy` has no flex capacity for its first
/// request.
async fn env(route_tier: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let mut cfg = SimConfig::instant();
    cfg.models.push(
        toml::from_str("name = \"nosell-model\"\nservice_tiers = []\nanswer_tokens = 20").unwrap(),
    );
    cfg.models.push(
        toml::from_str("name = \"busy-model\"\nfault = \"tierbusy-once\"\nanswer_tokens = 20")
            .unwrap(),
    );
    let sim = Sim::start(cfg).await.unwrap();
    let flex_price = r#"price = { input = 0.25, output = 2, cached_input = 0.025, flex = { input = 0.125, output = 1, cached_input = 0.0125 } }"#;
    let url = common::serve(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "sim"
        base_url = "{base}"
        [[models]]
        name = "steady"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.2, output = 1.6 }}
        [[models]]
        name = "flexy"
        provider = "sim"
        upstream = "sim-cheap"
        {flex_price}
        [[models]]
        name = "nosell"
        provider = "sim"
        upstream = "nosell-model"
        {flex_price}
        [[models]]
        name = "busy"
        provider = "sim"
        upstream = "busy-model"
        {flex_price}
        [routing]
        default = "auto"
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["steady", "flexy"]
        {route_tier}
        "#,
        base = sim.base_url(),
    ))
    .await;
    Env {
        sim,
        url,
        ledger,
        _dir: dir,
    }
}

struct Answer {
    model: String,
    cost: Decimal,
    id: String,
    body: Value,
}

async fn ask(env: &Env, model: &str, lane: Option<&str>, stream: bool) -> Answer {
    let mut rb = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", env.url))
        // A fixed output cap: the estimates do not depend on the answers seen so far.
        .json(&json!({"model": model, "stream": stream, "max_tokens": 8,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Summarise the quarterly report."}]}));
    if let Some(l) = lane {
        rb = rb.header("x-switchyard-lane", l);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
    let (model, id) = (h("x-switchyard-model"), h("x-switchyard-request-id"));
    let header_cost: Option<Decimal> = r
        .headers()
        .get("x-switchyard-cost-usd")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let text = r.text().await.unwrap();
    let body = if stream {
        // The usage chunk is the last data line before [DONE].
        let last = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .rfind(|d| *d != "[DONE]")
            .unwrap();
        serde_json::from_str(last).unwrap()
    } else {
        serde_json::from_str(&text).unwrap()
    };
    let row = common::ledger_row(&env.ledger, &id).await;
    let cost = row.cost().unwrap();
    if let Some(c) = header_cost {
        assert_eq!(c, cost, "the cost the client is told is the ledger's");
    }
    Answer {
        model,
        cost,
        id,
        body,
    }
}

/// What `tokens` of the answer cost at (input, output) per million.
fn priced(body: &Value, input: Decimal, output: Decimal) -> Decimal {
    let u = &body["usage"];
    let p = Decimal::from(u["prompt_tokens"].as_u64().unwrap());
    let c = Decimal::from(u["completion_tokens"].as_u64().unwrap());
    ((p * input + c * output) / Decimal::from(1_000_000)).normalize()
}

fn sent_tier(sim: &Sim, upstream: &str) -> Value {
    sim.requests()
        .into_iter()
        .rev()
        .find(|q| q.model == upstream)
        .unwrap()
        .body["service_tier"]
        .clone()
}

#[tokio::test]
async fn the_flex_lane_changes_the_route_and_the_bill() {
    let env = env("").await;
    // Standard: `steady` is the cheaper one, and nothing asks for a tier.
    let a = ask(&env, "auto", None, false).await;
    assert_eq!(a.model, "steady");
    assert_eq!(sent_tier(&env.sim, "sim-cheap"), Value::Null);
    assert_eq!(
        a.cost,
        priced(&a.body, "0.2".parse().unwrap(), "1.6".parse().unwrap())
    );

    // The flex lane: `flexy` at flex rates is cheaper; it is asked for flex, serves flex, and
    // the bill is at flex rates, whole or streamed.
    for stream in [false, true] {
        let a = ask(&env, "auto", Some("flex"), stream).await;
        let row = common::ledger_row(&env.ledger, &a.id).await;
        assert_eq!(a.model, "flexy", "stream={stream} {}", row.decision);
        assert_eq!(sent_tier(&env.sim, "sim-cheap"), "flex");
        assert_eq!(a.body["service_tier"], "flex");
        assert_eq!(
            a.cost,
            priced(&a.body, "0.125".parse().unwrap(), "1".parse().unwrap())
        );
        let row = common::ledger_row(&env.ledger, &a.id).await;
        assert_eq!(row.usage.tier, ServiceTier::Flex);
        // The baseline (none configured here) stays unset; the attempt's usage carries the tier.
        assert_eq!(row.attempts[0].usage.tier, ServiceTier::Flex);
    }

    // An OpenAI client's own `service_tier: "flex"` is the same lane.
    let r: Value = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", env.url))
        .json(
            &json!({"model": "auto", "service_tier": "flex", "max_tokens": 8,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["service_tier"], "flex");
}

#[tokio::test]
async fn a_route_asks_for_a_tier_and_the_served_tier_decides_the_bill() {
    let env = env("service_tier = \"flex\"").await;
    let a = ask(&env, "auto", None, false).await;
    assert_eq!(a.model, "flexy");
    assert_eq!(a.body["service_tier"], "flex");

    // Asked for flex, served at the standard tier: billed at standard rates.
    let a = ask(&env, "nosell", Some("flex"), false).await;
    assert_eq!(sent_tier(&env.sim, "nosell-model"), "flex");
    assert_eq!(a.body["service_tier"], "default");
    assert_eq!(
        a.cost,
        priced(&a.body, "0.25".parse().unwrap(), "2".parse().unwrap())
    );
    let row = common::ledger_row(&env.ledger, &a.id).await;
    assert_eq!(row.usage.tier, ServiceTier::Standard);
}

#[tokio::test]
async fn a_tier_out_of_capacity_falls_back_to_the_standard_tier_of_the_same_deployment() {
    let env = env("").await;
    let a = ask(&env, "busy", Some("flex"), false).await;
    assert_eq!(a.model, "busy");
    let row = common::ledger_row(&env.ledger, &a.id).await;
    assert_eq!(row.attempts.len(), 2, "{:?}", row.attempts);
    assert_eq!(
        row.attempts[0].error_class.as_deref(),
        Some("tier_unavailable")
    );
    assert!(!row.attempts[0].billed);
    assert_eq!(row.attempts[1].status, 200);
    assert_eq!(a.body["service_tier"], "default");
    assert_eq!(sent_tier(&env.sim, "busy-model"), Value::Null);
    assert_eq!(row.usage.tier, ServiceTier::Standard);
    assert_eq!(
        a.cost,
        priced(&a.body, "0.25".parse().unwrap(), "2".parse().unwrap())
    );
    assert_eq!(env.sim.calls("busy-model"), 2);
}

#[tokio::test]
async fn a_gemini_upstream_is_asked_for_flex_and_billed_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let mut cfg = SimConfig::instant();
    cfg.models.push(
        toml::from_str("name = \"busy-model\"\nfault = \"tierbusy-once\"\nanswer_tokens = 20")
            .unwrap(),
    );
    let sim = Sim::start(cfg).await.unwrap();
    let url = common::serve(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "google"
        kind = "gemini"
        base_url = "http://{}/v1beta"
        [[models]]
        name = "gem"
        provider = "google"
        upstream = "sim-cheap"
        price = {{ input = 0.3, output = 2.5, flex = {{ input = 0.15, output = 1.25 }} }}
        [[models]]
        name = "gem-busy"
        provider = "google"
        upstream = "busy-model"
        price = {{ input = 0.3, output = 2.5, flex = {{ input = 0.15, output = 1.25 }} }}
        "#,
        sim.addr()
    ))
    .await;
    let env = Env {
        sim,
        url,
        ledger,
        _dir: dir,
    };
    let a = ask(&env, "gem", Some("flex"), false).await;
    let sent = env
        .sim
        .requests()
        .into_iter()
        .rev()
        .find(|q| q.path.contains(":generateContent"))
        .unwrap()
        .body;
    assert_eq!(sent["serviceTier"], "flex");
    assert_eq!(
        a.cost,
        priced(&a.body, "0.15".parse().unwrap(), "1.25".parse().unwrap())
    );
    let row = common::ledger_row(&env.ledger, &a.id).await;
    assert_eq!(row.usage.tier, ServiceTier::Flex);

    // Flex without capacity (429 RESOURCE_EXHAUSTED to a flex request): asked again at the
    // standard tier of the same deployment, billed at standard rates.
    let a = ask(&env, "gem-busy", Some("flex"), false).await;
    assert_eq!(a.model, "gem-busy");
    let row = common::ledger_row(&env.ledger, &a.id).await;
    assert_eq!(row.attempts.len(), 2, "{:?}", row.attempts);
    assert_eq!(
        row.attempts[0].error_class.as_deref(),
        Some("tier_unavailable")
    );
    assert_eq!(row.attempts[1].status, 200);
    assert_eq!(row.usage.tier, ServiceTier::Standard);
    assert_eq!(
        a.cost,
        priced(&a.body, "0.3".parse().unwrap(), "2.5".parse().unwrap())
    );
    assert_eq!(env.sim.calls("busy-model"), 2);
}
