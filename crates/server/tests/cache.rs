//! The response cache: a repeated request is answered from the cache at $0 (whole or as a
//! replayed stream), the ledger names where the answer came from and what it saved, tenants
//! never share answers, sampled requests are cached only when the route says so, entries
//! expire; with `[state] url` replicas share the cache through the real Redis
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

fn config(sim: &str, ledger: &str, state: &str) -> String {
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
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        [[models]]
        name = "premium"
        provider = "sim"
        upstream = "sim-premium"
        [routing]
        baseline = "premium"
        [[routes]]
        name = "cached"
        candidates = ["cheap"]
        cache = {{ ttl = "400ms" }}
        [[routes]]
        name = "sampled"
        candidates = ["cheap"]
        cache = {{ ttl = "1m", sampled = true }}
        [[routes]]
        name = "plain"
        candidates = ["cheap"]
        "#
    )
}

struct Reply {
    hit: bool,
    id: String,
    cost: Decimal,
    body: String,
}

async fn ask(url: &str, route: &str, body: Value, tenant: &str) -> Reply {
    let mut body = body;
    body["model"] = json!(route);
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .header("x-switchyard-tenant", tenant)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let hit = h.get("x-switchyard-cache").map(|v| v.to_str().unwrap()) == Some("hit");
    let id = h["x-switchyard-request-id"].to_str().unwrap().to_owned();
    let header_cost = h
        .get("x-switchyard-cost-usd")
        .map(|v| v.to_str().unwrap().parse::<Decimal>().unwrap());
    let text = r.text().await.unwrap();
    // Streams carry the cost in the final chunk.
    let cost = header_cost.unwrap_or_else(|| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find_map(|v| v["switchyard"]["cost_usd"].as_str().map(str::to_owned))
            .unwrap()
            .parse()
            .unwrap()
    });
    Reply {
        hit,
        id,
        cost,
        body: text,
    }
}

fn greedy(text: &str, stream: bool) -> Value {
    json!({"temperature": 0, "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": text}]})
}

/// The answer's text, whole or streamed.
fn answer_text(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_repeated_request_is_answered_from_the_cache_at_no_cost() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let url = common::serve(&config(&sim.base_url(), &ledger, "")).await;

    for stream in [false, true] {
        let q = format!("What is the capital of France? stream={stream}");
        let first = ask(&url, "cached", greedy(&q, stream), "acme").await;
        assert!(!first.hit);
        assert!(first.cost > Decimal::ZERO);
        let calls = sim.calls("sim-cheap");
        let again = ask(&url, "cached", greedy(&q, stream), "acme").await;
        assert!(again.hit, "stream={stream}");
        assert_eq!(again.cost, Decimal::ZERO);
        assert_eq!(sim.calls("sim-cheap"), calls, "no upstream call for a hit");
        assert_eq!(answer_text(&again.body), answer_text(&first.body));
        if stream {
            assert!(again.body.contains("data: [DONE]"), "{}", again.body);
        }
        // The ledger: $0, where it came from, what it saved, the baseline it avoided.
        let source = common::ledger_row(&ledger, &first.id).await;
        let row = common::ledger_row(&ledger, &again.id).await;
        assert_eq!(row.cached_from.as_deref(), Some(first.id.as_str()));
        assert_eq!(row.cost(), Some(Decimal::ZERO));
        assert!(row.attempts.is_empty());
        assert_eq!(row.model.as_deref(), Some("cheap"));
        assert_eq!(
            row.answer_cost_nanos, source.answer_cost_nanos,
            "the saving is what the answer cost"
        );
        assert!(row.baseline_cost().unwrap() > Decimal::ZERO);
        // The other mode is another entry: a whole answer is not replayed as a stream.
        let other = ask(&url, "cached", greedy(&q, !stream), "acme").await;
        assert!(!other.hit);
    }

    // Another tenant never gets acme's answer.
    let q = "Tenants are isolated.";
    assert!(!ask(&url, "cached", greedy(q, false), "acme").await.hit);
    assert!(ask(&url, "cached", greedy(q, false), "acme").await.hit);
    assert!(!ask(&url, "cached", greedy(q, false), "globex").await.hit);

    // A different request (another parameter) is another entry.
    let mut longer = greedy(q, false);
    longer["max_tokens"] = json!(5);
    assert!(!ask(&url, "cached", longer, "acme").await.hit);

    // Entries expire with the route's TTL.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!ask(&url, "cached", greedy(q, false), "acme").await.hit);

    // A route without a cache never answers from it.
    assert!(!ask(&url, "plain", greedy(q, false), "acme").await.hit);
    assert!(!ask(&url, "plain", greedy(q, false), "acme").await.hit);
}

#[tokio::test]
async fn sampled_requests_are_cached_only_where_the_route_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let url = common::serve(&config(&sim.base_url(), &ledger, "")).await;
    let sampled = json!({"messages": [{"role": "user", "content": "Tell me a joke."}]});
    assert!(!ask(&url, "cached", sampled.clone(), "t").await.hit);
    assert!(!ask(&url, "cached", sampled.clone(), "t").await.hit);
    assert!(!ask(&url, "sampled", sampled.clone(), "t").await.hit);
    assert!(ask(&url, "sampled", sampled, "t").await.hit);
}

#[tokio::test]
async fn replicas_share_the_cache_through_redis() {
    let Some(redis) = (match std::env::var("SWITCHYARD_TEST_REDIS_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "SWITCHYARD_TEST_REDIS_URL is not set but CI=true: the Redis suite must run"
            );
            eprintln!("SWITCHYARD_TEST_REDIS_URL not set: skipping the Redis cache test");
            None
        }
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let state = format!("url = \"{redis}\"");
    let a = common::serve(&config(&sim.base_url(), &ledger, &state)).await;
    let b = common::serve(&config(&sim.base_url(), &ledger, &state)).await;
    // A question no earlier run asked (the Redis outlives the test).
    let q = format!("Shared across replicas {}", uuid::Uuid::now_v7());
    for stream in [false, true] {
        let first = ask(&a, "sampled", greedy(&q, stream), "acme").await;
        assert!(!first.hit);
        // The write is in the background: give it a moment.
        let mut hit = None;
        for _ in 0..50 {
            let r = ask(&b, "sampled", greedy(&q, stream), "acme").await;
            if r.hit {
                hit = Some(r);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let hit = hit.expect("replica b never saw replica a's answer");
        assert_eq!(answer_text(&hit.body), answer_text(&first.body));
        assert_eq!(hit.cost, Decimal::ZERO);
        let row = common::ledger_row(&ledger, &hit.id).await;
        assert_eq!(row.cached_from.as_deref(), Some(first.id.as_str()));
        assert!(!ask(&b, "sampled", greedy(&q, stream), "other").await.hit);
    }
}
