//! Failure → OpenAI-shaped error response. The one place that picks statuses and bodies.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::model::Failure;

/// The `{"error":{...}}` body.
fn body(message: &str, ty: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": ty, "param": param, "code": code}})
}

/// Status, body and extra headers of a failure.
pub(crate) fn response(f: &Failure, extra: &[(&'static str, String)]) -> Response {
    let mut retry_after: Option<u64> = None;
    let (status, body) = match f {
        Failure::BadRequest {
            message,
            param,
            code,
        } => (
            StatusCode::BAD_REQUEST,
            body(message, "invalid_request_error", param.as_deref(), *code),
        ),
        Failure::NotFound(message) => (
            StatusCode::NOT_FOUND,
            body(message, "invalid_request_error", None, Some("unknown_url")),
        ),
        Failure::RateLimited(r) => {
            retry_after = Some(r.retry_after_secs.max(1));
            let kind = r.kind.as_str();
            let unit = if kind == "requests" { "RPM" } else { "TPM" };
            let message = format!(
                "Rate limit reached for sim in organization org-sim on {kind} per min ({unit}): \
                 Limit {}, Used {}, Requested {}. Please try again in {}s.",
                r.limit, r.used, r.requested, r.retry_after_secs
            );
            (
                StatusCode::TOO_MANY_REQUESTS,
                body(&message, kind, None, Some("rate_limit_exceeded")),
            )
        }
        Failure::RateFault { retry_after: ra } => {
            retry_after = ra.then_some(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                body(
                    "Rate limit reached for requests. Please try again in 1s.",
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                ),
            )
        }
        Failure::Quota => (
            StatusCode::TOO_MANY_REQUESTS,
            body(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
        ),
        Failure::TierBusy => (
            StatusCode::TOO_MANY_REQUESTS,
            body(
                "Resource Unavailable: there is not enough capacity in the requested service \
                 tier. Retry later, or use the default service tier.",
                "resource_unavailable",
                None,
                Some("resource_unavailable"),
            ),
        ),
        Failure::Policy => (
            StatusCode::BAD_REQUEST,
            body(
                "Your request was rejected as a result of our safety system. Your prompt may \
                 contain text that is not allowed by our safety system.",
                "invalid_request_error",
                None,
                Some("content_policy_violation"),
            ),
        ),
        Failure::ContextLength {
            limit,
            prompt,
            completion,
        } => {
            let message = format!(
                "This model's maximum context length is {limit} tokens. However, you requested \
                 {} tokens ({prompt} in the messages, {completion} in the completion). Please \
                 reduce the length of the messages or completion.",
                prompt + completion
            );
            (
                StatusCode::BAD_REQUEST,
                body(
                    &message,
                    "invalid_request_error",
                    Some("messages"),
                    Some("context_length_exceeded"),
                ),
            )
        }
        Failure::Server => (
            StatusCode::INTERNAL_SERVER_ERROR,
            body(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ),
        ),
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            body(
                "The server is overloaded or not ready yet.",
                "server_error",
                None,
                None,
            ),
        ),
        Failure::Overloaded => (
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            body("Overloaded", "overloaded_error", None, None),
        ),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    let headers = resp.headers_mut();
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(*name, v);
        }
    }
    resp
}

/// 400 for a body that is not JSON.
pub(crate) fn invalid_json(e: &serde_json::Error) -> Response {
    let message = format!(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't \
         using your HTTP library correctly. The OpenAI API expects a JSON payload.) ({e})"
    );
    response(
        &Failure::BadRequest {
            message,
            param: None,
            code: None,
        },
        &[],
    )
}
