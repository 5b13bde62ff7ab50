//! Bedrock errors → [`ProviderError`].
//!
//! A non-2xx response carries the exception name in the `x-amzn-ErrorType` header (e.g.
//! `ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`) and
//! `{"message": …}` as body. In an event stream, an exception is a message with
//! `:message-type = exception` and `:exception-type = throttlingException` (lower camel case).
//! Both are classified here by the exception name, falling back to the HTTP status.

use super::wire::ErrorBody;
use crate::{ratelimit::retry_after, ErrorClass, ProviderError};

/// Classify a non-2xx upstream response, keeping the provider's message.
pub(super) async fn from_response(resp: reqwest::Response) -> ProviderError {
    let status = resp.status().as_u16();
    let headers = resp.headers();
    let retry = retry_after(headers);
    let kind = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(':').next().unwrap_or(s).trim().to_owned());
    let body = crate::http::read_error(resp).await;
    let mut err = classify(Some(status), kind.as_deref(), &body);
    err.retry_after = retry;
    err
}

/// Classify by exception name (any case), status and body.
pub(crate) fn classify(status: Option<u16>, kind: Option<&str>, body: &[u8]) -> ProviderError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| truncate(&String::from_utf8_lossy(body), 512));
    let lower = message.to_ascii_lowercase();
    let kind_lc = kind.unwrap_or("").to_ascii_lowercase();
    let too_long = lower.contains("too long")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("maximum context")
        || lower.contains("too many input tokens");
    let class = match kind_lc.as_str() {
        "throttlingexception" => ErrorClass::RateLimited,
        "servicequotaexceededexception" => ErrorClass::Quota,
        "serviceunavailableexception" | "modelnotreadyexception" => ErrorClass::Overloaded,
        "modeltimeoutexception" => ErrorClass::UpstreamTimeout,
        "internalserverexception" | "modelerrorexception" => ErrorClass::Server,
        "modelstreamerrorexception" => ErrorClass::StreamCut,
        "validationexception" if too_long => ErrorClass::ContextLength,
        "validationexception" => ErrorClass::BadRequest,
        "accessdeniedexception"
        | "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "expiredtokenexception"
        | "incompletesignatureexception"
        | "missingauthenticationtokenexception" => ErrorClass::Auth,
        "resourcenotfoundexception" => ErrorClass::NotFound,
        _ => by_status(status, too_long),
    };
    let code = match class {
        ErrorClass::ContextLength => Some("context_length_exceeded".to_owned()),
        ErrorClass::Quota => Some("insufficient_quota".to_owned()),
        _ => kind.filter(|k| !k.is_empty()).map(str::to_owned),
    };
    ProviderError {
        class,
        status,
        message,
        code,
        retry_after: None,
    }
}

fn by_status(status: Option<u16>, too_long: bool) -> ErrorClass {
    match status {
        Some(429) => ErrorClass::RateLimited,
        Some(503 | 529) => ErrorClass::Overloaded,
        Some(408) => ErrorClass::UpstreamTimeout,
        Some(500..=599) | None => ErrorClass::Server,
        Some(401 | 403) => ErrorClass::Auth,
        Some(404) => ErrorClass::NotFound,
        Some(400 | 413 | 422) if too_long => ErrorClass::ContextLength,
        Some(_) => ErrorClass::BadRequest,
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

    fn c(status: u16, kind: &str, msg: &str) -> ErrorClass {
        let body = serde_json::to_vec(&serde_json::json!({ "message": msg })).unwrap();
        classify(Some(status), Some(kind), &body).class
    }

    #[test]
    fn classifies_bedrock_errors() {
        assert_eq!(
            c(429, "ThrottlingException", "Too many requests"),
            ErrorClass::RateLimited
        );
        assert_eq!(
            c(
                400,
                "ValidationException",
                "Input is too long for requested model."
            ),
            ErrorClass::ContextLength
        );
        assert_eq!(
            c(
                400,
                "ValidationException",
                "prompt is too long: 210000 tokens > 200000"
            ),
            ErrorClass::ContextLength
        );
        assert_eq!(
            c(
                400,
                "ValidationException",
                "A conversation must start with a user message."
            ),
            ErrorClass::BadRequest
        );
        assert_eq!(
            c(403, "AccessDeniedException", "no access"),
            ErrorClass::Auth
        );
        assert_eq!(
            c(403, "UnrecognizedClientException", "bad key"),
            ErrorClass::Auth
        );
        assert_eq!(
            c(404, "ResourceNotFoundException", "no model"),
            ErrorClass::NotFound
        );
        assert_eq!(
            c(503, "ServiceUnavailableException", "busy"),
            ErrorClass::Overloaded
        );
        assert_eq!(
            c(408, "ModelTimeoutException", "slow"),
            ErrorClass::UpstreamTimeout
        );
        assert_eq!(
            c(500, "InternalServerException", "oops"),
            ErrorClass::Server
        );
        assert_eq!(
            c(400, "ServiceQuotaExceededException", "quota"),
            ErrorClass::Quota
        );
        // Stream exception names are lower camel case.
        assert_eq!(
            c(0, "throttlingException", "slow down"),
            ErrorClass::RateLimited
        );
        assert_eq!(
            c(0, "modelStreamErrorException", "broke"),
            ErrorClass::StreamCut
        );
        // No exception name: the status decides.
        assert_eq!(
            classify(Some(502), None, b"<html>").class,
            ErrorClass::Server
        );
        assert_eq!(
            classify(Some(429), None, b"").class,
            ErrorClass::RateLimited
        );
        let e = classify(
            Some(400),
            Some("ValidationException"),
            br#"{"Message":"Input is too long"}"#,
        );
        assert_eq!(
            (e.class, e.message.as_str()),
            (ErrorClass::ContextLength, "Input is too long")
        );
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    }
}
