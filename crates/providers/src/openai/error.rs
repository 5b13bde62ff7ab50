//! OpenAI error bodies → [`ProviderError`].

use serde::Deserialize;

use crate::{ratelimit::retry_after, ErrorClass, ProviderError};

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// Classify a non-2xx upstream response, keeping the provider's message.
pub(super) async fn from_response(resp: reqwest::Response) -> ProviderError {
    let status = resp.status().as_u16();
    // `Retry-After` / `retry-after-ms`, else when the exhausted rate-limit window resets.
    let retry = retry_after(resp.headers()).or_else(|| {
        let rl = crate::RateLimitInfo::from_openai_headers(resp.headers());
        match (rl.remaining_requests, rl.remaining_tokens) {
            (Some(0), _) => rl.reset_requests,
            (_, Some(0)) => rl.reset_tokens,
            _ => None,
        }
    });
    let body = crate::http::read_error(resp).await;
    let mut err = classify(status, &body);
    err.retry_after = retry;
    err
}

/// Classify a status and body.
pub(crate) fn classify(status: u16, body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error);
    let code = parsed.as_ref().and_then(|e| match &e.code {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    });
    let kind = parsed.as_ref().and_then(|e| e.kind.clone());
    let message = parsed
        .and_then(|e| e.message)
        .unwrap_or_else(|| truncate(&String::from_utf8_lossy(body), 512));
    let hint = |needle: &str| code.as_deref() == Some(needle) || kind.as_deref() == Some(needle);
    let class = match status {
        429 if hint("insufficient_quota") => ErrorClass::Quota,
        429 if hint("resource_unavailable")
            || message
                .to_ascii_lowercase()
                .contains("resource unavailable") =>
        {
            ErrorClass::TierUnavailable
        }
        429 => ErrorClass::RateLimited,
        529 | 503 => ErrorClass::Overloaded,
        500..=599 => ErrorClass::Server,
        408 => ErrorClass::UpstreamTimeout,
        401 | 403 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        400 | 413 | 422
            if hint("context_length_exceeded")
                || message.contains("maximum context length")
                || message.contains("context_length_exceeded") =>
        {
            ErrorClass::ContextLength
        }
        400 if hint("content_policy_violation") || hint("content_filter") => {
            ErrorClass::ContentPolicy
        }
        _ => ErrorClass::BadRequest,
    };
    ProviderError {
        class,
        status: Some(status),
        message,
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

    #[test]
    fn classifies_openai_errors() {
        let ctx = br#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert_eq!(classify(400, ctx).class, ErrorClass::ContextLength);
        let quota = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert_eq!(classify(429, quota).class, ErrorClass::Quota);
        assert_eq!(classify(429, b"{}").class, ErrorClass::RateLimited);
        assert_eq!(classify(529, b"overloaded").class, ErrorClass::Overloaded);
        assert_eq!(classify(502, b"").class, ErrorClass::Server);
        let policy = br#"{"error":{"message":"rejected","type":"invalid_request_error","code":"content_policy_violation"}}"#;
        let e = classify(400, policy);
        assert_eq!(e.class, ErrorClass::ContentPolicy);
        assert_eq!(e.message, "rejected");
        assert!(!e.retryable());
    }
}
