//! The Responses wire to an upstream that serves it (`responses_api`): a Responses client's
//! request goes to `{base}/responses` natively rather than through chat completions, so
//! OpenAI's encrypted reasoning round-trips.
//!
//! The canonical request is encoded as Responses input items (the client's own unmodelled
//! fields from [`Native`] merged on top), with `store: false` — the gateway keeps the
//! conversation — and, when reasoning is asked for, `include: ["reasoning.encrypted_content"]`.
//! The answer is decoded back to the canonical form, whole or as its typed events, so routing,
//! billing and evaluation see what they see for every other upstream.
//!
//! Encrypted reasoning is provider-bound: the adapter wraps it as `sy1:<provider>:<item
//! id>:<content>` ([`Thinking::Encrypted`]) and sends back only what it wrapped itself, so a
//! conversation that moves to another deployment never carries state its upstream cannot
//! read.

use std::collections::{HashMap, VecDeque};

use futures::{stream::BoxStream, Stream, StreamExt};
use serde_json::{json, Value};
use switchyard_types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, CompletionTokensDetails, Content,
    ContentPart, Delta, FinishReason, FunctionCallDelta, JsonMap, Message, Native, NativeApi,
    OpenAiDialect, PromptTokensDetails, ResponseFormat, Role, Thinking, ToolCall, ToolCallDelta,
    ToolChoice, Usage, WireUsage,
};

use crate::sse::{Event, SseError};
use crate::{ErrorClass, ProviderError, StreamItem};

const WRAP: &str = "sy1:";

/// The Responses-native fields of a request, if it came from a Responses client.
pub(crate) fn native(req: &ChatRequest) -> Option<&Native> {
    req.native
        .as_deref()
        .filter(|n| n.api == NativeApi::Responses)
}

/// Encrypted content written by `origin`'s upstream, wrapped so it names its writer.
fn wrap(origin: &str, id: &str, content: &str) -> String {
    format!("{WRAP}{origin}:{id}:{content}")
}

/// The upstream item id and content of a wrapped reasoning item, if `origin` wrote it.
fn unwrap<'a>(origin: &str, wrapped: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = wrapped.strip_prefix(WRAP)?.strip_prefix(origin)?;
    rest.strip_prefix(':')?.split_once(':')
}

fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::Developer => "developer",
        Role::Assistant => "assistant",
        Role::User | Role::Tool | Role::Function => "user",
    }
}

/// A user, system or developer message's content as Responses input parts.
fn content(c: Option<&Content>) -> Value {
    match c {
        None => json!(""),
        Some(Content::Text(t)) => json!(t),
        Some(Content::Parts(parts)) => Value::Array(
            parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => {
                        Some(json!({"type": "input_text", "text": text}))
                    }
                    ContentPart::ImageUrl { image_url } => Some(json!({
                        "type": "input_image",
                        "image_url": image_url.url,
                        "detail": image_url.detail.as_deref().unwrap_or("auto"),
                    })),
                    ContentPart::File { file } => {
                        let mut f = file.as_object().cloned().unwrap_or_default();
                        f.retain(|_, v| !v.is_null());
                        f.insert("type".into(), json!("input_file"));
                        Some(Value::Object(f))
                    }
                    ContentPart::InputAudio { .. } | ContentPart::Refusal { .. } => None,
                })
                .collect(),
        ),
    }
}

/// One canonical message as Responses input items.
fn push_items(items: &mut Vec<Value>, m: &Message, origin: &str) {
    match m.role {
        Role::Assistant => {
            for t in &m.thinking {
                let Thinking::Encrypted {
                    summary, content, ..
                } = t
                else {
                    continue;
                };
                if let Some((id, enc)) = unwrap(origin, content) {
                    let summary = match summary.is_empty() {
                        true => json!([]),
                        false => json!([{"type": "summary_text", "text": summary}]),
                    };
                    items.push(json!({"type": "reasoning", "id": id, "summary": summary,
                        "encrypted_content": enc}));
                }
            }
            let text = m.text_content();
            if !text.is_empty() {
                items.push(json!({"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": text}]}));
            }
            for c in m.tool_calls.iter().flatten() {
                items.push(
                    json!({"type": "function_call", "call_id": c.id, "name": c.name(),
                    "arguments": c.input()}),
                );
            }
        }
        Role::Tool | Role::Function => items.push(json!({
            "type": "function_call_output",
            "call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "output": m.text_content(),
        })),
        r => items.push(json!({"type": "message", "role": role(r),
            "content": content(m.content.as_ref())})),
    }
}

fn tool(t: &switchyard_types::Tool) -> Value {
    match &t.function {
        Some(f) => {
            let mut v = json!({"type": "function", "name": f.name});
            if let Some(d) = &f.description {
                v["description"] = json!(d);
            }
            v["parameters"] = f.parameters.clone().unwrap_or(json!({"type": "object"}));
            if let Some(s) = f.strict {
                v["strict"] = json!(s);
            }
            v
        }
        None => {
            let mut v = t.extra.clone();
            v.insert("type".into(), json!(t.kind));
            Value::Object(v)
        }
    }
}

fn tool_choice(c: &ToolChoice) -> Value {
    match c {
        ToolChoice::Mode(m) => json!(m),
        ToolChoice::Named(n) => json!({"type": "function", "name": n.function.name}),
        ToolChoice::Other(o) => Value::Object(o.clone()),
    }
}

fn format(f: &ResponseFormat) -> Option<Value> {
    match f {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
        ResponseFormat::JsonSchema { json_schema: s } => {
            let mut v = json!({"type": "json_schema", "name": s.name,
                "schema": s.schema.clone().unwrap_or(json!({}))});
            if let Some(d) = &s.description {
                v["description"] = json!(d);
            }
            if let Some(strict) = s.strict {
                v["strict"] = json!(strict);
            }
            Some(v)
        }
    }
}

/// The `POST {base}/responses` body for `req` on `model`, as the upstream `origin`.
pub(crate) fn body(req: &ChatRequest, model: &str, origin: &str, stream: bool) -> Value {
    let mut items = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        push_items(&mut items, m, origin);
    }
    let mut b = JsonMap::new();
    // The client's own fields first; what the gateway decides overrides them.
    if let Some(n) = native(req) {
        b.extend(n.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    b.insert("model".into(), json!(model));
    b.insert("input".into(), Value::Array(items));
    b.insert("stream".into(), json!(stream));
    // The gateway keeps the conversation; the reasoning comes back encrypted instead.
    b.insert("store".into(), json!(false));
    if let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) {
        b.insert("tools".into(), tools.iter().map(tool).collect());
        if let Some(c) = &req.tool_choice {
            b.insert("tool_choice".into(), tool_choice(c));
        }
    }
    if let Some(p) = req.parallel_tool_calls {
        b.insert("parallel_tool_calls".into(), json!(p));
    }
    if let Some(f) = req.response_format.as_ref().and_then(format) {
        b.insert("text".into(), json!({"format": f}));
    }
    // The effort as adjusted for this deployment (`reasoning_effort`), with the client's
    // other reasoning options (`summary`).
    let mut reasoning = match b.remove("reasoning") {
        Some(Value::Object(r)) => r,
        _ => JsonMap::new(),
    };
    reasoning.remove("effort");
    if let Some(e) = req.extra.get("reasoning_effort") {
        reasoning.insert("effort".into(), e.clone());
    }
    let reasons = reasoning.contains_key("effort");
    if !reasoning.is_empty() {
        b.insert("reasoning".into(), Value::Object(reasoning));
    }
    let mut include: Vec<Value> = match b.remove("include") {
        Some(Value::Array(i)) => i,
        _ => Vec::new(),
    };
    let encrypted = json!("reasoning.encrypted_content");
    if reasons && !include.contains(&encrypted) {
        include.push(encrypted);
    }
    if !include.is_empty() {
        b.insert("include".into(), Value::Array(include));
    }
    let opt = [
        ("max_output_tokens", req.max_output().map(|m| json!(m))),
        ("temperature", req.temperature.map(|t| json!(t))),
        ("top_p", req.top_p.map(|t| json!(t))),
        ("user", req.user.as_ref().map(|u| json!(u))),
        ("service_tier", req.service_tier.map(|t| json!(t))),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            b.insert(k.into(), v);
        }
    }
    Value::Object(b)
}

/// Responses `usage` → the OpenAI chat shape the rest of the gateway reads.
fn wire_usage(u: &Value) -> WireUsage {
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let input = n(u, "input_tokens");
    let output = n(u, "output_tokens");
    WireUsage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: u
                .pointer("/input_tokens_details/cached_tokens")
                .and_then(Value::as_u64),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: u
                .pointer("/output_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64),
            ..CompletionTokensDetails::default()
        }),
        extra: JsonMap::new(),
    }
}

/// The normalised usage of a Responses `usage` object (also written back in `w`'s counts).
fn usage(u: Option<&Value>, dialect: OpenAiDialect, tier: Option<&Value>) -> (WireUsage, Usage) {
    let mut w = wire_usage(u.unwrap_or(&Value::Null));
    let mut usage = Usage::from_openai(&w, dialect);
    w.set_counts(&usage);
    usage.tier = tier.and_then(Value::as_str).map_or(
        switchyard_types::ServiceTier::Standard,
        switchyard_types::ServiceTier::parse,
    );
    (w, usage)
}

/// Why the answer ended: `incomplete_details.reason`, else tool calls or a stop.
fn finish(r: &Value, calls: bool) -> FinishReason {
    match r
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str)
    {
        Some("max_output_tokens") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        _ if calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

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

/// A reasoning output item as canonical provider-bound state (if it carries encrypted
/// content).
fn reasoning_state(item: &Value, origin: &str) -> Option<Thinking> {
    let enc = item.get("encrypted_content")?.as_str()?;
    let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
    Some(Thinking::Encrypted {
        id: id.to_owned(),
        summary: summary_text(item),
        content: wrap(origin, id, enc),
    })
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn failed(r: &Value) -> ProviderError {
    let e = r.get("error").unwrap_or(&Value::Null);
    let body = json!({"error": {"message": str_of(e, "message"), "code": e.get("code")}});
    let mut err = super::error::classify(500, body.to_string().as_bytes());
    err.status = None;
    err
}

/// A whole `response` object → the canonical answer and its usage.
pub(crate) fn decode(
    bytes: &[u8],
    dialect: OpenAiDialect,
    origin: &str,
) -> Result<(ChatResponse, Usage), ProviderError> {
    let r: Value = crate::http::decode_answer(bytes, "upstream returned an unreadable response")?;
    if str_of(&r, "status") == "failed" {
        return Err(failed(&r));
    }
    let mut m = Message::text(Role::Assistant, String::new());
    let mut text = String::new();
    let mut reasoning = Vec::new();
    let mut calls = Vec::new();
    for item in r
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match str_of(item, "type") {
            "message" => {
                for p in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match str_of(p, "type") {
                        "output_text" => text.push_str(str_of(p, "text")),
                        "refusal" => m.refusal = Some(str_of(p, "refusal").to_owned()),
                        _ => {}
                    }
                }
            }
            "function_call" => calls.push(ToolCall::function(
                str_of(item, "call_id").to_owned(),
                str_of(item, "name").to_owned(),
                str_of(item, "arguments").to_owned(),
            )),
            "reasoning" => {
                let s = summary_text(item);
                if !s.is_empty() {
                    reasoning.push(s);
                }
                m.thinking.extend(reasoning_state(item, origin));
            }
            _ => {}
        }
    }
    m.content = (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text));
    m.reasoning_content = (!reasoning.is_empty()).then(|| reasoning.join("\n\n"));
    let finish = finish(&r, !calls.is_empty());
    m.tool_calls = (!calls.is_empty()).then_some(calls);
    let (w, usage) = usage(r.get("usage"), dialect, r.get("service_tier"));
    let mut extra = JsonMap::new();
    if let Some(t) = r.get("service_tier").filter(|t| t.is_string()) {
        extra.insert("service_tier".into(), t.clone());
    }
    let response = ChatResponse {
        id: str_of(&r, "id").to_owned(),
        object: "chat.completion".into(),
        created: r.get("created_at").and_then(Value::as_u64).unwrap_or(0),
        model: str_of(&r, "model").to_owned(),
        choices: vec![Choice {
            index: 0,
            message: m,
            finish_reason: Some(finish),
            logprobs: None,
            extra: JsonMap::new(),
        }],
        usage: Some(w),
        system_fingerprint: None,
        extra,
    };
    Ok((response, usage))
}

/// The stream decoder's state.
struct St {
    dialect: OpenAiDialect,
    origin: String,
    id: String,
    model: String,
    created: u64,
    /// Function call item id → its tool call index.
    calls: HashMap<String, u32>,
    /// Items decoded and not yet yielded.
    queue: VecDeque<Result<StreamItem, ProviderError>>,
    ended: bool,
}

impl St {
    fn chunk(&self, delta: Delta, finish: Option<FinishReason>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                logprobs: None,
                extra: JsonMap::new(),
            }],
            usage: None,
            system_fingerprint: None,
            extra: JsonMap::new(),
        }
    }

    fn push(&mut self, delta: Delta) {
        let c = self.chunk(delta, None);
        self.queue.push_back(Ok(StreamItem::Chunk(c, None)));
    }

    fn call_delta(&mut self, index: u32, id: Option<String>, name: Option<String>, args: &str) {
        let d = ToolCallDelta {
            index,
            kind: id.as_ref().map(|_| "function".to_owned()),
            id,
            function: Some(FunctionCallDelta {
                name,
                arguments: Some(args.to_owned()),
            }),
        };
        self.push(Delta {
            tool_calls: Some(vec![d]),
            ..Delta::default()
        });
    }

    /// The end: the finish reason, then the usage (as a chat upstream sends them).
    fn complete(&mut self, r: &Value) {
        let finish = finish(r, !self.calls.is_empty());
        let c = self.chunk(Delta::default(), Some(finish));
        self.queue.push_back(Ok(StreamItem::Chunk(c, None)));
        let (w, u) = usage(r.get("usage"), self.dialect, r.get("service_tier"));
        let mut c = self.chunk(Delta::default(), None);
        c.choices.clear();
        c.usage = Some(w);
        self.queue.push_back(Ok(StreamItem::Chunk(c, Some(u))));
        self.queue.push_back(Ok(StreamItem::Done));
    }

    fn on_event(&mut self, ev: &Event) {
        let Ok(v) = serde_json::from_str::<Value>(ev.data.trim()) else {
            if !ev.data.trim().is_empty() {
                tracing::warn!("skipping malformed upstream stream event");
            }
            return;
        };
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match str_of(&v, "type") {
            "response.created" => {
                let r = v.get("response").unwrap_or(&Value::Null);
                self.id = str_of(r, "id").to_owned();
                self.model = str_of(r, "model").to_owned();
                self.created = r.get("created_at").and_then(Value::as_u64).unwrap_or(0);
                self.push(Delta {
                    role: Some(Role::Assistant),
                    ..Delta::default()
                });
            }
            "response.output_text.delta" => self.push(Delta {
                content: Some(text("delta")),
                ..Delta::default()
            }),
            "response.refusal.delta" => self.push(Delta {
                refusal: Some(text("delta")),
                ..Delta::default()
            }),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.push(Delta {
                    reasoning_content: Some(text("delta")),
                    ..Delta::default()
                });
            }
            "response.output_item.added" => {
                let item = v.get("item").unwrap_or(&Value::Null);
                if str_of(item, "type") == "function_call" {
                    let index = u32::try_from(self.calls.len()).unwrap_or(u32::MAX);
                    self.calls.insert(str_of(item, "id").to_owned(), index);
                    let (id, name) = (str_of(item, "call_id"), str_of(item, "name"));
                    self.call_delta(index, Some(id.to_owned()), Some(name.to_owned()), "");
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some(&index) = self.calls.get(str_of(&v, "item_id")) {
                    self.call_delta(index, None, None, str_of(&v, "delta"));
                }
            }
            "response.output_item.done" => {
                let item = v.get("item").unwrap_or(&Value::Null);
                if let Some(t) = reasoning_state(item, &self.origin) {
                    self.push(Delta {
                        reasoning_item: Some(Box::new(t)),
                        ..Delta::default()
                    });
                }
            }
            "response.completed" | "response.incomplete" => {
                self.complete(v.get("response").unwrap_or(&Value::Null));
            }
            "response.failed" => {
                let e = failed(v.get("response").unwrap_or(&Value::Null));
                self.queue.push_back(Err(e));
            }
            "error" => {
                let e = failed(&json!({"error": v}));
                self.queue.push_back(Err(e));
            }
            _ => {}
        }
    }
}

/// Decode a streamed Responses body into canonical chunks.
pub(crate) fn decode_stream(
    resp: reqwest::Response,
    dialect: OpenAiDialect,
    origin: &str,
) -> BoxStream<'static, Result<StreamItem, ProviderError>> {
    decode_events(crate::sse::events(resp.bytes_stream()), dialect, origin).boxed()
}

fn decode_events<S>(
    events: S,
    dialect: OpenAiDialect,
    origin: &str,
) -> impl Stream<Item = Result<StreamItem, ProviderError>>
where
    S: Stream<Item = Result<Event, SseError>> + Unpin + Send + 'static,
{
    let st = St {
        dialect,
        origin: origin.to_owned(),
        id: String::new(),
        model: String::new(),
        created: 0,
        calls: HashMap::new(),
        queue: VecDeque::new(),
        ended: false,
    };
    futures::stream::unfold((events, st), |(mut events, mut st)| async move {
        loop {
            if let Some(item) = st.queue.pop_front() {
                if matches!(item, Ok(StreamItem::Done) | Err(_)) {
                    st.queue.clear();
                    st.ended = true;
                }
                return Some((item, (events, st)));
            }
            if st.ended {
                return None;
            }
            match events.next().await {
                Some(Ok(ev)) => st.on_event(&ev),
                Some(Err(e)) => st.queue.push_back(Err(ProviderError::new(
                    ErrorClass::StreamCut,
                    format!("upstream stream broke: {e}"),
                ))),
                None => st.queue.push_back(Err(ProviderError::new(
                    ErrorClass::StreamCut,
                    "upstream stream ended before the response was complete",
                ))),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn responses_req(effort: Option<&str>) -> ChatRequest {
        let mut r = ChatRequest {
            model: "m".into(),
            messages: vec![Message::text(Role::User, "hi")],
            native: Some(Box::new(Native {
                api: NativeApi::Responses,
                fields: serde_json::from_value(json!({"reasoning": {"summary": "auto"},
                    "truncation": "auto"}))
                .unwrap(),
                betas: Vec::new(),
            })),
            ..ChatRequest::default()
        };
        if let Some(e) = effort {
            r.extra.insert("reasoning_effort".into(), json!(e));
        }
        r
    }

    #[test]
    fn reasoning_state_goes_back_only_to_the_upstream_that_wrote_it() {
        let mut req = responses_req(Some("low"));
        let mut a = Message::text(Role::Assistant, "earlier");
        a.thinking = vec![
            Thinking::Encrypted {
                id: "ours".into(),
                summary: "s".into(),
                content: wrap("a", "rs_1", "ENC-A"),
            },
            Thinking::Encrypted {
                id: "ours2".into(),
                summary: String::new(),
                content: wrap("b", "rs_2", "ENC-B"),
            },
        ];
        req.messages.push(a);
        req.messages.push(Message::text(Role::User, "again"));
        let b = body(&req, "up", "a", false);
        let input = b["input"].as_array().unwrap();
        let reasoning: Vec<&Value> = input.iter().filter(|i| i["type"] == "reasoning").collect();
        assert_eq!(reasoning.len(), 1, "{b}");
        assert_eq!(reasoning[0]["id"], "rs_1");
        assert_eq!(reasoning[0]["encrypted_content"], "ENC-A");
        assert_eq!(b["store"], false);
        assert_eq!(b["truncation"], "auto");
        assert_eq!(b["reasoning"], json!({"summary": "auto", "effort": "low"}));
        assert_eq!(b["include"], json!(["reasoning.encrypted_content"]));
        // Without an effort (adjusted away for this deployment) nothing asks for reasoning.
        let plain = body(&responses_req(None), "up", "a", false);
        assert_eq!(plain["reasoning"], json!({"summary": "auto"}));
        assert!(plain.get("include").is_none());
    }

    #[test]
    fn a_whole_response_decodes_with_its_reasoning_state_and_usage() {
        let r = json!({"id": "resp_1", "created_at": 5, "model": "gpt-x", "status": "completed",
            "service_tier": "flex",
            "output": [
                {"type": "reasoning", "id": "rs_9", "summary": [{"type": "summary_text",
                 "text": "think"}], "encrypted_content": "E"},
                {"type": "message", "content": [{"type": "output_text", "text": "hello"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3}}});
        let (resp, u) = decode(r.to_string().as_bytes(), OpenAiDialect::default(), "p").unwrap();
        let m = &resp.choices[0].message;
        assert_eq!(m.text_content(), "hello");
        assert_eq!(m.reasoning_content.as_deref(), Some("think"));
        assert_eq!(m.tool_calls.as_ref().unwrap()[0].name(), "f");
        assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(
            m.thinking,
            vec![Thinking::Encrypted {
                id: "rs_9".into(),
                summary: "think".into(),
                content: "sy1:p:rs_9:E".into()
            }]
        );
        assert_eq!((u.input, u.cache_read, u.output, u.reasoning), (6, 4, 7, 3));
        assert_eq!(u.tier, switchyard_types::ServiceTier::Flex);
    }

    fn sse(events: &[Value]) -> Vec<Result<Event, SseError>> {
        events
            .iter()
            .map(|e| {
                Ok(Event {
                    event: e["type"].as_str().unwrap_or_default().to_owned(),
                    data: e.to_string(),
                })
            })
            .collect()
    }

    #[test]
    fn a_stream_decodes_to_chunks_ending_with_usage() {
        let evs = sse(&[
            json!({"type": "response.created", "response": {"id": "r", "model": "m"}}),
            json!({"type": "response.output_text.delta", "delta": "he"}),
            json!({"type": "response.output_text.delta", "delta": "llo"}),
            json!({"type": "response.output_item.added", "item": {"type": "function_call",
                "id": "fc_1", "call_id": "c1", "name": "f"}}),
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1",
                "delta": "{}"}),
            json!({"type": "response.output_item.done", "item": {"type": "reasoning",
                "id": "rs_1", "summary": [], "encrypted_content": "E"}}),
            json!({"type": "response.completed", "response": {"status": "completed",
                "usage": {"input_tokens": 3, "output_tokens": 2}}}),
        ]);
        let items: Vec<_> = futures::executor::block_on(
            decode_events(futures::stream::iter(evs), OpenAiDialect::default(), "p").collect(),
        );
        let items: Vec<StreamItem> = items.into_iter().map(Result::unwrap).collect();
        let text: String = items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Chunk(c, _) => c.choices.first()?.delta.content.clone(),
                StreamItem::Done => None,
            })
            .collect();
        assert_eq!(text, "hello");
        assert!(matches!(items.last(), Some(StreamItem::Done)));
        let usage = items.iter().find_map(|i| match i {
            StreamItem::Chunk(_, u) => *u,
            StreamItem::Done => None,
        });
        assert_eq!(usage.map(|u| (u.input, u.output)), Some((3, 2)));
        let finish = items.iter().find_map(|i| match i {
            StreamItem::Chunk(c, _) => c.finish_reason().cloned(),
            StreamItem::Done => None,
        });
        assert_eq!(finish, Some(FinishReason::ToolCalls));
        assert!(items.iter().any(|i| matches!(i, StreamItem::Chunk(c, _)
            if c.choices.first().is_some_and(|c| c.delta.reasoning_item.is_some()))));
    }

    #[test]
    fn a_stream_that_stops_before_completion_is_cut() {
        let evs = sse(&[
            json!({"type": "response.created", "response": {"id": "r", "model": "m"}}),
            json!({"type": "response.output_text.delta", "delta": "he"}),
        ]);
        let items: Vec<_> = futures::executor::block_on(
            decode_events(futures::stream::iter(evs), OpenAiDialect::default(), "p").collect(),
        );
        let err = items.last().unwrap().as_ref().err().unwrap();
        assert_eq!(err.class, ErrorClass::StreamCut);
    }
}
