//! The Anthropic adapter against the simulator's Anthropic Messages wire format.

#[macro_use]
mod conformance;

use switchyard_providers::ProviderKind;
use switchyard_sim::Sim;

provider_conformance!(anthropic, ProviderKind::Anthropic, |sim: &Sim| sim
    .base_url());

/// The adapter sends the Anthropic headers and a strict-API-valid body.
#[tokio::test]
async fn sends_anthropic_headers() {
    let e = conformance::env(
        "headers",
        ProviderKind::Anthropic,
        |sim: &Sim| sim.base_url(),
        conformance::Caps::ALL,
    )
    .await;
    let req = conformance::request(serde_json::json!({"model": "x", "messages": [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]}));
    switchyard_providers::Provider::chat(&e.provider, &req, "sim-cheap".into())
        .await
        .expect("chat");
    let rec = e.sim.requests().pop().expect("recorded");
    assert_eq!(rec.path, "/v1/messages");
    let header = |n: &str| {
        rec.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-api-key").as_deref(), Some("sk-conformance"));
    assert_eq!(header("anthropic-version").as_deref(), Some("2023-06-01"));
    assert!(header("authorization").is_none());
    assert_eq!(rec.body["system"], "Be terse.");
    assert_eq!(rec.body["max_tokens"], 4096);
}
