//! OpenAI Chat Completions: request decoding, the handler, and (in submodules) the encoders.

mod encode;
pub(crate) mod error;
mod stream;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use serde_json::{json, Value};

use crate::engine::{self, Format, GenRequest, Hasher, Skill, ToolChoice, ToolSpec};
use crate::faults::Fault;
use crate::model::Failure;
use crate::server::{ConnCtl, RecordedRequest, SimState};

/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;
/// Prompts at least this long are eligible for prompt caching (as at OpenAI).
const CACHE_MIN_TOKENS: u64 = 1024;

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// A decoded chat request: what the engine needs plus the wire options.
struct ChatCall<'a> {
    model: &'a str,
    stream: bool,
    include_usage: bool,
    /// Log-probabilities asked for (non-streamed answers carry them).
    logprobs: bool,
    gen: GenRequest<'a>,
}

fn bad(message: impl Into<String>, param: Option<String>, code: Option<&'static str>) -> Failure {
    Failure::BadRequest {
        message: message.into(),
        param,
        code,
    }
}

/// Text of a message `content` (string or parts).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn decode(body: &Value) -> Result<ChatCall<'_>, Failure> {
    let Some(obj) = body.as_object() else {
        return Err(bad("The request body must be a JSON object.", None, None));
    };
    let model = match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m,
        _ => return Err(bad("you must provide a model parameter", None, None)),
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        None | Some(Value::Null) => {
            return Err(bad(
                "Missing required parameter: 'messages'.",
                Some("messages".into()),
                Some("missing_required_parameter"),
            ))
        }
        Some(_) => {
            return Err(bad(
                "Invalid type for 'messages': expected an array of objects.",
                Some("messages".into()),
                Some("invalid_type"),
            ))
        }
    };
    if messages.is_empty() {
        return Err(bad(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got \
             an empty array instead.",
            Some("messages".into()),
            Some("empty_array"),
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        match role {
            Some(r) if ROLES.contains(&r) => {}
            Some(r) => {
                return Err(bad(
                    format!(
                        "Invalid value: '{r}'. Supported values are: 'system', 'assistant', \
                         'user', 'function', 'tool', and 'developer'."
                    ),
                    Some(format!("messages[{i}].role")),
                    Some("invalid_value"),
                ))
            }
            None => {
                return Err(bad(
                    format!("Missing required parameter: 'messages[{i}].role'."),
                    Some(format!("messages[{i}].role")),
                    Some("missing_required_parameter"),
                ))
            }
        }
    }
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let n = obj.get("n").and_then(Value::as_u64).unwrap_or(1);
    if !(1..=128).contains(&n) {
        return Err(bad(
            format!("Invalid 'n': integer above maximum value or below 1 ({n})."),
            Some("n".into()),
            Some("integer_above_max_value"),
        ));
    }
    let max_tokens = obj
        .get("max_completion_tokens")
        .or_else(|| obj.get("max_tokens"))
        .and_then(Value::as_u64)
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    let stop = match obj.get("stop") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let tools: Vec<ToolSpec<'_>> = obj
        .get("tools")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| {
                    let f = t.get("function")?;
                    Some(ToolSpec {
                        name: f.get("name")?.as_str()?,
                        parameters: f.get("parameters"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let tool_choice = match obj.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::Object(o)) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map_or(ToolChoice::Auto, ToolChoice::Named),
        _ => ToolChoice::Auto,
    };
    let parallel_allowed = obj
        .get("parallel_tool_calls")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let last_user_parallel = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .is_some_and(|c| content_text(c).to_lowercase().contains("parallel"));
    let question = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(|c| content_text(c).to_string());
    let last = messages.last();
    let tool_result = last
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        .map(|m| {
            let text = content_text(m.get("content").unwrap_or(&Value::Null));
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            flat.chars().take(200).collect()
        });
    let format = match obj.get("response_format") {
        Some(rf) => match rf.get("type").and_then(Value::as_str) {
            Some("json_object") => Format::JsonObject,
            Some("json_schema") => rf
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .map_or(Format::JsonObject, Format::JsonSchema),
            _ => Format::Text,
        },
        None => Format::Text,
    };
    let tools_tokens = obj
        .get("tools")
        .map_or(0, |t| engine::estimate_chars(t).0.div_ceil(4));
    let prompt_tokens = (engine::estimate_tokens(messages.iter()) + tools_tokens).max(1);
    let seed = Hasher::default()
        .bytes(model.as_bytes())
        .value(obj.get("messages").unwrap_or(&Value::Null))
        .value(obj.get("seed").unwrap_or(&Value::Null))
        .finish();
    Ok(ChatCall {
        model,
        stream,
        include_usage,
        logprobs: obj.get("logprobs").and_then(Value::as_bool) == Some(true),
        gen: GenRequest {
            seed,
            n: n as u32,
            max_tokens,
            stop,
            tools,
            tool_choice,
            parallel: parallel_allowed && last_user_parallel,
            tool_result,
            format,
            prompt_tokens,
            cached_tokens: 0,
            answer_tokens: 0,
            jitter: true,
            skill: Skill::default(),
            question,
        },
    })
}

/// Cached prompt tokens: the prefix (all messages but the last) rounded down to 128, when the
/// prompt is long enough and this model has seen the same first message before.
fn cached_tokens(st: &SimState, model: &str, body: &Value, prompt_tokens: u64) -> u64 {
    if prompt_tokens < CACHE_MIN_TOKENS {
        return 0;
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return 0;
    };
    let key = Hasher::default()
        .bytes(model.as_bytes())
        .value(messages.first().unwrap_or(&Value::Null))
        .finish();
    if !st.cache_hit(key) {
        return 0;
    }
    let prefix = engine::estimate_tokens(messages.iter().take(messages.len().saturating_sub(1)));
    (prefix / 128 * 128).min(prompt_tokens)
}

pub(crate) fn record(st: &SimState, parts: &http::request::Parts, body: &Value) {
    if !st.recording() {
        return;
    }
    st.record(RecordedRequest {
        path: parts.uri.path().to_string(),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        time: SystemTime::now(),
    });
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let f = bad(format!("Could not read the request body: {e}"), None, None);
            return error::response(&f, &[]);
        }
    };
    let json: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            record(&st, &parts, &Value::Null);
            return error::invalid_json(&e);
        }
    };
    record(&st, &parts, &json);
    let mut call = match decode(&json) {
        Ok(c) => c,
        Err(f) => return error::response(&f, &[]),
    };
    let model = st.registry.get(call.model);
    let index = model.calls.fetch_add(1, Ordering::Relaxed);
    let profile = &model.profile;
    let mut headers: Vec<(&'static str, String)> = Vec::new();

    if profile
        .outage
        .as_ref()
        .is_some_and(|o| o.is_down(st.start.elapsed()))
    {
        return error::response(&Failure::Unavailable, &headers);
    }
    let prompt = call.gen.prompt_tokens;
    let reserve = prompt + u64::from(call.gen.max_tokens.unwrap_or(profile.answer_tokens));
    if let Err(rej) = model
        .limits
        .admit(st.start.elapsed(), reserve, &mut headers)
    {
        return error::response(&Failure::RateLimited(rej), &headers);
    }
    // The service tier asked for, and the one served: the asked one where the model sells it.
    let asked_tier = json
        .get("service_tier")
        .and_then(Value::as_str)
        .filter(|t| matches!(*t, "flex" | "priority"))
        .unwrap_or("default");
    let served_tier = if profile.tiers.iter().any(|t| t == asked_tier) {
        asked_tier
    } else {
        "default"
    };
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
        Some(Fault::TierBusy) if asked_tier != "default" => Some(Failure::TierBusy),
        Some(Fault::ContextLength) => Some(Failure::ContextLength {
            limit: profile.max_context,
            prompt: prompt.max(profile.max_context + 1),
            completion: u64::from(call.gen.max_tokens.unwrap_or(0)),
        }),
        _ => None,
    };
    if let Some(f) = failure {
        return error::response(&f, &headers);
    }
    let completion = u64::from(call.gen.max_tokens.unwrap_or(0));
    if prompt + completion > profile.max_context {
        let f = Failure::ContextLength {
            limit: profile.max_context,
            prompt,
            completion,
        };
        return error::response(&f, &headers);
    }

    call.gen.answer_tokens = profile.answer_tokens;
    call.gen.skill = profile.skill;
    call.gen.jitter = profile.jitter;
    call.gen.cached_tokens = if profile.prompt_cache {
        cached_tokens(&st, call.model, &json, prompt)
    } else {
        0
    };
    let answer = engine::generate(&call.gen);
    let meta = encode::Meta {
        id: format!(
            "chatcmpl-{}",
            engine::base62(&mut engine::Rng::new(call.gen.seed ^ index), 29)
        ),
        created: st.created + st.start.elapsed().as_secs(),
        model: profile.serves.as_deref().unwrap_or(call.model),
        service_tier: served_tier,
    };

    if !profile.ttft.is_zero() {
        tokio::time::sleep(profile.ttft).await;
    }
    let mut resp = if call.stream {
        let sse = stream::plan(&meta, &answer, call.include_usage, profile, fault);
        let mut r = Response::new(Body::from_stream(sse));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r
    } else {
        let last = answer.choices.iter().map(|c| c.tokens()).max().unwrap_or(0);
        let gen_time = profile.token_offset(last.saturating_sub(1));
        if !gen_time.is_zero() {
            tokio::time::sleep(gen_time).await;
        }
        let body = encode::completion(&meta, &answer, call.logprobs);
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
    if let Ok(v) =
        HeaderValue::from_str(&format!("req_{}", meta.id.trim_start_matches("chatcmpl-")))
    {
        h.insert("x-request-id", v);
    }
    resp
}

/// `GET /v1/models`.
pub(crate) async fn list_models(State(st): State<Arc<SimState>>) -> Response {
    let data: Vec<Value> = st
        .registry
        .configured
        .iter()
        .map(|name| json!({"id": name, "object": "model", "created": st.created, "owned_by": "switchyard-sim"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// Any other path.
pub(crate) async fn not_found(req: Request) -> Response {
    let message = format!("Invalid URL ({} {})", req.method(), req.uri().path());
    error::response(&Failure::NotFound(message), &[])
}
