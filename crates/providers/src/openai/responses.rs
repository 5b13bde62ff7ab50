//! The OpenAI Responses API as an ingress: `POST /v1/responses` parsed into the canonical
//! [`ChatRequest`], and the canonical answer encoded back — a `response` object, or its typed
//! stream events (`response.created` … `response.completed`).
//!
//! Input is a string or a list of items: messages (text, images, refusals), `function_call`
//! and `function_call_output`, and reasoning items. A conversation continued with
//! `previous_response_id` arrives with the items stored for it (see the server), as if the
//! client had sent them. Reasoning items with encrypted content are provider-bound state
//! ([`Thinking::Encrypted`]): only the upstream that wrote them is sent them back (natively,
//! through the Responses API); every other upstream never sees them. Built-in tools (web search, file search, code
//! interpreter, …) cannot run on a translated upstream, so a request naming one is a 400 that
//! names it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchyard_types::{
    ChatChunk, ChatRequest, ChatResponse, Content, ContentPart, FinishReason, FunctionDef,
    FunctionName, ImageUrl, JsonMap, JsonSchemaSpec, Message, NamedToolChoice, Native, NativeApi,
    ResponseFormat, Role, StreamOptions, Thinking, Tool, ToolCall, ToolChoice, Usage,
};

/// A `POST /v1/responses` body, as the client sent it.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponsesRequest {
    /// Route, model or `auto`.
    pub model: String,
    /// A string (one user message) or items.
    pub input: Input,
    /// A system message before the input (not carried to the next turn).
    #[serde(default)]
    pub instructions: Option<String>,
    /// Function tools (built-in tools are refused).
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required`, or `{ "type": "function", "name": … }`.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// `{ "format": { "type": "json_schema", … } }`.
    #[serde(default)]
    pub text: Option<Value>,
    /// `{ "effort": "low" }`.
    #[serde(default)]
    pub reasoning: Option<Value>,
    /// Output cap, reasoning included.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Sampling.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Whether several tools may be called at once.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Keep the response for `GET` and `previous_response_id` (default true).
    #[serde(default)]
    pub store: Option<bool>,
    /// Continue from a stored response.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Client metadata (also read for session and tenant hints).
    #[serde(default)]
    pub metadata: Option<JsonMap>,
    /// End-user id.
    #[serde(default)]
    pub user: Option<String>,
    /// Extra outputs asked for (`reasoning.encrypted_content`: none when translated).
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Run in the background (not supported).
    #[serde(default)]
    pub background: Option<bool>,
    /// A stored conversation object (not supported; use `previous_response_id`).
    #[serde(default)]
    pub conversation: Option<Value>,
    /// The client's cache key for a conversation (Codex sends its session id): a session hint.
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    /// The service tier asked for (`flex` is the flex lane; see the chat request's field).
    #[serde(default)]
    pub service_tier: Option<switchyard_types::ServiceTier>,
    /// Fields switchyard does not model (`truncation`, `safety_identifier`, …): sent unchanged
    /// to an upstream that serves the Responses API, left behind when translating.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `input`: a string or items.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Items, oldest first.
    Items(Vec<Value>),
}

impl ResponsesRequest {
    /// Parse a body, with errors that name the problem.
    pub fn parse(body: &[u8]) -> Result<ResponsesRequest, String> {
        let req: ResponsesRequest = serde_json::from_slice(body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                format!("request body is not valid JSON: {e}")
            } else {
                format!("invalid request: {e}")
            }
        })?;
        if req.model.is_empty() {
            return Err("`model` must not be empty".into());
        }
        if req.background == Some(true) {
            return Err("`background` responses are not supported by switchyard".into());
        }
        if req.conversation.is_some() {
            return Err(
                "`conversation` objects are not supported by switchyard: continue a \
                 conversation with `previous_response_id`"
                    .into(),
            );
        }
        Ok(req)
    }

    /// Whether the response is kept (`store`, default true).
    pub fn store(&self) -> bool {
        self.store.unwrap_or(true)
    }

    /// The input as items (a string input is one user message).
    pub fn input_items(&self) -> Vec<Value> {
        match &self.input {
            Input::Text(t) => vec![user_item(t)],
            Input::Items(items) => items.clone(),
        }
    }

    /// The canonical request: `history` (the stored items of the conversation so far), then
    /// this request's input, after its `instructions`.
    pub fn to_chat(&self, history: &[Value]) -> Result<ChatRequest, String> {
        let mut messages = Vec::new();
        if let Some(i) = self.instructions.as_ref().filter(|i| !i.is_empty()) {
            messages.push(text_message(Role::System, i.clone()));
        }
        // A string input is one user message; items are read where they are (not copied).
        let one;
        let input: &[Value] = match &self.input {
            Input::Items(items) => items,
            Input::Text(t) => {
                one = [user_item(t)];
                &one
            }
        };
        for (n, item) in history.iter().chain(input).enumerate() {
            push_item(&mut messages, item).map_err(|e| format!("input[{n}]: {e}"))?;
        }
        // Reasoning that no answer followed is state with nothing to attach it to.
        messages.retain(|m| !is_reasoning_only(m));
        if messages.is_empty() {
            return Err("`input` must contain at least one item".into());
        }
        let mut extra = JsonMap::new();
        if let Some(effort) = self
            .reasoning
            .as_ref()
            .and_then(|r| r.get("effort"))
            .filter(|e| !e.is_null())
        {
            extra.insert("reasoning_effort".into(), effort.clone());
        }
        let stream = self.stream.unwrap_or(false);
        // What only an upstream speaking the Responses API can take.
        let mut native = self.extra.clone();
        let fields = [
            ("reasoning", self.reasoning.clone()),
            ("include", self.include.as_ref().map(|i| json!(i))),
            (
                "prompt_cache_key",
                self.prompt_cache_key.as_ref().map(|k| json!(k)),
            ),
        ];
        native.extend(
            fields
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?))),
        );
        Ok(ChatRequest {
            native: Some(Box::new(Native {
                api: NativeApi::Responses,
                fields: native,
                betas: Vec::new(),
            })),
            model: self.model.clone(),
            messages,
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
                extra: JsonMap::new(),
            }),
            tools: self.tools.as_ref().map(|t| tools(t)).transpose()?,
            tool_choice: self.tool_choice.as_ref().map(tool_choice).transpose()?,
            parallel_tool_calls: self.parallel_tool_calls,
            response_format: self
                .text
                .as_ref()
                .map(response_format)
                .transpose()?
                .flatten(),
            temperature: self.temperature,
            top_p: self.top_p,
            max_completion_tokens: self.max_output_tokens,
            user: self.user.clone(),
            metadata: self.metadata.clone(),
            service_tier: self.service_tier,
            extra,
            ..ChatRequest::default()
        })
    }

    /// The request fields a `response` object echoes.
    pub fn echo(&self) -> JsonMap {
        let mut m = JsonMap::new();
        m.insert("instructions".into(), json!(self.instructions));
        m.insert(
            "tools".into(),
            json!(self.tools.clone().unwrap_or_default()),
        );
        m.insert(
            "tool_choice".into(),
            self.tool_choice.clone().unwrap_or(json!("auto")),
        );
        m.insert(
            "text".into(),
            self.text
                .clone()
                .unwrap_or(json!({"format": {"type": "text"}})),
        );
        m.insert(
            "reasoning".into(),
            self.reasoning
                .clone()
                .unwrap_or(json!({"effort": null, "summary": null})),
        );
        m.insert("max_output_tokens".into(), json!(self.max_output_tokens));
        m.insert("temperature".into(), json!(self.temperature.unwrap_or(1.0)));
        m.insert("top_p".into(), json!(self.top_p.unwrap_or(1.0)));
        m.insert(
            "parallel_tool_calls".into(),
            json!(self.parallel_tool_calls.unwrap_or(true)),
        );
        m.insert(
            "previous_response_id".into(),
            json!(self.previous_response_id),
        );
        m.insert("store".into(), json!(self.store()));
        m.insert(
            "metadata".into(),
            json!(self.metadata.clone().unwrap_or_default()),
        );
        m.insert("user".into(), json!(self.user));
        m.insert("truncation".into(), json!("disabled"));
        m
    }
}

/// An assistant message holding only reasoning state (an answer's items follow it).
fn is_reasoning_only(m: &Message) -> bool {
    m.role == Role::Assistant && m.content.is_none() && m.tool_calls.is_none()
}

/// A string input as the one user message item it stands for.
fn user_item(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": text})
}

fn text_message(role: Role, text: String) -> Message {
    Message::text(role, text)
}

fn str_field<'a>(item: &'a Value, key: &str) -> Result<&'a str, String> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` must be a string"))
}

/// Append one input item to the conversation.
fn push_item(messages: &mut Vec<Message>, item: &Value) -> Result<(), String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = match str_field(item, "role")? {
                "user" => Role::User,
                "system" => Role::System,
                "developer" => Role::Developer,
                "assistant" => Role::Assistant,
                other => return Err(format!("unknown role `{other}`")),
            };
            let content = match item.get("content") {
                Some(Value::String(s)) => Content::Text(s.clone()),
                Some(Value::Array(parts)) => {
                    let parts = parts.iter().map(part).collect::<Result<Vec<_>, _>>()?;
                    match parts.as_slice() {
                        [ContentPart::Text { text, .. }] => Content::Text(text.clone()),
                        _ => Content::Parts(parts),
                    }
                }
                _ => return Err("`content` must be a string or a list of parts".into()),
            };
            match messages.last_mut() {
                // The answer its reasoning item began.
                Some(m) if role == Role::Assistant && is_reasoning_only(m) => {
                    m.content = Some(content);
                }
                _ => {
                    let mut m = text_message(role, String::new());
                    m.content = Some(content);
                    messages.push(m);
                }
            }
        }
        "function_call" => {
            let name = str_field(item, "name")?;
            let name = match item.get("namespace").and_then(Value::as_str) {
                Some(space) => flat(space, name),
                None => name.to_owned(),
            };
            let call = ToolCall::function(
                str_field(item, "call_id")?.to_owned(),
                name,
                str_field(item, "arguments")?.to_owned(),
            );
            // Consecutive calls are one assistant turn.
            match messages.last_mut() {
                Some(m) if m.role == Role::Assistant && m.tool_call_id.is_none() => {
                    m.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => {
                    let mut m = text_message(Role::Assistant, String::new());
                    m.content = None;
                    m.tool_calls = Some(vec![call]);
                    messages.push(m);
                }
            }
        }
        "function_call_output" => {
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(""),
                _ => return Err("`output` must be a string or a list of parts".into()),
            };
            let mut m = text_message(Role::Tool, output);
            m.tool_call_id = Some(str_field(item, "call_id")?.to_owned());
            messages.push(m);
        }
        // Provider-bound state (a summary and encrypted content for one upstream): kept with
        // the answer it began, for that upstream only. Without encrypted content there is
        // nothing any upstream could use.
        "reasoning" => {
            let Some(content) = item.get("encrypted_content").and_then(Value::as_str) else {
                return Ok(());
            };
            let t = Thinking::Encrypted {
                id: item
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                summary: summary_text(item),
                content: content.to_owned(),
            };
            match messages.last_mut() {
                Some(m) if is_reasoning_only(m) => m.thinking.push(t),
                _ => {
                    let mut m = text_message(Role::Assistant, String::new());
                    m.content = None;
                    m.thinking.push(t);
                    messages.push(m);
                }
            }
        }
        "item_reference" => {
            return Err(
                "`item_reference` items are not supported by switchyard: send the \
                 items, or continue with `previous_response_id`"
                    .into(),
            )
        }
        other => return Err(format!("input items of type `{other}` are not supported")),
    }
    Ok(())
}

/// A reasoning item's summary text.
fn summary_text(item: &Value) -> String {
    item.get("summary")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n\n")
        })
        .unwrap_or_default()
}

/// One content part of a message item.
fn part(p: &Value) -> Result<ContentPart, String> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    Ok(match kind {
        "input_text" | "output_text" | "text" => ContentPart::Text {
            text: str_field(p, "text")?.to_owned(),
            extra: JsonMap::new(),
        },
        "refusal" => ContentPart::Refusal {
            refusal: str_field(p, "refusal")?.to_owned(),
        },
        "input_image" => ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: p
                    .get("image_url")
                    .and_then(Value::as_str)
                    .ok_or(
                        "`input_image` needs an `image_url` (uploaded file ids are not supported)",
                    )?
                    .to_owned(),
                detail: p.get("detail").and_then(Value::as_str).map(str::to_owned),
            },
        },
        "input_file" => ContentPart::File {
            file: json!({
                "filename": p.get("filename"),
                "file_data": p.get("file_data").ok_or("`input_file` needs `file_data` (uploaded file ids are not supported)")?,
            }),
        },
        other => return Err(format!("content parts of type `{other}` are not supported")),
    })
}

/// The tools a `namespace` tool groups.
fn tool_list(ns: &Value) -> &[Value] {
    match (ns.get("type").and_then(Value::as_str), ns.get("tools")) {
        (Some("namespace"), Some(Value::Array(tools))) => tools,
        _ => &[],
    }
}

/// A namespaced tool's name upstream (`[A-Za-z0-9_-]`, as every provider accepts).
fn flat(space: &str, name: &str) -> String {
    format!("{space}__{name}")
}

/// Function tools, namespaced ones flattened; a built-in tool is refused by name.
fn tools(list: &[Value]) -> Result<Vec<Tool>, String> {
    let mut out = Vec::new();
    for t in list {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "namespace" {
            let space = str_field(t, "name")?;
            for inner in tool_list(t) {
                let mut tool = function_tool(inner)?;
                if let Some(f) = &mut tool.function {
                    f.name = flat(space, &f.name);
                }
                out.push(tool);
            }
        } else {
            out.push(function_tool(t)?);
        }
    }
    Ok(out)
}

fn function_tool(t: &Value) -> Result<Tool, String> {
    let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "function" {
        return Err(format!(
            "tool `{kind}` is a built-in tool that switchyard's upstreams cannot run \
             through the Responses API; use function tools"
        ));
    }
    Ok(Tool {
        kind: "function".into(),
        function: Some(FunctionDef {
            name: str_field(t, "name")?.to_owned(),
            description: t
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters: t.get("parameters").filter(|p| !p.is_null()).cloned(),
            strict: t.get("strict").and_then(Value::as_bool),
        }),
        extra: JsonMap::new(),
    })
}

fn tool_choice(v: &Value) -> Result<ToolChoice, String> {
    match v {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {
            Ok(ToolChoice::Mode(s.clone()))
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: FunctionName {
                    name: str_field(v, "name")?.to_owned(),
                },
            }))
        }
        Value::Object(o) => Err(format!(
            "tool_choice `{}` names a built-in tool that switchyard's upstreams cannot run",
            o.get("type").and_then(Value::as_str).unwrap_or("?")
        )),
        _ => Err("`tool_choice` must be auto, none, required or a function".into()),
    }
}

/// `text.format` → the canonical response format (`None` for plain text).
fn response_format(text: &Value) -> Result<Option<ResponseFormat>, String> {
    let Some(f) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    Ok(
        match f.get("type").and_then(Value::as_str).unwrap_or("text") {
            "text" => None,
            "json_object" => Some(ResponseFormat::JsonObject),
            "json_schema" => Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchemaSpec {
                    name: f
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("response")
                        .to_owned(),
                    description: f
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    schema: f.get("schema").cloned(),
                    strict: f.get("strict").and_then(Value::as_bool),
                },
            }),
            other => return Err(format!("text.format of type `{other}` is not supported")),
        },
    )
}

// === encoding ===

/// How one response names things: its id and its items' ids (from the gateway's request id),
/// and the client's namespaced tools (sent upstream flattened as `namespace__name`).
#[derive(Debug, Clone)]
pub struct Ids {
    /// `resp_…`.
    pub response: String,
    suffix: String,
    /// Flattened tool name → (namespace, name).
    namespaces: HashMap<String, (String, String)>,
}

impl Ids {
    /// Ids derived from the gateway's request id (so a response names its ledger row).
    pub fn of_request(request_id: &str) -> Ids {
        let suffix: String = request_id.chars().filter(|c| *c != '-').collect();
        Ids {
            response: format!("resp_{suffix}"),
            suffix,
            namespaces: HashMap::new(),
        }
    }

    /// With the request's namespaced tools, so calls to them are reported in their namespace.
    pub fn with_tools(mut self, req: &ResponsesRequest) -> Ids {
        for ns in req.tools.iter().flatten() {
            let Some(space) = ns.get("name").and_then(Value::as_str) else {
                continue;
            };
            for t in tool_list(ns) {
                if let Some(name) = t.get("name").and_then(Value::as_str) {
                    self.namespaces
                        .insert(flat(space, name), (space.to_owned(), name.to_owned()));
                }
            }
        }
        self
    }

    /// A `function_call` item, in its namespace if the tool had one.
    fn call(&self, id: String, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
        let mut item = json!({"type": "function_call", "id": id, "call_id": call_id,
            "name": name, "arguments": arguments, "status": status});
        if let Some((space, short)) = self.namespaces.get(name) {
            item["name"] = json!(short);
            item["namespace"] = json!(space);
        }
        item
    }

    fn item(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}_{}{n:02}", self.suffix)
    }
}

/// The Responses `usage` object.
pub fn usage_json(u: &Usage) -> Value {
    let input = u.input + u.cache_read + u.cache_write_5m + u.cache_write_1h;
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": input + u.output,
    })
}

/// `status` and `incomplete_details` for a finish reason.
fn status(finish: Option<&FinishReason>) -> (&'static str, Value) {
    match finish {
        Some(FinishReason::Length) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(FinishReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The `response` object around `output`.
fn response_object(
    ids: &Ids,
    model: &str,
    created: u64,
    (status, incomplete): (&str, Value),
    output: Vec<Value>,
    usage: Option<Value>,
    echo: &JsonMap,
) -> Value {
    let mut o = JsonMap::new();
    o.insert("id".into(), json!(ids.response));
    o.insert("object".into(), json!("response"));
    o.insert("created_at".into(), json!(created));
    o.insert("status".into(), json!(status));
    o.insert("error".into(), Value::Null);
    o.insert("incomplete_details".into(), incomplete);
    o.insert("model".into(), json!(model));
    o.insert("output".into(), Value::Array(output));
    o.insert("usage".into(), usage.unwrap_or(Value::Null));
    for (k, v) in echo {
        o.insert(k.clone(), v.clone());
    }
    Value::Object(o)
}

fn message_item(id: String, text: &str, refusal: Option<&str>, status: &str) -> Value {
    let mut content = Vec::new();
    if !text.is_empty() || refusal.is_none() {
        content
            .push(json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []}));
    }
    if let Some(r) = refusal {
        content.push(json!({"type": "refusal", "refusal": r}));
    }
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

/// A reasoning item; with the encrypted content (as wrapped by the adapter) where the
/// upstream returned it, so a client that sends its items back keeps the state.
fn reasoning_item(id: String, text: &str, encrypted: Option<&str>) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    let mut item = json!({"type": "reasoning", "id": id, "summary": summary});
    if let Some(e) = encrypted {
        item["encrypted_content"] = json!(e);
    }
    item
}

/// A whole answer as a `response` object.
pub fn encode_response(
    r: &ChatResponse,
    usage: &Usage,
    ids: &Ids,
    created: u64,
    echo: &JsonMap,
) -> Value {
    let mut output = Vec::new();
    let choice = r.choices.first();
    if let Some(m) = choice.map(|c| &c.message) {
        let mut encrypted = false;
        for t in &m.thinking {
            if let Thinking::Encrypted {
                summary, content, ..
            } = t
            {
                output.push(reasoning_item(
                    ids.item("rs", output.len()),
                    summary,
                    Some(content),
                ));
                encrypted = true;
            }
        }
        if let (false, Some(rc)) = (
            encrypted,
            m.reasoning_content.as_deref().filter(|t| !t.is_empty()),
        ) {
            output.push(reasoning_item(ids.item("rs", output.len()), rc, None));
        }
        let text = m.text_content();
        let refusal = m.refusal.as_deref().filter(|r| !r.is_empty());
        if !text.is_empty() || refusal.is_some() || m.tool_calls.is_none() {
            output.push(message_item(
                ids.item("msg", output.len()),
                &text,
                refusal,
                "completed",
            ));
        }
        for t in m.tool_calls.iter().flatten() {
            output.push(ids.call(
                ids.item("fc", output.len()),
                &t.id,
                t.name(),
                t.input(),
                "completed",
            ));
        }
    }
    response_object(
        ids,
        &r.model,
        created,
        status(choice.and_then(|c| c.finish_reason.as_ref())),
        output,
        Some(usage_json(usage)),
        echo,
    )
}

/// An item being streamed.
#[derive(Debug)]
enum Open {
    Reasoning {
        n: usize,
        text: String,
        /// The state that closes it (an upstream speaking the Responses API).
        encrypted: Option<String>,
    },
    Message {
        n: usize,
        text: String,
    },
    Call {
        n: usize,
        index: u32,
        call_id: String,
        name: String,
        args: String,
    },
}

/// Typed stream events from canonical chunks, in order, each with its `sequence_number`.
#[derive(Debug)]
pub struct SseEncoder {
    ids: Ids,
    created: u64,
    echo: JsonMap,
    model: String,
    seq: u64,
    started: bool,
    open: Option<Open>,
    output: Vec<Value>,
    finish: Option<FinishReason>,
}

impl SseEncoder {
    /// An encoder for the response `ids`.
    pub fn new(ids: Ids, created: u64, echo: JsonMap) -> SseEncoder {
        SseEncoder {
            ids,
            created,
            echo,
            model: String::new(),
            seq: 0,
            started: false,
            open: None,
            output: Vec::new(),
            finish: None,
        }
    }

    fn event(&mut self, out: &mut Vec<u8>, kind: &str, mut data: JsonMap) {
        data.insert("type".into(), json!(kind));
        data.insert("sequence_number".into(), json!(self.seq));
        self.seq += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        // A map of JSON values always serializes.
        let _ = serde_json::to_writer(&mut *out, &data);
        out.extend_from_slice(b"\n\n");
    }

    fn snapshot(&self, status: &str, incomplete: Value, usage: Option<Value>) -> Value {
        response_object(
            &self.ids,
            &self.model,
            self.created,
            (status, incomplete),
            self.output.clone(),
            usage,
            &self.echo,
        )
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = self.snapshot("in_progress", Value::Null, None);
        self.event(out, "response.created", map([("response", r.clone())]));
        self.event(out, "response.in_progress", map([("response", r)]));
    }

    /// Close the item being streamed, if any.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        match open {
            Open::Reasoning { n, text, encrypted } => {
                let id = self.ids.item("rs", n);
                let part = json!({"type": "summary_text", "text": text});
                self.event(
                    out,
                    "response.reasoning_summary_text.done",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("summary_index", json!(0)),
                        ("text", json!(text)),
                    ]),
                );
                self.event(
                    out,
                    "response.reasoning_summary_part.done",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("summary_index", json!(0)),
                        ("part", part),
                    ]),
                );
                self.item_done(out, n, reasoning_item(id, &text, encrypted.as_deref()));
            }
            Open::Message { n, text } => {
                let id = self.ids.item("msg", n);
                self.event(
                    out,
                    "response.output_text.done",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("content_index", json!(0)),
                        ("text", json!(text)),
                        ("logprobs", json!([])),
                    ]),
                );
                self.event(out, "response.content_part.done", map([
                    ("item_id", json!(id)), ("output_index", json!(n)), ("content_index", json!(0)),
                    ("part", json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})),
                ]));
                self.item_done(out, n, message_item(id, &text, None, "completed"));
            }
            Open::Call {
                n,
                call_id,
                name,
                args,
                ..
            } => {
                let id = self.ids.item("fc", n);
                self.event(
                    out,
                    "response.function_call_arguments.done",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("arguments", json!(args)),
                    ]),
                );
                let item = self.ids.call(id, &call_id, &name, &args, "completed");
                self.item_done(out, n, item);
            }
        }
    }

    fn item_done(&mut self, out: &mut Vec<u8>, n: usize, item: Value) {
        self.event(
            out,
            "response.output_item.done",
            map([("output_index", json!(n)), ("item", item.clone())]),
        );
        self.output.push(item);
    }

    fn added(&mut self, out: &mut Vec<u8>, n: usize, item: Value) {
        self.event(
            out,
            "response.output_item.added",
            map([("output_index", json!(n)), ("item", item)]),
        );
    }

    /// The events for one chunk (empty when it carries nothing to show).
    pub fn chunk(&mut self, chunk: &ChatChunk) -> Vec<u8> {
        let mut out = Vec::new();
        if self.model.is_empty() {
            self.model.clone_from(&chunk.model);
        }
        self.start(&mut out);
        let Some(c) = chunk.choices.first() else {
            return out;
        };
        if let Some(r) = c
            .delta
            .reasoning_content
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            if !matches!(self.open, Some(Open::Reasoning { .. })) {
                self.close(&mut out);
                let n = self.output.len();
                let id = self.ids.item("rs", n);
                self.added(&mut out, n, reasoning_item(id.clone(), "", None));
                self.event(
                    &mut out,
                    "response.reasoning_summary_part.added",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("summary_index", json!(0)),
                        ("part", json!({"type": "summary_text", "text": ""})),
                    ]),
                );
                self.open = Some(Open::Reasoning {
                    n,
                    text: String::new(),
                    encrypted: None,
                });
            }
            if let Some(Open::Reasoning { n, text, .. }) = &mut self.open {
                text.push_str(r);
                let (id, n) = (self.ids.item("rs", *n), *n);
                self.event(
                    &mut out,
                    "response.reasoning_summary_text.delta",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("summary_index", json!(0)),
                        ("delta", json!(r)),
                    ]),
                );
            }
        }
        if let Some(Thinking::Encrypted {
            summary, content, ..
        }) = c.delta.reasoning_item.as_deref()
        {
            self.reasoning_state(&mut out, summary, content);
        }
        if let Some(t) = c.delta.content.as_deref().filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some(Open::Message { .. })) {
                self.close(&mut out);
                let n = self.output.len();
                let id = self.ids.item("msg", n);
                let mut item = message_item(id.clone(), "", None, "in_progress");
                item["content"] = json!([]);
                self.added(&mut out, n, item);
                self.event(&mut out, "response.content_part.added", map([
                    ("item_id", json!(id)), ("output_index", json!(n)), ("content_index", json!(0)),
                    ("part", json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})),
                ]));
                self.open = Some(Open::Message {
                    n,
                    text: String::new(),
                });
            }
            if let Some(Open::Message { n, text }) = &mut self.open {
                text.push_str(t);
                let (id, n) = (self.ids.item("msg", *n), *n);
                self.event(
                    &mut out,
                    "response.output_text.delta",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("content_index", json!(0)),
                        ("delta", json!(t)),
                        ("logprobs", json!([])),
                    ]),
                );
            }
        }
        for d in c.delta.tool_calls.iter().flatten() {
            let same = matches!(&self.open, Some(Open::Call { index, .. }) if *index == d.index);
            if !same {
                self.close(&mut out);
                let n = self.output.len();
                let f = d.function.as_ref();
                let call_id = d.id.clone().unwrap_or_default();
                let name = f.and_then(|f| f.name.clone()).unwrap_or_default();
                let item =
                    self.ids
                        .call(self.ids.item("fc", n), &call_id, &name, "", "in_progress");
                self.added(&mut out, n, item);
                self.open = Some(Open::Call {
                    n,
                    index: d.index,
                    call_id,
                    name,
                    args: String::new(),
                });
            }
            let delta = d
                .function
                .as_ref()
                .and_then(|f| f.arguments.as_deref())
                .unwrap_or("");
            if let (Some(Open::Call { n, args, .. }), false) = (&mut self.open, delta.is_empty()) {
                args.push_str(delta);
                let (id, n) = (self.ids.item("fc", *n), *n);
                self.event(
                    &mut out,
                    "response.function_call_arguments.delta",
                    map([
                        ("item_id", json!(id)),
                        ("output_index", json!(n)),
                        ("delta", json!(delta)),
                    ]),
                );
            }
        }
        if c.finish_reason.is_some() {
            self.finish.clone_from(&c.finish_reason);
        }
        out
    }

    /// A reasoning item's encrypted state: it closes the reasoning item streamed so far, or is
    /// a whole item of its own (reasoning with no summary streamed).
    fn reasoning_state(&mut self, out: &mut Vec<u8>, summary: &str, content: &str) {
        if let Some(Open::Reasoning { encrypted, .. }) = &mut self.open {
            *encrypted = Some(content.to_owned());
            self.close(out);
            return;
        }
        self.close(out);
        let n = self.output.len();
        let id = self.ids.item("rs", n);
        self.added(out, n, reasoning_item(id.clone(), "", None));
        self.item_done(out, n, reasoning_item(id, summary, Some(content)));
    }

    /// The stream completed: close what is open and report the whole response. Returns the
    /// events and the final `response` object (for storing).
    pub fn done(&mut self, usage: &Usage, extra: Option<(&str, Value)>) -> (Vec<u8>, Value) {
        let mut out = Vec::new();
        self.start(&mut out);
        self.close(&mut out);
        if self.output.is_empty() {
            let id = self.ids.item("msg", 0);
            self.output.push(message_item(id, "", None, "completed"));
        }
        let (status, incomplete) = status(self.finish.as_ref());
        let mut r = self.snapshot(status, incomplete, Some(usage_json(usage)));
        if let Some((k, v)) = extra {
            r[k] = v;
        }
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.event(&mut out, kind, map([("response", r.clone())]));
        (out, r)
    }

    /// The stream failed after it began: an explicit `response.failed`, never a completion.
    pub fn failed(&mut self, code: &str, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.start(&mut out);
        let mut r = self.snapshot("failed", Value::Null, None);
        r["error"] = json!({"code": code, "message": message});
        self.event(&mut out, "response.failed", map([("response", r)]));
        out
    }
}

fn map<const N: usize>(kv: [(&str, Value); N]) -> JsonMap {
    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// This request's input items as the API lists them (`input_items`): typed, with an id, text
/// content as parts.
pub fn stored_input(req: &ResponsesRequest, ids: &Ids) -> Vec<Value> {
    req.input_items()
        .into_iter()
        .enumerate()
        .map(|(n, mut item)| {
            let Some(o) = item.as_object_mut() else {
                return item;
            };
            let kind = o
                .entry("type")
                .or_insert_with(|| json!("message"))
                .as_str()
                .unwrap_or("")
                .to_owned();
            if kind == "message" {
                if let Some(Value::String(text)) = o.get("content") {
                    let part = if o.get("role").and_then(Value::as_str) == Some("assistant") {
                        json!({"type": "output_text", "text": text, "annotations": []})
                    } else {
                        json!({"type": "input_text", "text": text})
                    };
                    o.insert("content".into(), json!([part]));
                }
                o.entry("status").or_insert_with(|| json!("completed"));
            }
            o.entry("id").or_insert_with(|| json!(ids.item("in", n)));
            item
        })
        .collect()
}

/// The output items of a response, as input items for the next turn (`previous_response_id`).
pub fn output_as_input(response: &Value) -> Vec<Value> {
    response
        .get("output")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| {
                    i.get("type").and_then(Value::as_str) != Some("reasoning")
                        || i.get("encrypted_content").is_some()
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A stored conversation turn: what `GET /v1/responses/{id}` returns and what the next turn
/// continues from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTurn {
    /// The `response` object.
    pub response: Value,
    /// Every item of the conversation up to and including this response's output.
    pub items: Vec<Value>,
    /// The conversation's session (its first response's id, unless the client named one):
    /// the next turn is pinned with it.
    #[serde(default)]
    pub session: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn req(v: Value) -> ResponsesRequest {
        ResponsesRequest::parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn items_become_one_conversation_and_reasoning_state_stays_behind() {
        let r = req(
            json!({"model": "auto", "instructions": "Be brief.", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "reasoning", "id": "rs_1", "encrypted_content": "opaque", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "1"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "2"}]},
        ], "reasoning": {"effort": "low"}, "max_output_tokens": 50,
           "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}}),
        );
        let chat = r
            .to_chat(&[json!({"role": "user", "content": "earlier"})])
            .unwrap();
        let roles: Vec<Role> = chat.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Tool
            ]
        );
        assert_eq!(
            chat.messages[3].tool_calls.as_ref().unwrap().len(),
            2,
            "one turn"
        );
        assert_eq!(chat.messages[5].text_content(), "2");
        assert!(!serde_json::to_string(&chat).unwrap().contains("opaque"));
        assert_eq!(chat.extra["reasoning_effort"], "low");
        assert_eq!(chat.max_completion_tokens, Some(50));
        assert!(matches!(
            chat.response_format,
            Some(ResponseFormat::JsonSchema { .. })
        ));
    }

    #[test]
    fn built_in_tools_and_unknown_items_are_named_in_the_error() {
        let r = req(json!({"model": "m", "input": "x", "tools": [{"type": "file_search"}]}));
        assert!(r.to_chat(&[]).unwrap_err().contains("file_search"));
        let r = req(json!({"model": "m", "input": [{"type": "computer_call"}]}));
        assert!(r.to_chat(&[]).unwrap_err().contains("computer_call"));
        assert!(
            ResponsesRequest::parse(br#"{"model": "m", "input": "x", "background": true}"#)
                .unwrap_err()
                .contains("background")
        );
    }

    #[test]
    fn a_cut_off_answer_is_incomplete_not_completed() {
        let ids = Ids::of_request("0000-1111");
        let resp: ChatResponse = serde_json::from_value(json!({"id": "x", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Once upon"},
                         "finish_reason": "length"}]}))
        .unwrap();
        let v = encode_response(&resp, &Usage::default(), &ids, 1, &JsonMap::new());
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(v["id"], "resp_00001111");
        assert_eq!(v["output"][0]["content"][0]["text"], "Once upon");
    }
}
