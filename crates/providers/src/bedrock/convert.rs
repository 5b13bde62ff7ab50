//! Canonical (OpenAI-shaped) ⇄ Bedrock Converse: pure functions, no IO.
//!
//! Request: system/developer messages are hoisted into `system`; `tool` messages become
//! `toolResult` blocks in a user turn; consecutive same-role turns are merged (Converse
//! requires alternation); images must be `data:` URLs (Converse takes bytes or S3, not URLs).
//!
//! Differences from OpenAI that cannot be expressed exactly:
//! - `tool_choice = "none"`: Converse has no such mode. Tools are left out entirely unless the
//!   conversation already contains tool blocks (then Converse requires `toolConfig`, and the
//!   tools are sent with the default `auto`).
//! - `parallel_tool_calls`, `seed`, penalties, `n > 1`: no equivalent; not sent.
//! - `response_format`: no equivalent in Converse; emulated with a forced tool (see
//!   `json_mode`), or with a system instruction when the client sends its own tools.
//! - `cache_control` on a text part becomes a `cachePoint` block after it.
//!
//! Usage (checked against the AWS API reference `TokenUsage`/`CacheDetail` and the prompt
//! caching guide): `inputTokens` counts only input that was neither read from nor written to
//! the cache — as at Anthropic — with `cacheReadInputTokens` and `cacheWriteInputTokens`
//! reported beside it. `cacheDetails` splits the writes by TTL (`5m`, `1h`); without it
//! every write is priced at the default 5-minute TTL. Converse does not break reasoning
//! tokens out of `outputTokens`.

use std::borrow::Cow;

use serde_json::{json, Value};
use switchyard_types::{
    ChatRequest, ChatResponse, Choice, Content, ContentPart, FinishReason, JsonMap, Message,
    ResponseFormat, Role, SimpleToolChoice, ToolCall, ToolChoice, Usage,
};

use super::wire::{
    ContentBlock, ConverseRequest, ConverseResponse, ImageBlock, ImageSource, InferenceConfig,
    InputSchema, NamedTool, SystemBlock, TokenUsage, ToolConfig, ToolResultBlock,
    ToolResultContent, ToolSpec, ToolUseBlock, WireMessage, WireTool, WireToolChoice,
};
use crate::{ErrorClass, ProviderError};

/// Name of the forced tool emulating `json_object`.
pub const JSON_TOOL: &str = "json_response";

/// An encoded request and what the decoder must know about it.
#[derive(Debug, Clone)]
pub struct Encoded<'a> {
    /// The wire body, borrowing the request's text.
    pub body: ConverseRequest<'a>,
    /// The forced tool emulating JSON mode, whose input is the answer text.
    pub json_tool: Option<String>,
}

/// Canonical request → Converse body.
pub fn encode_request(
    req: &ChatRequest,
    default_max_tokens: Option<u32>,
) -> Result<Encoded<'_>, ProviderError> {
    let mut system: Vec<SystemBlock<'_>> = Vec::new();
    let mut turns: Vec<WireMessage<'_>> = Vec::new();
    for m in &req.messages {
        match m.role {
            Role::System | Role::Developer => system_blocks(m.content.as_ref(), &mut system),

            Role::User => push(&mut turns, "user", user_blocks(m.content.as_ref())?),
            Role::Assistant => push(&mut turns, "assistant", assistant_blocks(m)?),
            Role::Tool | Role::Function => push(&mut turns, "user", vec![tool_result(m)]),
        }
    }
    let stop = req.stop.as_ref().map(|s| s.to_vec()).unwrap_or_default();
    let inference = InferenceConfig {
        max_tokens: req.max_output().or(default_max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: stop.into_iter().filter(|s| !s.is_empty()).collect(),
    };
    let has_tool_blocks = turns
        .iter()
        .flat_map(|t| &t.content)
        .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)));
    let mut body = ConverseRequest {
        messages: turns,
        system,
        inference_config: (inference != InferenceConfig::default()).then_some(inference),
        tool_config: tool_config(req, has_tool_blocks)?,
        additional_model_request_fields: None,
    };
    let json_tool = json_mode(req, &mut body);
    Ok(Encoded { body, json_tool })
}

/// A `cachePoint` block: the prompt up to here may be cached (OpenAI/Anthropic-style
/// `cache_control` on a text part is translated to one).
fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

fn system_blocks<'a>(content: Option<&'a Content>, out: &mut Vec<SystemBlock<'a>>) {
    match content {
        Some(Content::Text(t)) if !t.is_empty() => out.push(SystemBlock::Text(Cow::Borrowed(t))),
        Some(Content::Parts(parts)) => {
            for p in parts {
                if let ContentPart::Text { text, extra } = p {
                    if !text.is_empty() {
                        out.push(SystemBlock::Text(Cow::Borrowed(text)));
                    }
                    if extra.contains_key("cache_control") {
                        out.push(SystemBlock::Other(cache_point()));
                    }
                }
            }
        }
        _ => {}
    }
}

fn push<'a>(turns: &mut Vec<WireMessage<'a>>, role: &'static str, blocks: Vec<ContentBlock<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(WireMessage {
            role: Cow::Borrowed(role),
            content: blocks,
        }),
    }
}

fn user_blocks(content: Option<&Content>) -> Result<Vec<ContentBlock<'_>>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) if t.is_empty() => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(vec![ContentBlock::Text(Cow::Borrowed(t))]),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::new();
            for p in parts {
                match p {
                    ContentPart::Text { text, extra } => {
                        if !text.is_empty() {
                            out.push(ContentBlock::Text(Cow::Borrowed(text)));
                        }
                        if extra.contains_key("cache_control") {
                            out.push(ContentBlock::Other(cache_point()));
                        }
                    }
                    ContentPart::Refusal { refusal } if !refusal.is_empty() => {
                        out.push(ContentBlock::Text(Cow::Borrowed(refusal)));
                    }
                    ContentPart::ImageUrl { image_url } => out.push(image(&image_url.url)?),
                    _ => {}
                }
            }
            Ok(out)
        }
    }
}

/// `data:image/png;base64,…` → an image block; any other URL is rejected.
fn image(url: &str) -> Result<ContentBlock<'_>, ProviderError> {
    let parsed = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .and_then(|(media, data)| Some((media.strip_prefix("image/")?, data)));
    let Some((format, data)) = parsed else {
        return Err(ProviderError::new(
            ErrorClass::BadRequest,
            "Bedrock accepts images only as base64 `data:image/...` URLs",
        ));
    };
    let format = if format == "jpg" { "jpeg" } else { format };
    Ok(ContentBlock::Image(ImageBlock {
        format: format.to_owned(),
        source: ImageSource {
            bytes: Cow::Borrowed(data),
        },
    }))
}

fn assistant_blocks(m: &Message) -> Result<Vec<ContentBlock<'_>>, ProviderError> {
    let mut blocks = Vec::new();
    let text = text_of(m);
    if !text.trim().is_empty() {
        blocks.push(ContentBlock::Text(text));
    }
    for call in m.tool_calls.iter().flatten() {
        let f = call
            .function_call()
            .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?;
        let args = f.arguments.trim();
        let input = if args.is_empty() {
            Value::Object(JsonMap::new())
        } else {
            serde_json::from_str(args).map_err(|e| {
                ProviderError::new(
                    ErrorClass::BadRequest,
                    format!(
                        "tool call `{}` has arguments that are not JSON: {e}",
                        call.id
                    ),
                )
            })?
        };
        blocks.push(ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: Cow::Borrowed(&call.id),
            name: Cow::Borrowed(&f.name),
            input,
        }));
    }
    Ok(blocks)
}

fn tool_result(m: &Message) -> ContentBlock<'_> {
    ContentBlock::ToolResult(ToolResultBlock {
        tool_use_id: m
            .tool_call_id
            .as_deref()
            .or(m.name.as_deref())
            .map_or(Cow::Borrowed(""), Cow::Borrowed),
        content: vec![ToolResultContent::Text(text_of(m))],
        status: None,
    })
}

/// A message's text, borrowed when it is one string.
fn text_of(m: &Message) -> Cow<'_, str> {
    match &m.content {
        Some(Content::Text(t)) => Cow::Borrowed(t),
        _ => Cow::Owned(m.text_content()),
    }
}

fn tool_config(
    req: &ChatRequest,
    has_tool_blocks: bool,
) -> Result<Option<ToolConfig<'_>>, ProviderError> {
    let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let simple = req
        .tool_choice
        .as_ref()
        .map(ToolChoice::simple)
        .transpose()
        .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?;
    let choice = match simple {
        None => None,
        Some(SimpleToolChoice::None) if !has_tool_blocks => return Ok(None),
        Some(SimpleToolChoice::None) => None,
        Some(SimpleToolChoice::Required) => Some(WireToolChoice::Any(JsonMap::new())),
        Some(SimpleToolChoice::Auto) => Some(WireToolChoice::Auto(JsonMap::new())),
        Some(SimpleToolChoice::Function(name)) => Some(WireToolChoice::Tool(NamedTool {
            name: name.to_owned(),
        })),
    };
    let tools = tools
        .iter()
        .map(|t| {
            let f = t
                .function_def()
                .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?;
            Ok(WireTool {
                tool_spec: ToolSpec {
                    name: Cow::Borrowed(&f.name),
                    description: f.description.as_deref().map(Cow::Borrowed),
                    input_schema: InputSchema {
                        json: f.parameters.as_ref().map_or_else(
                            || Cow::Owned(json!({"type": "object", "properties": {}})),
                            Cow::Borrowed,
                        ),
                    },
                },
            })
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    Ok(Some(ToolConfig {
        tools,
        tool_choice: choice,
    }))
}

/// Emulate `response_format`; returns the forced tool's name when one is used.
///
/// Without client tools, a forced tool whose input schema is the requested schema (Converse
/// `toolChoice.tool`) makes the model answer with schema-shaped JSON; the decoders turn that
/// call back into message text. With client tools, forcing would stop the model from calling
/// them, so the schema is given as a system instruction instead.
fn json_mode<'a>(req: &'a ChatRequest, body: &mut ConverseRequest<'a>) -> Option<String> {
    let (name, schema, description) = match req.response_format.as_ref()? {
        ResponseFormat::Text => return None,
        ResponseFormat::JsonObject => (
            JSON_TOOL.to_owned(),
            Cow::Owned(json!({"type": "object"})),
            None,
        ),
        ResponseFormat::JsonSchema { json_schema: s } => (
            tool_name(&s.name),
            s.schema
                .as_ref()
                .map_or_else(|| Cow::Owned(json!({"type": "object"})), Cow::Borrowed),
            s.description.as_deref(),
        ),
    };
    if body.tool_config.is_some() {
        body.system.push(SystemBlock::Text(Cow::Owned(format!(
            "When you answer (rather than call a tool), answer with a single JSON value matching \
             this JSON schema, and nothing else: {schema}"
        ))));
        return None;
    }
    let description = description.unwrap_or("Return the answer as this tool's input.");
    body.tool_config = Some(ToolConfig {
        tools: vec![WireTool {
            tool_spec: ToolSpec {
                name: Cow::Owned(name.clone()),
                description: Some(Cow::Borrowed(description)),
                input_schema: InputSchema { json: schema },
            },
        }],
        tool_choice: Some(WireToolChoice::Tool(NamedTool { name: name.clone() })),
    });
    Some(name)
}

/// Tool names must match `^[a-zA-Z0-9_-]{1,64}$`.
fn tool_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if clean.is_empty() {
        JSON_TOOL.to_owned()
    } else {
        clean
    }
}

/// `stopReason` → canonical finish reason (`tool_use` of the JSON-mode tool is a stop).
pub fn finish_reason(stop: &str, json_tool: bool) -> FinishReason {
    match stop {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" if json_tool => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Converse usage → normalised usage (see the module docs for the counting convention).
pub fn usage(u: &TokenUsage) -> Usage {
    let writes = u.cache_write_input_tokens.unwrap_or(0);
    let by_ttl = |ttl: &str| -> u64 {
        u.cache_details
            .iter()
            .filter(|d| d.ttl == ttl)
            .map(|d| d.input_tokens)
            .sum()
    };
    let w1 = by_ttl("1h");
    let detailed = by_ttl("5m") + w1;
    // Writes not covered by `cacheDetails` (or all of them, without it) use the 5m default.
    let w5 = by_ttl("5m") + writes.saturating_sub(detailed);
    Usage {
        input: u.input_tokens,
        cache_read: u.cache_read_input_tokens.unwrap_or(0),
        cache_write_5m: w5,
        cache_write_1h: w1,
        output: u.output_tokens,
        ..Usage::default()
    }
}

/// Converse response → canonical response and normalised usage.
pub fn decode_response(
    r: ConverseResponse,
    json_tool: Option<&str>,
    id: String,
    model: &str,
    created: u64,
) -> (ChatResponse, Usage) {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in r.output.message.content {
        match block {
            ContentBlock::Text(t) => text.push_str(&t),
            ContentBlock::ReasoningContent(v) => {
                if let Some(t) = v.pointer("/reasoningText/text").and_then(Value::as_str) {
                    reasoning.push_str(t);
                }
            }
            ContentBlock::ToolUse(t) if Some(t.name.as_ref()) == json_tool => {
                text.push_str(&t.input.to_string());
            }
            ContentBlock::ToolUse(t) => calls.push(ToolCall::function(
                t.tool_use_id.into_owned(),
                t.name.into_owned(),
                t.input.to_string(),
            )),
            _ => {}
        }
    }
    let mut message = Message::text(Role::Assistant, text);
    if !calls.is_empty() {
        if message.text_content().is_empty() {
            message.content = None;
        }
        message.tool_calls = Some(calls);
    }
    message.reasoning_content = (!reasoning.is_empty()).then_some(reasoning);
    let usage = usage(&r.usage);
    let response = ChatResponse {
        id,
        object: "chat.completion".to_owned(),
        created,
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason(&r.stop_reason, json_tool.is_some())),
            logprobs: None,
            extra: JsonMap::new(),
        }],
        usage: Some(usage.to_openai()),
        system_fingerprint: None,
        extra: JsonMap::new(),
    };
    (response, usage)
}
