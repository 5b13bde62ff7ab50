//! Anthropic Messages (`POST /v1/messages`): strict request validation, the handler, and (in
//! submodules) the encoders.
//!
//! Validation is as strict as the real API where gateways get it wrong: a `system` role inside
//! `messages` (allowed after the first turn with the `mid-conversation-system` beta), a
//! missing `max_tokens`, a first turn that is not `user`, empty content, a `tool_result`
//! outside a user turn, or a final assistant turn ending in whitespace is a 400.
//! Prompt caching: when any block carries `cache_control`, the prefix up to the last marked
//! block (tools → system → messages) is written to the cache the first time (reported as
//! `cache_creation_input_tokens`) and read on later requests with the same prefix
//! (`cache_read_input_tokens`), if it is at least [`CACHE_MIN_TOKENS`] long.

mod encode;
mod stream;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{header, HeaderValue};
use serde_json::Value;

use self::encode::{error_response, invalid, AnthropicUsage, Meta};
use crate::engine::{self, Format, GenRequest, Hasher, ToolChoice, ToolSpec};
use crate::faults::Fault;
use crate::model::Failure;
use crate::server::{ConnCtl, SimState};

/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;
/// Shortest cacheable prefix, in tokens.
const CACHE_MIN_TOKENS: u64 = 1024;

struct Call<'a> {
    model: &'a str,
    stream: bool,
    /// `thinking` was asked for: the answer begins with a signed thinking block of this text.
    thinking: Option<String>,
    gen: GenRequest<'a>,
    /// (prefix key, prefix tokens) when a `cache_control` marker is present.
    cache: Option<(u64, u64)>,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_owned),
                Some("tool_result") => Some(text_of(b.get("content").unwrap_or(&Value::Null))),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The beta under which a `system` message may stand inside `messages` (Claude Code's).
const MID_SYSTEM_BETA: &str = "mid-conversation-system";

fn validate_messages(messages: &[Value], mid_system: bool) -> Result<(), Failure> {
    if messages.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    let last = messages.len() - 1;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        match role {
            Some("user" | "assistant") => {}
            Some("system") if mid_system && i > 0 => {}
            _ => {
                return Err(invalid(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                )))
            }
        }
        if i == 0 && role != Some("user") {
            return Err(invalid(
                "messages: first message must use the \"user\" role",
            ));
        }
        let content = m.get("content").unwrap_or(&Value::Null);
        let empty = match content {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => return Err(invalid(format!("messages.{i}.content: Field required"))),
        };
        if empty && !(i == last && role == Some("assistant")) {
            return Err(invalid(format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )));
        }
        for (j, b) in content.as_array().into_iter().flatten().enumerate() {
            match (b.get("type").and_then(Value::as_str), role) {
                (Some("text"), _)
                    if b.get("text")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty) =>
                {
                    return Err(invalid("messages: text content blocks must be non-empty"));
                }
                (Some("tool_result"), Some("assistant")) | (Some("tool_use"), Some("user")) => {
                    let ty = b.get("type").and_then(Value::as_str).unwrap_or_default();
                    let allowed = if ty == "tool_use" {
                        "assistant"
                    } else {
                        "user"
                    };
                    return Err(invalid(format!(
                        "messages.{i}.content.{j}: `{ty}` blocks are only allowed in {allowed} messages"
                    )));
                }
                (None, _) => {
                    return Err(invalid(format!(
                        "messages.{i}.content.{j}.type: Field required"
                    )))
                }
                // Thinking blocks go back to the API that signed them, unchanged.
                (Some("thinking"), _) => {
                    let text = b.get("thinking").and_then(Value::as_str).unwrap_or("");
                    if b.get("signature").and_then(Value::as_str) != Some(&signature(text)) {
                        return Err(invalid(format!(
                            "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                        )));
                    }
                }
                (Some("redacted_thinking"), _)
                    if !b
                        .get("data")
                        .and_then(Value::as_str)
                        .is_some_and(|d| d.starts_with(REDACTED)) =>
                {
                    return Err(invalid(format!(
                        "messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
                    )));
                }
                _ => {}
            }
        }
        if i == last && role == Some("assistant") && text_of(content).ends_with(char::is_whitespace)
        {
            return Err(invalid(
                "messages: final assistant content cannot end with trailing whitespace",
            ));
        }
    }
    Ok(())
}

/// What this simulator writes in (and requires of) redacted thinking blocks.
const REDACTED: &str = "sim-redacted:";

/// The signature of a thinking block's text: only this simulator produces it, so a block that
/// was changed, or written by anyone else, is refused when sent back.
pub(crate) fn signature(thinking: &str) -> String {
    let h = Hasher::default()
        .bytes(b"switchyard-sim-thinking")
        .bytes(thinking.as_bytes())
        .finish();
    format!("sim-sig-{h:016x}")
}

/// The beta a `context_management` request needs (the real API refuses it without).
const CONTEXT_BETA: &str = "context-management-2025-06-27";

fn has_cache_control(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("cache_control") || o.values().any(has_cache_control),
        Value::Array(a) => a.iter().any(has_cache_control),
        _ => false,
    }
}

fn chars(v: Option<&Value>) -> u64 {
    v.map_or(0, |v| engine::estimate_chars(v).0)
}

/// Prompt tokens, and the cacheable prefix (key, tokens) if any block is marked.
fn tokens(
    model: &str,
    obj: &serde_json::Map<String, Value>,
    messages: &[Value],
) -> (u64, Option<(u64, u64)>) {
    let (system, tools) = (obj.get("system"), obj.get("tools"));
    let head = (chars(system) + chars(tools)).div_ceil(4);
    let prompt = (head + engine::estimate_tokens(messages.iter())).max(1);
    let marked_msg = messages.iter().rposition(has_cache_control);
    if marked_msg.is_none()
        && !system.is_some_and(has_cache_control)
        && !tools.is_some_and(has_cache_control)
    {
        return (prompt, None);
    }
    let upto = marked_msg.map_or(0, |i| i + 1);
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

fn decode<'a>(body: &'a Value, headers: &http::HeaderMap) -> Result<Call<'a>, Failure> {
    let Some(obj) = body.as_object() else {
        return Err(invalid("The request body must be a JSON object."));
    };
    let betas = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if obj.contains_key("context_management") && !betas.contains(CONTEXT_BETA) {
        return Err(invalid(format!(
            "context_management: this field needs the `anthropic-beta: {CONTEXT_BETA}` header"
        )));
    }
    let thinking = match obj
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
    {
        None | Some("disabled") => false,
        Some("enabled" | "adaptive") => true,
        Some(other) => {
            return Err(invalid(format!(
                "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled', not '{other}'"
            )))
        }
    };
    let model = match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m,
        _ => return Err(invalid("model: Field required")),
    };
    let max_tokens = match obj.get("max_tokens") {
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
            _ => {
                return Err(invalid(
                    "max_tokens: Input should be a valid integer greater than or equal to 1",
                ))
            }
        },
        None => return Err(invalid("max_tokens: Field required")),
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m.as_slice(),
        None => return Err(invalid("messages: Field required")),
        Some(_) => return Err(invalid("messages: Input should be a valid list")),
    };
    validate_messages(messages, betas.contains(MID_SYSTEM_BETA))?;
    let tools: Vec<ToolSpec<'_>> = obj
        .get("tools")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    Some(ToolSpec {
                        name: t.get("name")?.as_str()?,
                        parameters: t.get("input_schema"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let choice = obj.get("tool_choice");
    let tool_choice = match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("tool") => choice
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .map_or(ToolChoice::Auto, ToolChoice::Named),
        _ => ToolChoice::Auto,
    };
    let parallel_allowed = !choice
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let last_user_text = messages
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| text_of(m.get("content").unwrap_or(&Value::Null)))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let last = messages.last().and_then(|m| m.get("content"));
    let tool_result = last.and_then(Value::as_array).and_then(|blocks| {
        let r = blocks
            .iter()
            .rev()
            .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))?;
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
    let stop = obj
        .get("stop_sequences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let (prompt_tokens, cache) = tokens(model, obj, messages);
    let seed = Hasher::default()
        .bytes(model.as_bytes())
        .value(obj.get("messages").unwrap_or(&Value::Null))
        .value(obj.get("system").unwrap_or(&Value::Null))
        .finish();
    let thinking = thinking.then(|| {
        let words: Vec<&str> = last_user_text.split_whitespace().take(8).collect();
        format!("Considering the request: {}.", words.join(" "))
    });
    Ok(Call {
        model,
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        thinking,
        gen: GenRequest {
            seed,
            n: 1,
            max_tokens: Some(max_tokens),
            stop,
            tools,
            tool_choice,
            parallel: parallel_allowed && last_user_text.to_lowercase().contains("parallel"),
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

fn fault_failure(
    fault: Option<Fault>,
    max_context: u64,
    prompt: u64,
    completion: u64,
) -> Option<Failure> {
    Some(match fault? {
        Fault::RateLimited { retry_after } => Failure::RateFault { retry_after },
        Fault::ServerError => Failure::Server,
        Fault::Unavailable => Failure::Unavailable,
        Fault::Overloaded => Failure::Overloaded,
        Fault::Policy => Failure::Policy,
        Fault::Quota => Failure::Quota,
        Fault::ContextLength => Failure::ContextLength {
            limit: max_context,
            prompt: prompt.max(max_context + 1),
            completion,
        },
        _ => return None,
    })
}

/// `POST /v1/messages/count_tokens`: the prompt's tokens as `messages` would count them
/// (validated the same way; `max_tokens` is not part of this request, as in the real API).
pub(crate) async fn count_tokens(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let json: Value = match axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| serde_json::from_slice(&b))
    {
        Ok(Ok(v)) => v,
        _ => return error_response(&invalid("There was an error parsing the body"), &[]),
    };
    crate::openai::record(&st, &parts, &json);
    let Some(obj) = json.as_object() else {
        return error_response(&invalid("The request body must be a JSON object."), &[]);
    };
    if obj.contains_key("max_tokens") {
        return error_response(&invalid("max_tokens: Extra inputs are not permitted"), &[]);
    }
    let mut with_max = obj.clone();
    with_max.insert("max_tokens".into(), Value::from(1));
    let with_max = Value::Object(with_max);
    match decode(&with_max, &parts.headers) {
        Ok(call) => crate::playback::json_response(
            serde_json::to_vec(&serde_json::json!({"input_tokens": call.gen.prompt_tokens}))
                .unwrap_or_default(),
        ),
        Err(f) => error_response(&f, &[]),
    }
}

/// `POST /v1/messages`.
pub(crate) async fn messages(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let json: Value = match axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| serde_json::from_slice(&b))
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return error_response(
                &invalid(format!("There was an error parsing the body: {e}")),
                &[],
            )
        }
        Err(e) => {
            return error_response(
                &invalid(format!("Could not read the request body: {e}")),
                &[],
            )
        }
    };
    crate::openai::record(&st, &parts, &json);
    let mut call = match decode(&json, &parts.headers) {
        Ok(c) => c,
        Err(f) => return error_response(&f, &[]),
    };
    let model = st.registry.get(call.model);
    let index = model.calls.fetch_add(1, Ordering::Relaxed);
    let profile = &model.profile;
    if profile
        .outage
        .as_ref()
        .is_some_and(|o| o.is_down(st.start.elapsed()))
    {
        return error_response(&Failure::Overloaded, &[]);
    }
    let prompt = call.gen.prompt_tokens;
    let completion = u64::from(call.gen.max_tokens.unwrap_or(0));
    let mut limit_headers = Vec::new();
    let admitted = model
        .limits
        .admit(st.start.elapsed(), prompt + completion, &mut limit_headers);
    let headers = encode::rate_headers(limit_headers);
    if let Err(rej) = admitted {
        return error_response(&Failure::RateLimited(rej), &headers);
    }
    let fault = model.fault_for(index);
    match fault {
        Some(Fault::Reset) => {
            match parts.extensions.get::<Arc<ConnCtl>>() {
                Some(ctl) => ctl.reset(),
                None => return crate::playback::broken_body(b"", false),
            }
            return std::future::pending().await;
        }
        Some(Fault::Silent) => return std::future::pending().await,
        _ => {}
    }
    if let Some(f) = fault_failure(fault, profile.max_context, prompt, completion) {
        return error_response(&f, &headers);
    }
    if prompt > profile.max_context {
        let f = Failure::ContextLength {
            limit: profile.max_context,
            prompt,
            completion,
        };
        return error_response(&f, &headers);
    }
    let (cache_read, cache_creation) = match call.cache {
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
        return error_response(&Failure::Server, &headers);
    };
    let thinking = call.thinking.take().map(|text| {
        let sig = signature(&text);
        (text, sig)
    });
    let thinking_tokens = thinking
        .as_ref()
        .map_or(0, |(t, _)| (t.len() as u64).div_ceil(4));
    let meta = Meta {
        id: format!(
            "msg_{}",
            engine::base62(&mut engine::Rng::new(call.gen.seed ^ index), 24)
        ),
        model: call.model,
        usage: AnthropicUsage {
            input: prompt.saturating_sub(cache_read + cache_creation),
            cache_creation,
            cache_read,
            output: answer.usage.completion_tokens + thinking_tokens,
        },
        thinking,
    };
    if !profile.ttft.is_zero() {
        tokio::time::sleep(profile.ttft).await;
    }
    let mut resp = if call.stream {
        let mut r = Response::new(Body::from_stream(stream::plan(
            &meta, choice, profile, fault,
        )));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r
    } else {
        let gen_time = profile.token_offset(choice.tokens().saturating_sub(1));
        if !gen_time.is_zero() {
            tokio::time::sleep(gen_time).await;
        }
        let body = encode::message(&meta, choice);
        match fault {
            Some(Fault::Cut(_)) => crate::playback::broken_body(&body[..body.len() / 2], false),
            Some(Fault::Stall(_)) => crate::playback::broken_body(&body[..body.len() / 2], true),
            Some(Fault::Malformed(_)) => {
                crate::playback::json_response(body[..body.len() / 2].to_vec())
            }
            _ => crate::playback::json_response(body),
        }
    };
    let h = resp.headers_mut();
    for (name, value) in &headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(*name, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&format!("req_{}", meta.id.trim_start_matches("msg_"))) {
        h.insert("request-id", v);
    }
    resp
}

#[cfg(test)]
mod tests;
