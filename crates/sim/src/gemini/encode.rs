//! Answer → Gemini JSON (bodies and SSE frames), and failures → Google error bodies.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::engine::{Answer, Choice, Finish};
use crate::model::Failure;
use crate::playback::{Frame, Kind};

/// Response-level fields.
pub(crate) struct Meta<'a> {
    pub id: String,
    pub model: &'a str,
    pub prompt: u64,
    pub cached: u64,
    /// `flex` or `priority` when served at that tier.
    pub tier: Option<String>,
}

fn finish(f: Finish) -> &'static str {
    match f {
        Finish::Stop | Finish::ToolCalls => "STOP",
        Finish::Length => "MAX_TOKENS",
    }
}

pub(crate) fn usage(m: &Meta<'_>, output: u64) -> Value {
    let mut u = json!({
        "promptTokenCount": m.prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": m.prompt + output,
        "thoughtsTokenCount": 0,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": m.prompt}]
    });
    if m.cached > 0 {
        u["cachedContentTokenCount"] = json!(m.cached);
    }
    u["serviceTier"] = json!(m.tier.as_deref().unwrap_or("standard"));
    u
}

fn parts(c: &Choice) -> Vec<Value> {
    if c.tool_calls.is_empty() {
        return vec![json!({"text": c.text})];
    }
    c.tool_calls
        .iter()
        .enumerate()
        .map(|(i, t)| call_part(t, i == 0))
        .collect()
}

/// A function call part; the first of a step carries the thought signature, as Gemini's
/// thinking models do.
fn call_part(t: &crate::engine::ToolCall, first: bool) -> Value {
    let args: Value = serde_json::from_str(&t.arguments).unwrap_or_else(|_| json!({}));
    let mut part = json!({"functionCall": {"name": t.name, "args": args}});
    if first {
        part["thoughtSignature"] = json!(super::thought_signature(&t.name));
    }
    part
}

fn envelope(m: &Meta<'_>, candidates: Vec<Value>, usage: Option<Value>) -> Value {
    let mut v = json!({"candidates": candidates, "modelVersion": m.model, "responseId": m.id});
    if let Some(u) = usage {
        v["usageMetadata"] = u;
    }
    v
}

/// The `generateContent` body.
pub(crate) fn body(m: &Meta<'_>, a: &Answer) -> Vec<u8> {
    let candidates = a
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"content": {"role": "model", "parts": parts(c)}, "finishReason": finish(c.finish), "index": i})
        })
        .collect();
    serde_json::to_vec(&envelope(
        m,
        candidates,
        Some(usage(m, a.usage.completion_tokens)),
    ))
    .unwrap_or_default()
}

/// A blocked prompt: 200 with `promptFeedback.blockReason` and no candidates (as Gemini does).
pub(crate) fn blocked(m: &Meta<'_>) -> Vec<u8> {
    let v = json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                   "usageMetadata": usage(m, 0), "modelVersion": m.model, "responseId": m.id});
    serde_json::to_vec(&v).unwrap_or_default()
}

fn frame(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\r\n\r\n"))
}

/// The SSE frames of a streamed answer: one per text piece or whole function call, a finish
/// frame per candidate, usage on every frame as Gemini does (final counts on the last).
pub(crate) fn frames(m: &Meta<'_>, a: &Answer) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut emitted = 0u64;
    for (i, c) in a.choices.iter().enumerate() {
        let mut k = 0u64;
        let push = |slot: u64, kind: Kind, cand: Value, out: &mut Vec<Frame>, emitted: &mut u64| {
            *emitted += 1;
            out.push(Frame {
                slot,
                kind,
                bytes: frame(&envelope(m, vec![cand], Some(usage(m, *emitted)))),
            });
        };
        if c.tool_calls.is_empty() {
            for piece in c.pieces() {
                let cand =
                    json!({"content": {"role": "model", "parts": [{"text": piece}]}, "index": i});
                push(k, Kind::Token(k), cand, &mut out, &mut emitted);
                k += 1;
            }
        } else {
            for (j, t) in c.tool_calls.iter().enumerate() {
                let cand = json!({"content": {"role": "model", "parts": [call_part(t, j == 0)]}, "index": i});
                push(k, Kind::Token(k), cand, &mut out, &mut emitted);
                k += 1 + t.fragments.len() as u64;
            }
        }
        let cand = json!({"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": finish(c.finish), "index": i});
        out.push(Frame {
            slot: k.saturating_sub(1),
            kind: Kind::Finish,
            bytes: frame(&envelope(
                m,
                vec![cand],
                Some(usage(m, a.usage.completion_tokens)),
            )),
        });
    }
    out.sort_by_key(|f| f.slot);
    out
}

/// A frame that is not JSON (the `malformed` fault).
pub(crate) fn malformed() -> Bytes {
    Bytes::from_static(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\r\n\r\n")
}

/// A 400 INVALID_ARGUMENT failure.
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::BadRequest {
        message: message.into(),
        param: None,
        code: None,
    }
}

fn google(code: u16, status: &str, message: &str, details: Value) -> (StatusCode, Value) {
    let mut err = json!({"code": code, "message": message, "status": status});
    if details.as_array().is_some_and(|d| !d.is_empty()) {
        err["details"] = details;
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json!({ "error": err }),
    )
}

fn retry_info(secs: u64) -> Value {
    json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{secs}s")})
}

/// Status and Google-shaped body of a failure.
pub(crate) fn error_response(f: &Failure, extra: &[(&'static str, String)]) -> Response {
    let mut retry_after = None;
    let (status, body) = match f {
        Failure::BadRequest { message, .. } => google(400, "INVALID_ARGUMENT", message, json!([])),
        Failure::NotFound(message) => google(404, "NOT_FOUND", message, json!([])),
        Failure::RateLimited(r) => {
            let secs = r.retry_after_secs.max(1);
            retry_after = Some(secs);
            google(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                json!([retry_info(secs)]),
            )
        }
        Failure::RateFault { retry_after: ra } => {
            let details = if *ra {
                json!([retry_info(1)])
            } else {
                json!([])
            };
            retry_after = ra.then_some(1);
            google(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                details,
            )
        }
        Failure::TierBusy => google(
            429,
            "RESOURCE_EXHAUSTED",
            "The requested service tier has no capacity right now.",
            json!([]),
        ),
        Failure::Quota => google(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]),
        ),
        Failure::Policy => google(
            400,
            "INVALID_ARGUMENT",
            "The request was blocked for safety reasons.",
            json!([]),
        ),
        Failure::ContextLength { limit, prompt, .. } => google(
            400,
            "INVALID_ARGUMENT",
            &format!(
                "The input token count ({prompt}) exceeds the maximum number of tokens allowed ({limit})."
            ),
            json!([]),
        ),
        Failure::Server => google(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            json!([]),
        ),
        Failure::Unavailable | Failure::Overloaded => google(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            json!([]),
        ),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(*name, v);
        }
    }
    resp
}
