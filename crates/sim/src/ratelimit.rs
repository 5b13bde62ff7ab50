//! Fixed 60-second-window rate limits (rpm / tpm), lock-free, and the `x-ratelimit-*` headers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(60);
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// One counter: the window index and the amount used in it, packed in one atomic.
#[derive(Debug)]
pub(crate) struct Window {
    limit: u64,
    state: AtomicU64,
}

/// Which limit rejected a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    Requests,
    Tokens,
}

impl LimitKind {
    /// The OpenAI `error.type` of a rate-limit error and the header suffix.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
        }
    }
}

/// A rejection: which limit, its size, and seconds until the window resets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rejection {
    pub kind: LimitKind,
    pub limit: u64,
    pub used: u64,
    pub requested: u64,
    pub retry_after_secs: u64,
}

impl Window {
    pub(crate) fn new(limit: u64) -> Window {
        Window {
            limit,
            state: AtomicU64::new(0),
        }
    }

    /// Take `amount` in the window `idx`; `Err(used)` when it does not fit.
    fn acquire(&self, idx: u64, amount: u64) -> Result<u64, u64> {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let used = if cur >> COUNT_BITS == idx {
                cur & COUNT_MASK
            } else {
                0
            };
            let next_used = used.saturating_add(amount);
            if next_used > self.limit {
                return Err(used);
            }
            let next = (idx << COUNT_BITS) | (next_used & COUNT_MASK);
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(next_used),
                Err(actual) => cur = actual,
            }
        }
    }

    fn used(&self, idx: u64) -> u64 {
        let cur = self.state.load(Ordering::Relaxed);
        if cur >> COUNT_BITS == idx {
            cur & COUNT_MASK
        } else {
            0
        }
    }
}

/// The rpm and tpm limits of one model.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
}

impl Limits {
    pub(crate) fn new(rpm: Option<u64>, tpm: Option<u64>) -> Limits {
        Limits {
            requests: rpm.map(Window::new),
            tokens: tpm.map(Window::new),
        }
    }

    pub(crate) fn is_limited(&self) -> bool {
        self.requests.is_some() || self.tokens.is_some()
    }

    /// Admit one request of `tokens` estimated tokens at `elapsed` since start. Appends the
    /// `x-ratelimit-*` headers (state after admission) to `headers`.
    pub(crate) fn admit(
        &self,
        elapsed: Duration,
        tokens: u64,
        headers: &mut Vec<(&'static str, String)>,
    ) -> Result<(), Rejection> {
        if !self.is_limited() {
            return Ok(());
        }
        let idx = elapsed.as_secs() / WINDOW.as_secs();
        let reset = WINDOW.saturating_sub(Duration::from_secs(elapsed.as_secs() % 60))
            - Duration::from_nanos(u64::from(elapsed.subsec_nanos()));
        let retry_after_secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
        let mut result = Ok(());
        for (kind, window, amount) in [
            (LimitKind::Requests, &self.requests, 1),
            (LimitKind::Tokens, &self.tokens, tokens),
        ] {
            let Some(w) = window else { continue };
            if result.is_ok() {
                if let Err(used) = w.acquire(idx, amount) {
                    result = Err(Rejection {
                        kind,
                        limit: w.limit,
                        used,
                        requested: amount,
                        retry_after_secs,
                    });
                }
            }
            let (limit_h, remaining_h, reset_h) = match kind {
                LimitKind::Requests => (
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                ),
                LimitKind::Tokens => (
                    "x-ratelimit-limit-tokens",
                    "x-ratelimit-remaining-tokens",
                    "x-ratelimit-reset-tokens",
                ),
            };
            headers.push((limit_h, w.limit.to_string()));
            headers.push((remaining_h, w.limit.saturating_sub(w.used(idx)).to_string()));
            headers.push((reset_h, format_reset(reset)));
        }
        result
    }
}

/// OpenAI's reset format: `20ms`, `1s`, `8.64s`, `6m0s`.
pub(crate) fn format_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mins = ms / 60_000;
    let rest_ms = ms % 60_000;
    let secs = if rest_ms.is_multiple_of(1000) {
        format!("{}s", rest_ms / 1000)
    } else {
        let s = format!("{:.3}", rest_ms as f64 / 1000.0);
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    };
    if mins > 0 {
        format!("{mins}m{secs}")
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_format() {
        assert_eq!(format_reset(Duration::from_millis(20)), "20ms");
        assert_eq!(format_reset(Duration::from_secs(1)), "1s");
        assert_eq!(format_reset(Duration::from_millis(8640)), "8.64s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
    }

    #[test]
    fn window_counts_and_resets() {
        let l = Limits::new(Some(2), Some(100));
        let mut h = Vec::new();
        assert!(l.admit(Duration::from_secs(1), 10, &mut h).is_ok());
        assert!(h.contains(&("x-ratelimit-remaining-requests", "1".to_string())));
        assert!(h.contains(&("x-ratelimit-remaining-tokens", "90".to_string())));
        assert!(l.admit(Duration::from_secs(2), 10, &mut h).is_ok());
        let rej = l.admit(Duration::from_secs(3), 10, &mut h).unwrap_err();
        assert_eq!(rej.kind, LimitKind::Requests);
        assert_eq!(rej.retry_after_secs, 57);
        // Next window.
        assert!(l.admit(Duration::from_secs(61), 10, &mut h).is_ok());
        let rej = l.admit(Duration::from_secs(62), 95, &mut h).unwrap_err();
        assert_eq!(rej.kind, LimitKind::Tokens);
    }
}
