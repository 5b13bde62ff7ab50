//! The Bedrock adapter against the simulator's Converse wire format: the shared conformance
//! suite, plus Bedrock-specific checks (SigV4 headers on the wire, URL-encoded model ids,
//! request shape as the simulator recorded it).

#![allow(clippy::expect_used, reason = "test helpers outside #[test] functions")]

#[macro_use]
mod conformance;

use std::time::Duration;

use serde_json::json;
use switchyard_providers::{
    AnyProvider, ErrorClass, Provider, ProviderConfig, ProviderKind, Timeouts,
};
use switchyard_sim::{Sim, SimConfig};

provider_conformance!(bedrock, ProviderKind::Bedrock, |sim: &Sim| format!(
    "http://{}",
    sim.addr()
));

async fn setup(key: &str) -> (Sim, AnyProvider) {
    let sim = Sim::start(SimConfig {
        record: true,
        ..SimConfig::instant()
    })
    .await
    .expect("sim");
    let cfg = ProviderConfig {
        name: "bedrock-test".into(),
        kind: ProviderKind::Bedrock,
        base_url: format!("http://{}", sim.addr()),
        api_key: Some(key.to_owned().into()),
        timeouts: Timeouts {
            first_token: Duration::from_secs(10),
            ..Timeouts::default()
        },
        api_version: None,
        responses_api: false,
        region: Some("eu-central-1".into()),
        vendor: String::new(),
    };
    let p = AnyProvider::new(cfg).expect("adapter");
    (sim, p)
}

#[tokio::test]
async fn signs_requests_and_encodes_model_ids() {
    let (sim, p) = setup("AKIDTEST:secret:session-token").await;
    let req = conformance::request(json!({"model": "x", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"}], "max_tokens": 50}));
    let r = p
        .chat(&req, "anthropic.claude-3-haiku-20240307-v1:0".into())
        .await
        .expect("chat");
    assert!(r.response.id.starts_with("chatcmpl-"));
    assert_eq!(r.response.model, "anthropic.claude-3-haiku-20240307-v1:0");
    let rec = sim.requests();
    let last = rec.last().expect("recorded");
    assert_eq!(
        last.path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_eq!(last.model, "anthropic.claude-3-haiku-20240307-v1:0");
    let header = |n: &str| {
        last.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    let auth = header("authorization").expect("authorization");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
        "{auth}"
    );
    assert!(
        auth.contains("/eu-central-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert!(header("x-amz-date").is_some());
    assert_eq!(
        header("x-amz-security-token").as_deref(),
        Some("session-token")
    );
    assert_eq!(last.body["system"], json!([{"text": "Be brief."}]));
    assert_eq!(last.body["inferenceConfig"], json!({"maxTokens": 50}));
}

#[tokio::test]
async fn missing_signature_is_rejected_by_the_sim() {
    let sim = Sim::start(SimConfig::instant()).await.expect("sim");
    let resp = reqwest::Client::new()
        .post(format!("http://{}/model/m/converse", sim.addr()))
        .json(&json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);
    let kind = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        kind.starts_with("MissingAuthenticationTokenException"),
        "{kind}"
    );
}

#[tokio::test]
async fn strict_validation_surfaces_as_bad_request() {
    let (_sim, p) = setup("AKID:secret").await;
    // Converse requires the first turn to be the user's.
    let req = conformance::request(
        json!({"model": "x", "messages": [{"role": "assistant", "content": "Hello"}]}),
    );
    let err = p
        .chat(&req, "sim-cheap".into())
        .await
        .expect_err("first turn assistant");
    assert_eq!((err.class, err.status), (ErrorClass::BadRequest, Some(400)));
    assert!(
        err.message.contains("start with a user message"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn stream_faults_map_to_classes() {
    let (_sim, p) = setup("AKID:secret").await;
    let req = conformance::user("Tell me a story.");
    let c = conformance::collect(&p, &req, "sim-malformed-2")
        .await
        .expect("stream");
    assert_eq!(c.error.map(|e| e.class), Some(ErrorClass::Malformed));
    assert!(!c.done);
    let err = p.chat(&req, "sim-503".into()).await.expect_err("503");
    assert_eq!(err.class, ErrorClass::Overloaded);
    assert_eq!(err.code.as_deref(), Some("ServiceUnavailableException"));
}

#[tokio::test]
async fn bad_credentials_fail_at_build_time() {
    let cfg = ProviderConfig {
        name: "b".into(),
        kind: ProviderKind::Bedrock,
        base_url: String::new(),
        api_key: Some("no-colon".to_owned().into()),
        timeouts: Timeouts::default(),
        api_version: None,
        responses_api: false,
        region: Some("us-east-1".into()),
        vendor: String::new(),
    };
    assert!(AnyProvider::new(cfg.clone()).is_err());
    let no_region = ProviderConfig {
        api_key: Some("A:B".to_owned().into()),
        region: None,
        vendor: String::new(),
        ..cfg
    };
    assert!(AnyProvider::new(no_region).is_err());
}
