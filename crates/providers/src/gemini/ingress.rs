//! The Gemini-compatible ingress (`POST /v1beta/models/{model}:generateContent` and friends on
//! the gateway): a client speaking Gemini's API — the `google-genai` SDK — is served by any
//! upstream through the canonical model.
//!
//! [`parse_request`]: `generateContent` JSON → canonical [`ChatRequest`] (`systemInstruction`
//! becomes a system message, `functionCall` parts become `tool_calls` — given ids when the
//! client sent none, matched to their `functionResponse` by name —, schemas in Gemini's
//! upper-case `type` dialect become JSON Schema). Thought parts and thought signatures are
//! provider-bound state: never forwarded. [`encode_response`] and [`SseEncoder`]: canonical
//! answer → `GenerateContentResponse` JSON, whole or as `alt=sse` chunks (function calls are
//! sent whole, with the finish reason and usage, as Gemini does).

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_types::{
    ChatChunk, ChatRequest, ChatResponse, Content as ChatContent, ContentPart, EmbeddingInput,
    EmbeddingVector, EmbeddingsRequest, EmbeddingsResponse, FinishReason, FunctionDef,
    FunctionName, ImageUrl, JsonMap, JsonSchemaSpec, Message, NamedToolChoice, ResponseFormat,
    Role, ServiceTier, Stop, StreamOptions, Tool, ToolCall, ToolChoice, Usage,
};

use super::wire::{Content, GenerateContentRequest};

/// The actions of `POST /v1beta/models/{model}:{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `generateContent`.
    Generate,
    /// `streamGenerateContent` (`?alt=sse`).
    Stream,
    /// `countTokens`.
    CountTokens,
    /// `embedContent`.
    Embed,
    /// `batchEmbedContents`.
    BatchEmbed,
}

/// `{model}:{action}` (a `models/` prefix is accepted) → the model and the action.
pub fn route(call: &str) -> Result<(&str, Action), String> {
    let (model, action) = call
        .rsplit_once(':')
        .ok_or_else(|| format!("expected `{{model}}:{{action}}`, got `{call}`"))?;
    let model = model.strip_prefix("models/").unwrap_or(model);
    if model.is_empty() {
        return Err("the model name is empty".into());
    }
    let action = match action {
        "generateContent" => Action::Generate,
        "streamGenerateContent" => Action::Stream,
        "countTokens" => Action::CountTokens,
        "embedContent" => Action::Embed,
        "batchEmbedContents" => Action::BatchEmbed,
        other => return Err(format!("unknown action `{other}`")),
    };
    Ok((model, action))
}

/// Parse a `generateContent` body for `model` into the canonical form.
pub fn parse_request(body: &[u8], model: &str, stream: bool) -> Result<ChatRequest, String> {
    // Parsed once; the typed view is read from it, the JSON-Schema variants the wire type does
    // not name are read from it directly.
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
    typed_chat(&raw, model, stream)
}

fn typed_chat(raw: &Value, model: &str, stream: bool) -> Result<ChatRequest, String> {
    use serde::Deserialize;
    let w = GenerateContentRequest::<'static>::deserialize(raw)
        .map_err(|e| format!("invalid request body: {e}"))?;
    to_chat(w, raw, model, stream)
}

/// A `countTokens` body: `contents` (and the rest), or a whole `generateContentRequest`.
pub fn parse_count(body: &[u8], model: &str) -> Result<ChatRequest, String> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
    typed_chat(
        raw.get("generateContentRequest").unwrap_or(&raw),
        model,
        false,
    )
}

fn to_chat(
    w: GenerateContentRequest<'static>,
    raw: &Value,
    model: &str,
    stream: bool,
) -> Result<ChatRequest, String> {
    if w.contents.is_empty() {
        return Err("contents: at least one content is required".into());
    }
    let mut messages = Vec::with_capacity(w.contents.len() + 1);
    if let Some(sys) = &w.system_instruction {
        let text = texts(sys);
        if !text.is_empty() {
            messages.push(Message::text(Role::System, text));
        }
    }
    let mut calls = Calls::default();
    for (i, c) in w.contents.iter().enumerate() {
        match c.role.as_deref().unwrap_or("user") {
            "user" | "function" | "tool" => {
                user(c, &mut calls, &mut messages).map_err(|e| format!("contents[{i}]: {e}"))?
            }
            "model" => messages.push(model_turn(c, &mut calls)),
            other => return Err(format!("contents[{i}].role: unknown role `{other}`")),
        }
    }
    let mut tools = Vec::new();
    let raw_tools = raw.get("tools").and_then(Value::as_array);
    for (i, t) in w.tools.iter().flatten().enumerate() {
        for (j, f) in t.function_declarations.iter().enumerate() {
            // `parametersJsonSchema` is JSON Schema already; `parameters` is Gemini's dialect.
            let json_schema = raw_tools
                .and_then(|ts| ts.get(i))
                .and_then(|t| t.get("functionDeclarations"))
                .and_then(|fs| fs.get(j))
                .and_then(|f| f.get("parametersJsonSchema"))
                .cloned();
            tools.push(Tool {
                kind: "function".into(),
                function: Some(FunctionDef {
                    name: f.name.to_string(),
                    description: f.description.as_ref().map(|d| d.to_string()),
                    parameters: json_schema.or_else(|| f.parameters.as_ref().map(json_schema_of)),
                    strict: None,
                }),
                extra: JsonMap::new(),
            });
        }
        if let Some(kind) = t.extra.keys().next() {
            return Err(format!(
                "tools[{i}].{kind}: a built-in Gemini tool cannot run on a translated upstream; \
                 use function declarations"
            ));
        }
    }
    let tool_choice = match w.tool_config.as_ref().map(|c| &c.function_calling_config) {
        None => None,
        Some(c) => match (c.mode.as_str(), c.allowed_function_names.as_deref()) {
            ("NONE", _) => Some(ToolChoice::Mode("none".into())),
            ("ANY", Some([one])) => Some(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: FunctionName { name: one.clone() },
            })),
            ("ANY", _) => Some(ToolChoice::Mode("required".into())),
            _ => Some(ToolChoice::Mode("auto".into())),
        },
    };
    let g = w.generation_config.unwrap_or_default();
    if g.candidate_count.is_some_and(|n| n > 1) {
        return Err("generationConfig.candidateCount: only 1 candidate is supported".into());
    }
    let raw_g = raw.get("generationConfig");
    let schema = raw_g
        .and_then(|g| g.get("responseJsonSchema"))
        .cloned()
        .or_else(|| g.response_schema.as_ref().map(json_schema_of));
    let response_format = match (g.response_mime_type.as_deref(), schema) {
        (_, Some(schema)) => Some(ResponseFormat::JsonSchema {
            json_schema: JsonSchemaSpec {
                name: "response".into(),
                description: None,
                schema: Some(schema),
                strict: None,
            },
        }),
        (Some("application/json"), None) => Some(ResponseFormat::JsonObject),
        _ => None,
    };
    let mut extra = JsonMap::new();
    if let Some(effort) = g.thinking_config.as_ref().and_then(effort_of) {
        extra.insert("reasoning_effort".into(), json!(effort));
    }
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        stream,
        stream_options: stream.then(|| StreamOptions {
            include_usage: true,
            extra: JsonMap::new(),
        }),
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        response_format,
        stop: g.stop_sequences.map(Stop::Many),
        temperature: g.temperature,
        top_p: g.top_p,
        seed: g.seed,
        presence_penalty: g.presence_penalty,
        frequency_penalty: g.frequency_penalty,
        max_completion_tokens: g.max_output_tokens,
        service_tier: w.service_tier.as_deref().map(ServiceTier::parse),
        extra,
        ..ChatRequest::default()
    })
}

/// `thinkingConfig` → an OpenAI reasoning effort: `thinkingLevel` as is, a `thinkingBudget`
/// by size (0: minimal; ≤ 2048: low; ≤ 16384: medium; more, or -1 dynamic: high).
fn effort_of(t: &Value) -> Option<&'static str> {
    if let Some(level) = t.get("thinkingLevel").and_then(Value::as_str) {
        return Some(match level.to_ascii_lowercase().as_str() {
            "minimal" => "minimal",
            "low" => "low",
            "medium" => "medium",
            _ => "high",
        });
    }
    let budget = t.get("thinkingBudget")?.as_i64()?;
    Some(match budget {
        0 => "minimal",
        // -1: dynamic.
        b => u64::try_from(b).map_or("high", crate::reasoning::effort_for_budget),
    })
}

/// Gemini's schema dialect (`"type": "OBJECT"`, `nullable`) → JSON Schema.
fn json_schema_of(s: &Value) -> Value {
    match s {
        Value::Object(m) => {
            let mut out = JsonMap::new();
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("type", Value::String(t)) => {
                        out.insert(k.clone(), json!(t.to_ascii_lowercase()));
                    }
                    ("properties", Value::Object(props)) => {
                        let props: JsonMap = props
                            .iter()
                            .map(|(n, p)| (n.clone(), json_schema_of(p)))
                            .collect();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    ("nullable" | "propertyOrdering", _) => {}
                    _ => {
                        out.insert(k.clone(), json_schema_of(v));
                    }
                }
            }
            if m.get("nullable") == Some(&json!(true)) {
                if let Some(t) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(json_schema_of).collect()),
        other => other.clone(),
    }
}

/// The concatenated text of a content's non-thought parts.
fn texts(c: &Content<'_>) -> String {
    c.parts
        .iter()
        .filter(|p| p.thought != Some(true))
        .filter_map(|p| p.text.as_deref())
        .collect()
}

/// Function call ids: the client's when it sent them, else made up and matched to the
/// responses by name, in order.
#[derive(Default)]
struct Calls {
    made: u32,
    pending: Vec<(String, String)>,
}

impl Calls {
    fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = id.map_or_else(
            || {
                self.made += 1;
                format!("call_{}_{}", self.made, name)
            },
            str::to_owned,
        );
        self.pending.push((name.to_owned(), id.clone()));
        id
    }

    fn response(&mut self, id: Option<&str>, name: &str) -> String {
        if let Some(id) = id {
            // The call's id may carry its thought signature; the client answers the bare id.
            let full = self
                .pending
                .iter()
                .position(|(_, p)| p == id || crate::thought::split(p).0 == id);
            return match full {
                Some(i) => self.pending.remove(i).1,
                None => id.to_owned(),
            };
        }
        match self.pending.iter().position(|(n, _)| n == name) {
            Some(i) => self.pending.remove(i).1,
            None => format!("call_{name}"),
        }
    }
}

/// A user turn: text and media parts as one user message, function responses as tool
/// messages.
fn user(c: &Content<'_>, calls: &mut Calls, out: &mut Vec<Message>) -> Result<(), String> {
    let mut parts = Vec::new();
    for (i, p) in c.parts.iter().enumerate() {
        if let Some(r) = &p.function_response {
            let id = calls.response(r.id.as_deref(), &r.name);
            let mut m = Message::text(Role::Tool, r.response.to_string());
            m.tool_call_id = Some(id);
            out.push(m);
        } else if let Some(t) = &p.text {
            if p.thought != Some(true) {
                parts.push(ContentPart::Text {
                    text: t.to_string(),
                    extra: JsonMap::new(),
                });
            }
        } else if let Some(b) = &p.inline_data {
            parts.push(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: format!("data:{};base64,{}", b.mime_type, b.data),
                    detail: None,
                },
            });
        } else if let Some(f) = &p.file_data {
            parts.push(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: f.file_uri.to_string(),
                    detail: None,
                },
            });
        } else if !p.extra.keys().all(|k| k == "thoughtSignature") {
            let kind = p.extra.keys().next().map_or("?", String::as_str);
            return Err(format!("parts[{i}]: `{kind}` parts are not supported"));
        }
    }
    match parts.as_slice() {
        [] => {}
        [ContentPart::Text { text, .. }] => out.push(Message::text(Role::User, text.clone())),
        _ => {
            let mut m = Message::text(Role::User, String::new());
            m.content = Some(ChatContent::Parts(parts));
            out.push(m);
        }
    }
    Ok(())
}

/// A model turn: its text and function calls (thoughts are the model's own state, left out).
fn model_turn(c: &Content<'_>, calls: &mut Calls) -> Message {
    let mut m = Message::text(Role::Assistant, texts(c));
    let tool_calls: Vec<ToolCall> = c
        .parts
        .iter()
        .filter_map(|p| Some((p, p.function_call.as_ref()?)))
        .map(|(p, f)| {
            // A thinking model's signature, kept in the id for the upstream that gave it.
            let sig = p.extra.get("thoughtSignature").and_then(Value::as_str);
            let id = match (f.id.as_deref(), sig) {
                (Some(id), Some(sig)) => Some(crate::thought::attach(id, sig)),
                (id, _) => id.map(str::to_owned),
            };
            let mut id = calls.call(id.as_deref(), &f.name);
            if let (Some(sig), None) = (sig, f.id.as_deref()) {
                id = crate::thought::attach(&id, sig);
                if let Some(last) = calls.pending.last_mut() {
                    last.1.clone_from(&id);
                }
            }
            let args = f.args.clone().unwrap_or_else(|| json!({}));
            ToolCall::function(id, f.name.to_string(), args.to_string())
        })
        .collect();
    if !tool_calls.is_empty() {
        if m.text_content().is_empty() {
            m.content = None;
        }
        m.tool_calls = Some(tool_calls);
    }
    m
}

/// Gemini's finish reason for a canonical one.
fn finish(f: Option<&FinishReason>) -> &'static str {
    match f {
        Some(FinishReason::Length) => "MAX_TOKENS",
        Some(FinishReason::ContentFilter) => "SAFETY",
        Some(FinishReason::Other(_)) => "OTHER",
        _ => "STOP",
    }
}

/// Gemini's `usageMetadata`: the prompt count includes cached tokens; thoughts are counted
/// apart from the candidates.
pub fn usage_json(u: &Usage) -> Value {
    let prompt = u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h;
    let thoughts = u.reasoning.min(u.output);
    let mut m = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": u.output - thoughts,
        "totalTokenCount": prompt + u.output,
    });
    if u.cache_read > 0 {
        m["cachedContentTokenCount"] = json!(u.cache_read);
    }
    if thoughts > 0 {
        m["thoughtsTokenCount"] = json!(thoughts);
    }
    if !u.tier.is_standard() {
        m["serviceTier"] = json!(u.tier.as_str());
    }
    m
}

fn call_part(id: &str, name: &str, arguments: &str) -> Value {
    let args: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
    // A Gemini client gets a thinking model's signature where Gemini puts it.
    let (id, sig) = crate::thought::split(id);
    let mut part = json!({"functionCall": {"id": id, "name": name, "args": args}});
    if let Some(sig) = sig {
        part["thoughtSignature"] = json!(sig);
    }
    part
}

/// A whole answer as a `GenerateContentResponse`.
pub fn encode_response(r: &ChatResponse, usage: &Usage) -> Value {
    let choice = r.choices.first();
    let mut parts = Vec::new();
    if let Some(m) = choice.map(|c| &c.message) {
        if let Some(t) = m.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
            parts.push(json!({"text": t, "thought": true}));
        }
        let text = m.text_content();
        if !text.is_empty() {
            parts.push(json!({"text": text}));
        }
        for t in m.tool_calls.iter().flatten() {
            parts.push(call_part(&t.id, t.name(), t.input()));
        }
    }
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": parts},
            "finishReason": finish(choice.and_then(|c| c.finish_reason.as_ref())),
            "index": 0,
        }],
        "usageMetadata": usage_json(usage),
        "modelVersion": r.model,
        "responseId": r.id,
    })
}

/// `alt=sse` chunks from canonical chunks: text and thoughts as they come, function calls
/// whole at the end with the finish reason and usage.
#[derive(Debug, Default)]
pub struct SseEncoder {
    model: String,
    id: String,
    calls: Vec<(String, String, String)>,
    finish: Option<FinishReason>,
    finished: bool,
}

impl SseEncoder {
    fn data(v: &Value) -> Bytes {
        Bytes::from(format!("data: {v}\r\n\r\n"))
    }

    fn candidate(&self, parts: Vec<Value>, finish: Option<&'static str>) -> Value {
        let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        json!({"candidates": [c], "modelVersion": self.model, "responseId": self.id})
    }

    /// The chunk for a canonical chunk (`None`: nothing to send yet).
    pub fn chunk(&mut self, chunk: &ChatChunk) -> Option<Bytes> {
        if self.model.is_empty() {
            self.model.clone_from(&chunk.model);
            self.id.clone_from(&chunk.id);
        }
        let c = chunk.choices.first()?;
        let mut parts = Vec::new();
        if let Some(t) = c
            .delta
            .reasoning_content
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            parts.push(json!({"text": t, "thought": true}));
        }
        if let Some(t) = c.delta.content.as_deref().filter(|t| !t.is_empty()) {
            parts.push(json!({"text": t}));
        }
        for d in c.delta.tool_calls.iter().flatten() {
            let i = d.index as usize;
            while self.calls.len() <= i {
                self.calls.push(Default::default());
            }
            let call = &mut self.calls[i];
            if let Some(id) = &d.id {
                call.0.clone_from(id);
            }
            if let Some(f) = &d.function {
                if let Some(n) = &f.name {
                    call.1.push_str(n);
                }
                if let Some(a) = &f.arguments {
                    call.2.push_str(a);
                }
            }
        }
        if c.finish_reason.is_some() {
            self.finish.clone_from(&c.finish_reason);
        }
        (!parts.is_empty()).then(|| Self::data(&self.candidate(parts, None)))
    }

    /// The last chunk: pending function calls, the finish reason and the usage.
    pub fn finish(&mut self, usage: Option<&Usage>, extra: Option<(&str, Value)>) -> Option<Bytes> {
        if self.finished {
            return None;
        }
        self.finished = true;
        let parts = self
            .calls
            .iter()
            .map(|(id, name, args)| call_part(id, name, args))
            .collect();
        let mut v = self.candidate(parts, Some(finish(self.finish.as_ref())));
        if let Some(u) = usage {
            v["usageMetadata"] = usage_json(u);
        }
        if let Some((k, x)) = extra {
            v[k] = x;
        }
        Some(Self::data(&v))
    }

    /// A stream that failed after it began: an explicit error object, never a finish.
    pub fn error(&mut self, message: &str) -> Bytes {
        self.finished = true;
        Self::data(&json!({"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}}))
    }
}

/// `embedContent` (one content) or `batchEmbedContents` (`requests`, each naming the model)
/// → one canonical embeddings request of their texts.
pub fn parse_embed(body: &[u8], model: &str, batch: bool) -> Result<EmbeddingsRequest, String> {
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))?;
    let requests: Vec<&Value> = if batch {
        raw.get("requests")
            .and_then(Value::as_array)
            .ok_or("requests: a list of embedContent requests is required")?
            .iter()
            .collect()
    } else {
        vec![&raw]
    };
    let mut inputs = Vec::with_capacity(requests.len());
    let mut dimensions = None;
    for (i, r) in requests.iter().enumerate() {
        let content = <Content<'static> as serde::Deserialize>::deserialize(
            r.get("content")
                .ok_or_else(|| format!("requests[{i}].content is required"))?,
        )
        .map_err(|e| format!("requests[{i}].content: {e}"))?;
        let text = texts(&content);
        if text.is_empty() {
            return Err(format!("requests[{i}].content: no text to embed"));
        }
        inputs.push(text);
        dimensions = dimensions.or(r
            .get("outputDimensionality")
            .and_then(Value::as_u64)
            .and_then(|d| u32::try_from(d).ok()));
    }
    Ok(EmbeddingsRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Many(inputs),
        encoding_format: None,
        dimensions,
        user: None,
        extra: JsonMap::new(),
    })
}

/// Embeddings as `embedContent` (`embedding`) or `batchEmbedContents` (`embeddings`) JSON.
pub fn encode_embed(r: &EmbeddingsResponse, batch: bool) -> Value {
    let values: Vec<Value> = r
        .data
        .iter()
        .map(|e| match &e.embedding {
            EmbeddingVector::Float(v) => json!({"values": v}),
            EmbeddingVector::Base64(_) => json!({"values": []}),
        })
        .collect();
    if batch {
        json!({"embeddings": values})
    } else {
        json!({"embedding": values.into_iter().next().unwrap_or(json!({"values": []}))})
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn calls_without_ids_are_matched_to_their_responses_by_name() {
        let body = json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Weather?"}]},
                {"role": "model", "parts": [
                    {"text": "hmm", "thought": true, "thoughtSignature": "opaque"},
                    {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"t": 3}}}]},
            ],
            "tools": [{"functionDeclarations": [{"name": "weather",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING", "nullable": true}}}}]}],
            "generationConfig": {"maxOutputTokens": 64, "responseMimeType": "application/json",
                "thinkingConfig": {"thinkingBudget": 1024}},
        });
        let r = parse_request(body.to_string().as_bytes(), "m", false).unwrap();
        let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        let call = &r.messages[2].tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            r.messages[3].tool_call_id.as_deref(),
            Some(call.id.as_str())
        );
        assert!(r.messages[2].content.is_none(), "the thought is left out");
        assert!(!serde_json::to_string(&r).unwrap().contains("opaque"));
        let params = r.tools.unwrap()[0]
            .function
            .clone()
            .unwrap()
            .parameters
            .unwrap();
        assert_eq!(params["type"], "object");
        assert_eq!(
            params["properties"]["city"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(r.response_format, Some(ResponseFormat::JsonObject));
        assert_eq!(r.extra["reasoning_effort"], "low");
        assert_eq!(r.max_completion_tokens, Some(64));
    }

    #[test]
    fn routes_name_the_model_and_action() {
        assert_eq!(
            route("models/x-1:streamGenerateContent").unwrap(),
            ("x-1", Action::Stream)
        );
        assert!(route("x-1:explode").unwrap_err().contains("explode"));
        assert!(route("no-action").is_err());
    }
}
