//! OpenAI's wire formats: Chat Completions (request decoding and handler here, encoders in
//! `encode` and `stream`) and the Responses API (`responses`). Both share one handler body,
//! [`serve::serve`]; they differ only in decoding and in the [`serve::Shape`] that encodes the
//! answer.

mod encode;
pub(crate) mod error;
pub(crate) mod responses;
mod serve;
mod stream;

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use self::encode::Meta;
use self::serve::{CachePrefix, Call, Shape};
use crate::engine::{self, Answer, Format, GenRequest, Hasher, Skill, ToolChoice, ToolSpec};
use crate::faults::Fault;
use crate::model::Failure;
use crate::playback::Frame;
use crate::server::{RecordedRequest, SimState};

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// A 400 `invalid_request_error`.
pub(crate) fn bad(
    message: impl Into<String>,
    param: Option<String>,
    code: Option<&'static str>,
) -> Failure {
    Failure::BadRequest {
        message: message.into(),
        param,
        code,
    }
}

/// Text of a message `content` (string or parts).
pub(crate) fn content_text(content: &Value) -> String {
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

/// A chat request → the shared handler's call and the chat encoding options.
fn decode(body: &Value) -> Result<(Call<'_>, Chat), Failure> {
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
    let call = Call {
        model,
        stream,
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
        cache: CachePrefix {
            head: None,
            items: messages,
        },
    };
    let shape = Chat {
        include_usage,
        logprobs: obj.get("logprobs").and_then(Value::as_bool) == Some(true),
    };
    Ok((call, shape))
}

/// Keep the request for [`crate::Sim::requests`] when recording is on.
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

/// The Chat Completions encoding of an answer.
struct Chat {
    /// Streamed chunks carry `"usage":null` and a final usage chunk.
    include_usage: bool,
    /// Log-probabilities asked for (non-streamed answers carry them).
    logprobs: bool,
}

impl Shape for Chat {
    const ID_PREFIX: &'static str = "chatcmpl-";
    const ID_LEN: usize = 29;

    fn body(&self, meta: &Meta<'_>, answer: &Answer) -> Vec<u8> {
        encode::completion(meta, answer, self.logprobs)
    }

    fn frames(&self, meta: &Meta<'_>, answer: &Answer, fault: Option<Fault>) -> Vec<Frame> {
        stream::frames(meta, answer, self.include_usage, fault)
    }
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let json = match serve::read_json(&st, &parts, body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match decode(&json) {
        Ok((call, shape)) => serve::serve(&st, &parts, &json, call, &shape).await,
        Err(f) => error::response(&f, &[]),
    }
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
