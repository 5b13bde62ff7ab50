//! The ledger row model and exact money conversions.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use switchyard_types::Usage;

/// Nano-dollars per dollar: costs are stored as integer nano-dollars (1e-9 USD).
pub const NANOS_PER_DOLLAR: i64 = 1_000_000_000;

/// One request as recorded in the ledger.
///
/// It carries no prompt or completion text and no raw key, so it is safe to spill to disk
/// and to count in logs. A cost is `None` with `unpriced = true` when the price is unknown;
/// it is never recorded as zero for "unknown".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// Request id (uuid v7, time-ordered); also the `x-switchyard-request-id` header.
    pub id: String,
    /// When the request arrived, unix epoch milliseconds.
    pub ts: i64,
    /// Tenant the gateway key belongs to.
    pub tenant: String,
    /// Gateway key id or hash prefix (never the raw key); `None` when unauthenticated.
    pub key_id: Option<String>,
    /// Free tags from the key's policy and the request.
    pub tags: Vec<String>,
    /// Task label (header, metadata or classifier).
    pub task: Option<String>,
    /// Client API: `"openai"` or `"anthropic"`.
    pub ingress: String,
    /// Route (policy) that decided.
    pub route: Option<String>,
    /// Rule within the route that matched, if any.
    pub rule: Option<String>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The routing decision: features, candidates kept/excluded with reasons, estimates.
    pub decision: serde_json::Value,
    /// Provider that answered (`None` when no attempt succeeded).
    pub provider: Option<String>,
    /// Deployment (model) that answered.
    pub model: Option<String>,
    /// Every upstream attempt, in order, failed ones included.
    pub attempts: Vec<AttemptRow>,
    /// Usage of the answer, normalised.
    pub usage: Usage,
    /// Cost of the request (billed attempts included), nano-dollars; `None` when unpriced.
    pub cost_nanos: Option<i64>,
    /// What the baseline model would have cost, nano-dollars; `None` when unknown.
    pub baseline_cost_nanos: Option<i64>,
    /// True when some billed usage had no known price.
    pub unpriced: bool,
    /// Price catalog version used for the costs.
    pub catalog_version: Option<String>,
    /// Time spent in the gateway itself (excluding upstream), microseconds.
    pub overhead_us: u64,
    /// Total request latency as seen by the client, milliseconds.
    pub latency_ms: u64,
    /// Outcome: `"ok"`, `"error"`, `"client_cancelled"`, …
    pub status: String,
    /// HTTP status returned to the client.
    pub http_status: u16,
    /// Error class when the request failed.
    pub error_class: Option<String>,
}

/// One upstream attempt of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    /// Provider called.
    pub provider: String,
    /// Deployment (model) called.
    pub model: String,
    /// Upstream HTTP status; 0 when no response was received (connect error, timeout).
    pub status: u16,
    /// Error class of a failed attempt.
    #[serde(default)]
    pub error_class: Option<String>,
    /// Attempt latency, milliseconds.
    pub latency_ms: u64,
    /// Time to first token for streams, milliseconds.
    #[serde(default)]
    pub ttft_ms: Option<u64>,
    /// Usage reported for this attempt.
    #[serde(default)]
    pub usage: Usage,
    /// Cost of this attempt, nano-dollars; `None` when unpriced.
    #[serde(default)]
    pub cost_nanos: Option<i64>,
    /// Whether the provider bills this attempt.
    pub billed: bool,
}

impl LedgerRow {
    /// A row with a fresh uuid v7 id, the current time, and every other field empty.
    pub fn new() -> Self {
        LedgerRow {
            id: new_id(),
            ts: now_ms(),
            tenant: String::new(),
            key_id: None,
            tags: Vec::new(),
            task: None,
            ingress: String::new(),
            route: None,
            rule: None,
            stream: false,
            decision: serde_json::Value::Null,
            provider: None,
            model: None,
            attempts: Vec::new(),
            usage: Usage::default(),
            cost_nanos: None,
            baseline_cost_nanos: None,
            unpriced: false,
            catalog_version: None,
            overhead_us: 0,
            latency_ms: 0,
            status: String::new(),
            http_status: 0,
            error_class: None,
        }
    }

    /// The cost as an exact decimal in dollars, if priced.
    pub fn cost(&self) -> Option<Decimal> {
        self.cost_nanos.map(decimal_from_nanos)
    }
}

impl Default for LedgerRow {
    fn default() -> Self {
        Self::new()
    }
}

/// A new time-ordered request id (uuid v7, hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time in unix epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Dollars → nano-dollars, rounding half away from zero to the nano (so half-up for the
/// non-negative amounts costs are). Saturates at `i64::MIN`/`i64::MAX` (±9.2 billion dollars).
pub fn nanos_from_decimal(dollars: Decimal) -> i64 {
    let scaled = dollars
        .checked_mul(Decimal::from(NANOS_PER_DOLLAR))
        .map(|d| d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero));
    match scaled {
        Some(d) => i64::try_from(d).unwrap_or(if d.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        }),
        None if dollars.is_sign_negative() => i64::MIN,
        None => i64::MAX,
    }
}

/// Nano-dollars → exact dollars (scale 9).
pub fn decimal_from_nanos(nanos: i64) -> Decimal {
    Decimal::new(nanos, 9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn nanos_round_half_up() {
        assert_eq!(nanos_from_decimal(d("0.000000001")), 1);
        assert_eq!(nanos_from_decimal(d("0.0000000015")), 2);
        assert_eq!(nanos_from_decimal(d("0.0000000014999")), 1);
        assert_eq!(nanos_from_decimal(d("0.0000000005")), 1);
        assert_eq!(nanos_from_decimal(d("0.0000000004")), 0);
        assert_eq!(nanos_from_decimal(d("1.25")), 1_250_000_000);
        assert_eq!(nanos_from_decimal(d("-0.0000000015")), -2);
        assert_eq!(nanos_from_decimal(d("100000000000")), i64::MAX);
    }

    #[test]
    fn nanos_round_trip_exactly() {
        let n = 123_456_789_012;
        assert_eq!(decimal_from_nanos(n), d("123.456789012"));
        assert_eq!(nanos_from_decimal(decimal_from_nanos(n)), n);
    }

    #[test]
    fn new_rows_have_v7_ids() {
        let r = LedgerRow::new();
        let id = uuid::Uuid::parse_str(&r.id).unwrap();
        assert_eq!(id.get_version_num(), 7);
        assert!(r.ts > 1_600_000_000_000);
    }
}
