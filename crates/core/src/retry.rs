//! The one place that decides what follows a failed attempt, and how long to wait.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use switchyard_providers::{ErrorClass, ProviderError};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Try the same deployment again after a pause.
    RetrySame(Duration),
    /// Move on to the next candidate.
    Next,
    /// Give up and return this error to the client.
    Stop,
}

/// Longest `Retry-After` we wait on the same deployment rather than moving on.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Decide what follows `err`, the `tries`-th failure (0-based) on one deployment.
///
/// A transient 5xx, a connection failure or a connection dropped mid-answer is retried once on
/// the same deployment; a 429 is
/// retried once only when the provider asks for a short wait; a deployment that timed out,
/// is overloaded or cut a stream is left at once for the next candidate. A request the
/// provider rejected as bad is never retried.
pub(crate) fn decide(err: &ProviderError, tries: u32, remaining: Duration) -> Decision {
    use ErrorClass::*;
    match err.class {
        Server | Connect | StreamCut if tries == 0 => retry_after(backoff(tries), remaining),
        RateLimited if tries == 0 => match err.retry_after {
            Some(wait) if wait <= MAX_RETRY_AFTER => retry_after(wait, remaining),
            _ => Decision::Next,
        },
        ContentPolicy | BadRequest | Internal => Decision::Stop,
        _ if err.class.try_next_candidate() => Decision::Next,
        _ => Decision::Stop,
    }
}

fn retry_after(wait: Duration, remaining: Duration) -> Decision {
    if wait < remaining / 2 {
        Decision::RetrySame(wait)
    } else {
        Decision::Next
    }
}

/// Exponential backoff with jitter: ~50 ms, ~100 ms, … capped at 2 s.
fn backoff(tries: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(2))
        .with_jitter()
        .without_max_times()
        .build()
        .nth(tries as usize)
        .unwrap_or(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(class: ErrorClass) -> ProviderError {
        ProviderError::new(class, "x")
    }

    #[test]
    fn decisions_match_the_failure() {
        let long = Duration::from_secs(60);
        assert!(matches!(
            decide(&err(ErrorClass::Server), 0, long),
            Decision::RetrySame(_)
        ));
        assert_eq!(decide(&err(ErrorClass::Server), 1, long), Decision::Next);
        assert_eq!(
            decide(&err(ErrorClass::FirstTokenTimeout), 0, long),
            Decision::Next
        );
        assert_eq!(
            decide(&err(ErrorClass::BadRequest), 0, long),
            Decision::Stop
        );
        assert_eq!(
            decide(&err(ErrorClass::ContentPolicy), 0, long),
            Decision::Stop
        );
        assert_eq!(
            decide(&err(ErrorClass::ContextLength), 0, long),
            Decision::Next
        );
        let mut rl = err(ErrorClass::RateLimited);
        assert_eq!(decide(&rl, 0, long), Decision::Next);
        rl.retry_after = Some(Duration::from_secs(1));
        assert_eq!(
            decide(&rl, 0, long),
            Decision::RetrySame(Duration::from_secs(1))
        );
        assert_eq!(decide(&rl, 1, long), Decision::Next);
    }

    #[test]
    fn backoff_stays_in_bounds() {
        for t in 0..20 {
            let d = backoff(t);
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_secs(4),
                "{d:?}"
            );
        }
    }
}
