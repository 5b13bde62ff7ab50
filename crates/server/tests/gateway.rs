//! End-to-end: the simulator as upstream, a gateway from a TOML config on 127.0.0.1:0, real
//! HTTP from reqwest. Each test has its own simulator, gateway and temp files, so tests run in
//! parallel.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns may panic"
)]

use std::{path::PathBuf, sync::Arc, time::Duration};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use switchyard_server::{app, config, Gateway, GatewayHandle, SecretLookup};
use switchyard_sim::{Sim, SimConfig};
use tokio::{sync::oneshot, task::JoinHandle};

/// Providers, models and routes used by most tests. `{SIM}` is the simulator's base URL and
/// `{LEDGER}` the `[ledger]` section.
const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536

{LEDGER}

[[providers]]
name = "cheapco"
kind = "openai-compatible"
base_url = "{SIM}"
regions = ["us"]

[[providers]]
name = "premiumco"
kind = "openai-compatible"
base_url = "{SIM}"
regions = ["us"]

[[models]]
name = "cheap"
provider = "cheapco"
upstream = "sim-cheap"
price = { input = 0.15, output = 0.60 }

[[models]]
name = "premium"
provider = "premiumco"
upstream = "sim-premium"
price = { input = 2.50, output = 10.00 }

[[models]]
name = "flaky"
provider = "cheapco"
upstream = "sim-500-once"
price = { input = 0.15, output = 0.60 }

[[models]]
name = "down"
provider = "cheapco"
upstream = "sim-503"
price = { input = 0.10, output = 0.40 }
fallbacks = ["cheap"]

[[models]]
name = "refuses"
provider = "cheapco"
upstream = "sim-policy"
price = { input = 0.10, output = 0.40 }

[[models]]
name = "small"
provider = "cheapco"
upstream = "sim-ctx"
price = { input = 0.10, output = 0.40 }

[[models]]
name = "cutter"
provider = "cheapco"
upstream = "sim-cut-5"
price = { input = 0.10, output = 0.40 }

[[models]]
name = "mystery"
provider = "cheapco"
upstream = "sim-mystery"

[routing]
default = "auto"
baseline = "premium"

[[routes]]
name = "auto"
strategy = "cheapest"
candidates = ["cheap", "premium"]
rules = [
  { name = "short-classification", when = { task = "classification", max_input_tokens = 200 }, use = ["cheap"] },
  { name = "reasoning", when = { task = "reasoning" }, use = ["premium"] },
  { name = "long-input", when = { min_input_tokens = 1000 }, use = ["premium"] },
]

[[routes]]
name = "failover"
strategy = "priority"
candidates = ["down", "premium"]

[[routes]]
name = "moderated"
strategy = "priority"
candidates = ["refuses", "cheap"]

[[routes]]
name = "big-context"
strategy = "priority"
candidates = ["small", "premium"]
"#;

const NO_LEDGER: &str = "[ledger]\nenabled = false";

struct Env {
    sim: Sim,
    gw: GatewayHandle,
    url: String,
    http: Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Env {
    /// A gateway over a fresh simulator, from `CONFIG` with `ledger` as its `[ledger]`.
    async fn start(ledger: &str) -> Env {
        let sim = Sim::start(SimConfig::instant())
            .await
            .expect("start the simulator");
        let text = render(CONFIG, &sim, ledger);
        let cfg = config::parse(&text).unwrap_or_else(|e| panic!("config: {e:?}"));
        let gw = Gateway::start(cfg, None, no_secrets())
            .await
            .unwrap_or_else(|e| panic!("gateway: {e:?}"));
        Env::serve(sim, gw).await
    }

    async fn serve(sim: Sim, gw: GatewayHandle) -> Env {
        let listener = app::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app::serve(listener, gw.clone(), async move {
            let _ = stopped.await;
        }));
        let http = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Env {
            sim,
            gw,
            url,
            http,
            stop: Some(stop),
            server: Some(server),
        }
    }

    async fn chat(&self, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self
            .http
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.expect("send")
    }

    async fn post_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send")
    }

    /// Stop serving, then flush the ledger.
    async fn stop(mut self) -> Sim {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.server.take() {
            let _ = t.await;
        }
        self.gw.shutdown().await;
        self.sim
    }
}

fn render(template: &str, sim: &Sim, ledger: &str) -> String {
    template
        .replace("{SIM}", &sim.base_url())
        .replace("{LEDGER}", ledger)
}

fn no_secrets() -> SecretLookup {
    Arc::new(|_: &str| None)
}

fn msg(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_owned()
}

fn opt_header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn json_body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

fn assert_openai_error(body: &Value) -> &str {
    let e = &body["error"];
    assert!(e.is_object(), "OpenAI-shaped error: {body}");
    assert!(e["type"].is_string(), "{body}");
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "{body}"
    );
    e["message"].as_str().expect("message")
}

// ---------------------------------------------------------------------------------------------
// Routing

#[tokio::test]
async fn mixed_workload_goes_where_the_rules_say() {
    let env = Env::start(NO_LEDGER).await;
    let short = env
        .chat(
            msg("auto", "Is 'WIN A FREE CRUISE' spam? Answer yes or no."),
            &[("x-switchyard-task", "classification")],
        )
        .await;
    assert_eq!(short.status(), StatusCode::OK);
    assert_eq!(header(&short, "x-switchyard-model"), "cheap");
    assert_eq!(header(&short, "x-switchyard-provider"), "cheapco");
    assert_eq!(header(&short, "x-switchyard-rule"), "short-classification");
    assert_eq!(header(&short, "x-switchyard-route"), "auto");

    let hard = env
        .chat(msg("auto", "A train leaves at 3pm at 80 km/h; another at 4pm at 100 km/h. When does the second catch up? Think step by step."), &[("x-switchyard-task", "reasoning")])
        .await;
    assert_eq!(hard.status(), StatusCode::OK);
    assert_eq!(header(&hard, "x-switchyard-model"), "premium");
    assert_eq!(header(&hard, "x-switchyard-provider"), "premiumco");
    assert_eq!(header(&hard, "x-switchyard-rule"), "reasoning");

    let mut long_body = msg(
        "auto",
        &"Please review this contract clause by clause. ".repeat(150),
    );
    long_body["metadata"] = json!({"task": "classification"});
    let long = env.chat(long_body, &[]).await;
    assert_eq!(
        header(&long, "x-switchyard-model"),
        "premium",
        "too long for the classification rule"
    );
    assert_eq!(header(&long, "x-switchyard-rule"), "long-input");

    let plain = env.chat(msg("auto", "hello"), &[]).await;
    assert_eq!(
        header(&plain, "x-switchyard-model"),
        "cheap",
        "cheapest of the route's candidates"
    );
    assert_eq!(header(&plain, "x-switchyard-rule"), "-");

    let body = json_body(plain).await;
    assert_eq!(body["object"], "chat.completion");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert_eq!(env.sim.calls("sim-cheap"), 2);
    assert_eq!(env.sim.calls("sim-premium"), 2);
    // The upstream received the provider's model id, not the gateway's name.
    assert!(env
        .sim
        .requests()
        .iter()
        .all(|r| r.model == "sim-cheap" || r.model == "sim-premium"));
    env.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_routing_headers() {
    let env = Env::start(NO_LEDGER).await;
    let r = env
        .chat(
            msg("auto", "hello"),
            &[("x-switchyard-task", "classification")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for h in [
        "x-switchyard-request-id",
        "x-switchyard-provider",
        "x-switchyard-model",
        "x-switchyard-route",
        "x-switchyard-rule",
        "x-switchyard-attempts",
        "x-switchyard-overhead-us",
        "x-switchyard-cost-usd",
        "x-switchyard-baseline-cost-usd",
    ] {
        assert!(
            r.headers().contains_key(h),
            "missing {h}: {:?}",
            r.headers()
        );
    }
    assert_eq!(header(&r, "x-switchyard-attempts"), "1");
    assert!(header(&r, "x-switchyard-overhead-us")
        .parse::<u64>()
        .is_ok());
    let cost: f64 = header(&r, "x-switchyard-cost-usd")
        .parse()
        .expect("cost is a number");
    let base: f64 = header(&r, "x-switchyard-baseline-cost-usd")
        .parse()
        .expect("baseline is a number");
    assert!(cost > 0.0 && base > cost, "cost {cost}, baseline {base}");
    // Two requests, two ids.
    let r2 = env.chat(msg("auto", "hello"), &[]).await;
    assert_ne!(
        header(&r, "x-switchyard-request-id"),
        header(&r2, "x-switchyard-request-id")
    );
    // Errors carry the request id too.
    let e = env.chat(msg("no-such-model", "hello"), &[]).await;
    assert!(e.headers().contains_key("x-switchyard-request-id"));
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Failover

#[tokio::test]
async fn a_transient_500_is_retried_and_then_answers() {
    let env = Env::start(NO_LEDGER).await;
    let r = env.chat(msg("flaky", "hello"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-switchyard-attempts"), "2");
    assert_eq!(header(&r, "x-switchyard-model"), "flaky");
    assert_eq!(env.sim.calls("sim-500-once"), 2);
    env.stop().await;
}

#[tokio::test]
async fn an_unavailable_primary_falls_over_to_the_next_candidate() {
    let env = Env::start(NO_LEDGER).await;
    // Through a route.
    let r = env.chat(msg("failover", "hello"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-switchyard-model"), "premium");
    let attempts: u32 = header(&r, "x-switchyard-attempts").parse().expect("number");
    assert!(attempts >= 2, "{attempts}");
    // Through a model's fallbacks.
    let r = env.chat(msg("down", "hello"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-switchyard-model"), "cheap");
    assert_eq!(header(&r, "x-switchyard-route"), "down");
    assert!(
        header(&r, "x-switchyard-attempts")
            .parse::<u32>()
            .expect("number")
            >= 2
    );
    let body = json_body(r).await;
    assert!(
        body["choices"][0]["message"]["content"].is_string(),
        "{body}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_rejected_request_is_returned_as_is_and_not_retried() {
    let env = Env::start(NO_LEDGER).await;
    let r = env
        .chat(
            msg("moderated", "something the safety system dislikes"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "x-switchyard-attempts"), "1");
    let body = json_body(r).await;
    let m = assert_openai_error(&body);
    assert!(
        m.contains("safety system"),
        "the provider's own message: {body}"
    );
    assert_eq!(env.sim.calls("sim-policy"), 1);
    assert_eq!(env.sim.calls("sim-cheap"), 0, "a 400 never falls over");
    env.stop().await;
}

#[tokio::test]
async fn context_length_exceeded_moves_to_the_next_candidate() {
    let env = Env::start(NO_LEDGER).await;
    let r = env.chat(msg("big-context", "hello"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-switchyard-model"), "premium");
    assert_eq!(header(&r, "x-switchyard-attempts"), "2");
    assert_eq!(env.sim.calls("sim-ctx"), 1);
    assert_eq!(env.sim.calls("sim-premium"), 1);
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[tokio::test]
async fn bad_input_gets_a_clear_openai_shaped_4xx() {
    let env = Env::start(NO_LEDGER).await;

    let r = env.post_raw(r#"{"model": "auto", "messages": ["#).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json_body(r).await;
    let m = assert_openai_error(&body);
    assert!(m.contains("not valid JSON"), "{m}");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let r = env.post_raw(r#"{"model": "auto"}"#).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json_body(r).await;
    assert!(assert_openai_error(&body).contains("messages"), "{body}");

    let r = env.post_raw(r#"{"model": "auto", "messages": []}"#).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json_body(r).await;
    assert!(assert_openai_error(&body).contains("messages"), "{body}");
    assert_eq!(body["error"]["param"], "messages");

    let r = env.chat(msg("gpt-9-ultra", "hi"), &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = json_body(r).await;
    assert!(assert_openai_error(&body).contains("gpt-9-ultra"), "{body}");
    assert_eq!(body["error"]["code"], "model_not_found");

    let big = msg("auto", &"x".repeat(100_000)).to_string();
    let r = env.post_raw(big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = json_body(r).await;
    assert!(
        assert_openai_error(&body).contains("65536"),
        "names the limit: {body}"
    );

    // Nothing reached the upstream.
    assert!(env.sim.requests().is_empty());
    env.stop().await;
}

#[tokio::test]
async fn a_region_no_candidate_serves_is_a_400_naming_the_region() {
    let env = Env::start(NO_LEDGER).await;
    let r = env
        .chat(msg("auto", "hello"), &[("x-switchyard-region", "eu")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json_body(r).await;
    let m = assert_openai_error(&body);
    assert!(m.contains("region `eu`"), "{m}");
    assert_eq!(body["error"]["code"], "no_eligible_candidate");
    // The constraint is never traded for availability.
    assert!(env.sim.requests().is_empty());
    // Naming a model directly does not escape the constraint either.
    let r = env
        .chat(msg("cheap", "hello"), &[("x-switchyard-region", "eu")])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = json_body(r).await;
    assert!(assert_openai_error(&body).contains("region `eu`"), "{body}");
    assert!(env.sim.requests().is_empty());
    // A region the candidates serve is fine.
    let r = env
        .chat(msg("auto", "hello"), &[("x-switchyard-region", "us")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Money

#[tokio::test]
async fn an_unpriced_model_reports_unpriced_never_zero() {
    let env = Env::start(NO_LEDGER).await;
    let r = env.chat(msg("mystery", "hello"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-switchyard-cost-usd"), "unpriced");
    assert_eq!(header(&r, "x-switchyard-model"), "mystery");
    // The baseline is priced whatever answered.
    assert!(header(&r, "x-switchyard-baseline-cost-usd")
        .parse::<f64>()
        .is_ok());
    env.stop().await;
}

#[tokio::test]
async fn ledger_rows_are_written_with_cost_and_decision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("l.db").display());
    let env = Env::start(&format!(
        "[ledger]\nurl = \"{url}\"\nflush_interval = \"10ms\""
    ))
    .await;
    let ok = env
        .chat(
            msg("auto", "hello"),
            &[
                ("x-switchyard-task", "classification"),
                ("x-switchyard-tenant", "acme"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let ok_id = header(&ok, "x-switchyard-request-id");
    let failover = env.chat(msg("failover", "hello"), &[]).await;
    assert_eq!(failover.status(), StatusCode::OK);
    let fo_id = header(&failover, "x-switchyard-request-id");
    let bad = env
        .chat(msg("auto", "hello"), &[("x-switchyard-region", "eu")])
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let unpriced = env.chat(msg("mystery", "hello"), &[]).await;
    let unpriced_id = header(&unpriced, "x-switchyard-request-id");
    let mut stream_body = msg("auto", "stream me");
    stream_body["stream"] = json!(true);
    let stream = env.chat(stream_body, &[]).await;
    let stream_id = header(&stream, "x-switchyard-request-id");
    assert_eq!(sse(stream).await.last().map(String::as_str), Some("[DONE]"));
    env.stop().await;

    let rows = switchyard_store::query_rows(&url, None, None)
        .await
        .expect("query the ledger");
    assert_eq!(rows.len(), 5, "{rows:#?}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("row {id}"))
    };

    let r = row(&ok_id);
    assert_eq!(r.status, "ok");
    assert_eq!(r.http_status, 200);
    assert_eq!(r.tenant, "acme");
    assert_eq!(r.task.as_deref(), Some("classification"));
    assert_eq!(r.route.as_deref(), Some("auto"));
    assert_eq!(r.rule.as_deref(), Some("short-classification"));
    assert_eq!(r.model.as_deref(), Some("cheap"));
    assert_eq!(r.provider.as_deref(), Some("cheapco"));
    assert!(r.cost_nanos.is_some_and(|c| c > 0), "{r:?}");
    assert!(
        r.baseline_cost_nanos
            .is_some_and(|b| Some(b) > r.cost_nanos),
        "{r:?}"
    );
    assert!(!r.unpriced);
    assert_eq!(r.attempts.len(), 1);
    assert!(r.usage.output > 0);
    let d = &r.decision;
    assert!(
        d["candidates"].is_array() && d["excluded"].is_array(),
        "{d}"
    );
    assert_eq!(d["candidates"][0]["model"], "cheap");
    assert_eq!(d["rule"], "short-classification");

    let r = row(&fo_id);
    assert!(r.attempts.len() >= 2, "{r:?}");
    assert!(r.attempts[0].error_class.is_some());
    assert_eq!(r.attempts.last().map(|a| a.model.as_str()), Some("premium"));
    assert_eq!(r.decision["candidates"].as_array().map(Vec::len), Some(2));

    let r = rows
        .iter()
        .find(|r| r.http_status == 400)
        .expect("the rejected request is recorded");
    assert_eq!(r.status, "error");
    assert!(r.attempts.is_empty());
    assert!(r.model.is_none());

    let r = row(&unpriced_id);
    assert!(r.unpriced);
    assert_eq!(r.cost_nanos, None);

    let r = row(&stream_id);
    assert!(r.stream);
    assert_eq!(r.status, "ok");
    assert!(
        r.usage.output > 0,
        "a finished stream records its usage: {r:?}"
    );
    assert!(r.cost_nanos.is_some_and(|c| c > 0), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Streaming

/// Read an SSE body into its `data:` payloads.
async fn sse(r: reqwest::Response) -> Vec<String> {
    let text = r.text().await.expect("stream body");
    text.split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        })
        .map(|s| s.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn streaming_relays_chunks_and_ends_with_done() {
    let env = Env::start(NO_LEDGER).await;
    let mut body = msg("auto", "tell me a story");
    body["stream"] = json!(true);
    let r = env.chat(body.clone(), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    assert_eq!(header(&r, "x-switchyard-model"), "cheap");
    assert_eq!(header(&r, "x-switchyard-route"), "auto");
    let events = sse(r).await;
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk JSON"))
        .collect();
    assert!(chunks.len() > 2, "{events:?}");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"),
        "{chunks:?}"
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty());
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null)),
        "no usage unless asked: {chunks:?}"
    );

    body["stream_options"] = json!({"include_usage": true});
    let events = sse(env.chat(body, &[]).await).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let usage: Vec<Value> = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).expect("chunk JSON"))
        .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
        .collect();
    assert_eq!(usage.len(), 1, "{events:?}");
    let u = &usage[0];
    assert!(
        u["usage"]["completion_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{u}"
    );
    let cost = &u["switchyard"]["cost_usd"];
    assert!(
        cost.as_str()
            .and_then(|c| c.parse::<f64>().ok())
            .is_some_and(|c| c > 0.0),
        "cost on the usage chunk: {u}"
    );
    assert!(u["switchyard"].get("baseline_cost_usd").is_some(), "{u}");
    env.stop().await;
}

#[tokio::test]
async fn a_stream_cut_after_the_first_token_ends_with_an_error_event() {
    let env = Env::start(NO_LEDGER).await;
    let mut body = msg("cutter", "tell me a long story");
    body["stream"] = json!(true);
    let r = env.chat(body, &[]).await;
    assert_eq!(r.status(), StatusCode::OK, "the answer had begun");
    let events = sse(r).await;
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a truncated answer never looks complete: {events:?}"
    );
    let last: Value = serde_json::from_str(events.last().expect("events")).expect("JSON");
    assert!(last["error"]["message"].is_string(), "{last}");
    assert!(events.len() >= 2, "some content arrived first: {events:?}");
    env.stop().await;
}

#[tokio::test]
async fn a_stream_failing_before_its_first_token_falls_over_invisibly() {
    let env = Env::start(NO_LEDGER).await;
    for (model, answered, min_attempts) in [
        ("flaky", "flaky", 2),
        ("down", "cheap", 2),
        ("failover", "premium", 2),
    ] {
        let mut body = msg(model, "hello");
        body["stream"] = json!(true);
        let r = env.chat(body, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{model}");
        assert_eq!(header(&r, "x-switchyard-model"), answered, "{model}");
        let attempts: u32 = header(&r, "x-switchyard-attempts").parse().expect("number");
        assert!(attempts >= min_attempts, "{model}: {attempts}");
        let events = sse(r).await;
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{model}: {events:?}"
        );
        assert!(
            !events.iter().any(|e| e.contains("\"error\"")),
            "{model}: no trace of the failure: {events:?}"
        );
    }
    env.stop().await;
}

#[tokio::test]
async fn an_unpriced_stream_says_so_in_its_usage_chunk() {
    let env = Env::start(NO_LEDGER).await;
    let mut body = msg("mystery", "hello");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let events = sse(env.chat(body, &[]).await).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let u: Value = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).expect("chunk JSON"))
        .find(|c| c.get("usage").is_some_and(|u| !u.is_null()))
        .expect("a usage chunk");
    assert_eq!(u["switchyard"]["unpriced"], true, "{u}");
    assert!(
        u["switchyard"]["cost_usd"].is_null() || u["switchyard"]["cost_usd"] == "unpriced",
        "never $0: {u}"
    );
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Other endpoints

#[tokio::test]
async fn models_lists_routes_and_models_and_metrics_respond() {
    let env = Env::start(NO_LEDGER).await;
    let r = env
        .http
        .get(format!("{}/v1/models", env.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_body(r).await;
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for id in [
        "auto",
        "failover",
        "moderated",
        "big-context",
        "cheap",
        "premium",
        "mystery",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }

    assert_eq!(
        env.chat(msg("auto", "hello"), &[]).await.status(),
        StatusCode::OK
    );
    let r = env
        .http
        .get(format!("{}/metrics", env.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("body");
    for name in [
        "switchyard_requests_total",
        "switchyard_tokens_total",
        "switchyard_upstream_attempts_total",
        // Latencies are histograms (aggregatable across replicas), not summaries.
        "switchyard_overhead_us_bucket",
        "switchyard_request_duration_seconds_bucket",
        // Gauges of the present are set when /metrics is scraped.
        "switchyard_circuit_state",
        "switchyard_upstream_inflight",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(text.contains("type=\"input\""), "{text}");

    let r = env
        .http
        .get(format!("{}/v1/nothing-here", env.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_openai_error(&json_body(r).await);
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reload

const SMALL: &str = r#"
[ledger]
enabled = false

[[providers]]
name = "sim"
kind = "openai-compatible"
base_url = "{SIM}"

[[models]]
name = "cheap"
provider = "sim"
upstream = "sim-cheap"
price = { input = 0.15, output = 0.60 }

[[models]]
name = "premium"
provider = "sim"
upstream = "sim-premium"
price = { input = 2.50, output = 10.00 }

[routing]
default = "auto"

[[routes]]
name = "auto"
candidates = ["cheap"]
"#;

/// A gateway that reloads from a file in its own temp dir.
async fn start_from_file(text: &str) -> (Env, PathBuf, tempfile::TempDir) {
    let sim = Sim::start(SimConfig::instant()).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("switchyard.toml");
    let text = render(text, &sim, "");
    std::fs::write(&path, &text).expect("write config");
    let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let gw = Gateway::start(cfg, Some(path.clone()), no_secrets())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    (Env::serve(sim, gw).await, path, dir)
}

#[tokio::test]
async fn a_valid_reload_adds_a_route() {
    let (env, path, _dir) = start_from_file(SMALL).await;
    assert_eq!(
        env.chat(msg("premium-only", "hi"), &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    let next =
        format!("{SMALL}\n[[routes]]\nname = \"premium-only\"\ncandidates = [\"premium\"]\n");
    std::fs::write(&path, render(&next, &env.sim, "")).expect("rewrite");
    env.gw
        .reload()
        .await
        .unwrap_or_else(|e| panic!("reload: {e:?}"));
    let r = env.chat(msg("premium-only", "hi"), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-switchyard-model"), "premium");
    assert_eq!(header(&r, "x-switchyard-route"), "premium-only");
    env.stop().await;
}

#[tokio::test]
async fn an_invalid_reload_is_refused_and_the_old_config_keeps_serving() {
    let (env, path, _dir) = start_from_file(SMALL).await;
    let broken = [
        "this is = = not toml".to_owned(),
        format!("{SMALL}\n[[routes]]\nname = \"x\"\ncandidates = [\"ghost\"]\n"),
        SMALL.replace("kind = \"openai-compatible\"", "kind = \"martian\""),
    ];
    for text in broken {
        std::fs::write(&path, render(&text, &env.sim, "")).expect("rewrite");
        let errs = env
            .gw
            .reload()
            .await
            .expect_err("an invalid config is refused");
        assert!(!errs.is_empty());
        assert!(
            errs.iter()
                .all(|e| !e.path.is_empty() && !e.message.is_empty()),
            "{errs:?}"
        );
        let r = env.chat(msg("auto", "still there?"), &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "x-switchyard-model"), "cheap");
    }
    let x = env.chat(msg("x", "hi"), &[]).await;
    assert_eq!(
        x.status(),
        StatusCode::NOT_FOUND,
        "nothing from a refused config leaks in"
    );
    env.stop().await;
}

#[tokio::test]
async fn reloads_under_load_lose_no_request() {
    let (env, path, _dir) = start_from_file(SMALL).await;
    let env = Arc::new(env);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            let model = if i % 2 == 0 { "auto" } else { "cheap" };
            let r = env.chat(msg(model, &format!("request {i}")), &[]).await;
            (r.status(), opt_header(&r, "x-switchyard-model"))
        }));
    }
    for round in 0..4 {
        let extra = if round % 2 == 0 {
            "\n[[routes]]\nname = \"extra\"\ncandidates = [\"premium\"]\n"
        } else {
            ""
        };
        std::fs::write(&path, render(&format!("{SMALL}{extra}"), &env.sim, "")).expect("rewrite");
        env.gw
            .reload()
            .await
            .unwrap_or_else(|e| panic!("reload {round}: {e:?}"));
        tokio::task::yield_now().await;
    }
    for t in tasks {
        let (status, model) = t.await.expect("task");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(model.as_deref(), Some("cheap"));
    }
    assert_eq!(env.sim.calls("sim-cheap"), 200);
    let env = Arc::into_inner(env).expect("all tasks done");
    env.stop().await;
}

/// Issue 17: an unchanged file is not rebuilt, and a change that does not touch a provider keeps
/// its adapter (and connection pool); a changed provider gets a new one.
#[tokio::test]
async fn reload_rebuilds_only_what_changed() {
    let (env, path, _dir) = start_from_file(SMALL).await;
    let before = env.gw.snapshot();
    assert_eq!(
        env.gw.reload().await.unwrap(),
        switchyard_server::Reload::Unchanged
    );
    assert!(Arc::ptr_eq(&before, &env.gw.snapshot()), "nothing rebuilt");
    let extra = format!("{SMALL}\n[[routes]]\nname = \"extra\"\ncandidates = [\"premium\"]\n");
    std::fs::write(&path, render(&extra, &env.sim, "")).expect("rewrite");
    assert_eq!(
        env.gw.reload().await.unwrap(),
        switchyard_server::Reload::Applied
    );
    let after = env.gw.snapshot();
    assert!(Arc::ptr_eq(
        &before.deployments[0].provider,
        &after.deployments[0].provider
    ));
    let retimed = extra.replace(
        "kind = \"openai-compatible\"",
        "kind = \"openai-compatible\"\ntimeouts = { connect = \"2s\" }",
    );
    std::fs::write(&path, render(&retimed, &env.sim, "")).expect("rewrite");
    assert_eq!(
        env.gw.reload().await.unwrap(),
        switchyard_server::Reload::Applied
    );
    assert!(!Arc::ptr_eq(
        &after.deployments[0].provider,
        &env.gw.snapshot().deployments[0].provider
    ));
    assert_eq!(env.gw.reloads(), 2);
    env.stop().await;
}

/// Issue 17: after any edit the file was reloaded every second, forever (reading it fired
/// another watch event). Now reading the file triggers nothing, and one edit one reload.
#[tokio::test]
async fn the_file_watcher_reloads_once_per_change_and_never_on_reads() {
    let (env, path, _dir) = start_from_file(SMALL).await;
    let _watcher = switchyard_server::watch_config(&env.gw).expect("watcher");
    let wait_for = |n: u64| {
        let gw = env.gw.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while gw.reloads() < n && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            gw.reloads()
        }
    };
    for _ in 0..5 {
        std::fs::read_to_string(&path).expect("read");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let extra = format!("{SMALL}\n[[routes]]\nname = \"extra\"\ncandidates = [\"premium\"]\n");
    std::fs::write(&path, render(&extra, &env.sim, "")).expect("rewrite");
    assert_eq!(wait_for(1).await, 1);
    // The watcher's own reload read the file; no second reload may follow.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(env.gw.reloads(), 1);
    env.stop().await;
}
