//! Per-deployment health: the circuit breaker, the retry budget, quota exhaustion and the
//! provider's rate-limit headroom. All state is atomics; nothing here blocks or allocates.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed},
        OnceLock,
    },
    time::Duration,
};

use switchyard_providers::{ErrorClass, RateLimitInfo};
use tokio::time::Instant;

/// Milliseconds since the process started (monotonic; follows tokio's paused clock in tests).
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Circuit states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Traffic flows.
    Closed,
    /// Failing: no traffic until the cooldown ends.
    Open,
    /// Cooldown over: one probe request decides.
    HalfOpen,
}

impl CircuitState {
    /// Label for `/admin/health` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// Consecutive failures that open the circuit.
const CONSECUTIVE_FAILURES: u32 = 5;
/// Error-rate window, and the least requests in it before the rate counts.
const WINDOW: Duration = Duration::from_secs(30);
const WINDOW_MIN_REQUESTS: u32 = 20;
/// How long an open circuit rests before a probe: uniformly random in [1 s, 3 s), so probes
/// do not phase-lock with a provider that flaps on a fixed period (each probe landing in the
/// next down window and the circuit never closing).
const COOLDOWN_MIN: Duration = Duration::from_secs(1);
const COOLDOWN_JITTER: Duration = Duration::from_secs(2);
/// The longest cooldown.
pub const COOLDOWN_MAX: Duration = Duration::from_secs(3);
/// How long a quota-exhausted provider key is left out.
const QUOTA_PAUSE: Duration = Duration::from_secs(300);
/// Retry budget: each request earns 0.2 retries, the balance holds at most 100, starts at 10.
const BUDGET_EARN: i64 = 200;
const BUDGET_COST: i64 = 1000;
const BUDGET_MAX: i64 = 100_000;
const BUDGET_START: i64 = 10_000;

/// Health of one deployment.
#[derive(Debug)]
pub struct Health {
    state: AtomicU8,
    opened_at: AtomicU64,
    cooldown_ms: AtomicU64,
    probing: AtomicBool,
    consecutive: AtomicU32,
    window_start: AtomicU64,
    window_total: AtomicU32,
    window_failed: AtomicU32,
    budget: AtomicI64,
    disabled_until: AtomicU64,
    remaining_requests: AtomicU64,
    remaining_tokens: AtomicU64,
    headroom_until: AtomicU64,
    /// The open circuit, or the quota pause, was another replica's report (so it is not
    /// reported back: a shared deadline never creeps forward).
    peer_opened: AtomicBool,
    peer_paused: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            state: AtomicU8::new(0),
            opened_at: AtomicU64::new(0),
            cooldown_ms: AtomicU64::new(COOLDOWN_MIN.as_millis() as u64),
            probing: AtomicBool::new(false),
            consecutive: AtomicU32::new(0),
            window_start: AtomicU64::new(0),
            window_total: AtomicU32::new(0),
            window_failed: AtomicU32::new(0),
            budget: AtomicI64::new(BUDGET_START),
            disabled_until: AtomicU64::new(0),
            remaining_requests: AtomicU64::new(u64::MAX),
            remaining_tokens: AtomicU64::new(u64::MAX),
            headroom_until: AtomicU64::new(0),
            peer_opened: AtomicBool::new(false),
            peer_paused: AtomicBool::new(false),
        }
    }
}

/// What the breaker says about sending a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Yes,
    /// Go ahead as the half-open probe; report the outcome.
    Probe,
    /// Do not send.
    No,
}

impl Health {
    /// The circuit state now (an open circuit past its cooldown reads as half-open).
    pub fn state(&self) -> CircuitState {
        match self.state.load(Relaxed) {
            0 => CircuitState::Closed,
            _ if now_ms().saturating_sub(self.opened_at.load(Relaxed))
                >= self.cooldown_ms.load(Relaxed) =>
            {
                CircuitState::HalfOpen
            }
            _ => CircuitState::Open,
        }
    }

    /// Whether the plan may include this deployment now (no clock read while all is well).
    pub fn available(&self) -> bool {
        (self.state.load(Relaxed) == 0 || self.state() != CircuitState::Open)
            && !self.quota_exhausted()
    }

    /// Claim the right to send a request.
    pub fn admit(&self) -> Admit {
        match self.state() {
            CircuitState::Closed => Admit::Yes,
            CircuitState::Open => Admit::No,
            CircuitState::HalfOpen => {
                match self.probing.compare_exchange(false, true, Relaxed, Relaxed) {
                    Ok(_) => Admit::Probe,
                    Err(_) => Admit::No,
                }
            }
        }
    }

    /// Record a success.
    pub fn on_success(&self) {
        self.consecutive.store(0, Relaxed);
        self.count(false);
        if self.state.load(Relaxed) != 0 {
            self.state.store(0, Relaxed);
            self.window_total.store(0, Relaxed);
            self.window_failed.store(0, Relaxed);
            tracing::info!("circuit closed after a successful probe");
        }
        self.probing.store(false, Relaxed);
    }

    /// Record a failure of the given class; client-caused failures do not count.
    pub fn on_failure(&self, class: ErrorClass) {
        if !counts_against_health(class) {
            self.probing.store(false, Relaxed);
            return;
        }
        let consecutive = self.consecutive.fetch_add(1, Relaxed) + 1;
        let (total, failed) = self.count(true);
        let was_probe = self.probing.swap(false, Relaxed);
        let rate_trip = total >= WINDOW_MIN_REQUESTS && failed * 2 >= total;
        if was_probe || consecutive >= CONSECUTIVE_FAILURES || rate_trip {
            use rand::Rng;
            let jitter = rand::thread_rng().gen_range(0..COOLDOWN_JITTER.as_millis() as u64);
            self.cooldown_ms
                .store(COOLDOWN_MIN.as_millis() as u64 + jitter, Relaxed);
            self.opened_at.store(now_ms(), Relaxed);
            self.peer_opened.store(false, Relaxed);
            if self.state.swap(1, Relaxed) == 0 {
                tracing::warn!(consecutive, total, failed, "circuit opened");
            }
        }
    }

    fn count(&self, failed: bool) -> (u32, u32) {
        let now = now_ms();
        let start = self.window_start.load(Relaxed);
        if now.saturating_sub(start) > WINDOW.as_millis() as u64 {
            self.window_start.store(now, Relaxed);
            self.window_total.store(0, Relaxed);
            self.window_failed.store(0, Relaxed);
        }
        let total = self.window_total.fetch_add(1, Relaxed) + 1;
        let f = if failed {
            self.window_failed.fetch_add(1, Relaxed) + 1
        } else {
            self.window_failed.load(Relaxed)
        };
        (total, f)
    }

    /// Earn retry budget for a new request.
    pub fn earn_retry(&self) {
        let b = self.budget.fetch_add(BUDGET_EARN, Relaxed) + BUDGET_EARN;
        if b > BUDGET_MAX {
            self.budget.store(BUDGET_MAX, Relaxed);
        }
    }

    /// Spend one retry from the budget; `false` when the budget is exhausted.
    pub fn spend_retry(&self) -> bool {
        let b = self.budget.fetch_sub(BUDGET_COST, Relaxed);
        if b >= BUDGET_COST {
            true
        } else {
            self.budget.fetch_add(BUDGET_COST, Relaxed);
            false
        }
    }

    /// Take the deployment out of rotation after a quota / spend-limit error.
    pub fn exhaust_quota(&self) {
        self.peer_paused.store(false, Relaxed);
        self.disabled_until
            .store(now_ms() + QUOTA_PAUSE.as_millis() as u64, Relaxed);
    }

    /// Milliseconds left of a circuit this replica opened itself and of a quota pause it
    /// set itself (0: none), for the other replicas ([`Health::from_peers`]).
    pub fn own_outage_ms(&self) -> (u64, u64) {
        let now = now_ms();
        let circuit = if self.state.load(Relaxed) == 1 && !self.peer_opened.load(Relaxed) {
            (self.opened_at.load(Relaxed) + self.cooldown_ms.load(Relaxed)).saturating_sub(now)
        } else {
            0
        };
        let quota = if self.peer_paused.load(Relaxed) {
            0
        } else {
            self.disabled_until.load(Relaxed).saturating_sub(now)
        };
        (circuit, quota)
    }

    /// What the other replicas report: a circuit one of them opened with `circuit_ms` of its
    /// cooldown left, a quota pause with `quota_ms` left (0: none). A closed circuit opens
    /// for the rest of that cooldown (one already open or probing is left to its own
    /// cooldown and probe); a quota pause lasts until the later of the two deadlines.
    pub fn from_peers(&self, circuit_ms: u64, quota_ms: u64) {
        let now = now_ms();
        if circuit_ms > 0 && self.state.load(Relaxed) == 0 {
            self.opened_at.store(now, Relaxed);
            self.cooldown_ms.store(circuit_ms, Relaxed);
            self.peer_opened.store(true, Relaxed);
            if self.state.swap(1, Relaxed) == 0 {
                tracing::warn!(
                    cooldown_ms = circuit_ms,
                    "circuit opened: another replica opened it"
                );
            }
        }
        if quota_ms > 0 && now + quota_ms > self.disabled_until.load(Relaxed) {
            self.peer_paused.store(true, Relaxed);
            self.disabled_until.store(now + quota_ms, Relaxed);
        }
    }

    /// Whether the provider key is out of quota. Reads the clock only when a pause is set.
    pub fn quota_exhausted(&self) -> bool {
        let until = self.disabled_until.load(Relaxed);
        until != 0 && now_ms() < until
    }

    /// Remember the provider's reported headroom.
    pub fn observe_rate_limit(&self, rl: &RateLimitInfo) {
        if rl.remaining_requests.is_none() && rl.remaining_tokens.is_none() {
            return;
        }
        self.remaining_requests
            .store(rl.remaining_requests.unwrap_or(u64::MAX), Relaxed);
        self.remaining_tokens
            .store(rl.remaining_tokens.unwrap_or(u64::MAX), Relaxed);
        let reset = rl
            .reset_requests
            .max(rl.reset_tokens)
            .unwrap_or(Duration::from_secs(1));
        self.headroom_until
            .store(now_ms() + reset.as_millis() as u64, Relaxed);
    }

    /// The provider's last reported remaining requests and tokens, while that report is
    /// current (until its reset time); `None` for a figure it did not report.
    pub fn headroom(&self) -> Option<(Option<u64>, Option<u64>)> {
        if now_ms() >= self.headroom_until.load(Relaxed) {
            return None;
        }
        let known = |v: u64| (v != u64::MAX).then_some(v);
        Some((
            known(self.remaining_requests.load(Relaxed)),
            known(self.remaining_tokens.load(Relaxed)),
        ))
    }

    /// Whether the provider's last report leaves no room for a request of `tokens` tokens.
    pub fn low_headroom(&self, tokens: u64) -> bool {
        (self.remaining_requests.load(Relaxed) <= 1 || self.remaining_tokens.load(Relaxed) < tokens)
            && now_ms() < self.headroom_until.load(Relaxed)
    }
}

/// Failures that say something about the deployment rather than the request.
fn counts_against_health(class: ErrorClass) -> bool {
    !matches!(
        class,
        ErrorClass::BadRequest
            | ErrorClass::ContextLength
            | ErrorClass::ContentPolicy
            | ErrorClass::Internal
            | ErrorClass::NotFound
            | ErrorClass::HedgeLost
            | ErrorClass::TierUnavailable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_reported_while_current_and_only_what_the_provider_said() {
        let h = Health::default();
        assert_eq!(h.headroom(), None, "nothing reported yet");
        h.observe_rate_limit(&RateLimitInfo {
            remaining_requests: Some(7),
            reset_requests: Some(Duration::from_secs(60)),
            ..RateLimitInfo::default()
        });
        assert_eq!(h.headroom(), Some((Some(7), None)));
        h.observe_rate_limit(&RateLimitInfo {
            remaining_tokens: Some(100),
            reset_tokens: Some(Duration::ZERO),
            ..RateLimitInfo::default()
        });
        assert_eq!(
            h.headroom(),
            None,
            "a report past its reset time is not current"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_probes_and_closes() {
        let h = Health::default();
        for _ in 0..CONSECUTIVE_FAILURES {
            assert_eq!(h.admit(), Admit::Yes);
            h.on_failure(ErrorClass::Server);
        }
        assert_eq!(h.state(), CircuitState::Open);
        assert_eq!(h.admit(), Admit::No);
        tokio::time::advance(COOLDOWN_MAX).await;
        assert_eq!(h.state(), CircuitState::HalfOpen);
        assert_eq!(h.admit(), Admit::Probe);
        assert_eq!(h.admit(), Admit::No, "only one probe at a time");
        h.on_failure(ErrorClass::Server);
        assert_eq!(h.state(), CircuitState::Open, "a failed probe re-opens");
        tokio::time::advance(COOLDOWN_MAX).await;
        assert_eq!(h.admit(), Admit::Probe);
        h.on_success();
        assert_eq!(h.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peers_open_circuit_opens_here_and_is_not_reported_back() {
        let (here, there) = (Health::default(), Health::default());
        for _ in 0..CONSECUTIVE_FAILURES {
            there.on_failure(ErrorClass::Server);
        }
        let (circuit, quota) = there.own_outage_ms();
        assert!(circuit >= COOLDOWN_MIN.as_millis() as u64 && quota == 0);
        here.from_peers(circuit, 0);
        assert_eq!(here.state(), CircuitState::Open);
        assert_eq!(
            here.own_outage_ms(),
            (0, 0),
            "a peer's circuit is not echoed"
        );
        // `now_ms` counts from a process-wide start that another test's runtime may have set
        // later than this runtime's paused clock (it then reads as the start until the clock
        // passes it): compare the two breakers with each other, then go well past both.
        tokio::time::advance(Duration::from_millis(circuit)).await;
        assert_eq!(here.state(), there.state(), "the same deadline");
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(here.state(), CircuitState::HalfOpen);
        assert_eq!(here.admit(), Admit::Probe);
        here.on_success();
        assert_eq!(here.state(), CircuitState::Closed);
        there.exhaust_quota();
        let (_, quota) = there.own_outage_ms();
        here.from_peers(0, quota);
        assert!(here.quota_exhausted() && here.own_outage_ms().1 == 0);
    }

    #[test]
    fn client_errors_do_not_open_the_circuit() {
        let h = Health::default();
        for _ in 0..50 {
            h.on_failure(ErrorClass::BadRequest);
        }
        assert_eq!(h.state(), CircuitState::Closed);
    }

    #[test]
    fn retry_budget_is_bounded() {
        let h = Health::default();
        let mut granted = 0;
        for _ in 0..1000 {
            if h.spend_retry() {
                granted += 1;
            }
        }
        assert_eq!(granted, 10, "the starting reserve only");
        for _ in 0..100 {
            h.earn_retry();
        }
        let mut more = 0;
        while h.spend_retry() {
            more += 1;
        }
        assert_eq!(more, 20, "0.2 retries per request");
    }
}

/// Usage of one provider account in the current minute, against its configured limits.
/// Shared by every deployment of the provider; all atomics. With `[state] url` the counts are
/// every replica's: what this one adds is pushed to Redis every second and the minute's totals
/// read back ([`ProviderUsage::take_pending`], [`ProviderUsage::set_totals`]).
#[derive(Debug, Default)]
pub struct ProviderUsage {
    minute: AtomicU64,
    requests: AtomicU64,
    tokens: AtomicU64,
    /// Added here since the last push to the shared counts.
    pending_requests: AtomicU64,
    pending_tokens: AtomicU64,
}

/// Keep this share of a configured limit free, so traffic spills before the provider says 429.
const LIMIT_HEADROOM_PERCENT: u64 = 95;

impl ProviderUsage {
    fn roll(&self) -> u64 {
        let minute = now_ms() / 60_000;
        if self.minute.swap(minute, Relaxed) != minute {
            self.requests.store(0, Relaxed);
            self.tokens.store(0, Relaxed);
            self.pending_requests.store(0, Relaxed);
            self.pending_tokens.store(0, Relaxed);
        }
        minute
    }

    /// Count a request about to be sent, with its estimated tokens.
    pub fn record(&self, tokens: u64) {
        self.roll();
        self.requests.fetch_add(1, Relaxed);
        self.tokens.fetch_add(tokens, Relaxed);
        self.pending_requests.fetch_add(1, Relaxed);
        self.pending_tokens.fetch_add(tokens, Relaxed);
    }

    /// The minute (unix minutes) and the requests and tokens added here since the last push
    /// (now taken: push them, then [`ProviderUsage::set_totals`], or give them back with
    /// [`ProviderUsage::restore_pending`]).
    pub fn take_pending(&self) -> (u64, u64, u64) {
        let minute = self.roll();
        (
            minute,
            self.pending_requests.swap(0, Relaxed),
            self.pending_tokens.swap(0, Relaxed),
        )
    }

    /// A push that failed: what was taken is pending again.
    pub fn restore_pending(&self, minute: u64, requests: u64, tokens: u64) {
        if self.minute.load(Relaxed) == minute {
            self.pending_requests.fetch_add(requests, Relaxed);
            self.pending_tokens.fetch_add(tokens, Relaxed);
        }
    }

    /// The minute's totals across replicas after a push: this replica's counts become them,
    /// plus what was added here since.
    pub fn set_totals(&self, minute: u64, requests: u64, tokens: u64) {
        if self.minute.load(Relaxed) == minute {
            self.requests
                .store(requests + self.pending_requests.load(Relaxed), Relaxed);
            self.tokens
                .store(tokens + self.pending_tokens.load(Relaxed), Relaxed);
        }
    }

    /// Requests and tokens counted this minute.
    pub fn current(&self) -> (u64, u64) {
        self.roll();
        (self.requests.load(Relaxed), self.tokens.load(Relaxed))
    }

    /// Whether one more request of `tokens` would pass 95% of a configured limit this minute.
    pub fn near_limit(&self, limits: &crate::config::ProviderLimits, tokens: u64) -> bool {
        if limits.rpm.is_none() && limits.tpm.is_none() {
            return false;
        }
        self.roll();
        let over = |used: u64, add: u64, limit: Option<u64>| {
            limit.is_some_and(|l| (used + add) * 100 > l * LIMIT_HEADROOM_PERCENT)
        };
        over(self.requests.load(Relaxed), 1, limits.rpm)
            || over(self.tokens.load(Relaxed), tokens, limits.tpm)
    }
}

/// Tokens a deployment used this calendar month (UTC), for monthly volume price tiers.
///
/// With `[state] url` the count is shared: what this replica adds is pushed to Redis every
/// second and the month's total across replicas read back ([`MonthlyTokens::take_pending`],
/// [`MonthlyTokens::set_total`]).
#[derive(Debug, Default)]
pub struct MonthlyTokens {
    month: AtomicU64,
    tokens: AtomicU64,
    /// Added here since the last push to the shared count.
    pending: AtomicU64,
}

impl MonthlyTokens {
    fn roll(&self, month: u64) {
        if self.month.swap(month, Relaxed) != month {
            self.tokens.store(0, Relaxed);
            self.pending.store(0, Relaxed);
        }
    }

    /// Add a request's tokens; returns the tokens used this month before it.
    pub fn add(&self, tokens: u64, unix_secs: u64) -> u64 {
        self.roll(calendar_month(unix_secs));
        self.pending.fetch_add(tokens, Relaxed);
        self.tokens.fetch_add(tokens, Relaxed)
    }

    /// The tokens used this month so far.
    pub fn current(&self, unix_secs: u64) -> u64 {
        self.roll(calendar_month(unix_secs));
        self.tokens.load(Relaxed)
    }

    /// The month (`calendar_month`), this replica's count before what is pending, and what
    /// was added since the last push (now taken: push it, then [`MonthlyTokens::set_total`]).
    pub fn take_pending(&self, unix_secs: u64) -> (u64, u64, u64) {
        let month = calendar_month(unix_secs);
        self.roll(month);
        let pending = self.pending.swap(0, Relaxed);
        let base = self.tokens.load(Relaxed).saturating_sub(pending);
        (month, base, pending)
    }

    /// A push that failed: what was taken is pending again.
    pub fn restore_pending(&self, month: u64, pending: u64) {
        if self.month.load(Relaxed) == month {
            self.pending.fetch_add(pending, Relaxed);
        }
    }

    /// The month's total across replicas, as the shared count says after a push: this
    /// replica's count becomes it, plus what was added here since.
    pub fn set_total(&self, month: u64, total: u64) {
        if self.month.load(Relaxed) == month {
            self.tokens
                .store(total + self.pending.load(Relaxed), Relaxed);
        }
    }

    /// Add tokens recorded earlier this month (from the ledger, at start).
    pub fn seed(&self, tokens: u64, unix_secs: u64) {
        self.roll(calendar_month(unix_secs));
        self.tokens.fetch_add(tokens, Relaxed);
    }
}

/// `year * 12 + month - 1` of a unix time (UTC).
pub fn calendar_month(unix_secs: u64) -> u64 {
    let (y, m) = civil_year_month((unix_secs / 86_400) as i64);
    (y * 12 + m - 1) as u64
}

/// Unix milliseconds of the first instant (UTC) of the month containing `unix_secs`.
pub fn month_start_ms(unix_secs: u64) -> i64 {
    let (y, m) = civil_year_month((unix_secs / 86_400) as i64);
    days_from_civil(y, m) * 86_400_000
}

/// Year and month of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m)
}

/// Days since 1970-01-01 of the first day of a month (Hinnant's `days_from_civil`, day 1).
fn days_from_civil(y: i64, m: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn months_are_calendar_months() {
        // 2026-11-24T05:00:00Z and 2026-11-01T00:00:00Z, 2026-12-01T00:00:00Z, 2024-02-29T12:00:00Z
        assert_eq!(calendar_month(1_795_496_400), 2026 * 12 + 10);
        assert_eq!(month_start_ms(1_795_496_400), 1_793_491_200_000);
        assert_eq!(calendar_month(1_793_491_200), 2026 * 12 + 10);
        assert_eq!(calendar_month(1_793_491_199), 2026 * 12 + 9);
        assert_eq!(calendar_month(1_796_083_200), 2026 * 12 + 11);
        assert_eq!(calendar_month(1_709_208_000), 2024 * 12 + 1);
        assert_eq!(month_start_ms(1_709_208_000), 1_706_745_600_000);
    }

    #[test]
    fn the_counter_restarts_each_month() {
        let m = MonthlyTokens::default();
        assert_eq!(m.add(10, 1_795_496_400), 0);
        m.seed(100, 1_795_496_400);
        assert_eq!(m.add(5, 1_795_496_400), 110);
        assert_eq!(m.add(5, 1_796_083_200), 0, "December starts at zero");
    }
}
