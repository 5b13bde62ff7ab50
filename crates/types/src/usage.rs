//! Token usage: the OpenAI wire shape and the normalised form costs are computed from.
//!
//! How each vendor's usage fields map onto [`Usage`] (what includes what) is documented in
//! `docs/pricing.md` and implemented by each adapter in `switchyard-providers`; the OpenAI
//! shape, shared by many vendors, is read by [`Usage::from_openai`] with an [`OpenAiDialect`].

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// Usage in the OpenAI wire shape, as clients of `/v1/chat/completions` see it.
///
/// `prompt_tokens` *includes* `prompt_tokens_details.cached_tokens` and `cache_write_tokens`,
/// and `completion_tokens` includes `completion_tokens_details.reasoning_tokens` (for OpenAI;
/// see [`OpenAiDialect`] for vendors that differ).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireUsage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Sum of the two.
    #[serde(default)]
    pub total_tokens: u64,
    /// Input breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Output breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Unmodelled fields; switchyard adds its cost figures here on streams.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl WireUsage {
    /// Rewrite the counts from normalised usage ([`Usage::to_openai`]), keeping the fields
    /// switchyard does not model (`accepted_prediction_tokens`, vendor extras, …). Every
    /// OpenAI-shaped answer passes through here, so the client's usage object always carries
    /// the breakdown its bill is made of, whatever the vendor reported.
    pub fn set_counts(&mut self, u: &Usage) {
        let mut fresh = u.to_openai();
        if let (Some(new), Some(old)) = (
            &mut fresh.prompt_tokens_details,
            self.prompt_tokens_details.take(),
        ) {
            for (k, v) in old.extra {
                new.extra.entry(k).or_insert(v);
            }
        }
        if let (Some(new), Some(old)) = (
            &mut fresh.completion_tokens_details,
            self.completion_tokens_details.take(),
        ) {
            for (k, v) in old.extra {
                new.extra.entry(k).or_insert(v);
            }
        }
        fresh.extra = std::mem::take(&mut self.extra);
        *self = fresh;
    }
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Tokens written to the provider's prompt cache (newer OpenAI models, Azure, OpenRouter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Audio input tokens (cached ones included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Image input tokens, where the provider reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tokens: Option<u64>,
    /// Unmodelled fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Hidden reasoning tokens (part of `completion_tokens` for OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Image output tokens, where the provider reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tokens: Option<u64>,
    /// Unmodelled fields (`accepted_prediction_tokens`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// How a vendor's OpenAI-shaped usage counts its tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OpenAiDialect {
    /// OpenAI's definition: `completion_tokens` includes `reasoning_tokens`.
    #[default]
    Standard,
    /// xAI: `reasoning_tokens` are reported *beside* `completion_tokens` and billed as output.
    ReasoningOutsideCompletion,
}

/// Usage normalised so that every token is counted exactly once, in the bucket it is priced in.
///
/// `input` excludes cache reads and writes; `output` includes reasoning tokens, which are
/// also reported in `reasoning` (a subset, for pricing reasoning at its own rate). The
/// modality fields are subsets in the same way: `input_audio` and `input_image` of `input`,
/// `cache_read_audio` of `cache_read`, `output_audio` and `output_image` of `output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The service tier the provider says it served (and bills) the request at.
    #[serde(default, skip_serializing_if = "ServiceTier::is_standard")]
    pub tier: ServiceTier,
    /// Input tokens billed at the plain input rate.
    pub input: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to a 5-minute cache (or a cache with no stated lifetime).
    pub cache_write_5m: u64,
    /// Input tokens written to a 1-hour cache.
    pub cache_write_1h: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// The reasoning subset of `output`.
    pub reasoning: u64,
    /// The audio subset of `input` (uncached audio input).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_audio: u64,
    /// The image subset of `input` (uncached image and document input).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_image: u64,
    /// The audio subset of `cache_read`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_audio: u64,
    /// The audio subset of `output`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_audio: u64,
    /// The image subset of `output`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_image: u64,
}

/// A provider's service tier: the standard one, a cheaper best-effort one (OpenAI and Gemini
/// `flex`), or a premium one (`priority`). Read leniently: any other name (`auto`, `default`,
/// `scale`, `standard`, `standard_only`) is the standard tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    /// The provider's standard tier.
    #[default]
    Standard,
    /// Slower, best-effort, cheaper.
    Flex,
    /// Faster, dearer.
    Priority,
}

impl ServiceTier {
    /// Whether this is the standard tier.
    pub fn is_standard(&self) -> bool {
        *self == ServiceTier::Standard
    }

    /// The tier a provider names (`flex`, `priority`; anything else is standard).
    pub fn parse(name: &str) -> ServiceTier {
        match name {
            "flex" => ServiceTier::Flex,
            "priority" => ServiceTier::Priority,
            _ => ServiceTier::Standard,
        }
    }

    /// The tier's name: `standard`, `flex`, `priority`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
        }
    }
}

impl<'de> Deserialize<'de> for ServiceTier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ServiceTier::parse(&name))
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Usage {
    /// Whether any input was read from or written to the prompt cache.
    pub fn touched_cache(&self) -> bool {
        self.cache_read + self.cache_write_5m + self.cache_write_1h > 0
    }

    /// The same tokens as if nothing had been cached: cache reads and writes billed as plain
    /// input (what prompt caching is measured against).
    pub fn without_cache(&self) -> Usage {
        Usage {
            input: self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h,
            cache_read: 0,
            cache_write_5m: 0,
            cache_write_1h: 0,
            input_audio: self.input_audio + self.cache_read_audio,
            cache_read_audio: 0,
            ..*self
        }
    }

    /// All input tokens, whatever their bucket.
    pub fn total_input(&self) -> u64 {
        self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h
    }

    /// All input and output tokens.
    pub fn total(&self) -> u64 {
        self.total_input() + self.output
    }

    /// Normalise OpenAI-shaped usage (`prompt_tokens` includes cache reads and writes).
    pub fn from_openai(w: &WireUsage, dialect: OpenAiDialect) -> Self {
        let p = w.prompt_tokens_details.as_ref();
        let c = w.completion_tokens_details.as_ref();
        let get = |v: Option<Option<u64>>| v.flatten().unwrap_or(0);
        let cached = get(p.map(|d| d.cached_tokens)).min(w.prompt_tokens);
        let written = get(p.map(|d| d.cache_write_tokens)).min(w.prompt_tokens - cached);
        let input = w.prompt_tokens - cached - written;
        let reasoning = get(c.map(|d| d.reasoning_tokens));
        let output = match dialect {
            OpenAiDialect::Standard => w.completion_tokens,
            OpenAiDialect::ReasoningOutsideCompletion => w.completion_tokens + reasoning,
        };
        // `audio_tokens` counts all audio, cached or not; the split is not reported, so cached
        // tokens are taken to be text first and only the excess counts as cached audio.
        let audio = get(p.map(|d| d.audio_tokens)).min(w.prompt_tokens - written);
        let cache_read_audio = (cached + audio).saturating_sub(w.prompt_tokens - written);
        let input_audio = (audio - cache_read_audio).min(input);
        let input_image = get(p.map(|d| d.image_tokens)).min(input - input_audio);
        let output_audio = get(c.map(|d| d.audio_tokens)).min(output);
        let output_image = get(c.map(|d| d.image_tokens)).min(output - output_audio);
        Usage {
            tier: ServiceTier::Standard,
            input,
            cache_read: cached,
            cache_write_5m: written,
            cache_write_1h: 0,
            output,
            reasoning: reasoning.min(output - output_audio - output_image),
            input_audio,
            input_image,
            cache_read_audio,
            output_audio,
            output_image,
        }
    }

    /// The OpenAI wire form, with the whole breakdown: `prompt_tokens` and `completion_tokens`
    /// are totals as OpenAI defines them, and the details say how many of them were cache
    /// reads, cache writes (`cache_write_tokens`, plus switchyard's
    /// `cache_write_1h_tokens` when a 1-hour write is part of it), reasoning, audio or image —
    /// enough to reproduce the bill from the catalog rates.
    pub fn to_openai(&self) -> WireUsage {
        let prompt = self.total_input();
        let mut prompt_extra = JsonMap::new();
        if self.cache_write_1h > 0 {
            prompt_extra.insert("cache_write_1h_tokens".into(), self.cache_write_1h.into());
        }
        let nz = |v: u64| (v > 0).then_some(v);
        WireUsage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt + self.output,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(self.cache_read),
                cache_write_tokens: Some(self.cache_write_5m + self.cache_write_1h),
                audio_tokens: nz(self.input_audio + self.cache_read_audio),
                image_tokens: nz(self.input_image),
                extra: prompt_extra,
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: Some(self.reasoning),
                audio_tokens: nz(self.output_audio),
                image_tokens: nz(self.output_image),
                extra: JsonMap::new(),
            }),
            extra: JsonMap::new(),
        }
    }

    /// Component-wise sum.
    pub fn add(&mut self, o: &Usage) {
        if self.tier.is_standard() {
            self.tier = o.tier;
        }
        self.input += o.input;
        self.cache_read += o.cache_read;
        self.cache_write_5m += o.cache_write_5m;
        self.cache_write_1h += o.cache_write_1h;
        self.output += o.output;
        self.reasoning += o.reasoning;
        self.input_audio += o.input_audio;
        self.input_image += o.input_image;
        self.cache_read_audio += o.cache_read_audio;
        self.output_audio += o.output_audio;
        self.output_image += o.output_image;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(json: &str) -> WireUsage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn openai_cached_tokens_are_not_double_counted() {
        let w = wire(
            r#"{"prompt_tokens":1000,"completion_tokens":50,"total_tokens":1050,
                "prompt_tokens_details":{"cached_tokens":800},
                "completion_tokens_details":{"reasoning_tokens":20}}"#,
        );
        let u = Usage::from_openai(&w, OpenAiDialect::Standard);
        assert_eq!(u.input, 200);
        assert_eq!(u.cache_read, 800);
        assert_eq!(u.total_input(), 1000);
        assert_eq!(u.output, 50);
        assert_eq!(u.reasoning, 20);
        assert_eq!(u.to_openai().prompt_tokens, 1000);
    }

    #[test]
    fn openai_cache_writes_and_modalities_get_their_own_buckets() {
        let w = wire(
            r#"{"prompt_tokens":3000,"completion_tokens":400,
                "prompt_tokens_details":{"cached_tokens":1000,"cache_write_tokens":1500,"audio_tokens":300},
                "completion_tokens_details":{"reasoning_tokens":100,"audio_tokens":200}}"#,
        );
        let u = Usage::from_openai(&w, OpenAiDialect::Standard);
        assert_eq!((u.input, u.cache_read, u.cache_write_5m), (500, 1000, 1500));
        assert_eq!(
            (u.input_audio, u.output_audio, u.reasoning),
            (300, 200, 100)
        );
        let back = u.to_openai();
        assert_eq!((back.prompt_tokens, back.completion_tokens), (3000, 400));
        let d = back.prompt_tokens_details.unwrap();
        assert_eq!(
            (d.cached_tokens, d.cache_write_tokens),
            (Some(1000), Some(1500))
        );
    }

    #[test]
    fn set_counts_keeps_unmodelled_fields() {
        let mut w = wire(
            r#"{"prompt_tokens":100,"completion_tokens":30,"cost":0.5,
                "completion_tokens_details":{"reasoning_tokens":70,"accepted_prediction_tokens":4}}"#,
        );
        let u = Usage::from_openai(&w, OpenAiDialect::ReasoningOutsideCompletion);
        w.set_counts(&u);
        assert_eq!((w.completion_tokens, w.total_tokens), (100, 200));
        let d = w.completion_tokens_details.as_ref().unwrap();
        assert_eq!(d.reasoning_tokens, Some(70));
        assert_eq!(d.extra["accepted_prediction_tokens"], 4);
        assert_eq!(w.extra["cost"], 0.5);
    }

    #[test]
    fn xai_reasoning_is_billed_on_top_of_completion_tokens() {
        let w = wire(
            r#"{"prompt_tokens":100,"completion_tokens":30,
                "completion_tokens_details":{"reasoning_tokens":70}}"#,
        );
        let std = Usage::from_openai(&w, OpenAiDialect::Standard);
        assert_eq!((std.output, std.reasoning), (30, 30));
        let x = Usage::from_openai(&w, OpenAiDialect::ReasoningOutsideCompletion);
        assert_eq!((x.output, x.reasoning), (100, 70));
    }
}
