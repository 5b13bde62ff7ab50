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
    /// Complete the answer already begun from a candidate that can continue it (prefill).
    Resume,
    /// Give up and return this error to the client.
    Stop,
}

/// Where in a request the failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before anything was sent to the client: retry or fall over invisibly.
    BeforeFirstByte,
    /// A hedged first attempt failed: only moving on is possible (the hedge already raced).
    Hedge,
    /// After the first byte of a stream: only a continuation can hide the failure.
    MidStream,
}

/// Longest `Retry-After` we wait on the same deployment rather than moving on.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Decide what follows `err`, the `tries`-th failure (0-based) on one deployment, at `stage`.
///
/// Before the first byte: a transient 5xx, a connection failure or a connection dropped
/// mid-answer is retried once on the same deployment; a 429 is retried once only when the
/// provider asks for a short wait; a deployment that timed out, is overloaded or cut a stream
/// is left at once for the next candidate. A request the provider rejected as bad is never
/// retried. After a hedge, only moving on is possible. Mid-stream, a cut, stall or malformed
/// stream is resumed from a continuation; anything else ends the stream with an error.
pub(crate) fn decide(
    err: &ProviderError,
    tries: u32,
    remaining: Duration,
    stage: Stage,
) -> Decision {
    use ErrorClass::*;
    match stage {
        Stage::BeforeFirstByte => {}
        Stage::Hedge if err.class.try_next_candidate() => return Decision::Next,
        Stage::MidStream if matches!(err.class, StreamCut | IdleTimeout | Malformed) => {
            return Decision::Resume;
        }
        Stage::Hedge | Stage::MidStream => return Decision::Stop,
    }
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

/// Whether a batch submission (the batch lane's phase 5) that failed with `err` is made again
/// at the worker's next pass — the provider is down or busy — rather than its lines failed.
pub fn batch_submit_again(err: &ProviderError) -> bool {
    err.class.retryable()
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

    const B: Stage = Stage::BeforeFirstByte;

    #[test]
    fn decisions_match_the_failure() {
        let long = Duration::from_secs(60);
        assert!(matches!(
            decide(&err(ErrorClass::Server), 0, long, B),
            Decision::RetrySame(_)
        ));
        assert_eq!(decide(&err(ErrorClass::Server), 1, long, B), Decision::Next);
        assert_eq!(
            decide(&err(ErrorClass::FirstTokenTimeout), 0, long, B),
            Decision::Next
        );
        assert_eq!(
            decide(&err(ErrorClass::BadRequest), 0, long, B),
            Decision::Stop
        );
        assert_eq!(
            decide(&err(ErrorClass::ContentPolicy), 0, long, B),
            Decision::Stop
        );
        assert_eq!(
            decide(&err(ErrorClass::ContextLength), 0, long, B),
            Decision::Next
        );
        let mut rl = err(ErrorClass::RateLimited);
        assert_eq!(decide(&rl, 0, long, B), Decision::Next);
        rl.retry_after = Some(Duration::from_secs(1));
        assert_eq!(
            decide(&rl, 0, long, B),
            Decision::RetrySame(Duration::from_secs(1))
        );
        assert_eq!(decide(&rl, 1, long, B), Decision::Next);
    }

    #[test]
    fn hedges_move_on_and_streams_resume_only_what_a_continuation_can_hide() {
        let long = Duration::from_secs(60);
        let d = |c, s| decide(&err(c), 0, long, s);
        assert_eq!(d(ErrorClass::Server, Stage::Hedge), Decision::Next);
        assert_eq!(d(ErrorClass::BadRequest, Stage::Hedge), Decision::Stop);
        for c in [
            ErrorClass::StreamCut,
            ErrorClass::IdleTimeout,
            ErrorClass::Malformed,
        ] {
            assert_eq!(d(c, Stage::MidStream), Decision::Resume);
        }
        assert_eq!(d(ErrorClass::Server, Stage::MidStream), Decision::Stop);
        assert_eq!(
            d(ErrorClass::FirstTokenTimeout, Stage::MidStream),
            Decision::Stop
        );
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
