//! End-to-end provider translation: the gateway in front of the simulator's Gemini and Azure
//! wire formats, and `POST /v1/embeddings` through Gemini and OpenAI-family deployments.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns may panic"
)]

use std::sync::Arc;

use reqwest::Client;
use serde_json::{json, Value};
use switchyard_server::{app, config, Gateway, SecretLookup};
use switchyard_sim::{Sim, SimConfig};

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
[ledger]
enabled = false
[[providers]]
name = "google"
kind = "gemini"
base_url = "http://{ADDR}/v1beta"
api_key_env = "KEY"
[[providers]]
name = "azure"
kind = "azure-openai"
base_url = "http://{ADDR}"
api_key_env = "KEY"
[[providers]]
name = "openai"
kind = "openai"
base_url = "http://{ADDR}/v1"
[[models]]
name = "gemini-2.0-flash"
provider = "google"
[[models]]
name = "azure-mini"
provider = "azure"
upstream = "gpt-4o-mini"
[[models]]
name = "gemini-embedding-001"
provider = "google"
[[models]]
name = "text-embedding-3-small"
provider = "openai"
[routing]
default = "auto"
[[routes]]
name = "auto"
strategy = "priority"
candidates = ["gemini-2.0-flash", "azure-mini"]
[[routes]]
name = "embed"
strategy = "priority"
candidates = ["gemini-embedding-001", "text-embedding-3-small"]
"#;

async fn start() -> (Sim, String) {
    let sim = Sim::start(SimConfig::instant()).await.expect("sim");
    let text = CONFIG.replace("{ADDR}", &sim.addr().to_string());
    let cfg = config::parse(&text).unwrap_or_else(|e| panic!("config: {e:?}"));
    let secrets: SecretLookup = Arc::new(|_: &str| Some("test-key".to_owned()));
    let gw = Gateway::start(cfg, None, secrets)
        .await
        .unwrap_or_else(|e| panic!("gateway: {e:?}"));
    let listener = app::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(app::serve(listener, gw, std::future::pending()));
    (sim, url)
}

async fn post(url: &str, body: Value) -> (reqwest::Response, Value) {
    let r = Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("send");
    let h = r.headers().clone();
    let v = r.json().await.expect("json");
    let mut resp = reqwest::Response::from(http::Response::new(""));
    *resp.headers_mut() = h;
    (resp, v)
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn gemini_and_azure_chat_through_the_gateway() {
    let (_sim, url) = start().await;
    let chat = format!("{url}/v1/chat/completions");
    let (r, v) = post(&chat, json!({"model": "gemini-2.0-flash", "max_tokens": 5,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]})).await;
    assert_eq!(header(&r, "x-switchyard-provider"), "google", "{v}");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert!(header(&r, "x-switchyard-cost-usd")
        .parse::<f64>()
        .is_ok_and(|c| c > 0.0));
    let (r, v) = post(
        &chat,
        json!({"model": "azure-mini", "messages": [{"role": "user", "content": "Hello"}]}),
    )
    .await;
    assert_eq!(header(&r, "x-switchyard-provider"), "azure", "{v}");
    assert_eq!(v["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn embeddings_by_route_and_model() {
    let (_sim, url) = start().await;
    let emb = format!("{url}/v1/embeddings");
    let (r, v) = post(
        &emb,
        json!({"model": "embed", "input": ["a b c d", "e"], "dimensions": 8}),
    )
    .await;
    assert_eq!(
        header(&r, "x-switchyard-model"),
        "gemini-embedding-001",
        "{v}"
    );
    assert_eq!(header(&r, "x-switchyard-route"), "embed");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["data"][0]["embedding"].as_array().map(Vec::len), Some(8));
    // 2 + 1 estimated tokens at $0.15 per million.
    assert_eq!(header(&r, "x-switchyard-cost-usd"), "0.00000045");
    // Token input: Gemini cannot take it, the route falls over to the OpenAI deployment.
    let (r, v) = post(&emb, json!({"model": "embed", "input": [1, 2, 3]})).await;
    assert_eq!(
        header(&r, "x-switchyard-model"),
        "text-embedding-3-small",
        "{v}"
    );
    assert_eq!(header(&r, "x-switchyard-attempts"), "2");
    let (r, v) = post(
        &emb,
        json!({"model": "text-embedding-3-small", "input": "hello", "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(header(&r, "x-switchyard-provider"), "openai");
    assert!(v["data"][0]["embedding"].is_string());
    let (_, v) = post(&emb, json!({"model": "nope", "input": "x"})).await;
    assert_eq!(v["error"]["code"], "model_not_found");
}

/// Anthropic requires `max_tokens`: when the client sets none, the model's maximum output from
/// the capability table (here a config override) is sent, not an arbitrary default.
#[tokio::test]
async fn anthropic_gets_the_models_maximum_output_when_the_client_sets_none() {
    let sim = Sim::start(SimConfig::instant()).await.expect("sim");
    let toml = format!(
        r#"
        [ledger]
        enabled = false
        [[providers]]
        name = "anthropic"
        kind = "anthropic"
        base_url = "{}"
        [[models]]
        name = "claude"
        provider = "anthropic"
        upstream = "sim-cheap"
        max_output = 1234
        "#,
        sim.base_url()
    );
    let gw = Gateway::start(
        config::parse(&toml).expect("config"),
        None,
        Arc::new(|_: &str| None),
    )
    .await
    .expect("gateway");
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(app::serve(listener, gw, std::future::pending()));
    let client = Client::new();
    for (max, expected) in [(None, 1234), (Some(77), 77)] {
        let mut body = json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]});
        if let Some(m) = max {
            body["max_tokens"] = json!(m);
        }
        let r = client
            .post(format!("{base}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        let sent = sim
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path.ends_with("/messages"))
            .expect("recorded");
        assert_eq!(sent.body["max_tokens"], expected);
    }
}

/// An Anthropic client's `thinking` reaches an OpenAI-format model known to reason as
/// `reasoning_effort` (by its budget), and is left out for a model not known to.
#[tokio::test]
async fn an_anthropic_clients_thinking_is_an_effort_where_the_model_reasons() {
    let mut sc = SimConfig::instant();
    sc.record = true;
    let sim = Sim::start(sc).await.expect("sim");
    let text = format!(
        r#"
[ledger]
enabled = false
[[providers]]
name = "openai"
kind = "openai"
base_url = "http://{}/v1"
[[models]]
name = "thinker"
provider = "openai"
upstream = "sim-cheap"
capabilities = {{ reasoning = true }}
[[models]]
name = "plain"
provider = "openai"
upstream = "sim-premium"
"#,
        sim.addr()
    );
    let cfg = config::parse(&text).unwrap_or_else(|e| panic!("config: {e:?}"));
    let secrets: SecretLookup = Arc::new(|_: &str| Some("test-key".to_owned()));
    let gw = Gateway::start(cfg, None, secrets)
        .await
        .unwrap_or_else(|e| panic!("gateway: {e:?}"));
    let listener = app::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let url = format!(
        "http://{}/v1/messages",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(app::serve(listener, gw, std::future::pending()));
    for model in ["thinker", "plain"] {
        let (r, body) = post(
            &url,
            json!({"model": model, "max_tokens": 16000,
                   "thinking": {"type": "enabled", "budget_tokens": 10000},
                   "messages": [{"role": "user", "content": "Why is the sky blue?"}]}),
        )
        .await;
        assert_eq!(body["type"], "message", "{body}");
        let dropped = r.headers()["x-switchyard-dropped"].to_str().expect("ascii");
        assert!(
            dropped.contains("thinking"),
            "the field itself is not sent: {dropped}"
        );
    }
    let sent = |upstream: &str| {
        sim.requests()
            .into_iter()
            .find(|r| r.model == upstream)
            .unwrap_or_else(|| panic!("{upstream} was not called"))
            .body
    };
    assert_eq!(sent("sim-cheap")["reasoning_effort"], "medium");
    assert!(sent("sim-premium").get("reasoning_effort").is_none());
    assert!(sent("sim-cheap").get("thinking").is_none());
}
