//! Serde types matching the Anthropic Messages API exactly (requests, responses, stream events).
//!
//! Unknown fields ride in `#[serde(flatten)] extra` maps so a pass-through never drops data
//! (`cache_control`, `citations`, …); unknown block and event types decode to `Unknown`
//! instead of failing the whole response.
//!
//! The request-side types borrow (`Cow`): an upstream body is written straight from the
//! canonical request, without copying the prompt; decoded bodies own their data (`'static`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_types::JsonMap;

/// `POST /v1/messages` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest<'a> {
    /// Model id.
    #[serde(default)]
    pub model: Cow<'a, str>,
    /// Output cap; required by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The conversation: alternating user / assistant turns.
    #[serde(default)]
    pub messages: Vec<WireMessage<'a>>,
    /// Top-level system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System<'a>>,
    /// Tool definitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<WireTool<'a>>>,
    /// How tools are chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<WireToolChoice>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Server-sent events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// `{"user_id": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
    /// Unmodelled fields (`thinking`, `service_tier`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `system`: a string, or text blocks (needed for `cache_control`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System<'a> {
    /// Plain text.
    Text(Cow<'a, str>),
    /// Text blocks.
    Blocks(Vec<Block<'a>>),
}

/// One turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMessage<'a> {
    /// `user` or `assistant`.
    pub role: Cow<'a, str>,
    /// A string or blocks.
    pub content: MessageContent<'a>,
}

/// Turn content: a string or blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent<'a> {
    /// Plain text.
    Text(Cow<'a, str>),
    /// Typed blocks.
    Blocks(Vec<Block<'a>>),
}

impl<'a> MessageContent<'a> {
    /// The content as blocks (a string becomes one text block).
    pub fn into_blocks(self) -> Vec<Block<'a>> {
        match self {
            MessageContent::Text(text) => vec![Block::text(text)],
            MessageContent::Blocks(b) => b,
        }
    }
}

/// A content block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    /// Text.
    Text {
        /// The text.
        #[serde(default)]
        text: Cow<'a, str>,
        /// `cache_control`, `citations`, ….
        #[serde(flatten)]
        extra: Cow<'a, JsonMap>,
    },
    /// An image.
    Image {
        /// Where the image comes from.
        source: Cow<'a, Value>,
        /// `cache_control`, ….
        #[serde(flatten)]
        extra: Cow<'a, JsonMap>,
    },
    /// A document (PDF, text).
    Document {
        /// Where the document comes from.
        source: Cow<'a, Value>,
        /// `title`, `cache_control`, ….
        #[serde(flatten)]
        extra: Cow<'a, JsonMap>,
    },
    /// A tool call by the model.
    ToolUse {
        /// Call id (`toolu_…`).
        id: Cow<'a, str>,
        /// Tool name.
        name: Cow<'a, str>,
        /// Arguments as a JSON object.
        #[serde(default)]
        input: Cow<'a, Value>,
        /// Unmodelled fields.
        #[serde(flatten)]
        extra: Cow<'a, JsonMap>,
    },
    /// A tool's result, in a user turn.
    ToolResult {
        /// The call it answers.
        tool_use_id: Cow<'a, str>,
        /// Result text or blocks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<MessageContent<'a>>,
        /// Whether the tool failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        /// `cache_control`, ….
        #[serde(flatten)]
        extra: Cow<'a, JsonMap>,
    },
    /// Extended thinking.
    Thinking {
        /// The reasoning text.
        #[serde(default)]
        thinking: Cow<'a, str>,
        /// Signature needed to send the block back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<Cow<'a, str>>,
    },
    /// Encrypted thinking.
    RedactedThinking {
        /// Opaque payload.
        data: Cow<'a, str>,
    },
    /// Any block type this gateway does not model.
    #[serde(other)]
    Unknown,
}

impl<'a> Block<'a> {
    /// A plain text block.
    pub fn text(text: impl Into<Cow<'a, str>>) -> Block<'a> {
        Block::Text {
            text: text.into(),
            extra: Cow::Owned(JsonMap::new()),
        }
    }
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireTool<'a> {
    /// Tool name.
    pub name: Cow<'a, str>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// JSON schema of the input; absent for server tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Cow<'a, Value>>,
    /// `cache_control`, server-tool `type`, ….
    #[serde(flatten)]
    pub extra: Cow<'a, JsonMap>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireToolChoice {
    /// `auto`, `any`, `tool` or `none`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tool, for `tool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// At most one tool call per turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

/// A non-streaming response (also the `message` of `message_start`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// `msg_…`.
    #[serde(default)]
    pub id: String,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Content blocks.
    #[serde(default)]
    pub content: Vec<Block<'static>>,
    /// Why generation ended.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that matched.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token usage.
    #[serde(default)]
    pub usage: AnthropicUsage,
}

/// Anthropic usage: `input_tokens` excludes cache reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicUsage {
    /// Uncached input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output tokens (thinking included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Tokens written to the cache (all TTLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Cache writes by TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation: Option<CacheCreation>,
    /// The tier the request was served at (`standard`, `priority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<switchyard_types::ServiceTier>,
}

/// Cache writes by TTL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCreation {
    /// Written with the 5-minute TTL.
    #[serde(default)]
    pub ephemeral_5m_input_tokens: u64,
    /// Written with the 1-hour TTL.
    #[serde(default)]
    pub ephemeral_1h_input_tokens: u64,
}

impl AnthropicUsage {
    /// Overlay the fields `later` reports (a `message_delta` carries cumulative counts).
    pub fn merge(&mut self, later: &AnthropicUsage) {
        let pick = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        pick(&mut self.input_tokens, later.input_tokens);
        pick(&mut self.output_tokens, later.output_tokens);
        pick(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        pick(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
        if later.cache_creation.is_some() {
            self.cache_creation = later.cache_creation;
        }
    }
}

/// One streamed event (the SSE `data`, tagged by `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The message envelope, with input usage.
    MessageStart {
        /// Id, model, usage; empty content.
        message: MessagesResponse,
    },
    /// A block begins.
    ContentBlockStart {
        /// Block position.
        index: u32,
        /// The block header (text / tool_use with id and name / thinking).
        content_block: Block<'static>,
    },
    /// A block grows.
    ContentBlockDelta {
        /// Block position.
        index: u32,
        /// The fragment.
        delta: BlockDelta,
    },
    /// A block ends.
    ContentBlockStop {
        /// Block position.
        index: u32,
    },
    /// Stop reason and final output usage.
    MessageDelta {
        /// `stop_reason`, `stop_sequence`.
        delta: MessageDeltaBody,
        /// Cumulative usage.
        #[serde(default)]
        usage: AnthropicUsage,
    },
    /// The end.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// A failure mid-stream.
    Error {
        /// The error.
        error: ErrorBody,
    },
    /// An event type this gateway does not model.
    #[serde(other)]
    Unknown,
}

/// A block fragment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    /// Text.
    TextDelta {
        /// The fragment.
        text: String,
    },
    /// A piece of a tool call's JSON input.
    InputJsonDelta {
        /// The fragment.
        partial_json: String,
    },
    /// Reasoning text.
    ThinkingDelta {
        /// The fragment.
        thinking: String,
    },
    /// The thinking block's signature.
    SignatureDelta {
        /// The signature.
        signature: String,
    },
    /// Any other delta type.
    #[serde(other)]
    Unknown,
}

/// `message_delta.delta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaBody {
    /// Why generation ended.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that matched.
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// `{"type":"error","error":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// An error's type and message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `invalid_request_error`, `overloaded_error`, ….
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
}
