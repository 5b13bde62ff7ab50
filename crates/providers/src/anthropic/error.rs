//! Anthropic error bodies (`{"type":"error","error":{"type":…,"message":…}}`) → [`ProviderError`].

use super::wire::{ErrorBody, ErrorEnvelope};
use crate::{ratelimit::retry_after, ErrorClass, ProviderError};

/// Classify a non-2xx upstream response, keeping the provider's message.
pub(super) async fn from_response(resp: reqwest::Response) -> ProviderError {
    let status = resp.status().as_u16();
    let retry = retry_after(resp.headers());
    let body = crate::http::read_error(resp).await;
    let mut err = classify(status, &body);
    err.retry_after = retry;
    err
}

/// Classify a status and body.
pub(crate) fn classify(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(e) => classify_body(Some(status), &e.error),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let body = ErrorBody {
                kind: String::new(),
                message: truncate(&text, 512),
            };
            classify_body(Some(status), &body)
        }
    }
}

/// Classify an error by status (absent for a mid-stream `error` event) and body.
pub(super) fn classify_body(status: Option<u16>, e: &ErrorBody) -> ProviderError {
    let msg = e.message.to_ascii_lowercase();
    let kind = e.kind.as_str();
    let quota = msg.contains("credit balance")
        || msg.contains("spend limit")
        || msg.contains("enforced_spend_limit")
        || msg.contains("billing");
    let class = match (status, kind) {
        _ if quota => ErrorClass::Quota,
        (Some(429), _) | (_, "rate_limit_error") => ErrorClass::RateLimited,
        (Some(529 | 503), _) | (_, "overloaded_error") => ErrorClass::Overloaded,
        (Some(504), _) | (_, "timeout_error") => ErrorClass::UpstreamTimeout,
        (Some(500..=599), _) | (_, "api_error") => ErrorClass::Server,
        (Some(408), _) => ErrorClass::UpstreamTimeout,
        (Some(401), _) | (_, "authentication_error") => ErrorClass::Auth,
        (Some(403), _) | (_, "permission_error") => ErrorClass::Auth,
        (Some(404), _) | (_, "not_found_error") => ErrorClass::NotFound,
        _ if msg.contains("prompt is too long")
            || msg.contains("context window")
            || msg.contains("context length") =>
        {
            ErrorClass::ContextLength
        }
        _ if msg.contains("content filtering")
            || msg.contains("usage policy")
            || msg.contains("content policy") =>
        {
            ErrorClass::ContentPolicy
        }
        (None, "") => ErrorClass::Server,
        _ => ErrorClass::BadRequest,
    };
    let code = match class {
        ErrorClass::ContextLength => Some("context_length_exceeded".to_owned()),
        ErrorClass::Quota => Some("insufficient_quota".to_owned()),
        _ if kind.is_empty() => None,
        _ => Some(kind.to_owned()),
    };
    ProviderError {
        class,
        status,
        message: e.message.clone(),
        code,
        retry_after: None,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({"type": "error", "error": {"type": kind, "message": message}}),
        )
        .unwrap()
    }

    #[test]
    fn classifies_anthropic_errors() {
        let c = |status, kind, msg| classify(status, &body(kind, msg)).class;
        assert_eq!(
            c(
                400,
                "invalid_request_error",
                "prompt is too long: 250000 tokens > 200000 maximum"
            ),
            ErrorClass::ContextLength
        );
        assert_eq!(
            c(
                400,
                "invalid_request_error",
                "messages: roles must alternate"
            ),
            ErrorClass::BadRequest
        );
        assert_eq!(
            c(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API."
            ),
            ErrorClass::Quota
        );
        assert_eq!(
            c(401, "authentication_error", "invalid x-api-key"),
            ErrorClass::Auth
        );
        assert_eq!(c(403, "permission_error", "no access"), ErrorClass::Auth);
        assert_eq!(c(404, "not_found_error", "model: x"), ErrorClass::NotFound);
        assert_eq!(
            c(413, "request_too_large", "too large"),
            ErrorClass::BadRequest
        );
        assert_eq!(
            c(429, "rate_limit_error", "slow down"),
            ErrorClass::RateLimited
        );
        assert_eq!(c(500, "api_error", "oops"), ErrorClass::Server);
        assert_eq!(
            c(529, "overloaded_error", "Overloaded"),
            ErrorClass::Overloaded
        );
        assert_eq!(
            classify(502, b"<html>bad gateway</html>").class,
            ErrorClass::Server
        );
        let e = classify_body(
            None,
            &ErrorBody {
                kind: "overloaded_error".into(),
                message: "Overloaded".into(),
            },
        );
        assert_eq!((e.class, e.status), (ErrorClass::Overloaded, None));
        assert!(e.retryable());
    }
}
