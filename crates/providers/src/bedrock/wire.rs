//! Serde types of the Bedrock Converse / ConverseStream API, field for field.
//!
//! Unknown response fields are kept in `extra` maps where a pass-through could need them;
//! stream events carry a padding field `p` that is ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_types::JsonMap;

/// `POST /model/{modelId}/converse` (and `/converse-stream`) body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    /// The conversation; the first message must be a user turn.
    pub messages: Vec<WireMessage>,
    /// System prompts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    /// Sampling and length settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    /// Tools and the tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Model-specific fields, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
}

/// One turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// Content blocks.
    pub content: Vec<ContentBlock>,
}

/// A content block: exactly one of its fields is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    /// Text.
    Text(String),
    /// An image given by bytes.
    Image(ImageBlock),
    /// A tool call made by the assistant.
    ToolUse(ToolUseBlock),
    /// A tool's answer, in a user turn.
    ToolResult(ToolResultBlock),
    /// Model reasoning (returned by reasoning models).
    ReasoningContent(Value),
    /// Any other block type (documents, video, cache points, guard content, …).
    #[serde(untagged)]
    Other(Value),
}

/// `{"format": "png", "source": {"bytes": "<base64>"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBlock {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    /// Where the image comes from.
    pub source: ImageSource,
}

/// Image bytes (base64 in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSource {
    /// Base64 of the image.
    pub bytes: String,
}

/// `toolUse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    /// Call id, echoed by the result.
    pub tool_use_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as a JSON value.
    pub input: Value,
}

/// `toolResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    /// The call answered.
    pub tool_use_id: String,
    /// The result.
    pub content: Vec<ToolResultContent>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One piece of a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent {
    /// Text.
    Text(String),
    /// A JSON document.
    Json(Value),
    /// Images, documents, ….
    #[serde(untagged)]
    Other(Value),
}

/// `{"text": …}` (or a cache point / guard content, passed through).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemBlock {
    /// Text.
    Text(String),
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
pub struct ToolConfig {
    /// Tool specs.
    pub tools: Vec<WireTool>,
    /// How to choose; absent = auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<WireToolChoice>,
}

/// `{"toolSpec": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTool {
    /// The spec.
    pub tool_spec: ToolSpec,
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// Name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `{"json": <schema>}`.
    pub input_schema: InputSchema,
}

/// `{"json": <schema>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    /// The JSON schema.
    pub json: Value,
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
    pub message: WireMessage,
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
