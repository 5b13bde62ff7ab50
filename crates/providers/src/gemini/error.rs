//! Google error bodies (`{"error":{"code","message","status","details"}}`) → [`ProviderError`].
//!
//! | status | `status` | class |
//! |---|---|---|
//! | 400 | `INVALID_ARGUMENT` / `FAILED_PRECONDITION` with a token-limit message | context length |
//! | 400 | other | bad request |
//! | 401 / 403 | `UNAUTHENTICATED` / `PERMISSION_DENIED` | auth |
//! | 404 | `NOT_FOUND` | not found |
//! | 429 | `RESOURCE_EXHAUSTED`, message mentions quota or billing | quota |
//! | 429 | `RESOURCE_EXHAUSTED` | rate limited (`RetryInfo.retryDelay` honoured) |
//! | 500 | `INTERNAL` | server |
//! | 503 | `UNAVAILABLE` | overloaded |
//! | 504 | `DEADLINE_EXCEEDED` | upstream timeout |
//!
//! A request that asked for the `flex` or `priority` tier (`serviceTier`) and got a 503, or a
//! 429 that is neither a quota nor a rate limit with a retry delay, found the tier without
//! capacity: tier unavailable ([`for_tier`]), so the attempt loop asks again at standard.

use serde::Deserialize;
use serde_json::Value;

use crate::ratelimit::{parse_reset, retry_after};
use crate::{ErrorClass, ProviderError};

#[derive(Deserialize)]
struct Envelope {
    error: Body,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

/// The class of an error to a request that asked for a non-standard tier (`asked_tier`):
/// capacity errors are the tier's (best-effort availability), not the model's.
pub(super) fn for_tier(mut e: ProviderError, asked_tier: bool) -> ProviderError {
    let capacity = match e.class {
        ErrorClass::Overloaded => true,
        ErrorClass::RateLimited => e.retry_after.is_none(),
        _ => false,
    };
    if asked_tier && capacity {
        e.class = ErrorClass::TierUnavailable;
    }
    e
}

/// Classify a non-2xx upstream response, keeping Google's message.
pub(super) async fn from_response(resp: reqwest::Response) -> ProviderError {
    let status = resp.status().as_u16();
    let header_retry = retry_after(resp.headers());
    let body = crate::http::read_error(resp).await;
    let mut err = classify(status, &body);
    if header_retry.is_some() {
        err.retry_after = header_retry;
    }
    err
}

/// Classify a status and a body. The body may also be a one-element array (some Google
/// front ends wrap errors that way).
pub(crate) fn classify(status: u16, body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<Envelope>(body)
        .or_else(|_| {
            serde_json::from_slice::<Vec<Envelope>>(body)
                .map_err(|_| ())
                .and_then(|v| v.into_iter().next().ok_or(()))
        })
        .ok()
        .map(|e| e.error);
    let google_status = parsed.as_ref().and_then(|e| e.status.clone());
    let retry = parsed.as_ref().and_then(|e| {
        e.details.iter().find_map(|d| {
            let is_retry = d
                .get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
            is_retry
                .then(|| {
                    d.get("retryDelay")
                        .and_then(Value::as_str)
                        .and_then(parse_reset)
                })
                .flatten()
        })
    });
    let message = parsed
        .and_then(|e| e.message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned());
    let lower = message.to_ascii_lowercase();
    let whole = String::from_utf8_lossy(body).to_ascii_lowercase();
    let gs = google_status.as_deref().unwrap_or("");
    let class = match (status, gs) {
        (429, _) | (_, "RESOURCE_EXHAUSTED") => exhausted(&lower, &whole, retry.is_some()),
        (503, _) | (_, "UNAVAILABLE") => ErrorClass::Overloaded,
        (504, _) | (_, "DEADLINE_EXCEEDED") => ErrorClass::UpstreamTimeout,
        (500..=599, _) | (_, "INTERNAL") => ErrorClass::Server,
        (401 | 403, _) | (_, "UNAUTHENTICATED" | "PERMISSION_DENIED") => ErrorClass::Auth,
        (404, _) | (_, "NOT_FOUND") => ErrorClass::NotFound,
        (408, _) => ErrorClass::UpstreamTimeout,
        _ if lower.contains("exceeds the maximum number of tokens")
            || lower.contains("input token count")
            || lower.contains("maximum context length") =>
        {
            ErrorClass::ContextLength
        }
        _ if lower.contains("api key not valid") || lower.contains("api_key_invalid") => {
            ErrorClass::Auth
        }
        _ => ErrorClass::BadRequest,
    };
    ProviderError {
        class,
        status: Some(status),
        message,
        code: google_status,
        retry_after: retry,
    }
}

/// 429 / `RESOURCE_EXHAUSTED`: a rate limit (retry later) or an exhausted quota (move on).
///
/// Google words both alike ("check quota"), so the quota id in the details decides first:
/// per-minute / per-second quotas are rate limits, per-day quotas exhaustion. Then a
/// `RetryInfo` means a rate limit; then billing, or "exceeded your current quota", means
/// exhaustion; anything else ("Resource has been exhausted (e.g. check quota).") is a rate limit.
fn exhausted(message: &str, whole: &str, has_retry_info: bool) -> ErrorClass {
    if whole.contains("perminute") || whole.contains("persecond") || whole.contains("per minute") {
        ErrorClass::RateLimited
    } else if whole.contains("perday") || whole.contains("per day") {
        ErrorClass::Quota
    } else if has_retry_info {
        ErrorClass::RateLimited
    } else if message.contains("billing") || message.contains("exceeded your current quota") {
        ErrorClass::Quota
    } else {
        ErrorClass::RateLimited
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn capacity_errors_of_a_tiered_request_are_the_tiers() {
        let busy = classify(
            429,
            &body(
                429,
                "RESOURCE_EXHAUSTED",
                "The requested service tier has no capacity right now.",
            ),
        );
        assert_eq!(
            for_tier(busy.clone(), true).class,
            ErrorClass::TierUnavailable
        );
        assert_eq!(for_tier(busy, false).class, ErrorClass::RateLimited);
        let down = classify(503, &body(503, "UNAVAILABLE", "The model is overloaded."));
        assert_eq!(for_tier(down, true).class, ErrorClass::TierUnavailable);
        let quota = classify(
            429,
            &body(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, check billing.",
            ),
        );
        assert_eq!(for_tier(quota, true).class, ErrorClass::Quota);
    }

    fn body(code: u16, status: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({"error": {"code": code, "message": message, "status": status}}),
        )
        .unwrap()
    }

    #[test]
    fn classifies_google_errors() {
        let c = |code, status, msg| classify(code, &body(code, status, msg)).class;
        assert_eq!(
            c(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
            ),
            ErrorClass::ContextLength
        );
        assert_eq!(
            c(
                400,
                "INVALID_ARGUMENT",
                "Invalid value at 'contents[0].role'"
            ),
            ErrorClass::BadRequest
        );
        assert_eq!(
            c(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota)."
            ),
            ErrorClass::RateLimited
        );
        assert_eq!(
            c(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details."
            ),
            ErrorClass::Quota
        );
        let per_minute = br#"{"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}]}}"#;
        assert_eq!(classify(429, per_minute).class, ErrorClass::RateLimited);
        assert_eq!(
            c(429, "RESOURCE_EXHAUSTED", "Too many requests"),
            ErrorClass::RateLimited
        );
        assert_eq!(
            c(503, "UNAVAILABLE", "The model is overloaded."),
            ErrorClass::Overloaded
        );
        assert_eq!(
            c(500, "INTERNAL", "An internal error has occurred."),
            ErrorClass::Server
        );
        assert_eq!(
            c(504, "DEADLINE_EXCEEDED", "Deadline exceeded"),
            ErrorClass::UpstreamTimeout
        );
        assert_eq!(c(403, "PERMISSION_DENIED", "denied"), ErrorClass::Auth);
        assert_eq!(c(401, "UNAUTHENTICATED", "no key"), ErrorClass::Auth);
        assert_eq!(
            c(404, "NOT_FOUND", "models/x is not found"),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(502, b"<html>bad gateway</html>").class,
            ErrorClass::Server
        );
    }

    #[test]
    fn retry_info_is_honoured() {
        let b = br#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"13s"}]}}"#;
        let e = classify(429, b);
        assert_eq!(e.retry_after, Some(Duration::from_secs(13)));
        assert_eq!(e.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert!(e.retryable());
    }
}
