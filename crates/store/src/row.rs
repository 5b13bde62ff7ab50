//! The ledger row model and exact money conversions.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use switchyard_types::Usage;

/// Nano-dollars per dollar: costs are stored as integer nano-dollars (1e-9 USD) plus a
/// sub-nano remainder in femto-dollars (1e-15 USD), see [`split_dollars`].
pub const NANOS_PER_DOLLAR: i64 = 1_000_000_000;

/// Femto-dollars per nano-dollar: the range of a stored remainder.
pub const FEMTOS_PER_NANO: i64 = 1_000_000;

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
    /// Cost of the request (billed attempts included): whole nano-dollars; `None` when
    /// unpriced. The exact cost is this plus `cost_rem_femtos` ([`LedgerRow::cost`]).
    pub cost_nanos: Option<i64>,
    /// The sub-nano remainder of the cost, femto-dollars in `0..1_000_000`.
    #[serde(default)]
    pub cost_rem_femtos: i64,
    /// What the baseline model would have cost: whole nano-dollars; `None` when unknown.
    pub baseline_cost_nanos: Option<i64>,
    /// The sub-nano remainder of the baseline cost, femto-dollars.
    #[serde(default)]
    pub baseline_cost_rem_femtos: i64,
    /// True when the usage is the gateway's estimate (a request abandoned before the
    /// provider reported usage): input counted from the prompt, output from what was received.
    #[serde(default)]
    pub usage_estimated: bool,
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
    /// The answering attempt's time to first token, ms (streams).
    #[serde(default)]
    pub ttft_ms: Option<u64>,
    /// The answering attempt's cost alone (the answer at list price), whole nano-dollars;
    /// `cost_nanos` is the effective cost, every billed attempt included.
    #[serde(default)]
    pub answer_cost_nanos: Option<i64>,
    /// Its sub-nano remainder, femto-dollars.
    #[serde(default)]
    pub answer_cost_rem_femtos: i64,
    /// For an answer served from the response cache: the id of the request whose answer it
    /// was (the row that holds what the hit saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_from: Option<String>,
    /// What prompt caching saved: the answer's usage billed as plain input minus what it was
    /// billed, at the same price entry (negative when cache writes cost more than the reads
    /// saved); `None` when its usage had no cache reads or writes, or is unpriced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_saved_nanos: Option<i64>,
    /// Its sub-nano remainder, femto-dollars.
    #[serde(default)]
    pub cache_saved_rem_femtos: i64,
    /// Quality signals of its answers (written to the `signals` table, same transaction).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<crate::SignalRow>,
    /// Its prompt and answer, on a route that captures (the `captures` table, same
    /// transaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<crate::CaptureRow>,
    /// The client's W3C `traceparent`, for the trace exporter (not stored).
    #[serde(skip)]
    pub trace_parent: Option<String>,
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
    /// Cost of this attempt, whole nano-dollars; `None` when unpriced.
    #[serde(default)]
    pub cost_nanos: Option<i64>,
    /// The sub-nano remainder of the attempt's cost, femto-dollars.
    #[serde(default)]
    pub cost_rem_femtos: i64,
    /// True when the attempt's usage is an estimate (see [`LedgerRow::usage_estimated`]).
    #[serde(default)]
    pub usage_estimated: bool,
    /// Whether the provider bills this attempt.
    pub billed: bool,
    /// Why the gateway rejected this answer and escalated (a cascade's evaluator failed, or
    /// a refusal on a route that answers refusals elsewhere); the attempt is still billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// When it started, microseconds after the request arrived.
    #[serde(default)]
    pub offset_us: u64,
    /// The model the upstream named in its answer (it may serve another than requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_model: Option<String>,
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
            cost_rem_femtos: 0,
            baseline_cost_nanos: None,
            baseline_cost_rem_femtos: 0,
            usage_estimated: false,
            unpriced: false,
            catalog_version: None,
            overhead_us: 0,
            latency_ms: 0,
            status: String::new(),
            http_status: 0,
            error_class: None,
            ttft_ms: None,
            answer_cost_nanos: None,
            answer_cost_rem_femtos: 0,
            cached_from: None,
            cache_saved_nanos: None,
            cache_saved_rem_femtos: 0,
            signals: Vec::new(),
            capture: None,
            trace_parent: None,
        }
    }

    /// The cost as an exact decimal in dollars, if priced.
    pub fn cost(&self) -> Option<Decimal> {
        self.cost_nanos
            .map(|n| join_dollars(n, self.cost_rem_femtos))
    }

    /// The baseline cost as an exact decimal in dollars, if known.
    pub fn baseline_cost(&self) -> Option<Decimal> {
        self.baseline_cost_nanos
            .map(|n| join_dollars(n, self.baseline_cost_rem_femtos))
    }

    /// Store the cost (`None`: unpriced).
    pub fn set_cost(&mut self, cost: Option<Decimal>) {
        (self.cost_nanos, self.cost_rem_femtos) = split_opt(cost);
    }

    /// The answering attempt's cost alone, if priced.
    pub fn answer_cost(&self) -> Option<Decimal> {
        self.answer_cost_nanos
            .map(|n| join_dollars(n, self.answer_cost_rem_femtos))
    }

    /// Store the answering attempt's cost (`None`: no answer, or unpriced).
    pub fn set_answer_cost(&mut self, cost: Option<Decimal>) {
        (self.answer_cost_nanos, self.answer_cost_rem_femtos) = split_opt(cost);
    }

    /// Store the baseline cost (`None`: unknown).
    pub fn set_baseline_cost(&mut self, cost: Option<Decimal>) {
        (self.baseline_cost_nanos, self.baseline_cost_rem_femtos) = split_opt(cost);
    }

    /// What prompt caching saved, if its usage had cache reads or writes and is priced.
    pub fn cache_saved(&self) -> Option<Decimal> {
        self.cache_saved_nanos
            .map(|n| join_dollars(n, self.cache_saved_rem_femtos))
    }

    /// Store what prompt caching saved.
    pub fn set_cache_saved(&mut self, saved: Option<Decimal>) {
        (self.cache_saved_nanos, self.cache_saved_rem_femtos) = split_opt(saved);
    }
}

impl AttemptRow {
    /// The attempt's cost as an exact decimal, if priced.
    pub fn cost(&self) -> Option<Decimal> {
        self.cost_nanos
            .map(|n| join_dollars(n, self.cost_rem_femtos))
    }

    /// Store the attempt's cost (`None`: unpriced).
    pub fn set_cost(&mut self, cost: Option<Decimal>) {
        (self.cost_nanos, self.cost_rem_femtos) = split_opt(cost);
    }
}

fn split_opt(cost: Option<Decimal>) -> (Option<i64>, i64) {
    match cost.map(split_dollars) {
        Some((n, r)) => (Some(n), r),
        None => (None, 0),
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

/// Dollars → (whole nano-dollars, remainder in femto-dollars `0..1_000_000`), the exact form
/// the ledger stores: `nanos + rem / 10⁶` nano-dollars.
///
/// Exact for every amount with at most 15 decimal places, which covers any token count times
/// a rate with at most 9 decimals per million tokens. Finer amounts are rounded half away
/// from zero at the femto-dollar, so 100 million requests can move a month's total by at
/// most 5·10⁻⁸ USD (`crates/store/tests/money.rs` checks it). Saturates at ±9.2 billion dollars.
pub fn split_dollars(dollars: Decimal) -> (i64, i64) {
    let femtos = dollars
        .checked_mul(Decimal::from(NANOS_PER_DOLLAR))
        .and_then(|d| d.checked_mul(Decimal::from(FEMTOS_PER_NANO)))
        .map(|d| d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
        .and_then(|d| i128::try_from(d).ok());
    let Some(f) = femtos else {
        return if dollars.is_sign_negative() {
            (i64::MIN, 0)
        } else {
            (i64::MAX, 0)
        };
    };
    split_femtos(f)
}

/// The exact dollars of a stored (nano-dollars, femto remainder) pair.
pub fn join_dollars(nanos: i64, rem_femtos: i64) -> Decimal {
    femtos(Some(nanos), rem_femtos).map_or(Decimal::ZERO, dollars)
}

/// A stored (nano-dollars, femto remainder) pair → femto-dollars (`None` when unpriced).
pub(crate) fn femtos(nanos: Option<i64>, rem_femtos: i64) -> Option<i128> {
    nanos.map(|n| i128::from(n) * i128::from(FEMTOS_PER_NANO) + i128::from(rem_femtos))
}

/// Femto-dollars → exact dollars.
pub(crate) fn dollars(femtos: i128) -> Decimal {
    Decimal::try_from_i128_with_scale(femtos, 15).map_or(Decimal::MAX, |d| d.normalize())
}

/// Femto-dollars → the stored (nano-dollars, femto remainder) pair (saturating).
pub(crate) fn split_femtos(f: i128) -> (i64, i64) {
    let per = i128::from(FEMTOS_PER_NANO);
    let nanos = i64::try_from(f.div_euclid(per)).unwrap_or(if f < 0 { i64::MIN } else { i64::MAX });
    (nanos, f.rem_euclid(per) as i64)
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
    fn split_keeps_sub_nano_precision() {
        for s in [
            "0.000000000375",
            "0.000123456789012",
            "12.5",
            "0",
            "0.000000000000001",
        ] {
            let (n, r) = split_dollars(d(s));
            assert!((0..FEMTOS_PER_NANO).contains(&r));
            assert_eq!(join_dollars(n, r), d(s).normalize(), "{s}");
        }
        assert_eq!(split_dollars(d("0.0000000015")), (1, 500_000));
        assert_eq!(split_dollars(d("0.0000000000000004")), (0, 0));
        assert_eq!(split_dollars(d("0.0000000000000005")), (0, 1));
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
