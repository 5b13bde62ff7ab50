//! Importers for the LiteLLM and genai-prices catalogs, and the merge into one [`Catalog`](crate::Catalog).
//!
//! **Precedence** when both sources price a model: genai-prices supplies the rates (exact
//! decimal strings, dated history, explicit tiers); LiteLLM supplies capabilities, deprecation
//! dates and any rate genai-prices lacks (batch, 1-hour cache write, long-context tier) — but
//! only when both agree on the base input and output rates, so rates from different price
//! epochs are never mixed. Models only one source knows come from that source.
//! Every disagreement between the two is recorded in the [`ImportReport`].

mod genai;
mod litellm;
mod matcher;
mod merge;
mod report;
mod source;

pub use genai::import_genai_prices;
pub use litellm::import_litellm;
pub use merge::{build_catalog, sim_entries, ImportInput, PRECEDENCE};
pub use report::{Disagreement, ImportReport, Problem, ProblemKind};
pub use source::{SourceError, SourceFile};

/// LiteLLM `litellm_provider` → switchyard provider key (`None`: not a provider we route to).
pub fn litellm_provider_key(p: &str) -> Option<&'static str> {
    Some(match p {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "gemini" => "gemini",
        "azure" => "azure-openai",
        "bedrock" | "bedrock_converse" => "bedrock",
        "groq" => "groq",
        "together_ai" => "together_ai",
        "deepseek" => "deepseek",
        "mistral" => "mistral",
        "fireworks_ai" => "fireworks_ai",
        "openrouter" => "openrouter",
        "xai" => "xai",
        "perplexity" => "perplexity",
        "deepinfra" => "deepinfra",
        "cerebras" => "cerebras",
        _ => return None,
    })
}

/// genai-prices provider id → switchyard provider key (`None`: not a provider we route to).
pub fn genai_provider_key(p: &str) -> Option<&'static str> {
    Some(match p {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "google" => "gemini",
        "azure" => "azure-openai",
        "aws" => "bedrock",
        "groq" => "groq",
        "together" => "together_ai",
        "deepseek" => "deepseek",
        "mistral" => "mistral",
        "fireworks" => "fireworks_ai",
        "openrouter" => "openrouter",
        "x-ai" => "xai",
        "perplexity" => "perplexity",
        "cerebras" => "cerebras",
        _ => return None,
    })
}
