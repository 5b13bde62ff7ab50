//! Metric names, defined once, and the Prometheus endpoint.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchyard_store::LedgerRow;

/// Requests by route, model and status.
pub const REQUESTS: &str = "switchyard_requests_total";
/// Upstream attempts by provider, model and outcome.
pub const ATTEMPTS: &str = "switchyard_upstream_attempts_total";
/// Spend in nano-USD by route and model (priced requests only).
pub const COST: &str = "switchyard_cost_nanousd_total";
/// Requests whose cost is unknown, by model.
pub const UNPRICED: &str = "switchyard_unpriced_requests_total";
/// Circuit state per deployment: 0 closed, 1 half-open, 2 open.
pub const CIRCUIT: &str = "switchyard_circuit_state";
/// Upstream requests in flight per deployment.
pub const INFLIGHT: &str = "switchyard_upstream_inflight";
/// The provider's last reported remaining requests / tokens per deployment (while current).
pub const RATELIMIT_REQUESTS: &str = "switchyard_ratelimit_remaining_requests";
/// See [`RATELIMIT_REQUESTS`].
pub const RATELIMIT_TOKENS: &str = "switchyard_ratelimit_remaining_tokens";
/// Ledger rows waiting in the writer's queue.
pub const LEDGER_QUEUE: &str = "switchyard_ledger_queue_depth";
/// Gateway overhead per request, in microseconds (histogram).
pub const OVERHEAD: &str = "switchyard_overhead_us";
/// Request duration as the gateway saw it, in seconds (histogram).
pub const DURATION: &str = "switchyard_request_duration_seconds";
/// Time to the first token of a streamed answer, in seconds (histogram).
pub const TTFT: &str = "switchyard_time_to_first_token_seconds";
/// Tokens by model and type: `input` (uncached), `cache_read`, `cache_write`, `output`, and
/// `reasoning` (the part of `output` spent reasoning).
pub const TOKENS: &str = "switchyard_tokens_total";
/// Moves from one deployment to another within a request (fallbacks and hedges), by route.
pub const FALLBACKS: &str = "switchyard_fallbacks_total";
/// Answers rejected by the route's evaluators (or refused) and escalated, by route and rule.
pub const ESCALATIONS: &str = "switchyard_escalations_total";
/// Answers judged by the route's evaluators, by model and verdict (`pass`, `fail`).
pub const VERDICTS: &str = "switchyard_quality_verdicts_total";
/// Client feedback, by model and verdict (`pass` for a score of at least 0.5, else `fail`).
pub const FEEDBACK: &str = "switchyard_feedback_total";
/// Requests by tenant (at most [`MAX_TENANT_SERIES`] tenants, then `_other`).
pub const TENANT_REQUESTS: &str = "switchyard_tenant_requests_total";
/// Spend in nano-USD by tenant (the same cap).
pub const TENANT_COST: &str = "switchyard_tenant_cost_nanousd_total";
/// Distinct tenant label values before the rest share the `_other` series.
pub const MAX_TENANT_SERIES: usize = 100;
/// Requests that did not end `ok`, by error class.
pub const ERRORS: &str = "switchyard_errors_total";
/// What the baseline model would have cost, in nano-USD by route (priced baselines only).
pub const BASELINE_COST: &str = "switchyard_baseline_cost_nanousd_total";

/// Findings of the latest audit, by kind.
pub const AUDIT_FINDINGS: &str = "switchyard_audit_findings";

const OVERHEAD_BUCKETS_US: &[f64] = &[
    5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0,
];
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The process-wide recorder (installed on first use). Latencies are histograms, so that
/// percentiles can be aggregated across replicas.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(OVERHEAD.to_owned()), OVERHEAD_BUCKETS_US)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), SECONDS_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(TTFT.to_owned()), SECONDS_BUCKETS)
                })
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Count one piece of client feedback.
pub(crate) fn feedback(model: &str, score: f64) {
    let verdict = if score >= 0.5 { "pass" } else { "fail" };
    metrics::counter!(FEEDBACK, "model" => model.to_owned(), "verdict" => verdict).increment(1);
}

/// Set the gauges that describe the present (read when `/metrics` or `/admin/health` is
/// served, so they are never stale by more than a scrape).
pub(crate) fn refresh_gauges(gw: &crate::live::GatewayHandle) {
    use switchyard_core::health::CircuitState;
    let snap = gw.snapshot();
    for d in &snap.deployments {
        let state = match d.stats.health.state() {
            CircuitState::Closed => 0.0,
            CircuitState::HalfOpen => 1.0,
            CircuitState::Open => 2.0,
        };
        metrics::gauge!(CIRCUIT, "model" => d.name.clone()).set(state);
        metrics::gauge!(INFLIGHT, "model" => d.name.clone()).set(d.stats.inflight() as f64);
        if let Some((requests, tokens)) = d.stats.health.headroom() {
            if let Some(n) = requests {
                metrics::gauge!(RATELIMIT_REQUESTS, "model" => d.name.clone()).set(n as f64);
            }
            if let Some(n) = tokens {
                metrics::gauge!(RATELIMIT_TOKENS, "model" => d.name.clone()).set(n as f64);
            }
        }
    }
    if let Some(ledger) = gw.ledger() {
        metrics::gauge!(LEDGER_QUEUE).set(ledger.stats().queued as f64);
    }
}

/// The tenant's label value: its name for the first [`MAX_TENANT_SERIES`] tenants seen,
/// `_other` after that (tenants are client-supplied until gateway keys exist, and every label
/// value is a series Prometheus keeps).
fn tenant_label(tenant: &str) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if seen.contains(tenant) {
        return tenant.to_owned();
    }
    if seen.len() < MAX_TENANT_SERIES {
        seen.insert(tenant.to_owned());
        return tenant.to_owned();
    }
    "_other".to_owned()
}

/// Count one finished request.
pub(crate) fn request(row: &LedgerRow) {
    let route = row.route.clone().unwrap_or_default();
    let model = row.model.clone().unwrap_or_default();
    metrics::counter!(REQUESTS, "route" => route.clone(), "model" => model.clone(), "status" => row.status.clone()).increment(1);
    for a in &row.attempts {
        let outcome = a.error_class.clone().unwrap_or_else(|| "ok".to_owned());
        metrics::counter!(ATTEMPTS, "provider" => a.provider.clone(), "model" => a.model.clone(), "outcome" => outcome).increment(1);
    }
    let u = &row.usage;
    for (kind, n) in [
        ("input", u.input),
        ("cache_read", u.cache_read),
        ("cache_write", u.cache_write_5m + u.cache_write_1h),
        ("output", u.output),
        ("reasoning", u.reasoning),
    ] {
        if n > 0 {
            metrics::counter!(TOKENS, "model" => model.clone(), "type" => kind).increment(n);
        }
    }
    let moves = row
        .attempts
        .windows(2)
        .filter(|w| w[0].rejected.is_none())
        .filter(|w| (&w[0].provider, &w[0].model) != (&w[1].provider, &w[1].model))
        .count();
    if moves > 0 {
        metrics::counter!(FALLBACKS, "route" => route.clone()).increment(moves as u64);
    }
    let escalations = row.attempts.iter().filter(|a| a.rejected.is_some()).count();
    if escalations > 0 {
        let rule = row.rule.clone().unwrap_or_default();
        metrics::counter!(ESCALATIONS, "route" => route.clone(), "rule" => rule)
            .increment(escalations as u64);
    }
    for s in row.signals.iter().filter(|s| s.source == "verdict") {
        let verdict = if s.passed == Some(true) {
            "pass"
        } else {
            "fail"
        };
        let model = s.model.clone().unwrap_or_default();
        metrics::counter!(VERDICTS, "model" => model, "verdict" => verdict).increment(1);
    }
    if let Some(class) = &row.error_class {
        metrics::counter!(ERRORS, "class" => class.clone()).increment(1);
    }
    if let Some(b) = row.baseline_cost() {
        // The same conversion as the spend counter below.
        let nanos = switchyard_store::nanos_from_decimal(b).max(0) as u64;
        metrics::counter!(BASELINE_COST, "route" => route.clone()).increment(nanos);
    }
    let tenant = (!row.tenant.is_empty()).then(|| tenant_label(&row.tenant));
    if let Some(t) = &tenant {
        metrics::counter!(TENANT_REQUESTS, "tenant" => t.clone()).increment(1);
    }
    match row.cost() {
        Some(c) => {
            let nanos = switchyard_store::nanos_from_decimal(c).max(0) as u64;
            if let Some(t) = tenant {
                metrics::counter!(TENANT_COST, "tenant" => t).increment(nanos);
            }
            metrics::counter!(COST, "route" => route, "model" => model).increment(nanos);
        }
        None => metrics::counter!(UNPRICED, "model" => model).increment(1),
    }
    metrics::histogram!(OVERHEAD).record(row.overhead_us as f64);
    metrics::histogram!(DURATION).record(row.latency_ms as f64 / 1000.0);
    if row.stream {
        let answered = row.attempts.iter().rev().find(|a| a.error_class.is_none());
        if let Some(ttft) = answered.and_then(|a| a.ttft_ms) {
            metrics::histogram!(TTFT).record(ttft as f64 / 1000.0);
        }
    }
}

/// The exposition `text` with a USD counter beside each nano-USD one
/// (`switchyard_cost_usd_total` beside `switchyard_cost_nanousd_total`, …): the same series
/// and labels, the value divided by 10⁹ exactly (decimal digits, no float rounding).
pub fn with_usd_counters(text: String) -> String {
    let mut extra: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let Some(name) = [COST, BASELINE_COST, TENANT_COST]
            .into_iter()
            .find(|n| line.starts_with(n) && line[n.len()..].starts_with(['{', ' ']))
        else {
            continue;
        };
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(nanos) = value.parse::<u64>() else {
            continue;
        };
        let usd_name = name.replace("_nanousd_total", "_usd_total");
        let usd = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
        let out = format!("{usd_name}{} {usd}", &series[name.len()..]);
        match extra.iter_mut().find(|(n, _)| *n == usd_name) {
            Some((_, lines)) => lines.push(out),
            None => extra.push((usd_name, vec![out])),
        }
    }
    let mut text = text;
    for (name, lines) in extra {
        text.push_str(&format!(
            "# HELP {name} The same spend in USD (exact decimal).\n# TYPE {name} counter\n"
        ));
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
    }
    text
}

/// Publish the latest audit's findings per kind; a kind no longer found goes back to 0.
pub fn audit_findings(findings: &[crate::audit::Finding]) {
    static SEEN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    for f in findings {
        if !seen.contains(&f.kind) {
            seen.push(f.kind);
        }
    }
    for kind in seen.iter() {
        let n = findings.iter().filter(|f| f.kind == *kind).count();
        metrics::gauge!(AUDIT_FINDINGS, "kind" => *kind).set(n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_series_are_capped_with_an_overflow_series() {
        let labels: Vec<String> = (0..MAX_TENANT_SERIES + 5)
            .map(|i| tenant_label(&format!("t{i}")))
            .collect();
        assert_eq!(labels[0], "t0");
        assert_eq!(tenant_label("t0"), "t0", "a tenant keeps its series");
        assert!(labels[MAX_TENANT_SERIES..].iter().all(|l| l == "_other"));
    }
}
