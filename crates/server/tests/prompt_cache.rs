//! Cache economics: `cheapest` prices a long system prompt at the cache-read rate only in the
//! share each deployment's provider has actually been serving from its cache; a route with
//! `cache_breakpoints` marks a long system prompt for Anthropic's cache once it repeats, and
//! the reads that follow are billed at the cache-read rate.

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

/// A system prompt of about 2,100 tokens.
fn long_system() -> String {
    "You are the support assistant of a hardware store. Follow the policies below. ".repeat(110)
}

fn body(model: &str) -> Value {
    json!({"model": model, "max_tokens": 8, "messages": [
        {"role": "system", "content": long_system()},
        {"role": "user", "content": "Where is my order?"}]})
}

async fn post(url: &str, body: &Value) -> (String, Value, String) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let model = r.headers()["x-switchyard-model"]
        .to_str()
        .unwrap()
        .to_owned();
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (model, r.json().await.unwrap(), id)
}

#[tokio::test]
async fn cheapest_follows_the_observed_cache_hit_rate() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let mut cfg = SimConfig::instant();
    cfg.models
        .push(toml::from_str("name = \"nocache-model\"\nprompt_cache = false").unwrap());
    let sim = Sim::start(cfg).await.unwrap();
    // `discounted` lists a 90% cache discount but its provider never serves from its cache;
    // `plain` has no discount at all, and a lower input price.
    let url = common::serve(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "sim"
        base_url = "{}"
        [[models]]
        name = "discounted"
        provider = "sim"
        upstream = "nocache-model"
        price = {{ input = 1, output = 1, cached_input = 0.1 }}
        [[models]]
        name = "plain"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.6, output = 1, cached_input = 0.6 }}
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["plain", "discounted"]
        "#,
        sim.base_url()
    ))
    .await;
    // Before anything is observed, the cacheable prefix is priced as cache reads: the listed
    // discount wins.
    let (model, answer, _) = post(&url, &body("auto")).await;
    assert_eq!(model, "discounted");
    assert_eq!(answer["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    // It read nothing from its cache: its prefix is now priced at its full input rate, and
    // the plain deployment is the cheaper one.
    let (model, _, id) = post(&url, &body("auto")).await;
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(model, "plain", "{}", row.decision);
}

#[tokio::test]
async fn a_repeated_long_system_prompt_gets_an_anthropic_cache_breakpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let url = common::serve(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "anthropic"
        kind = "anthropic"
        base_url = "{}"
        [[models]]
        name = "claude"
        provider = "anthropic"
        upstream = "sim-cheap"
        price = {{ input = 3, output = 15, cached_input = 0.3, cache_write = 3.75 }}
        [[routes]]
        name = "cached-prompts"
        candidates = ["claude"]
        cache_breakpoints = true
        [[routes]]
        name = "untouched"
        candidates = ["claude"]
        "#,
        sim.base_url()
    ))
    .await;
    let sent_system = || {
        sim.requests()
            .into_iter()
            .rev()
            .find(|q| q.path.ends_with("/messages"))
            .unwrap()
            .body["system"]
            .clone()
    };
    let marked = |system: &Value| system.to_string().contains("cache_control");
    // Seen once: no breakpoint (a one-off prompt never pays the write premium).
    let (_, a, _) = post(&url, &body("cached-prompts")).await;
    assert!(!marked(&sent_system()));
    assert_eq!(a["usage"]["prompt_tokens_details"]["cache_write_tokens"], 0);
    // Repeated: the end of the system prompt is a breakpoint; the provider writes it...
    let (_, b, write_id) = post(&url, &body("cached-prompts")).await;
    assert!(marked(&sent_system()), "{}", sent_system());
    assert!(
        b["usage"]["prompt_tokens_details"]["cache_write_tokens"]
            .as_u64()
            .unwrap()
            > 1000
    );
    // ... and reads it on the next request, billed at the cache-read rate.
    let (_, c, id) = post(&url, &body("cached-prompts")).await;
    let cached = c["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(cached > 1000, "{c}");
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(row.usage.cache_read, cached);
    // What caching saved, from the same price entry: a read saves input − cached_input per
    // token; a write costs cache_write − input more (a negative saving).
    let per_million = |tokens: u64, rate: &str| {
        Decimal::from(tokens) * rate.parse::<Decimal>().unwrap() / Decimal::from(1_000_000)
    };
    assert_eq!(row.cache_saved(), Some(per_million(cached, "2.7")));
    let wrote = b["usage"]["prompt_tokens_details"]["cache_write_tokens"]
        .as_u64()
        .unwrap();
    let write_row = common::ledger_row(&ledger, &write_id).await;
    assert_eq!(write_row.cache_saved(), Some(-per_million(wrote, "0.75")));
    // The report's economics sum them.
    let econ = switchyard_store::LedgerReader::connect(&ledger)
        .await
        .unwrap()
        .economics(0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(econ.prompt_cache_requests, 2);
    assert_eq!(
        econ.prompt_cache_saved,
        per_million(cached, "2.7") - per_million(wrote, "0.75")
    );
    // A route without the option sends the prompt as the client wrote it.
    post(&url, &body("untouched")).await;
    post(&url, &body("untouched")).await;
    assert!(!marked(&sent_system()));
}
