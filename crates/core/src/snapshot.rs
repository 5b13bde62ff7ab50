//! The immutable, validated configuration a request runs against.

use std::{collections::HashMap, sync::Arc};

use switchyard_providers::{AnyProvider, ProviderKind, Timeouts};

use crate::{
    ConfigError,
    config::{ModelConfig, RouteConfig, RoutingConfig, Strategy},
};

/// Index of a deployment in [`Snapshot::deployments`].
pub type DeploymentId = usize;

/// One model at one provider, ready to call.
#[derive(Debug)]
pub struct Deployment {
    /// Model name (what clients and routes use).
    pub name: String,
    /// Provider config name.
    pub provider_name: String,
    /// Provider wire API.
    pub provider_kind: ProviderKind,
    /// The adapter.
    pub provider: Arc<AnyProvider>,
    /// The provider's model id.
    pub upstream: String,
    /// Rule label.
    pub tier: Option<String>,
    /// Fallback deployments when the client names this model.
    pub fallbacks: Vec<DeploymentId>,
    /// The provider's timeouts.
    pub timeouts: Timeouts,
    /// Context window, if known.
    pub context_window: Option<u64>,
}

/// A resolved route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Route name.
    pub name: String,
    /// Ordering strategy.
    pub strategy: Strategy,
    /// Candidates in configured order.
    pub candidates: Vec<DeploymentId>,
    /// Timeouts overriding the providers'.
    pub timeouts: Option<Timeouts>,
    /// Most attempts per request.
    pub max_attempts: u32,
}

/// A provider as the snapshot needs it.
#[derive(Debug, Clone)]
pub struct ProviderEntry {
    /// The adapter.
    pub adapter: Arc<AnyProvider>,
    /// Its wire API.
    pub kind: ProviderKind,
    /// Its timeouts.
    pub timeouts: Timeouts,
}

/// Describe a provider for [`Snapshot::build`].
pub fn snapshot_provider(adapter: Arc<AnyProvider>, kind: ProviderKind, timeouts: Timeouts) -> ProviderEntry {
    ProviderEntry { adapter, kind, timeouts }
}

/// Everything a request needs, resolved and validated; swapped atomically on reload.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// All deployments.
    pub deployments: Vec<Deployment>,
    /// Deployment by model name.
    pub models: HashMap<String, DeploymentId>,
    /// Routes by name.
    pub routes: HashMap<String, Route>,
    /// Route names in config order (for listings).
    pub route_order: Vec<String>,
    /// The route for `model = "auto"`.
    pub default_route: Option<String>,
    /// The baseline deployment for savings.
    pub baseline: Option<DeploymentId>,
}

impl Snapshot {
    /// Resolve and validate the model and route sections; every problem is reported.
    pub fn build(
        models: &[ModelConfig],
        routes: &[RouteConfig],
        routing: &RoutingConfig,
        providers: &HashMap<String, ProviderEntry>,
    ) -> Result<Snapshot, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut snap = Snapshot::default();
        for (i, m) in models.iter().enumerate() {
            if snap.models.contains_key(&m.name) {
                errors.push(ConfigError::new(format!("models[{i}].name"), format!("duplicate model `{}`", m.name)));
                continue;
            }
            let Some(p) = providers.get(&m.provider) else {
                errors.push(ConfigError::new(
                    format!("models[{i}].provider"),
                    format!("unknown provider `{}`", m.provider),
                ));
                continue;
            };
            snap.models.insert(m.name.clone(), snap.deployments.len());
            snap.deployments.push(Deployment {
                name: m.name.clone(),
                provider_name: m.provider.clone(),
                provider_kind: p.kind,
                provider: p.adapter.clone(),
                upstream: m.upstream.clone().unwrap_or_else(|| m.name.clone()),
                tier: m.tier.clone(),
                fallbacks: Vec::new(),
                timeouts: p.timeouts,
                context_window: m.context_window,
            });
        }
        for (i, m) in models.iter().enumerate() {
            let ids = resolve(&snap.models, &m.fallbacks, &format!("models[{i}].fallbacks"), &mut errors);
            if let Some(&id) = snap.models.get(&m.name) {
                snap.deployments[id].fallbacks = ids;
            }
        }
        for (i, r) in routes.iter().enumerate() {
            let path = format!("routes[{i}]");
            if snap.models.contains_key(&r.name) {
                errors.push(ConfigError::new(format!("{path}.name"), format!("route `{}` has the name of a model", r.name)));
            }
            if snap.routes.contains_key(&r.name) {
                errors.push(ConfigError::new(format!("{path}.name"), format!("duplicate route `{}`", r.name)));
            }
            if r.candidates.is_empty() {
                errors.push(ConfigError::new(format!("{path}.candidates"), "a route needs at least one candidate"));
            }
            if r.max_attempts == 0 {
                errors.push(ConfigError::new(format!("{path}.max_attempts"), "must be at least 1"));
            }
            let candidates = resolve(&snap.models, &r.candidates, &format!("{path}.candidates"), &mut errors);
            snap.route_order.push(r.name.clone());
            snap.routes.insert(
                r.name.clone(),
                Route {
                    name: r.name.clone(),
                    strategy: r.strategy,
                    candidates,
                    timeouts: r.timeouts,
                    max_attempts: r.max_attempts,
                },
            );
        }
        if let Some(d) = &routing.default {
            if !snap.routes.contains_key(d) {
                errors.push(ConfigError::new("routing.default", format!("unknown route `{d}`")));
            }
            snap.default_route = Some(d.clone());
        }
        if let Some(b) = &routing.baseline {
            match snap.models.get(b) {
                Some(&id) => snap.baseline = Some(id),
                None => errors.push(ConfigError::new("routing.baseline", format!("unknown model `{b}`"))),
            }
        }
        if errors.is_empty() { Ok(snap) } else { Err(errors) }
    }

    /// A deployment by id.
    pub fn deployment(&self, id: DeploymentId) -> &Deployment {
        &self.deployments[id]
    }
}

fn resolve(
    models: &HashMap<String, DeploymentId>,
    names: &[String],
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<DeploymentId> {
    let mut ids = Vec::with_capacity(names.len());
    for (j, n) in names.iter().enumerate() {
        match models.get(n) {
            Some(&id) => ids.push(id),
            None => errors.push(ConfigError::new(format!("{path}[{j}]"), format!("unknown model `{n}`"))),
        }
    }
    ids
}
