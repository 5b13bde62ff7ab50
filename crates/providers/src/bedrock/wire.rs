//! Serde types of the Bedrock Converse / ConverseStream API, field for field.
//!
//! Unknown response fields are kept in `extra` maps where a pass-through could need them;
//! stream events carry a padding field `p` that is ignored. Request types borrow (`Cow`) from
//! the canonical request, so a body is written without copying the prompt.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_types::JsonMap;

/// `POST /model/{modelId}/converse` (and `/converse-stream`) body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest<'a> {
    /// The conversation; the first message must be a user turn.
    pub messages: Vec<WireMessage<'a>>,
    /// System prompts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock<'a>>,
    /// Sampling and length settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    /// Tools and the tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig<'a>>,
    /// Model-specific fields, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
}

/// One turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMessage<'a> {
    /// `user` or `assistant`.
    pub role: Cow<'a, str>,
    /// Content blocks.
    pub content: Vec<ContentBlock<'a>>,
}

/// A content block: exactly one of its fields is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock<'a> {
    /// Text.
    Text(Cow<'a, str>),
    /// An image given by bytes.
    Image(ImageBlock<'a>),
    /// A tool call made by the assistant.
    ToolUse(ToolUseBlock<'a>),
    /// A tool's answer, in a user turn.
    ToolResult(ToolResultBlock<'a>),
    /// Model reasoning (returned by reasoning models).
    ReasoningContent(Value),
    /// Any other block type (documents, video, cache points, guard content, …).
    #[serde(untagged)]
    Other(Value),
}

/// `{"format": "png", "source": {"bytes": "<base64>"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBlock<'a> {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    /// Where the image comes from.
    pub source: ImageSource<'a>,
}

/// Image bytes (base64 in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSource<'a> {
    /// Base64 of the image.
    pub bytes: Cow<'a, str>,
}

/// `toolUse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock<'a> {
    /// Call id, echoed by the result.
    pub tool_use_id: Cow<'a, str>,
    /// Tool name.
    pub name: Cow<'a, str>,
    /// Arguments as a JSON value.
    pub input: Value,
}

/// `toolResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock<'a> {
    /// The call answered.
    pub tool_use_id: Cow<'a, str>,
    /// The result.
    pub content: Vec<ToolResultContent<'a>>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One piece of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent<'a> {
    /// Text.
    Text(Cow<'a, str>),
    /// A JSON document.
    Json(Value),
    /// Images, documents, ….
    #[serde(untagged)]
    Other(Value),
}

/// `{"text": …}` (or a cache point / guard content, passed through).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemBlock<'a> {
    /// Text.
    Text(Cow<'a, str>),
    /// Anything else.
    #[serde(untagged)]
    Other(Value),
}

/// `inferenceConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// Output cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

/// `toolConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig<'a> {
    /// Tool specs.
    pub tools: Vec<WireTool<'a>>,
    /// How to choose; absent = auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<WireToolChoice>,
}

/// `{"toolSpec": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTool<'a> {
    /// The spec.
    pub tool_spec: ToolSpec<'a>,
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec<'a> {
    /// Name.
    pub name: Cow<'a, str>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// `{"json": <schema>}`.
    pub input_schema: InputSchema<'a>,
}

/// `{"json": <schema>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSchema<'a> {
    /// The JSON schema.
    pub json: Cow<'a, Value>,
}

/// `{"auto":{}}`, `{"any":{}}` or `{"tool":{"name":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WireToolChoice {
    /// The model decides.
    Auto(JsonMap),
    /// Some tool must be called.
    Any(JsonMap),
    /// This tool must be called.
    Tool(NamedTool),
}

/// `{"name": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedTool {
    /// Tool name.
    pub name: String,
}

/// The Converse response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    /// `{"message": …}`.
    pub output: Output,
    /// Why generation stopped.
    pub stop_reason: String,
    /// Token counts.
    #[serde(default)]
    pub usage: TokenUsage,
    /// `latencyMs`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    /// Everything else (`additionalModelResponseFields`, `trace`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The assistant turn.
    pub message: WireMessage<'static>,
}

/// `usage` (`TokenUsage`). `inputTokens` excludes cache reads and writes (see `convert::usage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Input tokens not read from or written to the cache.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input + output (+ cache, as reported).
    #[serde(default)]
    pub total_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
    /// Cache writes by TTL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_details: Vec<CacheDetail>,
}

/// `CacheDetail`: cache writes with one TTL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheDetail {
    /// `5m` or `1h`.
    #[serde(default)]
    pub ttl: String,
    /// Tokens written with that TTL.
    #[serde(default)]
    pub input_tokens: u64,
}

/// Error body of a non-2xx response (`message`, sometimes `Message`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// The message.
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
}

/// `contentBlockStart` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStart {
    /// Block index.
    #[serde(default)]
    pub content_block_index: u32,
    /// `{"toolUse": {...}}` for tool blocks.
    #[serde(default)]
    pub start: Option<StartInfo>,
}

/// `start`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInfo {
    /// A tool call begins.
    #[serde(default)]
    pub tool_use: Option<ToolUseStart>,
}

/// `start.toolUse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    /// Call id.
    pub tool_use_id: String,
    /// Tool name.
    pub name: String,
}

/// `contentBlockDelta` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDelta {
    /// Block index.
    #[serde(default)]
    pub content_block_index: u32,
    /// What was added.
    #[serde(default)]
    pub delta: DeltaInfo,
}

/// `delta`: text, a tool-input fragment, or reasoning.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaInfo {
    /// Text fragment.
    #[serde(default)]
    pub text: Option<String>,
    /// `{"input": "<json fragment>"}`.
    #[serde(default)]
    pub tool_use: Option<ToolUseDelta>,
    /// `{"text": …}` or `{"signature": …}` or `{"redactedContent": …}`.
    #[serde(default)]
    pub reasoning_content: Option<ReasoningDelta>,
}

/// `delta.toolUse`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ToolUseDelta {
    /// A fragment of the JSON arguments.
    #[serde(default)]
    pub input: String,
}

/// `delta.reasoningContent`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReasoningDelta {
    /// Reasoning text fragment.
    #[serde(default)]
    pub text: Option<String>,
}

/// `messageStop` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    /// Why generation stopped.
    pub stop_reason: String,
}

/// `metadata` payload.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// Token counts.
    #[serde(default)]
    pub usage: TokenUsage,
}
