//! Admission: a gateway key's rate limits and budgets, reserved before the first attempt and
//! settled with the request.
//!
//! The driver asks the server's [`Admission`] (in process, or shared by every replica through
//! Redis) to admit a request with its worst-case cost — the dearest candidate it may try,
//! priced for its input plus the most output it may produce — and settles the reservation with
//! what the bill says when the request ends, whatever the ending. Concurrent requests can
//! therefore never spend past a budget by more than the reservations in flight, and a request
//! that cannot fit is refused before any provider is called.

use std::{fmt::Debug, future::Future, pin::Pin, sync::Arc};

use crate::{cx::KeyGrant, plan::Plan, Features, Snapshot};

/// What admission is asked about one request.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The request (names the reservation).
    pub request_id: String,
    /// The key and its limits.
    pub key: Arc<KeyGrant>,
    /// Worst-case cost in nano-dollars; `None` when a candidate is unpriced.
    pub worst_nanos: Option<i64>,
    /// Tokens it may use (input estimate plus the output cap), for a tokens-per-minute limit.
    pub tokens: u64,
}

/// A request admitted: what its settlement releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The reservation's id (the request id).
    pub id: String,
    /// The key.
    pub key_id: String,
    /// Nano-dollars reserved.
    pub reserved_nanos: i64,
    /// The team whose budgets it was also reserved against.
    pub team: Option<String>,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A rate or budget limit: try again after `retry_after` seconds.
    Limit {
        /// Which limit, for the client.
        what: String,
        /// Seconds until it resets.
        retry_after: u64,
    },
    /// The request cannot be priced and the key has a budget.
    Unpriced(String),
    /// The shared state is unreachable and the policy is to fail closed.
    Unavailable(String),
}

/// A boxed future, as the trait returns.
pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The server's limiter.
pub trait Admission: Send + Sync + Debug {
    /// Admit `ticket` (reserving its worst case against the key's budgets), or refuse it.
    fn reserve(&self, ticket: Ticket) -> Pending<Result<Admitted, Refusal>>;
    /// Release a reservation, counting `spent_nanos` against the key's budgets.
    fn settle(&self, admitted: Admitted, spent_nanos: i64);
}

/// The counters a key's team keeps its budgets in (`team:<name>`), when it has budgets.
pub fn team_holder(key: &KeyGrant) -> Option<String> {
    let team = key.team.as_ref()?;
    (team.daily_nanos.is_some() || team.monthly_nanos.is_some())
        .then(|| format!("team:{}", team.name))
}

/// The error a refusal is to the client.
pub fn refused(r: Refusal) -> crate::CoreError {
    match r {
        Refusal::Limit { what, retry_after } => crate::CoreError::Refused(what, Some(retry_after)),
        Refusal::Unpriced(m) => crate::CoreError::Refused(m, None),
        Refusal::Unavailable(m) => crate::CoreError::StateUnavailable(m),
    }
}

/// Whether the key has any limit admission must check.
pub fn limited(key: &KeyGrant) -> bool {
    key.rpm.is_some() || key.tpm.is_some() || budgeted(key)
}

/// Whether the key, or its team, has a budget (a request must then be priced to be admitted).
pub fn budgeted(key: &KeyGrant) -> bool {
    key.daily_nanos.is_some()
        || key.monthly_nanos.is_some()
        || key
            .team
            .as_ref()
            .is_some_and(|t| t.daily_nanos.is_some() || t.monthly_nanos.is_some())
}

/// The worst-case ticket of a planned request: the dearest of the first `max_attempts`
/// candidates, for the estimated input and the most output it may produce (the client's cap,
/// else the model's, else 4096).
pub fn ticket(
    snap: &Snapshot,
    plan: &Plan,
    f: &Features,
    request_id: &str,
    key: Arc<KeyGrant>,
) -> Ticket {
    let mut worst: Option<u128> = Some(0);
    let mut tokens = 0;
    for &t in plan.targets.iter().take(plan.max_attempts.max(1) as usize) {
        let d = snap.deployment(t);
        let out = f.max_output.or(d.caps.max_output).unwrap_or(4096);
        tokens = tokens.max(f.input_tokens + out);
        worst = match (worst, d.rates) {
            (Some(w), Some(r)) => Some(w.max(r.estimate(f.input_tokens, 0, out))),
            _ => None,
        };
    }
    Ticket {
        request_id: request_id.to_owned(),
        key,
        // femto-dollars → nano-dollars, rounded up.
        worst_nanos: worst.map(|w| i64::try_from(w.div_ceil(1_000_000)).unwrap_or(i64::MAX)),
        tokens,
    }
}
