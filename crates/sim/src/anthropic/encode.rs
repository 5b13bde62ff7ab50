//! Answer → Anthropic JSON (message body, usage, stream events) and Failure → Anthropic errors.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::engine::{Choice, Finish, ToolCall};
use crate::model::Failure;

/// Response-level facts shared by the body and the stream.
pub(crate) struct Meta<'a> {
    pub id: String,
    pub model: &'a str,
    pub usage: AnthropicUsage,
    /// A thinking block's text and signature, when `thinking` was asked for.
    pub thinking: Option<(String, String)>,
}

/// Usage in Anthropic's buckets: `input` excludes cache reads and writes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AnthropicUsage {
    pub input: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
    pub output: u64,
}

pub(crate) fn usage_json(u: &AnthropicUsage, output: u64) -> Value {
    json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_creation,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": u.cache_creation, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
        "service_tier": "standard",
    })
}

pub(crate) fn stop_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
    }
}

/// `call_XYZ` → `toolu_XYZ`.
pub(crate) fn tool_id(call: &ToolCall) -> String {
    format!("toolu_{}", call.id.trim_start_matches("call_"))
}

fn tool_block(call: &ToolCall) -> Value {
    let input: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
    json!({"type": "tool_use", "id": tool_id(call), "name": call.name, "input": input})
}

/// The non-streaming `message` body.
pub(crate) fn message(meta: &Meta<'_>, c: &Choice) -> Vec<u8> {
    let mut content: Vec<Value> = meta
        .thinking
        .iter()
        .map(|(t, sig)| json!({"type": "thinking", "thinking": t, "signature": sig}))
        .collect();
    if c.tool_calls.is_empty() {
        content.push(json!({"type": "text", "text": c.text}));
    } else {
        content.extend(c.tool_calls.iter().map(tool_block));
    }
    let body = json!({
        "id": meta.id,
        "type": "message",
        "role": "assistant",
        "model": meta.model,
        "content": content,
        "stop_reason": stop_reason(c.finish),
        "stop_sequence": null,
        "usage": usage_json(&meta.usage, meta.usage.output),
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `event: NAME\ndata: JSON\n\n`.
pub(crate) fn event(name: &str, data: &Value) -> bytes::Bytes {
    bytes::Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn error_body(ty: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": ty, "message": message}})
}

/// 400 `invalid_request_error`.
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::BadRequest {
        message: message.into(),
        param: None,
        code: None,
    }
}

/// Status, body and extra headers of a failure, Anthropic-shaped.
pub(crate) fn error_response(f: &Failure, extra: &[(&'static str, String)]) -> Response {
    let mut retry_after: Option<u64> = None;
    let (status, body) = match f {
        Failure::BadRequest { message, .. } => (StatusCode::BAD_REQUEST, error_body("invalid_request_error", message)),
        Failure::NotFound(message) => (StatusCode::NOT_FOUND, error_body("not_found_error", message)),
        Failure::RateLimited(r) => {
            retry_after = Some(r.retry_after_secs.max(1));
            let message = format!(
                "This request would exceed the rate limit for your organization of {} {} per minute. \
                 Please try again in {}s.",
                r.limit,
                r.kind.as_str(),
                r.retry_after_secs
            );
            (StatusCode::TOO_MANY_REQUESTS, error_body("rate_limit_error", &message))
        }
        Failure::RateFault { retry_after: ra } => {
            retry_after = ra.then_some(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                error_body("rate_limit_error", "Number of requests has exceeded your rate limit. Please try again later."),
            )
        }
        Failure::TierBusy => (
            StatusCode::TOO_MANY_REQUESTS,
            error_body("rate_limit_error", "The requested service tier has no capacity right now."),
        ),
        Failure::Quota => (
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to \
                 upgrade or purchase credits.",
            ),
        ),
        Failure::Policy => (
            StatusCode::BAD_REQUEST,
            error_body("invalid_request_error", "Output blocked by content filtering policy"),
        ),
        Failure::ContextLength { limit, prompt, .. } => (
            StatusCode::BAD_REQUEST,
            error_body("invalid_request_error", &format!("prompt is too long: {prompt} tokens > {limit} maximum")),
        ),
        Failure::Server => (StatusCode::INTERNAL_SERVER_ERROR, error_body("api_error", "Internal server error")),
        Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, error_body("overloaded_error", "Service unavailable")),
        Failure::Overloaded => (
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            error_body("overloaded_error", "Overloaded"),
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

/// OpenAI-style `x-ratelimit-*` facts renamed to Anthropic's headers (resets omitted).
pub(crate) fn rate_headers(h: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    h.into_iter()
        .filter_map(|(name, v)| {
            let renamed = match name {
                "x-ratelimit-limit-requests" => "anthropic-ratelimit-requests-limit",
                "x-ratelimit-remaining-requests" => "anthropic-ratelimit-requests-remaining",
                "x-ratelimit-limit-tokens" => "anthropic-ratelimit-tokens-limit",
                "x-ratelimit-remaining-tokens" => "anthropic-ratelimit-tokens-remaining",
                _ => return None,
            };
            Some((renamed, v))
        })
        .collect()
}
