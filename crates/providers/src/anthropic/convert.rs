//! Canonical (OpenAI-shaped) ⇄ Anthropic Messages: pure functions, no IO.
//!
//! Request: system/developer messages are hoisted into `system`; `tool` messages become
//! `tool_result` blocks in a user turn; consecutive same-role turns are merged (the API
//! requires alternation); `max_tokens` is always sent (the client's, else
//! [`DEFAULT_MAX_TOKENS`] — the adapter does not know the model's own output limit).
//!
//! JSON mode: Anthropic has no `response_format`. Without client tools, it is emulated with a
//! forced tool ([`JSON_TOOL`] for `json_object`, the schema's name for `json_schema`) whose
//! input *is* the answer: the decoder turns that tool call back into the message text and
//! `finish_reason = stop`. With client tools present, forcing a tool would stop the model from
//! calling the client's own tools, so the schema is given as a system instruction instead.

use std::borrow::Cow;

use serde_json::{json, Value};
use switchyard_types::{
    ChatRequest, ChatResponse, Choice, Content, ContentPart, FinishReason, JsonMap, Message,
    NativeApi, ResponseFormat, Role, SimpleToolChoice, Thinking, ToolCall, Usage,
};

use super::wire::{
    AnthropicUsage, Block, MessageContent, MessagesRequest, MessagesResponse, System, WireMessage,
    WireTool, WireToolChoice,
};
use crate::{ErrorClass, ProviderError};

/// `max_tokens` when the client gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Name of the forced tool emulating `json_object`.
pub const JSON_TOOL: &str = "json_response";

/// An encoded request and what the decoder must know about it.
#[derive(Debug, Clone)]
pub struct Encoded<'a> {
    /// The wire body, borrowing the request's text.
    pub body: MessagesRequest<'a>,
    /// The forced tool emulating JSON mode, whose input is the answer text.
    pub json_tool: Option<String>,
}

/// The Anthropic beta that lets `system` messages stand inside `messages`.
const MID_SYSTEM_BETA: &str = "mid-conversation-system";

/// Canonical request → Anthropic body. The body borrows the request's text, tool schemas and
/// extras; only what the translation creates (sources of images, tool inputs parsed from their
/// JSON text) is owned.
pub fn encode_request<'a>(
    req: &'a ChatRequest,
    model: &'a str,
    default_max_tokens: Option<u32>,
) -> Result<Encoded<'a>, ProviderError> {
    let mut system: Vec<Block<'a>> = Vec::new();
    let mut turns: Vec<WireMessage<'a>> = Vec::new();
    // With the client's `mid-conversation-system` beta (Claude Code sends it, and the beta
    // header is passed on), a system message after the first turn stays where the client put
    // it; otherwise every system message joins the system prompt.
    let native = req
        .native
        .as_deref()
        .filter(|n| n.api == NativeApi::Anthropic);
    let in_place = native.is_some_and(|n| n.betas.iter().any(|b| b.starts_with(MID_SYSTEM_BETA)));
    for m in &req.messages {
        match m.role {
            Role::System | Role::Developer if in_place && !turns.is_empty() => {
                push(&mut turns, "system", text_blocks(m.content.as_ref()));
            }
            Role::System | Role::Developer => system.extend(text_blocks(m.content.as_ref())),
            Role::User => push(&mut turns, "user", user_blocks(m.content.as_ref())),
            Role::Assistant => push(&mut turns, "assistant", assistant_blocks(m)?),
            Role::Tool | Role::Function => push(&mut turns, "user", vec![tool_result(m)]),
        }
    }
    trim_prefill(&mut turns);
    let mut body = MessagesRequest {
        model: Cow::Borrowed(model),
        max_tokens: Some(
            req.max_output()
                .or(default_max_tokens)
                .unwrap_or(DEFAULT_MAX_TOKENS),
        ),
        messages: turns,
        tools: req
            .tools
            .as_ref()
            .filter(|t| !t.is_empty())
            .map(|ts| ts.iter().map(tool).collect::<Result<Vec<_>, _>>())
            .transpose()?,
        stop_sequences: req
            .stop
            .as_ref()
            .map(|s| s.to_vec())
            .filter(|s| !s.is_empty()),
        temperature: req.temperature,
        top_p: req.top_p,
        metadata: req
            .user
            .as_ref()
            .map(|u| JsonMap::from_iter([("user_id".to_owned(), json!(u))])),
        // The client's own Anthropic fields (`thinking`, `output_config`, …), unchanged.
        extra: native.map(|n| n.fields.clone()).unwrap_or_default(),
        ..MessagesRequest::default()
    };
    body.tool_choice = match body.tools {
        Some(_) => tool_choice(req)?,
        None => None,
    };
    let json_tool = json_mode(req, &mut body, &mut system);
    body.system = system_field(system);
    reasoning(req, &mut body);
    Ok(Encoded { body, json_tool })
}

/// A client that asked for reasoning in another API (`reasoning_effort`: OpenAI, the
/// Responses API, Gemini's `thinkingConfig`) gets Anthropic's extended thinking with a budget
/// by effort (low 1024, medium 8192, high 24576 tokens), within `max_tokens`. Left out where
/// the API refuses it: a forced tool (JSON mode included), or `max_tokens` too small for the
/// 1024-token minimum. Sampling settings thinking does not allow are dropped.
fn reasoning(req: &ChatRequest, body: &mut MessagesRequest<'_>) {
    const MIN_BUDGET: u32 = 1024;
    if body.extra.contains_key("thinking") || body.extra.contains_key("output_config") {
        return; // the client's own Anthropic setting
    }
    let budget = match req.extra.get("reasoning_effort").and_then(Value::as_str) {
        Some("low") => MIN_BUDGET,
        Some("medium") => 8192,
        Some("high" | "xhigh") => 24_576,
        _ => return,
    };
    let forced = body
        .tool_choice
        .as_ref()
        .is_some_and(|c| matches!(c.kind.as_str(), "any" | "tool"));
    let max = body.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if forced || max <= MIN_BUDGET {
        return;
    }
    body.extra.insert(
        "thinking".into(),
        json!({"type": "enabled", "budget_tokens": budget.min(max - 1)}),
    );
    body.temperature = None;
    body.top_p = None;
}

fn push<'a>(turns: &mut Vec<WireMessage<'a>>, role: &'static str, blocks: Vec<Block<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(WireMessage {
            role: r,
            content: MessageContent::Blocks(b),
        }) if r == role => b.extend(blocks),
        _ => turns.push(WireMessage {
            role: Cow::Borrowed(role),
            content: MessageContent::Blocks(blocks),
        }),
    }
}

/// The API rejects a final assistant turn (prefill) that ends with whitespace.
fn trim_prefill(turns: &mut [WireMessage<'_>]) {
    if let Some(WireMessage {
        role,
        content: MessageContent::Blocks(blocks),
    }) = turns.last_mut()
    {
        if role == "assistant" {
            if let Some(Block::Text { text, .. }) = blocks.last_mut() {
                let trimmed = text.trim_end().len();
                if trimmed < text.len() {
                    text.to_mut().truncate(trimmed);
                }
            }
            blocks.retain(|b| !matches!(b, Block::Text { text, .. } if text.is_empty()));
        }
    }
}

fn text_blocks(content: Option<&Content>) -> Vec<Block<'_>> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) if t.is_empty() => Vec::new(),
        Some(Content::Text(t)) => vec![Block::text(t.as_str())],
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text, extra } if !text.is_empty() => Some(Block::Text {
                    text: Cow::Borrowed(text),
                    extra: Cow::Borrowed(extra),
                }),
                _ => None,
            })
            .collect(),
    }
}

fn user_blocks(content: Option<&Content>) -> Vec<Block<'_>> {
    let Some(Content::Parts(parts)) = content else {
        return text_blocks(content);
    };
    parts.iter().filter_map(part_block).collect()
}

fn part_block(p: &ContentPart) -> Option<Block<'_>> {
    match p {
        ContentPart::Text { text, extra } if !text.is_empty() => Some(Block::Text {
            text: Cow::Borrowed(text),
            extra: Cow::Borrowed(extra),
        }),
        ContentPart::Text { .. } => None,
        ContentPart::ImageUrl { image_url } => Some(Block::Image {
            source: Cow::Owned(source(&image_url.url)),
            extra: Cow::Owned(JsonMap::new()),
        }),
        ContentPart::File { file } => {
            let data = file.get("file_data").and_then(Value::as_str)?;
            Some(Block::Document {
                source: Cow::Owned(source(data)),
                extra: Cow::Owned(JsonMap::new()),
            })
        }
        ContentPart::Refusal { refusal } => Some(Block::text(refusal.as_str())),
        ContentPart::InputAudio { .. } => None,
    }
}

/// `data:<media>;base64,<data>` → base64 source; anything else → URL source.
fn source(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media, data)) = rest.split_once(";base64,") {
            return json!({"type": "base64", "media_type": media, "data": data});
        }
    }
    json!({"type": "url", "url": url})
}

fn assistant_blocks(m: &Message) -> Result<Vec<Block<'_>>, ProviderError> {
    // Signed thinking goes back first, unchanged, to the API that signed it.
    let mut blocks: Vec<Block<'_>> = m
        .thinking
        .iter()
        .filter_map(|t| match t {
            Thinking::Signed { text, signature } => Some(Block::Thinking {
                thinking: Cow::Borrowed(text),
                signature: Some(Cow::Borrowed(signature)),
            }),
            Thinking::Redacted { data } => Some(Block::RedactedThinking {
                data: Cow::Borrowed(data),
            }),
            // OpenAI's encrypted reasoning: bound to the upstream that wrote it.
            Thinking::Encrypted { .. } => None,
        })
        .collect();
    blocks.extend(text_blocks(m.content.as_ref()));
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
        blocks.push(Block::ToolUse {
            id: Cow::Borrowed(&call.id),
            name: Cow::Borrowed(&f.name),
            input: Cow::Owned(input),
            extra: Cow::Owned(JsonMap::new()),
        });
    }
    Ok(blocks)
}

fn tool_result(m: &Message) -> Block<'_> {
    let content = match &m.content {
        None => None,
        Some(Content::Text(t)) => Some(MessageContent::Text(Cow::Borrowed(t))),
        Some(Content::Parts(parts)) => Some(MessageContent::Blocks(
            parts.iter().filter_map(part_block).collect(),
        )),
    };
    Block::ToolResult {
        tool_use_id: m
            .tool_call_id
            .as_deref()
            .or(m.name.as_deref())
            .map_or(Cow::Borrowed(""), Cow::Borrowed),
        content,
        is_error: None,
        extra: Cow::Owned(JsonMap::new()),
    }
}

fn tool(t: &switchyard_types::Tool) -> Result<WireTool<'_>, ProviderError> {
    let f = t
        .function_def()
        .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?;
    Ok(WireTool {
        name: Cow::Borrowed(&f.name),
        description: f.description.as_deref().map(Cow::Borrowed),
        input_schema: Some(
            f.parameters
                .as_ref()
                .map_or_else(|| Cow::Owned(json!({"type": "object"})), Cow::Borrowed),
        ),
        extra: Cow::Owned(JsonMap::new()),
    })
}

fn tool_choice(req: &ChatRequest) -> Result<Option<WireToolChoice>, ProviderError> {
    let choice = match &req.tool_choice {
        None => SimpleToolChoice::Auto,
        Some(c) => c
            .simple()
            .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?,
    };
    let (kind, name) = match choice {
        SimpleToolChoice::None => ("none", None),
        SimpleToolChoice::Required => ("any", None),
        SimpleToolChoice::Auto => ("auto", None),
        SimpleToolChoice::Function(name) => ("tool", Some(name.to_owned())),
    };
    let disable = (req.parallel_tool_calls == Some(false) && kind != "none").then_some(true);
    if req.tool_choice.is_none() && disable.is_none() {
        return Ok(None);
    }
    Ok(Some(WireToolChoice {
        kind: kind.to_owned(),
        name,
        disable_parallel_tool_use: disable,
    }))
}

/// Emulate `response_format`; returns the forced tool's name when one is used.
fn json_mode<'a>(
    req: &'a ChatRequest,
    body: &mut MessagesRequest<'a>,
    system: &mut Vec<Block<'a>>,
) -> Option<String> {
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
    if body.tools.is_some() {
        system.push(Block::text(format!(
            "When you answer (rather than call a tool), answer with a single JSON value matching \
             this JSON schema, and nothing else: {schema}"
        )));
        return None;
    }
    let description = description.unwrap_or("Return the answer as this tool's input.");
    body.tools = Some(vec![WireTool {
        name: Cow::Owned(name.clone()),
        description: Some(Cow::Borrowed(description)),
        input_schema: Some(schema),
        extra: Cow::Owned(JsonMap::new()),
    }]);
    body.tool_choice = Some(WireToolChoice {
        kind: "tool".to_owned(),
        name: Some(name.clone()),
        disable_parallel_tool_use: None,
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

fn system_field(blocks: Vec<Block<'_>>) -> Option<System<'_>> {
    if blocks.is_empty() {
        return None;
    }
    let plain = blocks
        .iter()
        .all(|b| matches!(b, Block::Text { extra, .. } if extra.is_empty()));
    if !plain {
        return Some(System::Blocks(blocks));
    }
    if let [Block::Text { .. }] = blocks.as_slice() {
        if let Some(Block::Text { text, .. }) = blocks.into_iter().next() {
            return Some(System::Text(text));
        }
        return None;
    }
    let texts: Vec<Cow<'_, str>> = blocks
        .into_iter()
        .filter_map(|b| match b {
            Block::Text { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    Some(System::Text(Cow::Owned(texts.join("\n\n"))))
}

/// `stop_reason` → canonical finish reason.
pub fn finish_reason(stop: &str, json_tool: bool) -> FinishReason {
    match stop {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" if json_tool => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Anthropic usage → normalised usage.
pub fn usage(u: &AnthropicUsage) -> Usage {
    let total = u.cache_creation_input_tokens.unwrap_or(0);
    let (w5, w1) = match u.cache_creation {
        // Writes the TTL breakdown does not cover are billed at the default (5-minute) rate.
        Some(c) => {
            let detailed = c.ephemeral_5m_input_tokens + c.ephemeral_1h_input_tokens;
            (
                c.ephemeral_5m_input_tokens + total.saturating_sub(detailed),
                c.ephemeral_1h_input_tokens,
            )
        }
        None => (total, 0),
    };
    Usage {
        input: u.input_tokens.unwrap_or(0),
        cache_read: u.cache_read_input_tokens.unwrap_or(0),
        cache_write_5m: w5,
        cache_write_1h: w1,
        output: u.output_tokens.unwrap_or(0),
        tier: u.service_tier.unwrap_or_default(),
        ..Usage::default()
    }
}

/// Anthropic response → canonical response and normalised usage.
pub fn decode_response(
    r: MessagesResponse,
    json_tool: Option<&str>,
    created: u64,
) -> (ChatResponse, Usage) {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut signed = Vec::new();
    let mut calls = Vec::new();
    for block in r.content {
        match block {
            Block::Text { text: t, .. } => text.push_str(&t),
            Block::Thinking {
                thinking,
                signature,
            } => {
                reasoning.push_str(&thinking);
                if let Some(signature) = signature {
                    signed.push(Thinking::Signed {
                        text: thinking.into_owned(),
                        signature: signature.into_owned(),
                    });
                }
            }
            Block::RedactedThinking { data } => signed.push(Thinking::Redacted {
                data: data.into_owned(),
            }),
            Block::ToolUse { name, input, .. } if Some(name.as_ref()) == json_tool => {
                text.push_str(&input.to_string());
            }
            Block::ToolUse {
                id, name, input, ..
            } => calls.push(ToolCall::function(
                id.into_owned(),
                name.into_owned(),
                input.to_string(),
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
    message.thinking = signed;
    let finish = r
        .stop_reason
        .as_deref()
        .map(|s| finish_reason(s, json_tool.is_some()));
    let usage = usage(&r.usage);
    let response = ChatResponse {
        id: r.id,
        object: "chat.completion".to_owned(),
        created,
        model: r.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: finish,
            logprobs: None,
            extra: JsonMap::new(),
        }],
        usage: Some(usage.to_openai()),
        system_fingerprint: None,
        extra: JsonMap::new(),
    };
    (response, usage)
}
