//! The Anthropic-compatible ingress (`POST /v1/messages` on the gateway): a client speaking
//! Anthropic Messages is served by any upstream through the canonical model.
//!
//! [`parse_request`]: Anthropic request JSON → canonical [`ChatRequest`] (`system` becomes a
//! system message, `tool_result` blocks become `tool` messages, `tool_use` blocks become
//! `tool_calls`). [`encode_response`]: canonical response → Anthropic `message` JSON, with
//! usage in Anthropic's buckets. [`SseEncoder`]: canonical chunks → Anthropic named events with
//! the right block `index`es, `message_delta` (stop reason, usage) and `message_stop`.
//! Lives here because only this crate names provider JSON fields.

use serde_json::{json, Value};
use switchyard_types::{
    ChatRequest, ChatResponse, Content, ContentPart, FinishReason, FunctionDef, FunctionName,
    ImageUrl, JsonMap, Message, NamedToolChoice, Native, NativeApi, Role, Stop, Thinking, Tool,
    ToolCall, ToolChoice, Usage,
};

use super::wire::{Block, MessageContent, MessagesRequest, System, WireToolChoice};

/// Parse an Anthropic Messages request into the canonical form; the error names the problem.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, String> {
    let w: MessagesRequest<'static> =
        serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
    if w.model.is_empty() {
        return Err("model: Field required".to_owned());
    }
    let Some(max_tokens) = w.max_tokens else {
        return Err("max_tokens: Field required".to_owned());
    };
    if w.messages.is_empty() {
        return Err("messages: at least one message is required".to_owned());
    }
    let mut messages = Vec::with_capacity(w.messages.len() + 1);
    match w.system {
        Some(System::Text(t)) if !t.is_empty() => {
            messages.push(Message::text(Role::System, t.into_owned()));
        }
        Some(System::Blocks(b)) if !b.is_empty() => {
            let parts = b.into_iter().map(part).collect::<Result<Vec<_>, _>>()?;
            messages.push(with_content(
                Role::System,
                Content::Parts(parts.into_iter().flatten().collect()),
            ));
        }
        _ => {}
    }
    for (i, m) in w.messages.into_iter().enumerate() {
        match m.role.as_ref() {
            "user" => user_messages(m.content, &mut messages)
                .map_err(|e| format!("messages[{i}].content: {e}"))?,
            "assistant" => messages.push(assistant_message(m.content)),
            // A system message mid-conversation (Claude Code sends them, with the
            // `mid-conversation-system` beta): kept in place.
            "system" => messages.push(match m.content {
                MessageContent::Text(t) => Message::text(Role::System, t.into_owned()),
                MessageContent::Blocks(b) => {
                    let parts = b
                        .into_iter()
                        .map(part)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("messages[{i}].content: {e}"))?;
                    with_content(
                        Role::System,
                        Content::Parts(parts.into_iter().flatten().collect()),
                    )
                }
            }),
            other => {
                return Err(format!(
                    "messages: role must be 'user', 'assistant' or 'system', not '{other}'"
                ))
            }
        }
    }
    let mut tools: Vec<Tool> = Vec::new();
    for (i, t) in w.tools.unwrap_or_default().into_iter().enumerate() {
        if t.input_schema.as_deref().is_some_and(|s| !s.is_object()) {
            return Err(format!("tools[{i}].input_schema: must be a JSON object"));
        }
        tools.extend(tool(t));
    }
    let (tool_choice, parallel) = w.tool_choice.map_or((None, None), choice);
    // Anthropic's own fields (`thinking`, `output_config`, `context_management`, `top_k`, …):
    // for an Anthropic upstream only.
    let mut fields = w.extra;
    if let Some(k) = w.top_k {
        fields.insert("top_k".into(), json!(k));
    }
    // The reasoning asked for, in the canonical form other APIs read (`reasoning_effort`); an
    // Anthropic upstream gets the client's own `thinking` instead.
    let mut extra = JsonMap::new();
    if let Some(effort) = effort_of(&fields) {
        extra.insert("reasoning_effort".into(), json!(effort));
    }
    let native = (!fields.is_empty()).then(|| {
        Box::new(Native {
            api: NativeApi::Anthropic,
            fields,
            betas: Vec::new(),
        })
    });
    Ok(ChatRequest {
        native,
        extra,
        model: w.model.into_owned(),
        messages,
        stream: w.stream,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        parallel_tool_calls: parallel,
        stop: w.stop_sequences.map(Stop::Many),
        temperature: w.temperature,
        top_p: w.top_p,
        max_tokens: Some(max_tokens),
        user: w
            .metadata
            .as_ref()
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        ..ChatRequest::default()
    })
}

/// The reasoning effort an Anthropic request asks for: `output_config.effort` (`max` is
/// `high`), else by `thinking`: a budget up to 2,048 tokens is `low`, up to 16,384 `medium`,
/// more `high`; `adaptive` without an effort is `medium`. `None` without thinking.
fn effort_of(fields: &JsonMap) -> Option<&'static str> {
    let thinking = fields.get("thinking");
    let kind = thinking.and_then(|t| t.get("type")).and_then(Value::as_str);
    if !matches!(kind, Some("enabled" | "adaptive")) {
        return None;
    }
    let said = fields
        .get("output_config")
        .and_then(|o| o.get("effort"))
        .and_then(Value::as_str);
    Some(match said {
        Some("low") => "low",
        Some("medium") => "medium",
        Some("high" | "max") => "high",
        _ => thinking
            .and_then(|t| t.get("budget_tokens"))
            .and_then(Value::as_u64)
            .map_or("medium", crate::reasoning::effort_for_budget),
    })
}

fn with_content(role: Role, content: Content) -> Message {
    let mut m = Message::text(role, String::new());
    m.content = Some(content);
    m
}

/// A content block as a canonical part: `Ok(None)` for blocks with no canonical form that can
/// be left out (thinking), an error naming a block that cannot be served.
fn part(b: Block<'_>) -> Result<Option<ContentPart>, String> {
    Ok(match b {
        Block::Text { text, extra } => Some(ContentPart::Text {
            text: text.into_owned(),
            extra: extra.into_owned(),
        }),
        Block::Document { source, .. } => {
            let data = match (
                source.get("type").and_then(Value::as_str),
                source.get("data").and_then(Value::as_str),
            ) {
                (Some("base64"), Some(data)) => data,
                _ => return Err("only base64 document blocks are supported".to_owned()),
            };
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("application/pdf");
            Some(ContentPart::File {
                file: json!({"file_data": format!("data:{media};base64,{data}")}),
            })
        }
        Block::Unknown => {
            return Err(
                "a content block of a type switchyard does not support (text, image, document, \
                 tool_use, tool_result and thinking are)"
                    .to_owned(),
            )
        }
        Block::Image { source, .. } => {
            let url = match source.get("type").and_then(Value::as_str) {
                Some("base64") => format!(
                    "data:{};base64,{}",
                    source
                        .get("media_type")
                        .and_then(Value::as_str)
                        .unwrap_or("image/png"),
                    source
                        .get("data")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                ),
                _ => source
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            };
            Some(ContentPart::ImageUrl {
                image_url: ImageUrl { url, detail: None },
            })
        }
        _ => None,
    })
}

fn user_messages(content: MessageContent<'_>, out: &mut Vec<Message>) -> Result<(), String> {
    let mut parts = Vec::new();
    for b in content.into_blocks() {
        match b {
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
                ..
            } => {
                let text = match content {
                    None => String::new(),
                    Some(MessageContent::Text(t)) => t.into_owned(),
                    Some(MessageContent::Blocks(bs)) => bs
                        .into_iter()
                        .filter_map(|b| match b {
                            Block::Text { text, .. } => Some(text),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                let text = if is_error == Some(true) {
                    format!("Error: {text}")
                } else {
                    text
                };
                let mut m = Message::text(Role::Tool, text);
                m.tool_call_id = Some(tool_use_id.into_owned());
                out.push(m);
            }
            other => parts.extend(part(other)?),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let plain = parts
        .iter()
        .all(|p| matches!(p, ContentPart::Text { extra, .. } if extra.is_empty()));
    if plain {
        let text: String = parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        out.push(Message::text(Role::User, text));
    } else {
        out.push(with_content(Role::User, Content::Parts(parts)));
    }
    Ok(())
}

fn assistant_message(content: MessageContent<'_>) -> Message {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for b in content.into_blocks() {
        match b {
            Block::Text { text: t, .. } => text.push_str(&t),
            // Signed thinking is kept for an Anthropic upstream; unsigned thinking (reasoning
            // another upstream wrote) would be refused there, so it is left out.
            Block::Thinking {
                thinking: t,
                signature: Some(sig),
            } if !sig.is_empty() => thinking.push(Thinking::Signed {
                text: t.into_owned(),
                signature: sig.into_owned(),
            }),
            Block::RedactedThinking { data } => thinking.push(Thinking::Redacted {
                data: data.into_owned(),
            }),
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
    let mut m = Message::text(Role::Assistant, text);
    if !calls.is_empty() {
        if m.text_content().is_empty() {
            m.content = None;
        }
        m.tool_calls = Some(calls);
    }
    m.thinking = thinking;
    m
}

fn tool(t: super::wire::WireTool<'_>) -> Option<Tool> {
    // Server tools (web search, …) have no input schema and cannot be served elsewhere.
    let schema = t.input_schema?;
    Some(Tool {
        kind: "function".to_owned(),
        function: Some(FunctionDef {
            name: t.name.into_owned(),
            description: t.description.map(std::borrow::Cow::into_owned),
            parameters: Some(schema.into_owned()),
            strict: None,
        }),
        extra: JsonMap::new(),
    })
}

fn choice(c: WireToolChoice) -> (Option<ToolChoice>, Option<bool>) {
    let parallel = c.disable_parallel_tool_use.map(|d| !d);
    let choice = match (c.kind.as_str(), c.name) {
        ("tool", Some(name)) => ToolChoice::Named(NamedToolChoice {
            kind: "function".to_owned(),
            function: FunctionName { name },
        }),
        ("any", _) => ToolChoice::Mode("required".to_owned()),
        ("none", _) => ToolChoice::Mode("none".to_owned()),
        _ => ToolChoice::Mode("auto".to_owned()),
    };
    (Some(choice), parallel)
}

/// Canonical finish reason → Anthropic `stop_reason`.
pub fn stop_reason(f: Option<&FinishReason>) -> &'static str {
    match f {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        _ => "end_turn",
    }
}

/// Normalised usage in Anthropic's buckets.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write_5m + u.cache_write_1h,
        "cache_read_input_tokens": u.cache_read,
        "output_tokens": u.output,
    })
}

fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_owned()
    } else {
        format!("msg_{id}")
    }
}

/// Canonical response → Anthropic `message` JSON (`extra` is merged at the top level).
pub fn encode_response(r: &ChatResponse, usage: &Usage, extra: JsonMap) -> Value {
    let choice = r.choices.first();
    let mut content = Vec::new();
    if let Some(c) = choice {
        // Signed thinking from an Anthropic upstream, as it came (the client sends it back);
        // reasoning from any other upstream, unsigned (never accepted back).
        let mut signed = false;
        for t in &c.message.thinking {
            content.push(match t {
                Thinking::Signed { text, signature } => {
                    json!({"type": "thinking", "thinking": text, "signature": signature})
                }
                Thinking::Redacted { data } => json!({"type": "redacted_thinking", "data": data}),
                Thinking::Encrypted { .. } => continue,
            });
            signed = true;
        }
        if let (false, Some(r)) = (
            signed,
            c.message
                .reasoning_content
                .as_deref()
                .filter(|r| !r.is_empty()),
        ) {
            content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
        }
        let text = c.message.text_content();
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        for call in c.message.tool_calls.iter().flatten() {
            // A custom tool's free text has no JSON form: it is passed as `{"input": text}`.
            let input: Value = match &call.function {
                Some(f) => serde_json::from_str(&f.arguments).unwrap_or_else(|_| json!({})),
                None => json!({ "input": call.input() }),
            };
            content.push(
                json!({"type": "tool_use", "id": call.id, "name": call.name(), "input": input}),
            );
        }
    }
    let mut body = json!({
        "id": message_id(&r.id), "type": "message", "role": "assistant", "model": r.model,
        "content": content,
        "stop_reason": stop_reason(choice.and_then(|c| c.finish_reason.as_ref())),
        "stop_sequence": null,
        "usage": usage_json(usage),
    });
    if let Some(obj) = body.as_object_mut() {
        obj.extend(extra);
    }
    body
}

mod sse;
pub use sse::SseEncoder;
