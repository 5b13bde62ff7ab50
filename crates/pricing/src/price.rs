//! The price model: rates in USD per million tokens, plus the catalog entry around them.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Rates for one model at one provider, in USD per **million** tokens.
///
/// Optional rates fall back as documented in [`crate::cost`](mod@crate::cost); a missing rate is never read as 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached input tokens.
    pub input: Decimal,
    /// Output tokens (reasoning included unless `reasoning` is set).
    pub output: Decimal,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Decimal>,
    /// Input tokens written to a 5-minute cache (Anthropic's default TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<Decimal>,
    /// Input tokens written to a 1-hour cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<Decimal>,
    /// Reasoning tokens, when billed differently from other output (defaults to `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Decimal>,
    /// Uncached input through the provider's batch API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_input: Option<Decimal>,
    /// Output through the provider's batch API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_output: Option<Decimal>,
    /// Higher rates for the whole request once its input exceeds a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_context: Option<LongContextTier>,
    /// Negotiated rates that replace the base rates past a monthly token volume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_tiers: Vec<VolumeRates>,
    /// The day these rates took effect, when the source records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<NaiveDate>,
    /// Provenance: "litellm", "genai-prices", "config override", …
    pub source: String,
}

/// Rates that apply to a whole request whose total input exceeds `above_input_tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextTier {
    /// The tier applies when total input tokens are strictly greater than this.
    pub above_input_tokens: u64,
    /// Uncached input rate.
    pub input: Decimal,
    /// Output rate.
    pub output: Decimal,
    /// Cache read rate (falls back to the tier's input rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Decimal>,
    /// 5-minute cache write rate (falls back to the tier's input rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<Decimal>,
    /// 1-hour cache write rate (falls back to the tier's 5-minute rate, then input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<Decimal>,
}

/// Base rates that replace the standard ones once a month's volume passes a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeRates {
    /// Applies when the month's tokens before this request are at least this many.
    pub above_tokens_per_month: u64,
    /// Uncached input rate per million.
    pub input: Decimal,
    /// Output rate per million.
    pub output: Decimal,
    /// Cache read rate per million (falls back to this tier's input rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Decimal>,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Chat / completions.
    #[default]
    Chat,
    /// Embeddings (input tokens only).
    Embedding,
}

/// Capability facts, as the source catalog states them (`None` = not stated).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Context window for input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
    /// Largest completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Tool / function calling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_tools: Option<bool>,
    /// Image input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_vision: Option<bool>,
    /// Structured output with a JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_json_schema: Option<bool>,
    /// Prompt caching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_prompt_caching: Option<bool>,
    /// Reasoning / thinking tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_reasoning: Option<bool>,
    /// System messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_system_messages: Option<bool>,
    /// PDF input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_pdf_input: Option<bool>,
    /// Audio input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_audio_input: Option<bool>,
}

/// One (provider, model) row of a [`crate::Catalog`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// switchyard provider key: a provider kind, or the vendor name for openai-compatible vendors.
    pub provider: String,
    /// The provider's model id.
    pub model: String,
    /// Other ids the provider accepts for the same model (looked up exactly).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Id prefixes this entry prices (genai-prices `starts_with` rules), used as a last resort.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Chat or embedding.
    #[serde(default)]
    pub mode: Mode,
    /// Current rates.
    pub price: Price,
    /// Capability facts.
    #[serde(default)]
    pub caps: Capabilities,
    /// Day the provider retires the model, if announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_date: Option<NaiveDate>,
    /// Marked deprecated by a source catalog without a date.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

// === impl Price ===

impl Price {
    /// A price with only input and output rates.
    pub fn new(input: Decimal, output: Decimal, source: impl Into<String>) -> Self {
        Price {
            input,
            output,
            cache_read: None,
            cache_write_5m: None,
            cache_write_1h: None,
            reasoning: None,
            batch_input: None,
            batch_output: None,
            long_context: None,
            volume_tiers: Vec::new(),
            effective_from: None,
            source: source.into(),
        }
    }

    /// Every rate multiplied by `factor` (used for residency uplifts).
    pub fn scaled(&self, factor: Decimal) -> Price {
        let s = |d: Decimal| (d * factor).normalize();
        let o = |d: Option<Decimal>| d.map(s);
        Price {
            input: s(self.input),
            output: s(self.output),
            cache_read: o(self.cache_read),
            cache_write_5m: o(self.cache_write_5m),
            cache_write_1h: o(self.cache_write_1h),
            reasoning: o(self.reasoning),
            batch_input: o(self.batch_input),
            batch_output: o(self.batch_output),
            long_context: self.long_context.as_ref().map(|t| LongContextTier {
                above_input_tokens: t.above_input_tokens,
                input: s(t.input),
                output: s(t.output),
                cache_read: o(t.cache_read),
                cache_write_5m: o(t.cache_write_5m),
                cache_write_1h: o(t.cache_write_1h),
            }),
            volume_tiers: self
                .volume_tiers
                .iter()
                .map(|v| VolumeRates {
                    above_tokens_per_month: v.above_tokens_per_month,
                    input: s(v.input),
                    output: s(v.output),
                    cache_read: o(v.cache_read),
                })
                .collect(),
            effective_from: self.effective_from,
            source: self.source.clone(),
        }
    }

    /// Named rates, for diffs and disagreement reports (`None` rates omitted).
    pub fn fields(&self) -> Vec<(&'static str, Decimal)> {
        let mut v = vec![("input", self.input), ("output", self.output)];
        let opt = [
            ("cache_read", self.cache_read),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
            ("reasoning", self.reasoning),
            ("batch_input", self.batch_input),
            ("batch_output", self.batch_output),
        ];
        v.extend(opt.into_iter().filter_map(|(n, d)| d.map(|d| (n, d))));
        if let Some(t) = &self.long_context {
            v.push(("long_context.input", t.input));
            v.push(("long_context.output", t.output));
        }
        v
    }
}
