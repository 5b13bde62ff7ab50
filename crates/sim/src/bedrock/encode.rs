//! Answer → Bedrock Converse JSON and event-stream frames; Failure → Bedrock errors.
//!
//! Errors carry the exception name in `x-amzn-ErrorType` (with the coral namespace suffix, as
//! the service sends it) and `{"message": …}` as body.

use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::engine::{Choice, Finish, ToolCall};
use crate::model::Failure;

/// Response-level facts shared by the body and the stream.
pub(crate) struct Meta {
    pub request_id: String,
    pub usage: BedrockUsage,
    pub latency_ms: u64,
}

/// Usage in Bedrock's buckets: `input` excludes cache reads and writes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BedrockUsage {
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
}

pub(crate) fn usage_json(u: &BedrockUsage) -> Value {
    let mut v = json!({
        "inputTokens": u.input,
        "outputTokens": u.output,
        "totalTokens": u.input + u.cache_read + u.cache_write + u.output,
    });
    if u.cache_read + u.cache_write > 0 {
        v["cacheReadInputTokens"] = json!(u.cache_read);
        v["cacheWriteInputTokens"] = json!(u.cache_write);
    }
    if u.cache_write > 0 {
        v["cacheDetails"] = json!([{"ttl": "5m", "inputTokens": u.cache_write}]);
    }
    v
}

pub(crate) fn stop_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
    }
}

/// `call_XYZ` → `tooluse_XYZ`.
pub(crate) fn tool_id(call: &ToolCall) -> String {
    format!("tooluse_{}", call.id.trim_start_matches("call_"))
}

/// The non-streaming Converse body.
pub(crate) fn converse(meta: &Meta, c: &Choice) -> Vec<u8> {
    let content: Vec<Value> = if c.tool_calls.is_empty() {
        vec![json!({"text": c.text})]
    } else {
        c.tool_calls
            .iter()
            .map(|call| {
                let input: Value =
                    serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
                json!({"toolUse": {"toolUseId": tool_id(call), "name": call.name, "input": input}})
            })
            .collect()
    };
    let body = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(c.finish),
        "usage": usage_json(&meta.usage),
        "metrics": {"latencyMs": meta.latency_ms},
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// One event-stream message with string headers; both CRCs computed.
pub(crate) fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = BytesMut::new();
    for (name, value) in headers {
        h.put_u8(name.len().min(255) as u8);
        h.put_slice(&name.as_bytes()[..name.len().min(255)]);
        h.put_u8(7);
        let len = value.len().min(usize::from(u16::MAX));
        h.put_u16(len as u16);
        h.put_slice(&value.as_bytes()[..len]);
    }
    let total = 16 + h.len() + payload.len();
    let mut out = BytesMut::with_capacity(total);
    out.put_u32(total as u32);
    out.put_u32(h.len() as u32);
    let prelude_crc = crc32fast::hash(&out[..8]);
    out.put_u32(prelude_crc);
    out.put_slice(&h);
    out.put_slice(payload);
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out.freeze()
}

/// An `event` message of this type; the payload gets the service's padding field `p`.
pub(crate) fn event(event_type: &str, mut payload: Value) -> Bytes {
    if let Some(o) = payload.as_object_mut() {
        o.insert("p".into(), json!("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"));
    }
    let headers = [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ];
    frame(&headers, payload.to_string().as_bytes())
}

/// Exception name, status and message of a failure.
fn exception(f: &Failure) -> (&'static str, StatusCode, String) {
    match f {
        Failure::BadRequest { message, .. } => (
            "ValidationException",
            StatusCode::BAD_REQUEST,
            message.clone(),
        ),
        Failure::NotFound(m) => (
            "ResourceNotFoundException",
            StatusCode::NOT_FOUND,
            m.clone(),
        ),
        Failure::RateLimited(_) | Failure::RateFault { .. } | Failure::TierBusy => (
            "ThrottlingException",
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests, please wait before trying again.".into(),
        ),
        Failure::Quota => (
            "ServiceQuotaExceededException",
            StatusCode::BAD_REQUEST,
            "Your request exceeds the service quota for your account.".into(),
        ),
        Failure::Policy => (
            "ValidationException",
            StatusCode::BAD_REQUEST,
            "The request was blocked by the content filters of the model provider.".into(),
        ),
        Failure::ContextLength { .. } => (
            "ValidationException",
            StatusCode::BAD_REQUEST,
            "Input is too long for requested model.".into(),
        ),
        Failure::Server => (
            "InternalServerException",
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server encountered an error processing the request.".into(),
        ),
        Failure::Unavailable | Failure::Overloaded => (
            "ServiceUnavailableException",
            StatusCode::SERVICE_UNAVAILABLE,
            "Bedrock is unable to process your request.".into(),
        ),
    }
}

/// A `ValidationException` failure.
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::BadRequest {
        message: message.into(),
        param: None,
        code: None,
    }
}

/// The error response of a failure; `extra` headers are added (rate-limit facts).
pub(crate) fn error_response(f: &Failure, extra: &[(&'static str, String)]) -> Response {
    let (name, status, message) = exception(f);
    error_with(name, status, &message, f, extra)
}

/// An error response with an explicit exception name (auth failures).
pub(crate) fn error_with(
    name: &str,
    status: StatusCode,
    message: &str,
    f: &Failure,
    extra: &[(&'static str, String)],
) -> Response {
    let retry_after = match f {
        Failure::RateLimited(r) => Some(r.retry_after_secs.max(1)),
        Failure::RateFault { retry_after: true } => Some(1),
        _ => None,
    };
    let mut resp = (status, axum::Json(json!({ "message": message }))).into_response();
    let h = resp.headers_mut();
    let kind = format!("{name}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    if let Ok(v) = HeaderValue::from_str(&kind) {
        h.insert("x-amzn-errortype", v);
    }
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    for (n, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*n, v);
        }
    }
    resp
}
