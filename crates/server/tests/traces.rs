//! OpenTelemetry traces, exported to an in-process OTLP/HTTP collector: one server span per
//! request continuing the client's `traceparent`, one client span per attempt, the GenAI
//! attributes, `error.type` on failures, and never the prompt.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::sync::{Arc, Mutex};

use axum::{body::Bytes, routing::post, Router};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::any_value::Value as V,
    trace::v1::{span::SpanKind, Span},
};
use prost::Message;
use serde_json::json;
use switchyard_sim::{Sim, SimConfig};

fn attr(s: &Span, key: &str) -> Option<V> {
    s.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.clone())
        .and_then(|v| v.value)
}

fn text(s: &Span, key: &str) -> String {
    match attr(s, key) {
        Some(V::StringValue(v)) => v,
        other => panic!("{key}: {other:?}"),
    }
}

fn int(s: &Span, key: &str) -> i64 {
    match attr(s, key) {
        Some(V::IntValue(v)) => v,
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test]
async fn requests_are_traced_with_the_genai_conventions_and_never_the_prompt() {
    let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let sink = bodies.clone();
    let collector = Router::new().route(
        "/v1/traces",
        post(move |b: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(b);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let text_cfg = format!(
        r#"
        [ledger]
        enabled = false
        [telemetry]
        otlp_endpoint = "{otlp}"
        [routing]
        default = "auto"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{}"
        [[models]]
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.15, output = 0.60 }}
        [[models]]
        name = "broken"
        provider = "sim"
        upstream = "sim-503"
        price = {{ input = 1, output = 1 }}
        [[routes]]
        name = "auto"
        strategy = "priority"
        candidates = ["broken", "cheap"]
        "#,
        sim.base_url()
    );
    let (gw, url) = common::start(&text_cfg).await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .json(&json!({"model": "auto",
            "messages": [{"role": "user", "content": "SECRET-PROMPT-MARKER please"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let cost = r.headers()["x-switchyard-cost-usd"]
        .to_str()
        .unwrap()
        .to_owned();
    r.bytes().await.unwrap();
    gw.shutdown().await; // flushes the exporter

    let bodies = bodies.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "nothing exported");
    for b in &bodies {
        let raw = String::from_utf8_lossy(b);
        assert!(
            !raw.contains("SECRET-PROMPT-MARKER"),
            "the prompt reached a span"
        );
    }
    let spans: Vec<Span> = bodies
        .iter()
        .flat_map(|b| {
            ExportTraceServiceRequest::decode(b.as_ref())
                .unwrap()
                .resource_spans
        })
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    let server = spans
        .iter()
        .find(|s| attr(s, "switchyard.request_id") == Some(V::StringValue(id.clone())))
        .expect("a server span for the request");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&server.trace_id),
        trace,
        "the client's trace is continued"
    );
    assert_eq!(hex(&server.parent_span_id), parent);
    assert_eq!(text(server, "gen_ai.operation.name"), "chat");
    assert_eq!(text(server, "gen_ai.request.model"), "auto");
    assert_eq!(text(server, "gen_ai.response.model"), "cheap");
    assert_eq!(text(server, "gen_ai.provider.name"), "sim");
    assert_eq!(text(server, "switchyard.route"), "auto");
    assert_eq!(text(server, "switchyard.cost_usd"), cost);
    assert!(int(server, "gen_ai.usage.input_tokens") > 0);
    assert!(int(server, "gen_ai.usage.output_tokens") > 0);

    let clients: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == server.span_id)
        .collect();
    assert_eq!(clients.len(), 2, "one client span per attempt");
    assert!(clients
        .iter()
        .all(|c| c.kind == SpanKind::Client as i32 && c.trace_id == server.trace_id));
    let failed = clients
        .iter()
        .find(|c| text(c, "gen_ai.request.model") == "broken")
        .unwrap();
    assert!(attr(failed, "error.type").is_some());
    assert!(attr(failed, "gen_ai.response.model").is_none());
    let answered = clients
        .iter()
        .find(|c| text(c, "gen_ai.request.model") == "cheap")
        .unwrap();
    assert_eq!(text(answered, "gen_ai.response.model"), "cheap");
    assert!(int(answered, "gen_ai.usage.output_tokens") > 0);
    assert!(answered.start_time_unix_nano >= server.start_time_unix_nano);
    assert!(answered.end_time_unix_nano <= server.end_time_unix_nano + 2_000_000);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
