//! Replay: re-decide logged traffic under another configuration or price catalog, without
//! calling any provider. Each ledger row keeps its routing decision's inputs (the features);
//! [`replan`] runs them through the same planner ([`crate::plan::plan`]) on another
//! [`Snapshot`] and prices the answer's recorded usage on the deployment chosen now.
//!
//! What a replay cannot know, it says: the prompt is not in the ledger, so `prompt_regex`
//! rules never match and a `learned` route decides on an empty prompt; the answer's usage is
//! assumed the same on the new model; retries, escalations and judge calls are not projected;
//! a fresh snapshot has every circuit closed and no load, so health-driven orders are as on a
//! quiet day; random strategies (`weighted`, exploration) draw anew.

use serde_json::{json, Value};
use switchyard_pricing::{Cost, CostContext};
use switchyard_store::LedgerRow;
use switchyard_types::ChatRequest;

use crate::{
    plan,
    quality::{prior_for, Beta},
    Features, Snapshot,
};

/// One row, re-decided.
#[derive(Debug, Clone)]
pub struct Redecision {
    /// The deployment chosen now.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// The recorded usage priced on it.
    pub cost: Cost,
    /// The same usage on the baseline of the replayed config.
    pub baseline: Option<Cost>,
}

/// Why a row could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReplayed {
    /// No routing decision was recorded (the request failed before planning).
    NoDecision,
    /// The planner refused it under the new config (unknown route, no candidate left, …).
    Refused(String),
}

/// Re-decide `row` on `snap`.
pub fn replan(snap: &Snapshot, row: &LedgerRow) -> Result<Redecision, NotReplayed> {
    let d = &row.decision;
    let Some(route) = d.get("route").and_then(Value::as_str) else {
        return Err(NotReplayed::NoDecision);
    };
    let f = features(d.get("features").unwrap_or(&Value::Null));
    let req: ChatRequest = serde_json::from_value(json!({
        "model": route, "messages": [{"role": "user", "content": ""}],
    }))
    .map_err(|e| NotReplayed::Refused(e.to_string()))?;
    let p = plan::plan(snap, &req, &f).map_err(|e| NotReplayed::Refused(e.to_string()))?;
    let Some(&id) = p.targets.first() else {
        return Err(NotReplayed::Refused("no candidate".into()));
    };
    let dep = snap.deployment(id);
    let ctx = CostContext {
        at_unix: u64::try_from(row.ts / 1000).ok(),
        ..CostContext::default()
    };
    Ok(Redecision {
        model: dep.name.clone(),
        provider: dep.provider_name.clone(),
        cost: Cost::of(dep.price.as_ref(), &row.usage, &ctx),
        baseline: snap
            .baseline
            .map(|b| Cost::of(snap.deployment(b).price.as_ref(), &row.usage, &ctx)),
    })
}

/// The expected quality of `model` on `task` under `snap`'s priors and quality observations,
/// when anything was observed of it.
pub fn expected_quality(snap: &Snapshot, task: Option<&str>, model: &str) -> Option<f64> {
    let o = snap.quality.observed(task, model);
    (o.n > 0.0).then(|| Beta::posterior(prior_for(&snap.quality_priors, task, model), o).mean())
}

/// The features a decision recorded (see `cx::decision`).
fn features(v: &Value) -> Features {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    Features {
        input_tokens: n("input_tokens").unwrap_or(0),
        max_output: n("max_output"),
        task: s("task"),
        region: s("region"),
        lane: s("lane"),
        // Only whether there was one is recorded; affinity is keyed on a stand-in.
        session: b("session").then(|| "replay".to_owned()),
        tenant: s("tenant"),
        tags: v
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        prefix_tokens: n("prefix_tokens").unwrap_or(0),
        tools: b("tools"),
        images: b("images"),
        json: b("json"),
    }
}
