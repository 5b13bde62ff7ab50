//! Phase 4, plan: from the requested model name and the request's features to an ordered list
//! of deployments to try.

use switchyard_providers::Timeouts;
use switchyard_types::ChatRequest;

use crate::{CoreError, DeploymentId, Features, Snapshot};

/// The ordered candidates for one request, and why.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The route that decided (a route name, or the model name the client asked for).
    pub route: String,
    /// The rule that matched, if any.
    pub rule: Option<String>,
    /// Deployments to try, in order.
    pub targets: Vec<DeploymentId>,
    /// Deployments left out, with the reason.
    pub excluded: Vec<(DeploymentId, &'static str)>,
    /// Timeouts overriding each provider's.
    pub timeouts: Option<Timeouts>,
    /// Most upstream attempts.
    pub max_attempts: u32,
}

/// Resolve `req.model` (`auto`, a route, or a model) into a plan.
pub fn plan(snap: &Snapshot, req: &ChatRequest, features: &Features) -> Result<Plan, CoreError> {
    let _ = features;
    let name = req.model.as_str();
    let route_name = if name == "auto" { snap.default_route.as_deref().unwrap_or(name) } else { name };
    if let Some(route) = snap.routes.get(route_name) {
        return Ok(Plan {
            route: route.name.clone(),
            rule: None,
            targets: route.candidates.clone(),
            excluded: Vec::new(),
            timeouts: route.timeouts,
            max_attempts: route.max_attempts,
        });
    }
    if let Some(&id) = snap.models.get(name) {
        let d = snap.deployment(id);
        let mut targets = Vec::with_capacity(1 + d.fallbacks.len());
        targets.push(id);
        targets.extend(d.fallbacks.iter().copied().filter(|f| *f != id));
        return Ok(Plan {
            route: d.name.clone(),
            rule: None,
            max_attempts: (targets.len() as u32 + 1).max(2),
            targets,
            excluded: Vec::new(),
            timeouts: None,
        });
    }
    Err(CoreError::UnknownModel(req.model.clone()))
}
