//! Shared helpers for the routing tests: a snapshot from a TOML description, and requests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use switchyard_core::{
    config::{ModelConfig, RouteConfig, RoutingConfig},
    plan::Plan,
    snapshot_provider,
    stats::StatsRegistry,
    ConfigError, DeploymentId, Features, ProviderEntry, Snapshot, SnapshotInputs,
};
use switchyard_pricing::Catalog;
use switchyard_providers::{AnyProvider, ProviderConfig, ProviderKind};
use switchyard_types::ChatRequest;

/// The routing-relevant sections of a config file, plus providers' regions and tags.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    #[serde(default)]
    pub providers: Vec<ProviderDoc>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub routing: RoutingConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderDoc {
    pub name: String,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One adapter shared by every test provider: building an HTTP client per provider is slow
/// and nothing here calls upstream.
pub fn adapter() -> Arc<AnyProvider> {
    static ADAPTER: OnceLock<Arc<AnyProvider>> = OnceLock::new();
    ADAPTER
        .get_or_init(|| {
            Arc::new(
                AnyProvider::new(ProviderConfig {
                    name: "test".into(),
                    kind: ProviderKind::Sim,
                    base_url: "http://127.0.0.1:9/v1".into(),
                    api_key: None,
                    timeouts: Default::default(),
                    api_version: None,
                    responses_api: false,
                    region: None,
                    vendor: String::new(),
                })
                .expect("sim adapter"),
            )
        })
        .clone()
}

pub fn catalog() -> &'static Catalog {
    Catalog::shared().expect("embedded catalog")
}

pub fn provider_entry(p: &ProviderDoc) -> ProviderEntry {
    let mut e = snapshot_provider(adapter(), ProviderKind::Sim, Default::default());
    e.regions = p.regions.clone();
    e.tags = p.tags.clone();
    e
}

/// Build a snapshot from TOML; `Err` carries every config error.
pub fn try_snapshot(text: &str) -> Result<Snapshot, Vec<ConfigError>> {
    let doc: Doc = toml::from_str(text).expect("test TOML parses");
    snapshot_of(&doc, &StatsRegistry::default())
}

pub fn snapshot_of(doc: &Doc, stats: &StatsRegistry) -> Result<Snapshot, Vec<ConfigError>> {
    let providers: HashMap<String, ProviderEntry> = doc
        .providers
        .iter()
        .map(|p| (p.name.clone(), provider_entry(p)))
        .collect();
    Snapshot::build(SnapshotInputs {
        models: &doc.models,
        routes: &doc.routes,
        routing: &doc.routing,
        providers: &providers,
        catalog: catalog(),
        stats,
    })
}

pub fn snapshot(text: &str) -> Snapshot {
    match try_snapshot(text) {
        Ok(s) => s,
        Err(e) => panic!("snapshot: {e:?}"),
    }
}

/// A request from JSON.
pub fn request(v: serde_json::Value) -> ChatRequest {
    serde_json::from_value(v).expect("request JSON")
}

/// A one-message request.
pub fn ask(model: &str, text: &str) -> ChatRequest {
    request(serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]}))
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    h
}

/// Plan with features from the request and headers.
pub fn plan_with(
    snap: &Snapshot,
    req: &ChatRequest,
    hdrs: &[(&str, &str)],
) -> Result<Plan, switchyard_core::CoreError> {
    let f = Features::extract(req, &headers(hdrs));
    switchyard_core::plan::plan(snap, req, &f)
}

pub fn plan_ok(snap: &Snapshot, req: &ChatRequest, hdrs: &[(&str, &str)]) -> Plan {
    match plan_with(snap, req, hdrs) {
        Ok(p) => p,
        Err(e) => panic!("plan failed: {e}"),
    }
}

pub fn names(snap: &Snapshot, ids: &[DeploymentId]) -> Vec<String> {
    ids.iter()
        .map(|&id| snap.deployment(id).name.clone())
        .collect()
}

pub fn targets(snap: &Snapshot, p: &Plan) -> Vec<String> {
    names(snap, &p.targets)
}

pub fn excluded(snap: &Snapshot, p: &Plan) -> Vec<(String, &'static str)> {
    p.excluded
        .iter()
        .map(|&(id, why)| (snap.deployment(id).name.clone(), why.as_str()))
        .collect()
}
