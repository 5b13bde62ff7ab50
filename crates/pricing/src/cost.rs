//! Usage × price → exact cost.
//!
//! Semantics of [`cost`]:
//! * uncached input at the input rate; cache reads at `cache_read` (falls back to the input
//!   rate); 5-minute cache writes at `cache_write_5m` (falls back to input); 1-hour writes at
//!   `cache_write_1h` (falls back to the 5-minute rate, then input). Every fallback is recorded
//!   in [`CostBreakdown::fallbacks`].
//! * output at the output rate; the reasoning subset at `reasoning` when set, else output.
//! * **modalities**: the audio and image subsets of input, cache reads and output at their own
//!   rates (`input_audio`, `cache_read_audio`, `input_image`, `output_audio`, `output_image`)
//!   where the price has them, else at the rate of their bucket (as the catalogs define it);
//!   cached audio without a cache-read rate is priced as uncached audio.
//! * **time of day**: a price with `windows` uses the rates of the last window containing the
//!   request time ([`CostContext::at_unix`], UTC); without a time, the base rates.
//! * **commitment**: while the month's tokens before this request are below a commitment's
//!   included tokens, every rate is 0 (the fee is paid whatever is used; the request that
//!   crosses is priced at the rate in force when it starts); after that, the rates below.
//! * **volume tier**: when the month's tokens before this request reach a tier's threshold,
//!   that tier's rates replace the base rates for the whole request (the crossing request is
//!   priced at the rate in force when it starts). Long-context and batch rates do not stack on
//!   a volume tier: negotiated rates are what the contract says.
//! * **long context**: when total input tokens exceed a tier's threshold, the highest such
//!   tier's rates apply to the whole request, as the providers bill it; a rate the tier does
//!   not state is the base rate of that kind (it is not tiered). Batch rates are not applied on top
//!   (the catalogs do not state batch long-context rates consistently); this is recorded.
//! * **service tier**: a request the provider says it served at `flex` or `priority`
//!   ([`Usage::tier`]) is priced at that tier's rates, which replace the standard input, output,
//!   cache-read and audio-input rates they state; a rate the tier does not state stays standard
//!   (recorded when used). A tier price without the tier's rates is billed at the standard
//!   rates (recorded) — never a guessed discount. Long-context tiers do not stack on a service
//!   tier (the catalogs do not state them); a volume tier wins over a service tier.
//! * **batch**: batch rates where the catalog has them, else the standard rate (recorded) —
//!   never a guessed discount. Cache rates stay standard.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use switchyard_types::{ServiceTier, Usage};

use crate::price::Price;

/// A cost in USD, or the explicit absence of a price. `Unpriced` is contagious: adding
/// anything to it stays `Unpriced`, so an unknown price can never pass for $0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// A known amount in USD.
    Priced(Decimal),
    /// No price was known for at least one part.
    Unpriced,
}

/// Per-request facts that change which rates apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CostContext {
    /// Sent through the provider's batch API.
    pub batch: bool,
    /// Tokens this deployment already used this month, before this request (volume tiers).
    pub monthly_tokens_before: u64,
    /// When the request was made (unix seconds), for time-of-day price windows.
    pub at_unix: Option<u64>,
}

/// A cost split by usage bucket, in USD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostBreakdown {
    /// Sum of the buckets.
    pub total: Decimal,
    /// Uncached input.
    pub input: Decimal,
    /// Cache reads.
    pub cache_read: Decimal,
    /// Cache writes (5-minute and 1-hour).
    pub cache_write: Decimal,
    /// Output other than reasoning.
    pub output: Decimal,
    /// Reasoning tokens.
    pub reasoning: Decimal,
    /// "commitment", "long_context", "volume", "flex" or "priority" when a tier's rates were
    /// used.
    pub tier_applied: Option<&'static str>,
    /// Batch rates were used for input and/or output.
    pub batch_applied: bool,
    /// Rates that were missing and what was used instead.
    pub fallbacks: Vec<&'static str>,
    /// Provenance of the price.
    pub price_source: String,
}

/// The rates in force for one request.
struct Rates {
    input: Decimal,
    output: Decimal,
    cache_read: Option<Decimal>,
    cache_write_5m: Option<Decimal>,
    cache_write_1h: Option<Decimal>,
    reasoning: Option<Decimal>,
    input_audio: Option<Decimal>,
    cache_read_audio: Option<Decimal>,
    input_image: Option<Decimal>,
    output_audio: Option<Decimal>,
    output_image: Option<Decimal>,
}

const MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Price a request's usage. See the module docs for the rules.
pub fn cost(price: &Price, usage: &Usage, ctx: &CostContext) -> CostBreakdown {
    let price = match ctx.at_unix {
        Some(t) => price.at((t % 86_400) as u32),
        None => price,
    };
    let mut b = CostBreakdown {
        total: Decimal::ZERO,
        input: Decimal::ZERO,
        cache_read: Decimal::ZERO,
        cache_write: Decimal::ZERO,
        output: Decimal::ZERO,
        reasoning: Decimal::ZERO,
        tier_applied: None,
        batch_applied: false,
        fallbacks: Vec::new(),
        price_source: price.source.clone(),
    };
    let r = rates(price, usage, ctx, &mut b);
    let cache_read = r.cache_read.unwrap_or_else(|| {
        note(
            &mut b,
            usage.cache_read,
            "cache_read priced at the input rate",
        );
        r.input
    });
    let cw5 = r.cache_write_5m.unwrap_or_else(|| {
        note(
            &mut b,
            usage.cache_write_5m,
            "cache_write_5m priced at the input rate",
        );
        r.input
    });
    let cw1h = r.cache_write_1h.unwrap_or_else(|| {
        let why = if r.cache_write_5m.is_some() {
            "cache_write_1h priced at the 5-minute write rate"
        } else {
            "cache_write_1h priced at the input rate"
        };
        note(&mut b, usage.cache_write_1h, why);
        cw5
    });
    // Each modality subset is carved out of its bucket, never more than the bucket holds.
    let in_audio = usage.input_audio.min(usage.input);
    let in_image = usage.input_image.min(usage.input - in_audio);
    let cr_audio = usage.cache_read_audio.min(usage.cache_read);
    let out_audio = usage.output_audio.min(usage.output);
    let out_image = usage.output_image.min(usage.output - out_audio);
    let reasoning = usage.reasoning.min(usage.output - out_audio - out_image);
    b.input = [
        amount(usage.input - in_audio - in_image, r.input),
        amount(in_audio, r.input_audio.unwrap_or(r.input)),
        amount(in_image, r.input_image.unwrap_or(r.input)),
    ]
    .into_iter()
    .fold(Decimal::ZERO, add);
    // Cached audio: its own rate, else the cache-read rate, else (no cache discount known)
    // the uncached audio rate.
    let cr_audio_rate = r
        .cache_read_audio
        .or(r.cache_read)
        .or(r.input_audio)
        .unwrap_or(r.input);
    b.cache_read = add(
        amount(usage.cache_read - cr_audio, cache_read),
        amount(cr_audio, cr_audio_rate),
    );
    b.cache_write = add(
        amount(usage.cache_write_5m, cw5),
        amount(usage.cache_write_1h, cw1h),
    );
    b.output = [
        amount(usage.output - reasoning - out_audio - out_image, r.output),
        amount(out_audio, r.output_audio.unwrap_or(r.output)),
        amount(out_image, r.output_image.unwrap_or(r.output)),
    ]
    .into_iter()
    .fold(Decimal::ZERO, add);
    b.reasoning = amount(reasoning, r.reasoning.unwrap_or(r.output));
    b.total = [b.input, b.cache_read, b.cache_write, b.output, b.reasoning]
        .into_iter()
        .fold(Decimal::ZERO, add)
        .normalize();
    b
}

/// What the baseline model would have cost for the same usage (same buckets).
pub fn baseline_cost(baseline: Option<&Price>, usage: &Usage, ctx: &CostContext) -> Cost {
    Cost::of(baseline, usage, ctx)
}

/// Pre-flight estimate for routing: `cached_prefix_tokens` of the input are expected to be
/// cache reads, the rest uncached input; `expected_output` output tokens; served at `tier`.
pub fn estimate(
    price: &Price,
    input_tokens: u64,
    expected_output: u64,
    cached_prefix_tokens: u64,
    tier: ServiceTier,
) -> Decimal {
    let cached = cached_prefix_tokens.min(input_tokens);
    let usage = Usage {
        tier,
        input: input_tokens - cached,
        cache_read: cached,
        output: expected_output,
        ..Usage::default()
    };
    cost(price, &usage, &CostContext::default()).total
}

fn rates(price: &Price, usage: &Usage, ctx: &CostContext, b: &mut CostBreakdown) -> Rates {
    let mut r = Rates {
        input: price.input,
        output: price.output,
        cache_read: price.cache_read,
        cache_write_5m: price.cache_write_5m,
        cache_write_1h: price.cache_write_1h,
        reasoning: price.reasoning,
        input_audio: price.input_audio,
        cache_read_audio: price.cache_read_audio,
        input_image: price.input_image,
        output_audio: price.output_audio,
        output_image: price.output_image,
    };
    if let Some(c) = &price.commitment {
        if ctx.monthly_tokens_before < c.included_tokens {
            b.tier_applied = Some("commitment");
            return Rates {
                input: Decimal::ZERO,
                output: Decimal::ZERO,
                cache_read: Some(Decimal::ZERO),
                cache_write_5m: Some(Decimal::ZERO),
                cache_write_1h: Some(Decimal::ZERO),
                reasoning: None,
                input_audio: None,
                cache_read_audio: None,
                input_image: None,
                output_audio: None,
                output_image: None,
            };
        }
    }
    let volume = price
        .volume_tiers
        .iter()
        .filter(|v| ctx.monthly_tokens_before >= v.above_tokens_per_month)
        .max_by_key(|v| v.above_tokens_per_month);
    if let Some(v) = volume {
        b.tier_applied = Some("volume");
        r.input = v.input;
        r.output = v.output;
        r.cache_read = v.cache_read;
        r.reasoning = None;
        return r;
    }
    if !usage.tier.is_standard() {
        match price.tier(usage.tier) {
            Some(t) => {
                b.tier_applied = Some(usage.tier.as_str());
                r.input = t.input;
                r.output = t.output;
                if t.cache_read.is_some() {
                    r.cache_read = t.cache_read;
                } else if usage.cache_read > 0 {
                    b.fallbacks
                        .push("service tier states no cache_read rate: standard used");
                }
                if t.input_audio.is_some() {
                    r.input_audio = t.input_audio;
                } else if usage.input_audio > 0 {
                    b.fallbacks
                        .push("service tier states no audio rate: standard used");
                }
                r.reasoning = None;
                return r;
            }
            None => b
                .fallbacks
                .push("no rates for the served service tier: standard rates used"),
        }
    }
    let total_input = usage.total_input();
    if let Some(t) = price
        .long_context
        .iter()
        .rev()
        .find(|t| total_input > t.above_input_tokens)
    {
        b.tier_applied = Some("long_context");
        if ctx.batch {
            b.fallbacks
                .push("batch rates not applied in the long-context tier");
        }
        r.input = t.input;
        r.output = t.output;
        r.cache_read = t.cache_read.or(r.cache_read);
        r.cache_write_5m = t.cache_write_5m.or(r.cache_write_5m);
        r.cache_write_1h = t.cache_write_1h.or(r.cache_write_1h);
        r.reasoning = None;
        return r;
    }
    if ctx.batch {
        match (price.batch_input, price.batch_output) {
            (None, None) => b.fallbacks.push("no batch rates: standard rates used"),
            (i, o) => {
                b.batch_applied = true;
                r.input = i.unwrap_or(r.input);
                r.output = o.unwrap_or(r.output);
            }
        }
    }
    r
}

fn note(b: &mut CostBreakdown, tokens: u64, why: &'static str) {
    if tokens > 0 {
        b.fallbacks.push(why);
    }
}

/// `tokens × rate / 1e6`, saturating at `Decimal::MAX` (unreachable with real volumes).
fn amount(tokens: u64, rate_per_million: Decimal) -> Decimal {
    Decimal::from(tokens)
        .checked_mul(rate_per_million)
        .and_then(|x| x.checked_div(MILLION))
        .unwrap_or(Decimal::MAX)
}

fn add(a: Decimal, b: Decimal) -> Decimal {
    a.checked_add(b).unwrap_or(Decimal::MAX)
}

// === impl Cost ===

impl Cost {
    /// Zero dollars (a known price that came to nothing).
    pub const ZERO: Cost = Cost::Priced(Decimal::ZERO);

    /// Price usage with an optional price: `None` → `Unpriced`.
    pub fn of(price: Option<&Price>, usage: &Usage, ctx: &CostContext) -> Cost {
        price.map_or(Cost::Unpriced, |p| Cost::Priced(cost(p, usage, ctx).total))
    }

    /// The amount, if priced.
    pub fn amount(&self) -> Option<Decimal> {
        match self {
            Cost::Priced(d) => Some(*d),
            Cost::Unpriced => None,
        }
    }

    /// Whether a price was known.
    pub fn is_priced(&self) -> bool {
        matches!(self, Cost::Priced(_))
    }
}

impl Add for Cost {
    type Output = Cost;

    fn add(self, o: Cost) -> Cost {
        match (self, o) {
            (Cost::Priced(a), Cost::Priced(b)) => Cost::Priced(add(a, b)),
            _ => Cost::Unpriced,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

impl Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::ZERO, Add::add)
    }
}

/// `0.000123` (plain decimal, trailing zeros trimmed) or `unpriced`.
impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cost::Priced(d) => write!(f, "{}", d.normalize()),
            Cost::Unpriced => f.write_str("unpriced"),
        }
    }
}

/// A decimal string, or `null` when unpriced.
impl Serialize for Cost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cost::Priced(d) => s.serialize_str(&d.normalize().to_string()),
            Cost::Unpriced => s.serialize_none(),
        }
    }
}
