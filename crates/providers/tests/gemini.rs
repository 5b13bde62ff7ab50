//! The Gemini adapter against the simulator's Gemini wire format: the shared conformance suite,
//! golden fixtures, and what goes over the wire (key header, URL, strict validation).

#![allow(clippy::expect_used, reason = "test helpers outside #[test] functions")]

#[macro_use]
mod conformance;

use serde_json::{json, Value};
use switchyard_providers::gemini::{convert, wire};
use switchyard_providers::{ErrorClass, Provider, ProviderKind};
use switchyard_sim::{Sim, SimConfig};

provider_conformance!(gemini, ProviderKind::Gemini, |sim: &Sim| format!(
    "http://{}/v1beta",
    sim.addr()
));

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// Golden: canonical request → Gemini body.
#[test]
fn golden_request() {
    let req = conformance::request(fixture("request.canonical.json"));
    let body = serde_json::to_value(convert::to_wire(&req).expect("convert")).expect("encode");
    assert_eq!(body, fixture("request.gemini.json"));
}

/// Golden: Gemini answer → canonical response and usage.
#[test]
fn golden_response() {
    let wire: wire::GenerateContentResponse =
        serde_json::from_value(fixture("response.gemini.json")).expect("wire");
    let (resp, usage) =
        convert::from_wire(wire, "gemini-2.5-flash", 1_700_000_000).expect("convert");
    assert_eq!(
        serde_json::to_value(&resp).expect("encode"),
        fixture("response.canonical.json")
    );
    assert_eq!(
        (usage.input, usage.cache_read, usage.output, usage.reasoning),
        (1000, 3000, 150, 100)
    );
}

/// The key travels in `x-goog-api-key`, never in the URL; the path names the model and method.
#[tokio::test]
async fn key_header_and_url() {
    let sim = Sim::start(SimConfig {
        record: true,
        ..SimConfig::instant()
    })
    .await
    .expect("sim");
    let p = switchyard_providers::AnyProvider::new(switchyard_providers::ProviderConfig {
        name: "g".into(),
        kind: ProviderKind::Gemini,
        base_url: format!("http://{}/v1beta/", sim.addr()),
        api_key: Some("AIza-secret".to_owned().into()),
        timeouts: Default::default(),
        api_version: None,
        responses_api: false,
        region: None,
        vendor: String::new(),
    })
    .expect("adapter");
    p.chat(&conformance::user("hi"), "models/gemini-2.0-flash".into())
        .await
        .expect("chat");
    let _ = p
        .chat_stream(&conformance::user("hi"), "gemini-2.0-flash".into())
        .await
        .expect("stream");
    let reqs = sim.requests();
    assert_eq!(
        reqs[0].path,
        "/v1beta/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(
        reqs[1].path,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    );
    for r in &reqs {
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "x-goog-api-key" && v == "AIza-secret"));
        assert!(!r.headers.iter().any(|(k, _)| k == "authorization"));
    }
}

/// Tool schemas with keys Gemini rejects are cleaned before they reach the (strict) simulator.
#[tokio::test]
async fn strict_schema_keys_are_stripped() {
    let e = conformance::env(
        "gemini-schema",
        ProviderKind::Gemini,
        |s: &Sim| format!("http://{}/v1beta", s.addr()),
        conformance::Caps::ALL,
    )
    .await;
    let req = conformance::request(
        json!({"model": "x", "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": false,
            "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}),
    );
    let r = e
        .provider
        .chat(&req, "sim-cheap".into())
        .await
        .expect("cleaned schema accepted");
    assert!(r.response.choices[0].message.tool_calls.is_some());
    // An orphan tool result is refused before any call.
    let bad = conformance::request(json!({"model": "x", "messages": [
        {"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "1"}]}));
    assert_eq!(
        e.provider
            .chat(&bad, "sim-cheap".into())
            .await
            .unwrap_err()
            .class,
        ErrorClass::BadRequest
    );
}

/// A blocked prompt (200 with `promptFeedback.blockReason`) is a content-policy error.
#[tokio::test]
async fn blocked_prompt_is_content_policy() {
    let e = conformance::env(
        "gemini-block",
        ProviderKind::Gemini,
        |s: &Sim| format!("http://{}/v1beta", s.addr()),
        conformance::Caps::ALL,
    )
    .await;
    let err = e
        .provider
        .chat(&conformance::user("hi"), "sim-policy".into())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::ContentPolicy);
    let c = conformance::collect(&e.provider, &conformance::user("hi"), "sim-policy")
        .await
        .expect("stream start");
    assert_eq!(c.error.map(|e| e.class), Some(ErrorClass::ContentPolicy));
}
