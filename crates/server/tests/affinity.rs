//! Conversation affinity: a session goes back to the deployment that answered it last while
//! staying is no dearer than moving without the cache; a pin that no longer pays is broken,
//! and the decision says which.

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
async fn a_session_stays_where_its_cache_is_while_that_pays() {
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
        name = "cheap"
        provider = "sim"
        upstream = "sim-503-once"
        price = {{ input = 0.10, output = 0.40, cached_input = 0.01 }}
        [[models]]
        name = "pricier"
        provider = "sim"
        upstream = "sim-premium"
        price = {{ input = 0.20, output = 0.80, cached_input = 0.04 }}
        [[routes]]
        name = "chat"
        strategy = "cheapest"
        candidates = ["cheap", "pricier"]
        "#,
        sim.base_url()
    ))
    .await;
    let http = reqwest::Client::new();
    let long_system = "Policy clause. ".repeat(400); // ~1,500 tokens: a cacheable prefix
    let ask = |session: &'static str, system: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .header("x-switchyard-session", session)
                .json(&json!({"model": "chat", "max_tokens": 10, "messages": [
                    {"role": "system", "content": system}, {"role": "user", "content": "next"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            (
                r.headers()["x-switchyard-model"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
                r.headers()["x-switchyard-request-id"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    // The cheap model fails once: the session's first answer comes from the pricier one.
    assert_eq!(ask("s1", long_system.clone()).await.0, "pricier");
    // With its prefix cached there, staying costs less than moving: the session stays.
    let (model, kept_id) = ask("s1", long_system.clone()).await;
    assert_eq!(model, "pricier");
    // Another session has no pin: the cheapest goes first.
    assert_eq!(ask("s2", long_system.clone()).await.0, "cheap");
    // A short prompt has no cache to lose: moving pays, the pin is broken.
    let (model, broken_id) = ask("s1", "Be brief.".into()).await;
    assert_eq!(model, "cheap");

    let decision = |id: String| {
        let ledger = ledger.clone();
        async move { common::ledger_row(&ledger, &id).await.decision }
    };
    assert_eq!(
        decision(kept_id).await["session_pin"],
        json!({"deployment": "pricier", "kept": true})
    );
    assert_eq!(
        decision(broken_id).await["session_pin"],
        json!({"deployment": "pricier", "kept": false})
    );
}
