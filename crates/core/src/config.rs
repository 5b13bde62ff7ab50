//! The `[[models]]`, `[[routes]]` and `[routing]` config sections, as written in TOML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_pricing::PriceOverride;
use switchyard_providers::Timeouts;

/// `limits = { rpm = 10000, tpm = 2000000 }` on a provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderLimits {
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    #[serde(default)]
    pub tpm: Option<u64>,
}

/// A deployment: one model at one provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name routes and clients use.
    pub name: String,
    /// The `[[providers]]` entry that serves it.
    pub provider: String,
    /// The provider's own model id (default: `name`).
    #[serde(default)]
    pub upstream: Option<String>,
    /// Free label used by rules (`basic`, `premium`, …).
    #[serde(default)]
    pub tier: Option<String>,
    /// Models to fall back to when this one fails and the client named it directly.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Context window in tokens (overrides the catalog).
    #[serde(default)]
    pub context_window: Option<u64>,
    /// Largest output in tokens (overrides the catalog).
    #[serde(default)]
    pub max_output: Option<u64>,
    /// Capability overrides (default: the catalog's facts; unknown counts as supported).
    #[serde(default)]
    pub capabilities: CapabilityOverrides,
    /// Negotiated price (overrides the catalog).
    #[serde(default)]
    pub price: Option<PriceOverride>,
    /// Adjustments applied to every request sent to this model ("a prompt that works with
    /// one provider may need adjusting for another").
    #[serde(default)]
    pub adjust: Option<Adjust>,
}

/// `adjust = { system_prefix = "…", max_temperature = 1.0, max_tokens = 4096, stop = ["…"] }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// Put before the system prompt (a system prompt is added if there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prefix: Option<String>,
    /// Put after the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_suffix: Option<String>,
    /// The temperature when the client sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The highest temperature sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_temperature: Option<f64>,
    /// The most output tokens asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences added to the client's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

/// Capability facts set in config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityOverrides {
    /// Function/tool calling.
    #[serde(default)]
    pub tools: Option<bool>,
    /// Image input.
    #[serde(default)]
    pub vision: Option<bool>,
    /// JSON mode / JSON schema output.
    #[serde(default)]
    pub json: Option<bool>,
    /// Continues a trailing assistant message (prefill); lets a cut stream be completed here.
    #[serde(default)]
    pub prefill: Option<bool>,
    /// Takes a reasoning effort (`reasoning_effort`, `thinkingConfig`, extended thinking).
    #[serde(default)]
    pub reasoning: Option<bool>,
}

/// How a route orders its candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// In the order written.
    #[default]
    Priority,
    /// Random order, weighted by `weights`.
    Weighted,
    /// Lowest estimated cost first.
    Cheapest,
    /// Lowest observed time to first token (EWMA) first.
    LeastLatency,
    /// Fewest in-flight requests, chosen by power of two choices.
    LeastOutstanding,
    /// Requests sharing a session id or a long prompt prefix stay on one deployment.
    CacheAffinity,
    /// The cheapest candidate whose learned quality (lower bound) meets the route's target,
    /// with bounded exploration.
    QualityFloor,
    /// Cheapest first; the route's evaluators judge each answer and a failed one is
    /// escalated to the next candidate.
    Cascade,
    /// A learned router (`router = "model.json"`) reads the prompt: the most expensive
    /// candidate first when it predicts the premium model is needed, else the cheapest.
    Learned,
}

impl Strategy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Priority => "priority",
            Strategy::Weighted => "weighted",
            Strategy::Cheapest => "cheapest",
            Strategy::LeastLatency => "least-latency",
            Strategy::LeastOutstanding => "least-outstanding",
            Strategy::CacheAffinity => "cache-affinity",
            Strategy::QualityFloor => "quality-floor",
            Strategy::Cascade => "cascade",
            Strategy::Learned => "learned",
        }
    }
}

/// One string or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Any of several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// Whether `v` is the value or one of the values.
    pub fn contains(&self, v: &str) -> bool {
        match self {
            OneOrMany::One(s) => s == v,
            OneOrMany::Many(list) => list.iter().any(|s| s == v),
        }
    }
}

/// The conditions of a rule; all that are given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleWhen {
    /// Task label(s).
    #[serde(default)]
    pub task: Option<OneOrMany>,
    /// At least this many estimated input tokens.
    #[serde(default)]
    pub min_input_tokens: Option<u64>,
    /// At most this many estimated input tokens.
    #[serde(default)]
    pub max_input_tokens: Option<u64>,
    /// Tools offered (or not).
    #[serde(default)]
    pub tools: Option<bool>,
    /// Images attached (or not).
    #[serde(default)]
    pub images: Option<bool>,
    /// JSON output requested (or not).
    #[serde(default)]
    pub json: Option<bool>,
    /// Tenant(s).
    #[serde(default)]
    pub tenant: Option<OneOrMany>,
    /// The request carries at least one of these tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Latency lane(s): `realtime`, `flex`, `batch`.
    #[serde(default)]
    pub lane: Option<OneOrMany>,
    /// `metadata` keys that must have these string values.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// A regex the last user message must match (compiled once at load).
    #[serde(default)]
    pub prompt_regex: Option<String>,
}

/// A routing rule: first match wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Reported in `x-switchyard-rule` and the ledger.
    pub name: String,
    /// Conditions.
    #[serde(default)]
    pub when: RuleWhen,
    /// Narrow the candidates to these models (in this order).
    #[serde(default, rename = "use")]
    pub use_models: Option<Vec<String>>,
    /// Or hand the request to another route.
    #[serde(default)]
    pub route: Option<String>,
}

/// A named routing policy; clients use its name as the `model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Route name (`auto`, `support-bot`, …).
    pub name: String,
    /// Ordering strategy.
    #[serde(default)]
    pub strategy: Strategy,
    /// Model names, in preference order.
    pub candidates: Vec<String>,
    /// Rules, first match wins.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Weights for the `weighted` strategy (default 1).
    #[serde(default)]
    pub weights: BTreeMap<String, u32>,
    /// Compliance tags every candidate's provider must carry (hard constraint).
    #[serde(default)]
    pub require_tags: Vec<String>,
    /// Timeouts for requests on this route (default: each provider's).
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
    /// Most upstream attempts per request, retries and fallbacks included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Hedging: also send the request to the next candidate when the first has not
    /// answered (first token, or the whole answer) after a delay.
    #[serde(default)]
    pub hedge: Option<HedgeConfig>,
    /// Automatic evaluators run on every answer of this route (signals in the ledger; a
    /// `cascade` escalates when one fails).
    #[serde(default)]
    pub evaluators: Vec<EvaluatorConfig>,
    /// The `quality-floor` target.
    #[serde(default)]
    pub quality: Option<QualityTarget>,
    /// Answer a refusal from the next candidate (one provider may refuse what another
    /// answers); the refused attempt is still billed.
    #[serde(default)]
    pub escalate_on_refusal: bool,
    /// A streamed `cascade` holds back this much of an answer that may still be rejected
    /// (the client sees nothing of a rejected answer); a longer answer is released unjudged.
    #[serde(default = "default_hold_back")]
    pub hold_back_bytes: usize,
    /// The `learned` strategy's model file (from `switchyard train-router`); a relative path
    /// is relative to the working directory. Re-read on every reload.
    #[serde(default)]
    pub router: Option<std::path::PathBuf>,
    /// Keep each request's prompt and answer text in the ledger's `captures` table, shown on
    /// the dashboard's request page, for `retention` (off unless set: prompt text is never
    /// stored otherwise).
    #[serde(default)]
    pub capture: Option<CaptureConfig>,
    /// The provider service tier requests on this route ask for: `flex` (cheaper, slower,
    /// best-effort) or `priority` (dearer, faster), where a candidate's provider sells it;
    /// standard elsewhere. A client asks for flex itself with the `flex` lane.
    #[serde(default)]
    pub service_tier: Option<TierConfig>,
    /// For Anthropic upstreams, mark a long system prompt (with the tools before it) as a
    /// prompt-cache breakpoint once it repeats within the cache's lifetime (5 minutes).
    #[serde(default)]
    pub cache_breakpoints: bool,
    /// Answer a request that repeats an earlier one exactly from the response cache, for
    /// `ttl` ([`crate::cache`]).
    #[serde(default)]
    pub cache: Option<CacheConfig>,
}

/// `cache = { ttl = "10m", sampled = false }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// How long an answer is served from the cache.
    #[serde(with = "humantime_serde")]
    pub ttl: std::time::Duration,
    /// Also cache requests sampled with a temperature above 0 (or none given): every repeat
    /// then gets the same answer. Off: only `temperature = 0` requests are cached.
    #[serde(default)]
    pub sampled: bool,
}

/// A route's `service_tier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TierConfig {
    /// The provider's standard tier.
    Standard,
    /// Flex (OpenAI, Gemini).
    Flex,
    /// Priority (OpenAI, Gemini).
    Priority,
}

impl From<TierConfig> for switchyard_types::ServiceTier {
    fn from(t: TierConfig) -> Self {
        match t {
            TierConfig::Standard => switchyard_types::ServiceTier::Standard,
            TierConfig::Flex => switchyard_types::ServiceTier::Flex,
            TierConfig::Priority => switchyard_types::ServiceTier::Priority,
        }
    }
}

fn default_hold_back() -> usize {
    256 * 1024
}

/// `capture = { retention = "7d", max_bytes = 32768 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// How long a capture is kept (never shown after, deleted by the ledger writer).
    #[serde(with = "humantime_serde")]
    pub retention: std::time::Duration,
    /// Most bytes kept of the prompt, and of the answer (each cut on a character boundary).
    #[serde(default = "default_capture_bytes")]
    pub max_bytes: usize,
}

fn default_capture_bytes() -> usize {
    32 * 1024
}

/// An automatic evaluator: `{ kind = "json" }`, `{ kind = "regex", pattern = "…" }`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EvaluatorConfig {
    /// When the request asked for JSON: the answer parses, and conforms to the schema if one
    /// was given.
    Json,
    /// The answer is not a refusal (content filter, a `refusal` field, or a refusal text).
    Refusal,
    /// The answer text matches (or, with `must_match = false`, does not match) a regex.
    Regex {
        /// The pattern (compiled once at load).
        pattern: String,
        /// Pass when it matches (default) or when it does not.
        #[serde(default = "yes")]
        must_match: bool,
    },
    /// The answer's length in characters is within bounds.
    Length {
        /// Fewest characters.
        #[serde(default)]
        min_chars: Option<usize>,
        /// Most characters.
        #[serde(default)]
        max_chars: Option<usize>,
    },
    /// The model's confidence, the geometric mean of its token probabilities, is at least
    /// `min` (needs `logprobs` from the provider; skipped when there are none).
    Logprob {
        /// Least confidence in `(0, 1]`.
        min: f64,
    },
    /// Every tool call's arguments are JSON conforming to the tool's parameter schema.
    ToolArgs,
    /// An LLM judge: a sampled fraction of answers is graded 0–10 by `model`, called through
    /// the gateway itself (its own ledger row, tagged `judge`). Runs after the answer is
    /// served, so it never delays a client or gates a cascade; its grade is a quality signal.
    Judge {
        /// The judging model or route.
        model: String,
        /// Share of answers judged, in `[0, 1]`.
        #[serde(default = "default_judge_sample")]
        sample: f64,
        /// Least passing grade, as a share of 10.
        #[serde(default = "default_judge_min")]
        min: f64,
        /// What a good answer is, added to the judge's instructions.
        #[serde(default)]
        criteria: Option<String>,
    },
}

fn default_judge_sample() -> f64 {
    0.1
}

fn default_judge_min() -> f64 {
    0.7
}

fn yes() -> bool {
    true
}

/// `quality = { target = 0.8 }` or `quality = { relative = 0.95, explore = 0.05 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityTarget {
    /// Least acceptable quality (probability an answer is acceptable), in `[0, 1]`.
    #[serde(default)]
    pub target: Option<f64>,
    /// Or: at least this share of the best candidate's expected quality.
    #[serde(default)]
    pub relative: Option<f64>,
    /// Share of requests that explore: they go to the cheapest candidate that may meet the
    /// target (upper bound), so a new, repriced or recovered model gets tried.
    #[serde(default = "default_explore")]
    pub explore: f64,
}

fn default_explore() -> f64 {
    0.05
}

/// `[routing.quality]`: the prior belief about a model's quality before any signal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityPriors {
    /// The default prior for every (task, model).
    #[serde(default)]
    pub prior: Prior,
    /// Priors for particular models (and tasks).
    #[serde(default)]
    pub priors: Vec<ModelPrior>,
}

/// A Beta prior as a mean and a weight in pseudo-observations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    /// Expected quality.
    pub mean: f64,
    /// How many observations it is worth.
    pub weight: f64,
}

impl Default for Prior {
    /// Uniform: Beta(1, 1).
    fn default() -> Self {
        Prior {
            mean: 0.5,
            weight: 2.0,
        }
    }
}

/// A prior for one model, on one task or all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrior {
    /// The model.
    pub model: String,
    /// The task label (default: every task).
    #[serde(default)]
    pub task: Option<String>,
    /// Expected quality.
    pub mean: f64,
    /// Pseudo-observations.
    pub weight: f64,
}

/// `hedge = { after = "p95" }` or `hedge = { after = "800ms" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    /// `p95` (the first candidate's observed 95th percentile time to first token, with
    /// `fallback` until enough is observed) or a fixed duration.
    pub after: HedgeAfter,
    /// The delay while `p95` has too few observations.
    #[serde(default = "default_hedge_fallback", with = "humantime_serde")]
    pub fallback: std::time::Duration,
}

fn default_hedge_fallback() -> std::time::Duration {
    std::time::Duration::from_secs(2)
}

/// When to hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HedgeAfter {
    /// The observed p95 time to first token.
    P95,
    /// A fixed delay.
    Fixed(std::time::Duration),
}

impl Serialize for HedgeAfter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HedgeAfter::P95 => s.serialize_str("p95"),
            HedgeAfter::Fixed(d) => {
                s.serialize_str(&humantime_serde::re::humantime::format_duration(*d).to_string())
            }
        }
    }
}

impl<'de> Deserialize<'de> for HedgeAfter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "p95" {
            return Ok(HedgeAfter::P95);
        }
        humantime_serde::re::humantime::parse_duration(&s)
            .map(HedgeAfter::Fixed)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "expected \"p95\" or a duration like \"800ms\": {e}"
                ))
            })
    }
}

fn default_max_attempts() -> u32 {
    4
}

/// What to do with a candidate whose price is unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnpriced {
    /// Keep it (ranked last by `cheapest`); its cost is reported as unpriced.
    #[default]
    Allow,
    /// Leave it out of every plan.
    Exclude,
}

/// The `[routing]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// The route used for `model = "auto"`.
    #[serde(default)]
    pub default: Option<String>,
    /// The counterfactual model for savings.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Unpriced candidates: `allow` or `exclude`.
    #[serde(default)]
    pub on_unpriced: OnUnpriced,
    /// Expected output tokens when neither the client nor history says (for cost estimates).
    #[serde(default = "default_expected_output")]
    pub expected_output_tokens: u64,
    /// Quality priors.
    #[serde(default)]
    pub quality: QualityPriors,
    /// How long a session (`x-switchyard-session`) stays on the deployment that answered it
    /// last; `0s` turns conversation affinity off.
    #[serde(default = "default_session_ttl", with = "humantime_serde")]
    pub session_ttl: std::time::Duration,
    /// Model names clients send that are neither a route nor a model, mapped to one:
    /// `{ match = "claude-*-haiku-*", to = "cheap" }`, first match wins (`*` matches any run
    /// of characters; `"*"` alone is a catch-all).
    #[serde(default)]
    pub aliases: Vec<AliasConfig>,
}

/// A client model name (or pattern) and the route or model it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasConfig {
    /// The name, or a pattern with `*`.
    #[serde(rename = "match")]
    pub pattern: String,
    /// A route or model name.
    pub to: String,
}

fn default_session_ttl() -> std::time::Duration {
    std::time::Duration::from_secs(30 * 60)
}

fn default_expected_output() -> u64 {
    256
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            default: None,
            baseline: None,
            on_unpriced: OnUnpriced::default(),
            expected_output_tokens: default_expected_output(),
            quality: QualityPriors::default(),
            aliases: Vec::new(),
            session_ttl: default_session_ttl(),
        }
    }
}
