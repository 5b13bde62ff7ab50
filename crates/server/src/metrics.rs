//! Metric names, defined once, and the Prometheus endpoint.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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
/// Gateway overhead per request, in microseconds.
pub const OVERHEAD: &str = "switchyard_overhead_us";

/// The process-wide recorder (installed on first use).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
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
    match row.cost() {
        Some(c) => metrics::counter!(COST, "route" => route, "model" => model)
            .increment(switchyard_store::nanos_from_decimal(c).max(0) as u64),
        None => metrics::counter!(UNPRICED, "model" => model).increment(1),
    }
    metrics::histogram!(OVERHEAD).record(row.overhead_us as f64);
}
