//! Provider adapters: how switchyard talks to each upstream API.
//!
//! Every adapter implements [`Provider`]: a non-streaming `chat` and a streaming `chat_stream`,
//! both taking the canonical [`ChatRequest`] and the provider's own model id. The closed set of
//! adapters is the enum [`AnyProvider`], so adding a provider makes the compiler list every
//! place that needs a new arm. Adapters classify every failure into a [`ProviderError`] with a
//! retryable bit; the attempt loop in `switchyard-core` decides what to do with it.
//!
//! Invariant: this is the only crate that names a provider URL or a provider JSON field.

pub mod anthropic;
pub mod batch;
pub mod bedrock;
mod config;
mod embed;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod gemini;
pub mod http;
pub mod openai;
mod ratelimit;
mod reasoning;
pub mod sse;
pub mod thought;
pub mod vendor;

#[cfg(test)]
mod usage_semantics;

use std::future::Future;

use futures::stream::BoxStream;
use switchyard_types::{ChatChunk, ChatRequest, ChatResponse, Usage};

pub use anthropic::AnthropicProvider;
pub use bedrock::BedrockProvider;
pub use config::{ProviderConfig, ProviderKind, Timeouts};
pub use embed::EmbedReply;
pub use error::{redact_secrets, ErrorClass, ProviderError};
pub use gemini::GeminiProvider;
pub use openai::OpenAiProvider;
pub use ratelimit::RateLimitInfo;

/// The contract every adapter fulfils.
///
/// `chat` resolves when the whole answer is in. `chat_stream` resolves when the upstream has
/// accepted the request (its headers are in); the stream then yields chunks, ending either
/// with [`StreamItem::Done`] (the upstream finished cleanly) or with an error (cut, malformed
/// beyond repair, upstream error event). A stream that simply stops yielding without `Done`
/// must be treated as cut by the caller.
pub trait Provider {
    /// One non-streaming completion.
    fn chat(
        &self,
        req: &ChatRequest,
        call: CallCx<'_>,
    ) -> impl Future<Output = Result<Reply, ProviderError>> + Send;

    /// One streaming completion.
    fn chat_stream(
        &self,
        req: &ChatRequest,
        call: CallCx<'_>,
    ) -> impl Future<Output = Result<StreamReply, ProviderError>> + Send;
}

/// What one call needs besides the request: the adapter reads the request by reference and
/// writes its wire body from it once, with these facts applied (no copy of the prompt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallCx<'a> {
    /// The provider's model id.
    pub upstream_model: &'a str,
    /// The output cap to send when the client set none: the model's maximum, for APIs that
    /// require a cap ([`ProviderKind::requires_output_cap`]).
    pub default_max_tokens: Option<u32>,
}

impl<'a> From<&'a str> for CallCx<'a> {
    fn from(upstream_model: &'a str) -> Self {
        CallCx {
            upstream_model,
            default_max_tokens: None,
        }
    }
}

/// A finished non-streaming answer.
#[derive(Debug)]
pub struct Reply {
    /// The answer in canonical form (OpenAI-shaped).
    pub response: ChatResponse,
    /// Normalised usage (zero if the provider reported none).
    pub usage: Usage,
    /// Facts from the upstream's response headers.
    pub meta: UpstreamMeta,
}

/// An accepted streaming answer.
pub struct StreamReply {
    /// The chunks.
    pub stream: BoxStream<'static, Result<StreamItem, ProviderError>>,
    /// Facts from the upstream's response headers.
    pub meta: UpstreamMeta,
}

impl std::fmt::Debug for StreamReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReply")
            .field("meta", &self.meta)
            .finish()
    }
}

/// One item of a stream.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "`Done` is sent once per stream; boxing every chunk would cost an allocation each"
)]
pub enum StreamItem {
    /// A chunk for the client, with the normalised usage if the chunk reports it.
    Chunk(ChatChunk, Option<Usage>),
    /// The upstream ended the stream cleanly.
    Done,
}

/// What the upstream's response headers told us.
#[derive(Debug, Clone, Default)]
pub struct UpstreamMeta {
    /// HTTP status.
    pub status: u16,
    /// Rate-limit headroom, where reported.
    pub rate_limit: RateLimitInfo,
}

/// The closed set of adapters.
#[derive(Debug)]
pub enum AnyProvider {
    /// OpenAI, OpenAI-compatible vendors, Azure OpenAI, and the simulator.
    OpenAi(OpenAiProvider),
    /// Google Gemini.
    Gemini(GeminiProvider),
    /// Anthropic Messages.
    Anthropic(AnthropicProvider),
    /// AWS Bedrock Converse.
    Bedrock(BedrockProvider),
}

impl AnyProvider {
    /// The adapter's batch API, if its upstream has one.
    pub fn batch_api(&self) -> Option<batch::BatchApi<'_>> {
        match self {
            AnyProvider::OpenAi(p) if p.has_batch_api() => Some(batch::BatchApi::OpenAi(p)),
            AnyProvider::Anthropic(p) => Some(batch::BatchApi::Anthropic(p)),
            _ => None,
        }
    }

    /// Build the adapter for a provider's config.
    pub fn new(cfg: ProviderConfig) -> Result<Self, ProviderError> {
        match cfg.kind {
            ProviderKind::OpenAi
            | ProviderKind::OpenAiCompatible
            | ProviderKind::Sim
            | ProviderKind::AzureOpenAi => Ok(AnyProvider::OpenAi(OpenAiProvider::new(cfg)?)),
            ProviderKind::Gemini => Ok(AnyProvider::Gemini(GeminiProvider::new(cfg)?)),
            ProviderKind::Anthropic => Ok(AnyProvider::Anthropic(AnthropicProvider::new(cfg)?)),
            ProviderKind::Bedrock => Ok(AnyProvider::Bedrock(BedrockProvider::new(cfg)?)),
        }
    }

    /// The provider's configured name.
    pub fn name(&self) -> &str {
        match self {
            AnyProvider::OpenAi(p) => p.name(),
            AnyProvider::Gemini(p) => p.name(),
            AnyProvider::Anthropic(p) => p.name(),
            AnyProvider::Bedrock(p) => p.name(),
        }
    }
}

impl Provider for AnyProvider {
    async fn chat(&self, req: &ChatRequest, call: CallCx<'_>) -> Result<Reply, ProviderError> {
        match self {
            AnyProvider::OpenAi(p) => p.chat(req, call).await,
            AnyProvider::Gemini(p) => p.chat(req, call).await,
            AnyProvider::Anthropic(p) => p.chat(req, call).await,
            AnyProvider::Bedrock(p) => p.chat(req, call).await,
        }
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        call: CallCx<'_>,
    ) -> Result<StreamReply, ProviderError> {
        match self {
            AnyProvider::OpenAi(p) => p.chat_stream(req, call).await,
            AnyProvider::Gemini(p) => p.chat_stream(req, call).await,
            AnyProvider::Anthropic(p) => p.chat_stream(req, call).await,
            AnyProvider::Bedrock(p) => p.chat_stream(req, call).await,
        }
    }
}
