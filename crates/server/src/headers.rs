//! The `x-switchyard-*` response headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_core::{attempt::Attempts, plan::Plan, Snapshot};

use crate::settle::Bill;

/// What the routing headers report.
#[derive(Debug)]
pub(crate) struct RoutingFacts<'a> {
    pub request_id: &'a str,
    pub plan: Option<&'a Plan>,
    pub answered_by: Option<usize>,
    pub attempts: Option<&'a Attempts>,
    pub overhead_us: Option<u64>,
    /// Known before the body only for non-streaming answers; streams carry it in the usage chunk.
    pub bill: Option<&'a Bill>,
}

/// Set the headers on a response.
pub(crate) fn apply(h: &mut HeaderMap, snap: &Snapshot, f: &RoutingFacts<'_>) {
    put(h, "x-switchyard-request-id", f.request_id);
    if let Some(plan) = f.plan {
        put(h, "x-switchyard-route", &plan.route);
        put(h, "x-switchyard-rule", plan.rule.as_deref().unwrap_or("-"));
    }
    if let Some(id) = f.answered_by {
        let d = snap.deployment(id);
        put(h, "x-switchyard-provider", &d.provider_name);
        put(h, "x-switchyard-model", &d.name);
    }
    if let Some(a) = f.attempts {
        put(h, "x-switchyard-attempts", &a.records.len().to_string());
    }
    if let Some(us) = f.overhead_us {
        put(h, "x-switchyard-overhead-us", &us.to_string());
    }
    if let Some(b) = f.bill {
        put(h, "x-switchyard-cost-usd", &b.cost.to_string());
        if let Some(base) = &b.baseline {
            put(h, "x-switchyard-baseline-cost-usd", &base.to_string());
        }
    }
}

fn put(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}
