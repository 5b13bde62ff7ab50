//! The `[[providers]]` config section.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Which wire API an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// api.openai.com.
    #[serde(rename = "openai")]
    OpenAi,
    /// Any OpenAI-compatible server (Groq, Together, DeepSeek, vLLM, Ollama, …).
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// Azure OpenAI.
    #[serde(rename = "azure-openai")]
    AzureOpenAi,
    /// AWS Bedrock Converse.
    Bedrock,
    /// switchyard's simulator (OpenAI wire format).
    Sim,
}

impl ProviderKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::AzureOpenAi => "azure-openai",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::Sim => "sim",
        }
    }

    /// Whether the API rejects a request without an output cap (`max_tokens`).
    pub fn requires_output_cap(self) -> bool {
        matches!(self, ProviderKind::Anthropic | ProviderKind::Bedrock)
    }

    /// The base URL used when the config gives none; `None` if one is required.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com/v1"),
            ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
            _ => None,
        }
    }
}

/// Per-provider timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP + TLS connect.
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// From sending the request to the first token (streams) or the whole body (non-streaming).
    #[serde(with = "humantime_serde")]
    pub first_token: Duration,
    /// Longest gap between two stream chunks.
    #[serde(with = "humantime_serde")]
    pub idle: Duration,
    /// Non-streaming requests: longest wait for one attempt's complete answer.
    #[serde(with = "humantime_serde")]
    pub response: Duration,
    /// Deadline for the whole request, all attempts included.
    #[serde(with = "humantime_serde")]
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            first_token: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            response: Duration::from_secs(60),
            total: Duration::from_secs(120),
        }
    }
}

/// A resolved provider: what the adapter needs to make calls.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Config name (`openai`, `groq-eu`, …).
    pub name: String,
    /// Wire API.
    pub kind: ProviderKind,
    /// Base URL including the version path (`…/v1`).
    pub base_url: String,
    /// The API key, if any; never printed.
    pub api_key: Option<SecretString>,
    /// Timeouts for calls to this provider.
    pub timeouts: Timeouts,
    /// Azure OpenAI `api-version` query parameter (default [`AZURE_API_VERSION`]).
    pub api_version: Option<String>,
    /// The upstream serves OpenAI's Responses API (`{base}/responses`): a Responses client's
    /// request goes there natively instead of through chat completions (OpenAI-wire kinds
    /// other than Azure).
    pub responses_api: bool,
    /// AWS region (Bedrock: the SigV4 signing region and the default endpoint's region).
    pub region: Option<String>,
    /// Who bills for this provider ([`crate::vendor::resolve`]); decides how usage is read.
    pub vendor: String,
}

/// The Azure OpenAI `api-version` used when the config names none.
pub const AZURE_API_VERSION: &str = "2024-10-21";
