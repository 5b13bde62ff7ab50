//! The Responses API end to end over real HTTP: the ledger row and the cost the client is
//! told agree, a stream cut after its first token ends with `response.failed` (never
//! `response.completed`), and a stored turn is continued through another gateway sharing the
//! ledger's database.

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

fn config(sim: &str, ledger: &str) -> String {
    format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{sim}"
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
        [[routes]]
        name = "chat"
        candidates = ["cheap"]
        "#
    )
}

/// The `data:` objects of an SSE body, in order.
fn events(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn responses_are_billed_as_told_fail_loudly_and_continue_on_another_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let (_a, url_a) = common::start(&config(&sim.base_url(), &ledger)).await;
    let (_b, url_b) = common::start(&config(&sim.base_url(), &ledger)).await;
    let http = reqwest::Client::new();

    // Whole: the cost header is the ledger's, the row says which API the client spoke.
    let r = http
        .post(format!("{url_a}/v1/responses"))
        .json(&json!({"model": "cheap", "input": "My name is Ada."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let told = Decimal::from_str(r.headers()["x-switchyard-cost-usd"].to_str().unwrap()).unwrap();
    let first: Value = r.json().await.unwrap();
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(row.ingress, "responses");
    assert_eq!(row.cost(), Some(told));
    assert_eq!(first["id"], format!("resp_{}", id.replace('-', "")));
    assert_eq!(
        first["usage"]["input_tokens"].as_u64().unwrap(),
        row.usage.input + row.usage.cache_read
    );

    // Continued through the other gateway: it finds the stored turn in the shared database.
    let second: Value = http
        .post(format!("{url_b}/v1/responses"))
        .json(&json!({"model": "cheap", "previous_response_id": first["id"], "input": "My name?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["status"], "completed", "{second}");
    assert!(
        second["usage"]["input_tokens"].as_u64() > first["usage"]["input_tokens"].as_u64(),
        "the earlier turn was sent again"
    );

    // Streamed: the bill in `response.completed` is the ledger's.
    let r = http
        .post(format!("{url_a}/v1/responses"))
        .json(&json!({"model": "cheap", "input": "Tell me a story.", "stream": true}))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ev = events(&r.text().await.unwrap());
    let last = ev.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    let row = common::ledger_row(&ledger, &id).await;
    let billed = Decimal::from_str(last["response"]["switchyard"]["cost_usd"].as_str().unwrap());
    assert_eq!(row.cost(), Some(billed.unwrap()));

    // Cut after five tokens with nowhere to continue: an explicit failure, never a completion.
    let r = http
        .post(format!("{url_a}/v1/responses"))
        .json(&json!({"model": "cutter", "input": "Tell me a long story.", "stream": true}))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ev = events(&r.text().await.unwrap());
    let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"response.output_text.delta"), "{kinds:?}");
    assert_eq!(*kinds.last().unwrap(), "response.failed", "{kinds:?}");
    assert!(!kinds.contains(&"response.completed"));
    let failed = &ev.last().unwrap()["response"];
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"]["message"]
        .as_str()
        .unwrap()
        .contains("incomplete"));
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(row.status, "error");
    // Not stored: a failed turn cannot be continued.
    let r = http
        .get(format!("{url_a}/v1/responses/resp_{}", id.replace('-', "")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");
}

/// Conversation affinity without an explicit session: a `previous_response_id` chain, Codex's
/// `prompt_cache_key` and Claude Code's `metadata.user_id` session each pin the conversation.
#[tokio::test]
async fn conversations_are_pinned_by_the_clients_own_session_markers() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let (_gw, url) = common::start(&config(&sim.base_url(), &ledger)).await;
    let http = reqwest::Client::new();
    let pinned = |id: String| {
        let ledger = ledger.clone();
        async move {
            let row = common::ledger_row(&ledger, &id).await;
            row.decision["session_pin"].clone()
        }
    };
    let send = |path: &'static str, body: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .post(format!("{url}{path}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let id = r.headers()["x-switchyard-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            (id, r.json::<Value>().await.unwrap())
        }
    };
    // A Responses chain: the second turn goes back to where the first was answered.
    let (first, body) = send("/v1/responses", json!({"model": "chat", "input": "Hi"})).await;
    assert_eq!(pinned(first).await, Value::Null);
    let (second, _) = send(
        "/v1/responses",
        json!({"model": "chat", "input": "Again", "previous_response_id": body["id"]}),
    )
    .await;
    assert_eq!(pinned(second).await["deployment"], "cheap");
    // Codex: its prompt_cache_key, unstored turns.
    let codex =
        json!({"model": "chat", "input": "Hi", "store": false, "prompt_cache_key": "codex-1"});
    send("/v1/responses", codex.clone()).await;
    let (again, _) = send("/v1/responses", codex).await;
    assert_eq!(pinned(again).await["kept"], true);
    // Claude Code: the session inside metadata.user_id.
    let claude = json!({"model": "chat", "max_tokens": 50,
        "metadata": {"user_id": "{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"cc-7\"}"},
        "messages": [{"role": "user", "content": "Hi"}]});
    send("/v1/messages", claude.clone()).await;
    let (again, _) = send("/v1/messages", claude).await;
    assert_eq!(pinned(again).await["deployment"], "cheap");
}

/// The last request the simulator received.
fn last_sent(sim: &Sim) -> switchyard_sim::RecordedRequest {
    sim.requests().pop().unwrap()
}

#[tokio::test]
async fn an_upstream_serving_the_responses_api_is_spoken_natively_and_its_reasoning_stays_with_it()
{
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let (_gw, url) = common::start(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "native"
        kind = "openai-compatible"
        base_url = "{sim}"
        responses_api = true
        [[providers]]
        name = "plain"
        kind = "openai-compatible"
        base_url = "{sim}"
        [[models]]
        name = "deep"
        provider = "native"
        upstream = "sim-cheap"
        price = {{ input = 1.00, output = 4.00 }}
        [[models]]
        name = "other"
        provider = "plain"
        upstream = "sim-cheap"
        price = {{ input = 1.00, output = 4.00 }}
        "#,
        sim = sim.base_url()
    ))
    .await;
    let http = reqwest::Client::new();
    let post = |body: Value| http.post(format!("{url}/v1/responses")).json(&body).send();

    // Whole: sent to `/responses` (not stored upstream, encrypted reasoning asked for); the
    // reasoning item comes back with its state, wrapped to name the upstream that wrote it.
    let r = post(json!({"model": "deep", "input": "Think first.",
        "reasoning": {"effort": "low"}, "truncation": "auto"}))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let told = Decimal::from_str(r.headers()["x-switchyard-cost-usd"].to_str().unwrap()).unwrap();
    let first: Value = r.json().await.unwrap();
    let sent = last_sent(&sim);
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.body["store"], false);
    assert_eq!(
        sent.body["truncation"], "auto",
        "unmodelled fields pass through"
    );
    assert_eq!(sent.body["include"], json!(["reasoning.encrypted_content"]));
    let reasoning = &first["output"][0];
    assert_eq!(reasoning["type"], "reasoning", "{first}");
    let state = reasoning["encrypted_content"].as_str().unwrap();
    assert!(state.starts_with("sy1:native:"), "{state}");
    assert_eq!(first["output"][1]["type"], "message");
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(row.cost(), Some(told));
    assert!(row.usage.reasoning > 0, "reasoning tokens are billed");
    assert_eq!(
        first["usage"]["output_tokens_details"]["reasoning_tokens"],
        row.usage.reasoning
    );

    // Continued on the same deployment: the upstream gets its own state back, unwrapped (the
    // simulator refuses state it did not write).
    let r = post(json!({"model": "deep", "previous_response_id": first["id"],
        "input": "And then?", "reasoning": {"effort": "low"}}))
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = last_sent(&sim);
    let back: Vec<&Value> = sent.body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "reasoning")
        .collect();
    assert_eq!(back.len(), 1, "{}", sent.body);
    assert!(!back[0]["encrypted_content"]
        .as_str()
        .unwrap()
        .starts_with("sy1:"));

    // Moved to a deployment that did not write it (through chat completions): the state
    // stays behind.
    let r = post(
        json!({"model": "other", "previous_response_id": first["id"],
        "input": "And then?"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let sent = last_sent(&sim);
    assert_eq!(sent.path, "/v1/chat/completions");
    assert!(!sent.body.to_string().contains("sy1:"), "{}", sent.body);

    // State another upstream wrote, sent back by the client: not forwarded.
    let r = post(json!({"model": "deep", "input": [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [],
         "encrypted_content": "sy1:elsewhere:rs_1:opaque"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"}]}))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let sent = last_sent(&sim);
    assert!(!sent.body.to_string().contains("opaque"), "{}", sent.body);
    assert_eq!(sent.body["input"].as_array().unwrap().len(), 3);

    // Streamed: the upstream's typed events become the client's, the state in the reasoning
    // item's `output_item.done`, the bill in `response.completed`.
    let r = post(
        json!({"model": "deep", "input": "Stream it.", "stream": true,
        "reasoning": {"effort": "low"}}),
    )
    .await
    .unwrap();
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ev = events(&r.text().await.unwrap());
    assert_eq!(last_sent(&sim).body["stream"], true);
    assert!(ev.iter().any(|e| e["type"] == "response.output_item.done"
        && e["item"]["encrypted_content"]
            .as_str()
            .is_some_and(|s| s.starts_with("sy1:native:"))));
    let text: String = ev
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(!text.is_empty());
    let last = ev.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    let row = common::ledger_row(&ledger, &id).await;
    let billed = Decimal::from_str(last["response"]["switchyard"]["cost_usd"].as_str().unwrap());
    assert_eq!(row.cost(), Some(billed.unwrap()));
    assert!(row.usage.reasoning > 0);

    // A chat completions client on the same deployment still goes through chat completions.
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "deep", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(last_sent(&sim).path, "/v1/chat/completions");
}
