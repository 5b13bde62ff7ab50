//! Serde types matching the Gemini `generateContent` API exactly (camelCase on the wire).
//!
//! Every struct that Gemini may extend keeps unknown fields in a flattened `extra` map, so
//! fields we do not model (safety ratings, citation metadata, thought signatures, …) survive
//! a round trip. Request types borrow (`Cow`) from the canonical request, so a body is
//! written without copying the prompt; decoded answers own their data (`'static`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_types::JsonMap;

/// `POST models/{model}:generateContent` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest<'a> {
    /// The conversation (`user` / `model` turns).
    pub contents: Vec<Content<'a>>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content<'a>>,
    /// Declared tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool<'a>>>,
    /// How tools may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Sampling and output options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// `flex` or `priority` (absent: standard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<Cow<'a, str>>,
}

/// A turn: a role and its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content<'a> {
    /// `user` or `model` (absent on `systemInstruction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'a, str>>,
    /// The parts.
    #[serde(default)]
    pub parts: Vec<Part<'a>>,
}

/// One part; exactly one of the data fields is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part<'a> {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    /// Whether `text` is a thought summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Inline bytes (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob<'a>>,
    /// A file by URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData<'a>>,
    /// A call made by the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall<'a>>,
    /// A tool result sent by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse<'a>>,
    /// Unmodelled fields (`thoughtSignature`, `executableCode`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl<'a> Part<'a> {
    /// A text part.
    pub fn text(t: impl Into<Cow<'a, str>>) -> Part<'a> {
        Part {
            text: Some(t.into()),
            ..Part::default()
        }
    }
}

/// `inlineData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob<'a> {
    /// MIME type.
    pub mime_type: Cow<'a, str>,
    /// Base64 bytes.
    pub data: Cow<'a, str>,
}

/// `fileData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData<'a> {
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<Cow<'a, str>>,
    /// The URI.
    pub file_uri: Cow<'a, str>,
}

/// `functionCall`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall<'a> {
    /// Optional call id (newer models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    /// Function name.
    pub name: Cow<'a, str>,
    /// Arguments as a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// `functionResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionResponse<'a> {
    /// Optional call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    /// Function name (required by Gemini).
    pub name: Cow<'a, str>,
    /// The result: always a JSON object.
    pub response: Value,
}

/// One entry of `tools`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool<'a> {
    /// Function declarations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<FunctionDeclaration<'a>>,
    /// Other tool kinds (`googleSearch`, `codeExecution`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDeclaration<'a> {
    /// Name.
    pub name: Cow<'a, str>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// OpenAPI-subset schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// Function calling mode.
    pub function_calling_config: FunctionCallingConfig,
}

/// `functionCallingConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY` or `NONE`.
    pub mode: String,
    /// With `ANY`: the functions allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

/// `generationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Output cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Number of candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// `application/json` for JSON mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// Output schema (with JSON mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// Thinking budget and whether thoughts are returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<Value>,
}

/// A `generateContent` answer, or one SSE event of `streamGenerateContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// The candidates (absent when the prompt was blocked).
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Why the prompt was blocked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model version that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Response id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One candidate answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The content (absent when blocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content<'static>>,
    /// `STOP`, `MAX_TOKENS`, `SAFETY`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Position (absent for the first candidate on some models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Unmodelled fields (`safetyRatings`, `citationMetadata`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `promptFeedback`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// `SAFETY`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `OTHER`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `usageMetadata`. `promptTokenCount` includes `cachedContentTokenCount`;
/// `candidatesTokenCount` excludes `thoughtsTokenCount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens, cached ones included.
    #[serde(default)]
    pub prompt_token_count: u64,
    /// Output tokens, thoughts excluded.
    #[serde(default)]
    pub candidates_token_count: u64,
    /// Prompt tokens served from the context cache.
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Thinking tokens.
    #[serde(default)]
    pub thoughts_token_count: u64,
    /// Tokens of tool-use prompts (billed as input).
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
    /// Sum.
    #[serde(default)]
    pub total_token_count: u64,
    /// Prompt tokens by modality (cached ones included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_tokens_details: Vec<ModalityCount>,
    /// Cached prompt tokens by modality.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_tokens_details: Vec<ModalityCount>,
    /// Output tokens by modality.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates_tokens_details: Vec<ModalityCount>,
    /// Tool-use prompt tokens by modality.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_use_prompt_tokens_details: Vec<ModalityCount>,
    /// The tier the request was served at (`standard`, `flex`, `priority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
}

/// `{"modality": "AUDIO", "tokenCount": 120}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModalityCount {
    /// `TEXT`, `IMAGE`, `AUDIO`, `VIDEO`, `DOCUMENT`.
    #[serde(default)]
    pub modality: String,
    /// Tokens of that modality.
    #[serde(default)]
    pub token_count: u64,
}

/// `batchEmbedContents` body.
#[derive(Debug, Clone, Serialize)]
pub struct BatchEmbedRequest<'a> {
    /// One request per input.
    pub requests: Vec<EmbedContentRequest<'a>>,
}

/// One `embedContent` request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentRequest<'a> {
    /// `models/{model}`.
    pub model: String,
    /// The text.
    pub content: Content<'a>,
    /// Truncate the vector to this many dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u32>,
}

/// `batchEmbedContents` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchEmbedResponse {
    /// One per input, in order.
    #[serde(default)]
    pub embeddings: Vec<ContentEmbedding>,
}

/// One vector.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentEmbedding {
    /// The values.
    #[serde(default)]
    pub values: Vec<f32>,
}
