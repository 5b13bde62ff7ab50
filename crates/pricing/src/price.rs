//! The price model: rates in USD per million tokens, plus the catalog entry around them.

use chrono::{NaiveDate, NaiveTime, Timelike};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use switchyard_types::ServiceTier;

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
    /// Uncached audio input (defaults to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_audio: Option<Decimal>,
    /// Audio input read from the prompt cache (defaults to `cache_read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_audio: Option<Decimal>,
    /// Uncached image input (defaults to `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_image: Option<Decimal>,
    /// Audio output (defaults to `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_audio: Option<Decimal>,
    /// Image output (defaults to `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_image: Option<Decimal>,
    /// Uncached input through the provider's batch API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_input: Option<Decimal>,
    /// Output through the provider's batch API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_output: Option<Decimal>,
    /// Rates for the whole request once its input exceeds a threshold, ascending by threshold;
    /// the highest tier whose threshold is passed applies.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub long_context: Vec<LongContextTier>,
    /// Rates that replace all of the above during a time-of-day window (UTC), such as
    /// DeepSeek's peak and off-peak prices. The last window containing the request time wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<PriceWindow>,
    /// Negotiated rates that replace the base rates past a monthly token volume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_tiers: Vec<VolumeRates>,
    /// A flat monthly commitment: a fee that buys `included_tokens` a month, used before any
    /// other rate applies (the base rates are then the overage price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<Commitment>,
    /// Rates of the provider's `flex` service tier (slower, best-effort), where it sells one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flex: Option<TierRates>,
    /// Rates of the provider's `priority` service tier, where it sells one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<TierRates>,
    /// The day these rates took effect, when the source records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<NaiveDate>,
    /// Provenance: "litellm", "genai-prices", "config override", …
    pub source: String,
}

/// A time-of-day window with its own rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceWindow {
    /// Start of the window, UTC, inclusive.
    pub start_utc: NaiveTime,
    /// End of the window, UTC, exclusive; a window may wrap past midnight.
    pub end_utc: NaiveTime,
    /// The rates in force during the window.
    pub price: Box<Price>,
}

/// Rates that apply to a whole request whose total input exceeds `above_input_tokens`.
/// A rate missing from a tier is the base rate of the same kind (that rate is not tiered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextTier {
    /// The tier applies when total input tokens are strictly greater than this.
    pub above_input_tokens: u64,
    /// Uncached input rate.
    pub input: Decimal,
    /// Output rate.
    pub output: Decimal,
    /// Cache read rate (default: the base cache read rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Decimal>,
    /// 5-minute cache write rate (default: the base 5-minute write rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<Decimal>,
    /// 1-hour cache write rate (default: the base 1-hour write rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<Decimal>,
}

/// `long_context` as one tier (catalogs written before several tiers were kept) or a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<LongContextTier>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(LongContextTier),
        Many(Vec<LongContextTier>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(t)) => vec![t],
        Some(OneOrMany::Many(v)) => v,
    })
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

/// A flat monthly commitment (a contract, from config): the fee is paid whatever is used, and
/// the month's first `included_tokens` (every bucket) cost nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    /// The fee per UTC calendar month, USD.
    pub monthly_fee: Decimal,
    /// Tokens a month the fee includes.
    pub included_tokens: u64,
}

/// The rates of a service tier (flex, priority): they replace the standard rates of the same
/// kind for a request the provider served at that tier. A rate the tier does not state is the
/// standard rate (recorded as a fallback when it is used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRates {
    /// Uncached input rate per million.
    pub input: Decimal,
    /// Output rate per million.
    pub output: Decimal,
    /// Cache read rate per million.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<Decimal>,
    /// Uncached audio input rate per million.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_audio: Option<Decimal>,
}

impl TierRates {
    fn scaled(&self, s: impl Fn(Decimal) -> Decimal) -> TierRates {
        TierRates {
            input: s(self.input),
            output: s(self.output),
            cache_read: self.cache_read.map(&s),
            input_audio: self.input_audio.map(&s),
        }
    }
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
            input_audio: None,
            cache_read_audio: None,
            input_image: None,
            output_audio: None,
            output_image: None,
            batch_input: None,
            batch_output: None,
            long_context: Vec::new(),
            windows: Vec::new(),
            volume_tiers: Vec::new(),
            commitment: None,
            flex: None,
            priority: None,
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
            input_audio: o(self.input_audio),
            cache_read_audio: o(self.cache_read_audio),
            input_image: o(self.input_image),
            output_audio: o(self.output_audio),
            output_image: o(self.output_image),
            batch_input: o(self.batch_input),
            batch_output: o(self.batch_output),
            long_context: self
                .long_context
                .iter()
                .map(|t| LongContextTier {
                    above_input_tokens: t.above_input_tokens,
                    input: s(t.input),
                    output: s(t.output),
                    cache_read: o(t.cache_read),
                    cache_write_5m: o(t.cache_write_5m),
                    cache_write_1h: o(t.cache_write_1h),
                })
                .collect(),
            windows: self
                .windows
                .iter()
                .map(|w| PriceWindow {
                    start_utc: w.start_utc,
                    end_utc: w.end_utc,
                    price: Box::new(w.price.scaled(factor)),
                })
                .collect(),
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
            commitment: self.commitment.clone(),
            flex: self.flex.as_ref().map(|t| t.scaled(s)),
            priority: self.priority.as_ref().map(|t| t.scaled(s)),
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
            ("input_audio", self.input_audio),
            ("cache_read_audio", self.cache_read_audio),
            ("input_image", self.input_image),
            ("output_audio", self.output_audio),
            ("output_image", self.output_image),
            ("batch_input", self.batch_input),
            ("batch_output", self.batch_output),
        ];
        v.extend(opt.into_iter().filter_map(|(n, d)| d.map(|d| (n, d))));
        if let Some(t) = self.long_context.first() {
            v.push(("long_context.input", t.input));
            v.push(("long_context.output", t.output));
        }
        if let Some(t) = &self.flex {
            v.extend([("flex.input", t.input), ("flex.output", t.output)]);
        }
        if let Some(t) = &self.priority {
            v.extend([("priority.input", t.input), ("priority.output", t.output)]);
        }
        v
    }

    /// The rates of a service tier, if this price has them (the standard tier always does,
    /// as the base rates, so it returns `None`).
    pub fn tier(&self, tier: ServiceTier) -> Option<&TierRates> {
        match tier {
            ServiceTier::Standard => None,
            ServiceTier::Flex => self.flex.as_ref(),
            ServiceTier::Priority => self.priority.as_ref(),
        }
    }

    /// The rates in force at `seconds_of_day` (UTC): the last window containing it, else these.
    pub fn at(&self, seconds_of_day: u32) -> &Price {
        self.windows
            .iter()
            .rev()
            .find(|w| w.contains(seconds_of_day))
            .map_or(self, |w| &w.price)
    }
}

// === impl PriceWindow ===

impl PriceWindow {
    /// Whether the window covers this second of the day (UTC); windows may wrap midnight.
    pub fn contains(&self, seconds_of_day: u32) -> bool {
        let (s, e) = (
            self.start_utc.num_seconds_from_midnight(),
            self.end_utc.num_seconds_from_midnight(),
        );
        if e < s {
            seconds_of_day >= s || seconds_of_day < e
        } else {
            s <= seconds_of_day && seconds_of_day < e
        }
    }
}
