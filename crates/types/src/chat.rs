//! Requests and non-streaming responses.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{JsonMap, WireUsage};

/// A chat completion request: the canonical form every ingress parses into.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// A route name, a model name, or `auto`.
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Whether the client wants server-sent events.
    #[serde(
        default,
        deserialize_with = "null_is_false",
        skip_serializing_if = "is_false"
    )]
    pub stream: bool,
    /// Stream options (`include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// How the model should choose among tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Plain text, JSON mode, or a JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Seed for best-effort determinism.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::opt"
    )]
    pub seed: Option<i64>,
    /// Number of choices.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::opt"
    )]
    pub n: Option<u32>,
    /// Legacy output cap.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::opt"
    )]
    pub max_tokens: Option<u32>,
    /// Output cap including reasoning tokens.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::opt"
    )]
    pub max_completion_tokens: Option<u32>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Free-form metadata; switchyard reads its hint keys (`task`, `region`, `lane`, `session`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
    /// Whether to return log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many top log probabilities per token.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::opt"
    )]
    pub top_logprobs: Option<u32>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// The service tier to ask the upstream for (`flex`, `priority`); the driver decides it
    /// per deployment from the client's hint and the route, so a client's value is only a hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<crate::ServiceTier>,
    /// Fields switchyard does not model; passed through to OpenAI-family upstreams unchanged.
    #[serde(flatten)]
    pub extra: JsonMap,
    /// What an Anthropic or Responses client sent that only an upstream of that API can take
    /// (never in the canonical JSON).
    #[serde(skip)]
    pub native: Option<Box<Native>>,
}

impl ChatRequest {
    /// The output cap the client asked for, whichever field carried it.
    pub fn max_output(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether the client asked for a usage chunk at the end of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// A string hint from `metadata`, if present.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }

    /// Whether any message carries an image.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(|m| match &m.content {
            Some(Content::Parts(parts)) => parts
                .iter()
                .any(|p| matches!(p, ContentPart::ImageUrl { .. })),
            _ => false,
        })
    }

    /// Whether the request asks for JSON output.
    pub fn wants_json(&self) -> bool {
        matches!(
            self.response_format,
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
        )
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A boolean that may be sent as `null` (the OpenAI spec makes `stream` nullable).
fn null_is_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a final chunk carrying usage.
    #[serde(default)]
    pub include_usage: bool,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Operator instructions.
    System,
    /// Operator instructions (newer OpenAI name for `system`).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// Legacy function result.
    Function,
}

impl Role {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text or parts; absent on assistant messages that only call tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A refusal by the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning / thinking text, where a provider returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Provider-bound reasoning state (Anthropic's signed thinking blocks): never in the
    /// canonical JSON; only an Anthropic upstream is sent it, only an Anthropic client shown it.
    #[serde(skip)]
    pub thinking: Vec<Thinking>,
    /// Unmodelled fields (`audio`, `annotations`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One Anthropic thinking block, as signed by the API that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thinking {
    /// Thinking text and its signature.
    Signed {
        /// The text.
        text: String,
        /// The signature the API checks when the block comes back.
        signature: String,
    },
    /// Encrypted thinking.
    Redacted {
        /// The opaque payload.
        data: String,
    },
    /// An OpenAI Responses reasoning item: its summary and the encrypted reasoning only the
    /// upstream that wrote it can read (the adapter marks which one: only that deployment is
    /// sent it back).
    Encrypted {
        /// The item id.
        id: String,
        /// The summary text.
        summary: String,
        /// The encrypted content, as the adapter wrapped it.
        content: String,
    },
}

/// Which client API a request's [`Native`] fields belong to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NativeApi {
    /// Anthropic Messages.
    #[default]
    Anthropic,
    /// OpenAI Responses.
    Responses,
}

/// Fields and headers of the client's own API that the canonical form does not model
/// (Anthropic's `thinking`, `output_config`, `context_management`, `anthropic-beta`, …): sent
/// unchanged to an upstream of that API, left behind (and named in `x-switchyard-dropped`)
/// when the request is translated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Native {
    /// The API they belong to: only an upstream speaking it is sent them.
    pub api: NativeApi,
    /// Top-level body fields.
    pub fields: JsonMap,
    /// `anthropic-beta` values.
    pub betas: Vec<String>,
}

impl Message {
    /// A message with plain text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            refusal: None,
            reasoning_content: None,
            thinking: Vec::new(),
            extra: JsonMap::new(),
        }
    }

    /// All text of the message, parts concatenated; images and other parts skipped.
    pub fn text_content(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(t)) => t.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

/// Message content: a string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed parts (text, images, audio, files).
    Parts(Vec<ContentPart>),
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// Unmodelled fields (e.g. `cache_control`).
        #[serde(flatten)]
        extra: JsonMap,
    },
    /// An image by URL or `data:` URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
    /// Audio input, passed through.
    InputAudio {
        /// The audio object.
        input_audio: Value,
    },
    /// A file, passed through.
    File {
        /// The file object.
        file: Value,
    },
    /// A refusal part (assistant messages).
    Refusal {
        /// The refusal text.
        refusal: String,
    },
}

/// An image reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// `https://…` or `data:image/png;base64,…`.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// `function`, or `custom` (a free-form tool; OpenAI-wire upstreams only).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function (`None` for custom tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    /// The rest (`custom: {name, description, format}`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl Tool {
    /// The function, or the tool's name and kind when it is not one (for the error that a
    /// translating adapter cannot serve it).
    pub fn function_def(&self) -> Result<&FunctionDef, String> {
        self.function.as_ref().ok_or_else(|| {
            let name = self
                .extra
                .get(&self.kind)
                .and_then(|t| t.get("name"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?");
            format!(
                "tool `{name}` of type `{}` can be served only by an OpenAI-wire upstream",
                self.kind
            )
        })
    }
}

/// A callable function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: a mode, a named function, or another choice passed through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// `{"type":"function","function":{"name":…}}`.
    Named(NamedToolChoice),
    /// Any other object (`{"type":"custom",…}`, `{"type":"allowed_tools",…}`): OpenAI-wire
    /// upstreams only.
    Other(JsonMap),
}

/// A `tool_choice` reduced to what every tool-calling API can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleToolChoice<'a> {
    /// Never call a tool.
    None,
    /// The model decides (also any mode this gateway does not know).
    Auto,
    /// Call at least one tool.
    Required,
    /// Call this function.
    Function(&'a str),
}

impl ToolChoice {
    /// The choice as a translating adapter can express it, or the error that it cannot.
    pub fn simple(&self) -> Result<SimpleToolChoice<'_>, String> {
        Ok(match self {
            ToolChoice::Mode(m) => match m.as_str() {
                "none" => SimpleToolChoice::None,
                "required" => SimpleToolChoice::Required,
                _ => SimpleToolChoice::Auto,
            },
            ToolChoice::Named(n) => SimpleToolChoice::Function(&n.function.name),
            ToolChoice::Other(o) => {
                let kind = o.get("type").and_then(|t| t.as_str()).unwrap_or("?");
                return Err(format!(
                    "tool_choice of type `{kind}` can be served only by an OpenAI-wire upstream"
                ));
            }
        })
    }
}

/// A forced function choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Which function.
    pub function: FunctionName,
}

/// A function name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionName {
    /// The name.
    pub name: String,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed by the tool result.
    pub id: String,
    /// `function`, or `custom` (a call of a free-form tool; OpenAI-wire upstreams only).
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// Name and JSON-encoded arguments (`None` for a custom tool's call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
    /// The rest (`custom: {name, input}`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl ToolCall {
    /// A function call.
    pub fn function(id: String, name: String, arguments: String) -> Self {
        ToolCall {
            id,
            kind: function_kind(),
            function: Some(FunctionCall { name, arguments }),
            extra: JsonMap::new(),
        }
    }

    /// The function call, or the error that a translating adapter cannot express this call.
    pub fn function_call(&self) -> Result<&FunctionCall, String> {
        self.function.as_ref().ok_or_else(|| {
            format!(
                "tool call `{}` of type `{}` can be served only by an OpenAI-wire upstream",
                self.id, self.kind
            )
        })
    }

    /// The called tool's name, whatever its kind (empty if the call names none).
    pub fn name(&self) -> &str {
        match &self.function {
            Some(f) => &f.name,
            None => self.custom_str("name"),
        }
    }

    /// The call's input: a function's JSON arguments, a custom tool's free text.
    pub fn input(&self) -> &str {
        match &self.function {
            Some(f) => &f.arguments,
            None => self.custom_str("input"),
        }
    }

    fn custom_str(&self, key: &str) -> &str {
        self.extra
            .get(&self.kind)
            .and_then(|t| t.get(key))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    }
}

fn function_kind() -> String {
    "function".to_owned()
}

/// A function invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string.
    pub arguments: String,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaSpec,
    },
}

/// A named JSON schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaSpec {
    /// Schema name.
    pub name: String,
    /// What the schema is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Strict adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `stop`: one sequence or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// Natural end or stop sequence.
    Stop,
    /// Output cap reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// Content was filtered.
    ContentFilter,
    /// Legacy function call.
    FunctionCall,
    /// Anything else a provider reports, kept verbatim.
    Other(String),
}

impl FinishReason {
    /// The OpenAI wire name.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::FunctionCall => "function_call",
            FinishReason::Other(s) => s,
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Self {
        match s {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            "function_call" => FinishReason::FunctionCall,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

impl Serialize for FinishReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(FinishReason::parse(&s))
    }
}

/// A non-streaming chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Completion id.
    pub id: String,
    /// `chat.completion`.
    #[serde(default = "completion_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// The choices.
    pub choices: Vec<Choice>,
    /// Token usage as the provider reported it (OpenAI shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    /// Backend fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Unmodelled fields (`service_tier`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Serialise a response message with `content` and `refusal` present even when `null`, by
/// borrowing its fields (no copy on the response path).
fn response_message<S: Serializer>(m: &Message, s: S) -> Result<S::Ok, S::Error> {
    fn none<T>(o: &&Option<T>) -> bool {
        o.is_none()
    }
    #[derive(Serialize)]
    struct Out<'a> {
        role: Role,
        content: &'a Option<Content>,
        #[serde(skip_serializing_if = "none")]
        name: &'a Option<String>,
        #[serde(skip_serializing_if = "none")]
        tool_calls: &'a Option<Vec<ToolCall>>,
        #[serde(skip_serializing_if = "none")]
        tool_call_id: &'a Option<String>,
        refusal: &'a Option<String>,
        #[serde(skip_serializing_if = "none")]
        reasoning_content: &'a Option<String>,
        #[serde(flatten)]
        extra: &'a JsonMap,
    }
    Out {
        role: m.role,
        content: &m.content,
        name: &m.name,
        tool_calls: &m.tool_calls,
        tool_call_id: &m.tool_call_id,
        refusal: &m.refusal,
        reasoning_content: &m.reasoning_content,
        extra: &m.extra,
    }
    .serialize(s)
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Position.
    #[serde(default)]
    pub index: u32,
    /// The assistant's message (`content` and `refusal` always present, `null` when empty,
    /// as the OpenAI schema requires).
    #[serde(serialize_with = "response_message")]
    pub message: Message,
    /// Why it ended; `null` only if the provider omitted it.
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, passed through.
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}
