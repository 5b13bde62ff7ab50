//! AWS Bedrock Converse (`POST /model/{modelId}/converse`) and ConverseStream
//! (`…/converse-stream`, an `application/vnd.amazon.eventstream` body).
//!
//! Requests must carry `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
//! Signature=…` and `x-amz-date` (the signature itself is not verified). Validation is as strict
//! as the real API: roles `user`/`assistant` only, alternating, starting with `user`; non-empty
//! text blocks; `toolUse` only in assistant turns and `toolResult` only in user turns; tool
//! blocks require a `toolConfig`; images need a known format and base64 `bytes`.
//! Prompt caching: with a `cachePoint` block (system, messages or tools), the prefix up to the
//! last one is written to the cache the first time (`cacheWriteInputTokens`, `cacheDetails`
//! with TTL `5m`) and read afterwards (`cacheReadInputTokens`), if at least
//! [`CACHE_MIN_TOKENS`] long. `inputTokens` excludes both.

mod encode;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::{header, HeaderValue, StatusCode};
use serde_json::{Map, Value};

use self::encode::{error_response, error_with, invalid, BedrockUsage, Meta};
use crate::engine::{self, Format, GenRequest, Hasher, ToolChoice, ToolSpec};
use crate::faults::Fault;
use crate::model::Failure;
use crate::server::{ConnCtl, SimState};

/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;
/// Shortest cacheable prefix, in tokens.
const CACHE_MIN_TOKENS: u64 = 1024;
/// Block types Converse accepts in messages.
const BLOCKS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
];

struct Call<'a> {
    gen: GenRequest<'a>,
    /// (prefix key, prefix tokens) when a `cachePoint` is present.
    cache: Option<(u64, u64)>,
}

/// The single key of a content block.
fn block_type(b: &Value) -> Option<&str> {
    let o = b.as_object()?;
    (o.len() == 1)
        .then(|| o.keys().next().map(String::as_str))
        .flatten()
}

fn text_of(content: &Value) -> String {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            if let Some(t) = b.get("text").and_then(Value::as_str) {
                return Some(t.to_owned());
            }
            b.get("toolResult")
                .map(|r| text_of(r.get("content").unwrap_or(&Value::Null)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn validate_block(i: usize, j: usize, role: &str, b: &Value) -> Result<(), Failure> {
    let at = format!("messages.{i}.content.{j}");
    let Some(ty) = block_type(b).filter(|t| BLOCKS.contains(t)) else {
        return Err(invalid(format!(
            "The content block at {at} must set exactly one of its members."
        )));
    };
    let v = &b[ty];
    match (ty, role) {
        ("text", _) if v.as_str().is_none_or(|t| t.trim().is_empty()) => Err(invalid(format!(
            "The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again."
        ))),
        ("toolUse", "user") | ("toolResult", "assistant") => Err(invalid(format!(
            "The {ty} block at {at} is not allowed in a {role} message."
        ))),
        ("toolUse", _) if v["toolUseId"].as_str().is_none() || v["name"].as_str().is_none() => {
            Err(invalid(format!("{at}.toolUse: toolUseId and name are required")))
        }
        ("toolResult", _) if v["toolUseId"].as_str().is_none() || !v["content"].is_array() => {
            Err(invalid(format!("{at}.toolResult: toolUseId and content are required")))
        }
        ("image", _) => {
            let format_ok = matches!(v["format"].as_str(), Some("png" | "jpeg" | "gif" | "webp"));
            if !format_ok || v["source"]["bytes"].as_str().is_none_or(str::is_empty) {
                return Err(invalid(format!(
                    "{at}.image: format must be png, jpeg, gif or webp, with source.bytes"
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn validate(obj: &Map<String, Value>, messages: &[Value]) -> Result<(), Failure> {
    if messages.is_empty() {
        return Err(invalid(
            "The model returned the following errors: messages: at least one message is required",
        ));
    }
    let mut tool_blocks = false;
    let mut prev: Option<&str> = None;
    for (i, m) in messages.iter().enumerate() {
        let role = match m.get("role").and_then(Value::as_str) {
            Some(r @ ("user" | "assistant")) => r,
            other => {
                return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'messages.{}.member.role' failed to \
                     satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                other.unwrap_or("null"),
                i + 1
            )))
            }
        };
        if i == 0 && role != "user" {
            return Err(invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message."));
        }
        if prev == Some(role) {
            return Err(invalid("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."));
        }
        prev = Some(role);
        let blocks = match m.get("content") {
            Some(Value::Array(b)) if !b.is_empty() => b,
            _ => {
                return Err(invalid(format!(
                    "messages.{i}.content must be a non-empty list"
                )))
            }
        };
        for (j, b) in blocks.iter().enumerate() {
            validate_block(i, j, role, b)?;
            tool_blocks |= matches!(block_type(b), Some("toolUse" | "toolResult"));
        }
    }
    if tool_blocks && !obj.contains_key("toolConfig") {
        return Err(invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks."));
    }
    if let Some(n) = obj.get("inferenceConfig").and_then(|c| c.get("maxTokens")) {
        if n.as_u64().is_none_or(|n| n < 1) {
            return Err(invalid("inferenceConfig.maxTokens must be at least 1"));
        }
    }
    Ok(())
}

fn has_cache_point(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("cachePoint") || o.values().any(has_cache_point),
        Value::Array(a) => a.iter().any(has_cache_point),
        _ => false,
    }
}

/// Prompt tokens, and the cacheable prefix (key, tokens) if a `cachePoint` is present.
fn tokens(model: &str, obj: &Map<String, Value>, messages: &[Value]) -> (u64, Option<(u64, u64)>) {
    let (system, tools) = (obj.get("system"), obj.get("toolConfig"));
    let head = (system.map_or(0, |v| engine::estimate_chars(v).0)
        + tools.map_or(0, |v| engine::estimate_chars(v).0))
    .div_ceil(4);
    let prompt = (head + engine::estimate_tokens(messages.iter())).max(1);
    let marked = messages.iter().rposition(has_cache_point);
    if marked.is_none()
        && !system.is_some_and(has_cache_point)
        && !tools.is_some_and(has_cache_point)
    {
        return (prompt, None);
    }
    let upto = marked.map_or(0, |i| i + 1);
    let prefix = head + engine::estimate_tokens(messages[..upto].iter());
    if prefix < CACHE_MIN_TOKENS {
        return (prompt, None);
    }
    let mut h = Hasher::default().bytes(model.as_bytes());
    for v in [system, tools]
        .into_iter()
        .flatten()
        .chain(&messages[..upto])
    {
        h = h.value(v);
    }
    (prompt, Some((h.finish(), prefix.min(prompt))))
}

fn decode<'a>(model: &'a str, body: &'a Value) -> Result<Call<'a>, Failure> {
    let Some(obj) = body.as_object() else {
        return Err(invalid("The request body must be a JSON object."));
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m.as_slice(),
        _ => return Err(invalid("messages: a list of messages is required")),
    };
    validate(obj, messages)?;
    let tc = obj.get("toolConfig");
    let tools: Vec<ToolSpec<'_>> = tc
        .and_then(|c| c.get("tools"))
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    let spec = t.get("toolSpec")?;
                    Some(ToolSpec {
                        name: spec.get("name")?.as_str()?,
                        parameters: spec.get("inputSchema").and_then(|s| s.get("json")),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let tool_choice = tc
        .and_then(|c| c.get("toolChoice"))
        .and_then(|c| c.get("tool"))
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        .map_or(ToolChoice::Auto, ToolChoice::Named);
    let last_user_text = messages
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| text_of(m.get("content").unwrap_or(&Value::Null)))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tool_result = messages
        .last()
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .and_then(|bs| {
            let r = bs.iter().rev().find_map(|b| b.get("toolResult"))?;
            let flat = text_of(r.get("content").unwrap_or(&Value::Null));
            Some(
                flat.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(200)
                    .collect(),
            )
        });
    let inference = obj.get("inferenceConfig");
    let stop = inference
        .and_then(|c| c.get("stopSequences"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let max_tokens = inference
        .and_then(|c| c.get("maxTokens"))
        .and_then(Value::as_u64)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let (prompt_tokens, cache) = tokens(model, obj, messages);
    let seed = Hasher::default()
        .bytes(model.as_bytes())
        .value(obj.get("messages").unwrap_or(&Value::Null))
        .value(obj.get("system").unwrap_or(&Value::Null))
        .finish();
    Ok(Call {
        gen: GenRequest {
            seed,
            n: 1,
            max_tokens,
            stop,
            tools,
            tool_choice,
            parallel: last_user_text.to_lowercase().contains("parallel"),
            tool_result,
            format: Format::Text,
            prompt_tokens,
            cached_tokens: 0,
            answer_tokens: 0,
            jitter: true,
            skill: crate::engine::Skill::default(),
            question: None,
        },
        cache,
    })
}

/// Whether the request carries SigV4 headers (the signature is not checked).
fn signed(parts: &http::request::Parts) -> bool {
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let auth_ok = auth.is_some_and(|a| {
        a.starts_with("AWS4-HMAC-SHA256 ")
            && a.contains("Credential=")
            && a.contains("SignedHeaders=")
            && a.contains("Signature=")
    });
    auth_ok && parts.headers.contains_key("x-amz-date")
}

/// `POST /model/{modelId}/converse`.
pub(crate) async fn converse(
    st: State<Arc<SimState>>,
    model: Path<String>,
    req: Request,
) -> Response {
    handle(st, model, req, false).await
}

/// `POST /model/{modelId}/converse-stream`.
pub(crate) async fn converse_stream(
    st: State<Arc<SimState>>,
    model: Path<String>,
    req: Request,
) -> Response {
    handle(st, model, req, true).await
}

async fn handle(
    State(st): State<Arc<SimState>>,
    Path(model_id): Path<String>,
    req: Request,
    stream: bool,
) -> Response {
    let (parts, body) = req.into_parts();
    let json: Value = match axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| serde_json::from_slice(&b))
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return error_response(&invalid(format!("Malformed input request: {e}")), &[])
        }
        Err(e) => {
            return error_response(
                &invalid(format!("Could not read the request body: {e}")),
                &[],
            )
        }
    };
    let mut recorded = json.clone();
    if let Some(o) = recorded.as_object_mut() {
        o.insert("model".into(), Value::String(model_id.clone()));
    }
    crate::openai::record(&st, &parts, &recorded);
    if !signed(&parts) {
        let f = invalid("Missing Authentication Token");
        return error_with(
            "MissingAuthenticationTokenException",
            StatusCode::FORBIDDEN,
            "Missing Authentication Token",
            &f,
            &[],
        );
    }
    let mut call = match decode(&model_id, &json) {
        Ok(c) => c,
        Err(f) => return error_response(&f, &[]),
    };
    let model = st.registry.get(&model_id);
    let index = model.calls.fetch_add(1, Ordering::Relaxed);
    let profile = &model.profile;
    if profile
        .outage
        .as_ref()
        .is_some_and(|o| o.is_down(st.start.elapsed()))
    {
        return error_response(&Failure::Unavailable, &[]);
    }
    let prompt = call.gen.prompt_tokens;
    let completion = u64::from(call.gen.max_tokens.unwrap_or(profile.answer_tokens));
    let mut headers = Vec::new();
    if let Err(rej) = model
        .limits
        .admit(st.start.elapsed(), prompt + completion, &mut headers)
    {
        return error_response(&Failure::RateLimited(rej), &[]);
    }
    let fault = model.fault_for(index);
    let failure = match fault {
        Some(Fault::Reset) => {
            match parts.extensions.get::<Arc<ConnCtl>>() {
                Some(ctl) => ctl.reset(),
                None => return crate::playback::broken_body(b"", false),
            }
            return std::future::pending().await;
        }
        Some(Fault::Silent) => return std::future::pending().await,
        Some(Fault::RateLimited { retry_after }) => Some(Failure::RateFault { retry_after }),
        Some(Fault::ServerError) => Some(Failure::Server),
        Some(Fault::Unavailable) => Some(Failure::Unavailable),
        Some(Fault::Overloaded) => Some(Failure::Overloaded),
        Some(Fault::Policy) => Some(Failure::Policy),
        Some(Fault::Quota) => Some(Failure::Quota),
        Some(Fault::ContextLength) => Some(Failure::ContextLength {
            limit: profile.max_context,
            prompt,
            completion,
        }),
        _ => None,
    };
    if let Some(f) = failure {
        return error_response(&f, &[]);
    }
    if prompt > profile.max_context {
        return error_response(
            &Failure::ContextLength {
                limit: profile.max_context,
                prompt,
                completion,
            },
            &[],
        );
    }
    let (cache_read, cache_write) = match call.cache {
        Some((key, tokens)) if st.cache_hit(key) => (tokens, 0),
        Some((_, tokens)) => (0, tokens),
        None => (0, 0),
    };
    call.gen.answer_tokens = profile.answer_tokens;
    call.gen.skill = profile.skill;
    call.gen.jitter = profile.jitter;
    call.gen.cached_tokens = cache_read;
    let answer = engine::generate(&call.gen);
    let Some(choice) = answer.choices.first() else {
        return error_response(&Failure::Server, &[]);
    };
    let mut rng = engine::Rng::new(call.gen.seed ^ index);
    let request_id = format!(
        "{}-{}-{}-{}-{}",
        engine::base62(&mut rng, 8),
        engine::base62(&mut rng, 4),
        engine::base62(&mut rng, 4),
        engine::base62(&mut rng, 4),
        engine::base62(&mut rng, 12)
    )
    .to_lowercase();
    let gen_time = profile.token_offset(choice.tokens().saturating_sub(1));
    let meta = Meta {
        request_id,
        usage: BedrockUsage {
            input: prompt.saturating_sub(cache_read + cache_write),
            cache_read,
            cache_write,
            output: answer.usage.completion_tokens,
        },
        latency_ms: u64::try_from((profile.ttft + gen_time).as_millis()).unwrap_or(u64::MAX),
    };
    if !profile.ttft.is_zero() {
        tokio::time::sleep(profile.ttft).await;
    }
    let mut resp = if stream {
        let mut r = Response::new(Body::from_stream(stream::plan(
            &meta, choice, profile, fault,
        )));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.amazon.eventstream"),
        );
        r
    } else {
        if !gen_time.is_zero() {
            tokio::time::sleep(gen_time).await;
        }
        let body = encode::converse(&meta, choice);
        match fault {
            Some(Fault::Cut(_)) => crate::playback::broken_body(&body[..body.len() / 2], false),
            Some(Fault::Stall(_)) => crate::playback::broken_body(&body[..body.len() / 2], true),
            Some(Fault::Malformed(_)) => {
                crate::playback::json_response(body[..body.len() / 2].to_vec())
            }
            _ => crate::playback::json_response(body),
        }
    };
    if let Ok(v) = HeaderValue::from_str(&meta.request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}
