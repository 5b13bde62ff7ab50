//! The Azure OpenAI flavour of the OpenAI adapter against the simulator's Azure paths.

#![allow(clippy::expect_used, reason = "test helpers outside #[test] functions")]

#[macro_use]
mod conformance;

use switchyard_providers::{AnyProvider, Provider, ProviderConfig, ProviderKind};
use switchyard_sim::{Sim, SimConfig};

provider_conformance!(azure, ProviderKind::AzureOpenAi, |sim: &Sim| format!(
    "http://{}",
    sim.addr()
));

/// Deployment in the path, `api-version` in the query, `api-key` header, no `model` in the body.
#[tokio::test]
async fn azure_url_auth_and_body() {
    let sim = Sim::start(SimConfig {
        record: true,
        ..SimConfig::instant()
    })
    .await
    .expect("sim");
    let p = AnyProvider::new(ProviderConfig {
        name: "az".into(),
        kind: ProviderKind::AzureOpenAi,
        base_url: format!("http://{}/", sim.addr()),
        api_key: Some("az-secret".to_owned().into()),
        timeouts: Default::default(),
        api_version: Some("2025-01-01-preview".into()),
        responses_api: false,
        region: None,
        vendor: String::new(),
    })
    .expect("adapter");
    let r = p
        .chat(&conformance::user("hi"), "my-gpt4o".into())
        .await
        .expect("chat");
    assert_eq!(r.response.model, "my-gpt4o");
    let req = &sim.requests()[0];
    assert_eq!(req.path, "/openai/deployments/my-gpt4o/chat/completions");
    assert!(req
        .headers
        .iter()
        .any(|(k, v)| k == "api-key" && v == "az-secret"));
    assert!(!req.headers.iter().any(|(k, _)| k == "authorization"));
    assert_eq!(
        req.body.get("model").and_then(|m| m.as_str()),
        Some("my-gpt4o"),
        "the sim fills model from the path"
    );
    // Without a key the sim answers 401 like Azure.
    let anon = AnyProvider::new(ProviderConfig {
        name: "anon".into(),
        kind: ProviderKind::AzureOpenAi,
        base_url: format!("http://{}", sim.addr()),
        api_key: None,
        timeouts: Default::default(),
        api_version: None,
        responses_api: false,
        region: None,
        vendor: String::new(),
    })
    .expect("adapter");
    let err = anon
        .chat(&conformance::user("hi"), "d".into())
        .await
        .unwrap_err();
    assert_eq!(err.class, switchyard_providers::ErrorClass::Auth);
}
