//! Phase 7, settle: usage → exact cost (every attempt) and baseline cost → one ledger row.

use serde_json::json;
use switchyard_core::{attempt::AttemptRecord, plan::Plan, DeploymentId, Features, Snapshot};
use switchyard_pricing::{Cost, CostContext};
use switchyard_store::{AttemptRow, LedgerRow};
use switchyard_types::Usage;

/// The money side of a request.
#[derive(Debug, Clone)]
pub(crate) struct Bill {
    /// All attempts together.
    pub cost: Cost,
    /// The baseline model for the same tokens; `None` when no baseline is configured.
    pub baseline: Option<Cost>,
    /// Per attempt, aligned with the attempt records.
    pub attempts: Vec<Cost>,
}

/// Price every attempt and the baseline. An attempt that used no tokens costs exactly zero
/// whatever its price; one that used tokens on an unpriced model makes the request unpriced.
pub(crate) fn bill(snap: &Snapshot, attempts: &[AttemptRecord], answered_usage: &Usage) -> Bill {
    let now = unix_now();
    let ctx = CostContext {
        at_unix: Some(now),
        ..CostContext::default()
    };
    let per: Vec<Cost> = attempts
        .iter()
        .map(|a| {
            if a.usage == Usage::default() {
                return Cost::ZERO;
            }
            let d = snap.deployment(a.deployment);
            // Monthly volume tiers: the rate in force when the request starts.
            let before = d
                .stats
                .monthly
                .add(a.usage.total_input() + a.usage.output, now);
            let ctx = CostContext {
                monthly_tokens_before: before,
                ..ctx
            };
            Cost::of(d.price.as_ref(), &a.usage, &ctx)
        })
        .collect();
    let cost = per.iter().fold(Cost::ZERO, |acc, c| acc + *c);
    Bill {
        cost,
        baseline: baseline(snap, answered_usage),
        attempts: per,
    }
}

/// What the baseline model would have cost for the same usage at the same time; `None`
/// without a baseline.
pub(crate) fn baseline(snap: &Snapshot, usage: &Usage) -> Option<Cost> {
    let ctx = CostContext {
        at_unix: Some(unix_now()),
        ..CostContext::default()
    };
    snap.baseline
        .map(|b| Cost::of(snap.deployment(b).price.as_ref(), usage, &ctx))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Everything the ledger row is made of.
pub(crate) struct Record<'a> {
    pub snap: &'a Snapshot,
    pub request_id: &'a str,
    pub ingress: &'static str,
    pub stream: bool,
    pub plan: Option<&'a Plan>,
    pub features: Option<&'a Features>,
    pub attempts: &'a [AttemptRecord],
    pub answered: Option<DeploymentId>,
    pub usage: Usage,
    pub bill: &'a Bill,
    pub status: &'a str,
    pub http_status: u16,
    pub error_class: Option<&'a str>,
    pub overhead_us: u64,
    pub latency_ms: u64,
}

/// Build the ledger row. Never contains prompt text or keys.
pub(crate) fn row(r: Record<'_>) -> LedgerRow {
    let snap = r.snap;
    let mut row = LedgerRow::new();
    row.id = r.request_id.to_owned();
    row.tenant = r
        .features
        .and_then(|f| f.tenant.clone())
        .unwrap_or_else(|| "default".to_owned());
    row.tags = r.features.map(|f| f.tags.clone()).unwrap_or_default();
    row.task = r.features.and_then(|f| f.task.clone());
    row.ingress = r.ingress.to_owned();
    row.route = r.plan.map(|p| p.route.clone());
    row.rule = r.plan.and_then(|p| p.rule.clone());
    row.stream = r.stream;
    row.decision = decision(snap, r.plan, r.features);
    if let Some(id) = r.answered {
        let d = snap.deployment(id);
        row.provider = Some(d.provider_name.clone());
        row.model = Some(d.name.clone());
    }
    row.attempts = r
        .attempts
        .iter()
        .zip(&r.bill.attempts)
        .map(|(a, c)| {
            let d = snap.deployment(a.deployment);
            let mut row = AttemptRow {
                provider: d.provider_name.clone(),
                model: d.name.clone(),
                status: a.status,
                error_class: a.error.as_ref().map(|e| e.class.as_str().to_owned()),
                latency_ms: a.latency.as_millis() as u64,
                ttft_ms: a.ttft.map(|t| t.as_millis() as u64),
                usage: a.usage,
                cost_nanos: None,
                cost_rem_femtos: 0,
                usage_estimated: false,
                billed: a.usage != Usage::default(),
            };
            row.set_cost(c.amount());
            row
        })
        .collect();
    row.usage = r.usage;
    row.set_cost(r.bill.cost.amount());
    row.set_baseline_cost(r.bill.baseline.as_ref().and_then(Cost::amount));
    row.unpriced = !r.bill.cost.is_priced();
    row.catalog_version = Some(snap.catalog_version.clone());
    row.overhead_us = r.overhead_us;
    row.latency_ms = r.latency_ms;
    row.status = r.status.to_owned();
    row.http_status = r.http_status;
    row.error_class = r.error_class.map(str::to_owned);
    row
}

/// The routing decision with its inputs, so past traffic can be re-decided later.
fn decision(snap: &Snapshot, plan: Option<&Plan>, f: Option<&Features>) -> serde_json::Value {
    let Some(p) = plan else {
        return serde_json::Value::Null;
    };
    let features = f.map(|f| {
        json!({
            "input_tokens": f.input_tokens, "max_output": f.max_output, "task": f.task,
            "region": f.region, "lane": f.lane, "tools": f.tools, "images": f.images,
            "json": f.json, "tenant": f.tenant, "tags": f.tags, "prefix_tokens": f.prefix_tokens,
            "session": f.session.is_some(),
        })
    });
    let femto_to_usd = |v: u128| {
        switchyard_pricing::Decimal::from_i128_with_scale(v as i128, 15)
            .normalize()
            .to_string()
    };
    let candidates: Vec<_> = p
        .targets
        .iter()
        .zip(&p.estimates)
        .map(|(id, est)| json!({"model": snap.deployment(*id).name, "est_cost_usd": est.map(femto_to_usd)}))
        .collect();
    let excluded: Vec<_> = p
        .excluded
        .iter()
        .map(|(id, why)| json!({"model": snap.deployment(*id).name, "reason": why.as_str()}))
        .collect();
    json!({
        "route": p.route, "rule": p.rule, "strategy": p.strategy.as_str(),
        "features": features, "candidates": candidates, "excluded": excluded,
    })
}
