//! pydantic genai-prices' catalog: USD per million tokens as decimal strings, with dated
//! price history, prompt-size tiers and batch variants.
//!
//! * History: `prices` may be a list of `{constraint: {start_date}, prices}`; the latest one
//!   that has started by `as_of` wins (its date becomes `effective_from`). Later dates are
//!   reported as [`ProblemKind::Scheduled`]. Entries constrained to a time of day
//!   (`{start_time, end_time}`, UTC) become [`PriceWindow`]s, in their order (the last
//!   matching one wins, as in genai-prices).
//! * Tiers: any rate may be `{"base": "1.25", "tiers": [{"start": 200000, "price": "2.5"}]}`.
//!   Every distinct `start` becomes a [`LongContextTier`] above it (the whole request, as the
//!   providers bill it), holding each tiered rate's price at that threshold; rates that are
//!   not tiered are left out of the tier, so their base rate applies.
//! * Modalities: `input_audio_mtok`, `cache_audio_read_mtok`, `input_image_mtok`,
//!   `output_audio_mtok`, `output_image_mtok`.
//! * Variants: `{"when": {"processing": "batch"}}` → batch rates. Service tiers are ignored.

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::genai_provider_key;
use super::matcher::Matcher;
use super::report::{ImportReport, ProblemKind};
use crate::exact::parse_decimal;
use crate::price::{Capabilities, CatalogEntry, LongContextTier, Mode, Price, PriceWindow};

const SRC: &str = "genai-prices";

/// A genai-prices model with its match rule, for pairing with LiteLLM ids.
#[derive(Debug, Clone)]
pub(crate) struct GenaiModel {
    pub(crate) entry: CatalogEntry,
    pub(crate) matcher: Matcher,
}

/// Import genai-prices models for the providers switchyard supports.
///
/// Aliases are the ids the model's rule names exactly. Models with no token price are
/// reported as [`ProblemKind::NoPrice`] and left out.
pub fn import_genai_prices(json: &Value, as_of: NaiveDate) -> (Vec<CatalogEntry>, ImportReport) {
    let (models, report) = import_models(json, as_of);
    (models.into_iter().map(|m| m.entry).collect(), report)
}

/// The source's version as stated in its `_note` (`genai-prices==0.2.3`), if any.
pub(crate) fn version(json: &Value) -> Option<String> {
    let note = json.get("_note")?.as_str()?;
    let start = note.find("genai-prices==")?;
    let rest = &note[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches('.').to_owned())
}

pub(crate) fn import_models(json: &Value, as_of: NaiveDate) -> (Vec<GenaiModel>, ImportReport) {
    let mut r = ImportReport::default();
    let mut out = Vec::new();
    let providers = json.get("providers").and_then(Value::as_array);
    let Some(providers) = providers else {
        r.push(SRC, "", "", ProblemKind::Unparsable, "no `providers` list");
        return (out, r);
    };
    for p in providers {
        let pid = p.get("id").and_then(Value::as_str).unwrap_or("");
        let models = p.get("models").and_then(Value::as_array);
        let Some(provider) = genai_provider_key(pid) else {
            r.skipped_provider += models.map_or(0, Vec::len);
            continue;
        };
        for m in models.into_iter().flatten() {
            if let Some(gm) = model(provider, m, as_of, &mut r) {
                out.push(gm);
            }
        }
    }
    r.imported = out.len();
    (out, r)
}

fn model(provider: &str, m: &Value, as_of: NaiveDate, r: &mut ImportReport) -> Option<GenaiModel> {
    let id = m.get("id").and_then(Value::as_str)?;
    let matcher = match m.get("match").map(Matcher::parse) {
        Some(Ok(mt)) => mt,
        Some(Err(e)) => {
            r.push(
                SRC,
                provider,
                id,
                ProblemKind::Unparsable,
                format!("match: {e}"),
            );
            Matcher::Never
        }
        None => Matcher::Equals(id.to_owned()),
    };
    let mode = if id.contains("embed") {
        Mode::Embedding
    } else {
        Mode::Chat
    };
    let current = current_prices(m.get("prices")?, provider, id, as_of, r)?;
    let mut price = price(current.base, mode, provider, id, r)?;
    price.effective_from = current.effective_from;
    for (start_utc, end_utc, prices) in current.windows {
        if let Some(p) = self::price(prices, mode, provider, id, r) {
            price.windows.push(PriceWindow {
                start_utc,
                end_utc,
                price: Box::new(p),
            });
        }
    }
    batch(m, as_of, &mut price);
    let aliases = matcher
        .exact_ids()
        .into_iter()
        .filter(|a| a != id)
        .collect();
    let caps = Capabilities {
        max_input_tokens: m.get("context_window").and_then(Value::as_u64),
        ..Capabilities::default()
    };
    let deprecated = m
        .get("deprecated")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let entry = CatalogEntry {
        provider: provider.to_owned(),
        model: id.to_owned(),
        aliases,
        prefixes: matcher.prefixes(),
        mode,
        price,
        caps,
        deprecation_date: None,
        deprecated,
    };
    Some(GenaiModel { entry, matcher })
}

/// The price sets of one model: the one in force on `as_of`, and its time-of-day windows.
struct Current<'a> {
    base: &'a Map<String, Value>,
    effective_from: Option<NaiveDate>,
    windows: Vec<(NaiveTime, NaiveTime, &'a Map<String, Value>)>,
}

/// Pick the price set in force on `as_of` from a plain object or a dated list, and collect
/// the time-of-day windows.
fn current_prices<'a>(
    v: &'a Value,
    provider: &str,
    id: &str,
    as_of: NaiveDate,
    r: &mut ImportReport,
) -> Option<Current<'a>> {
    if let Some(o) = v.as_object() {
        return Some(Current {
            base: o,
            effective_from: None,
            windows: Vec::new(),
        });
    }
    let mut best: Option<(&Map<String, Value>, Option<NaiveDate>)> = None;
    let mut windows = Vec::new();
    for item in v.as_array()? {
        let Some(prices) = item.get("prices").and_then(Value::as_object) else {
            continue;
        };
        let c = item.get("constraint").and_then(Value::as_object);
        let time = |k: &str| {
            let s = c?.get(k)?.as_str()?;
            let s = s.split(['+', 'Z']).next().unwrap_or(s);
            NaiveTime::parse_from_str(s, "%H:%M:%S").ok()
        };
        if c.is_some_and(|c| c.contains_key("start_time") || c.contains_key("end_time")) {
            match (time("start_time"), time("end_time")) {
                (Some(a), Some(b)) => windows.push((a, b, prices)),
                _ => r.push(
                    SRC,
                    provider,
                    id,
                    ProblemKind::Unparsable,
                    "time-of-day window without a readable start and end (UTC)",
                ),
            }
            continue;
        }
        let start = c.and_then(|c| c.get("start_date")).and_then(Value::as_str);
        let start = start.and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
        if let Some(d) = start.filter(|d| *d > as_of) {
            r.push(
                SRC,
                provider,
                id,
                ProblemKind::Scheduled,
                format!("price change on {d}"),
            );
            continue;
        }
        if best.is_none_or(|(_, b)| start >= b) {
            best = Some((prices, start));
        }
    }
    let (base, effective_from) = best?;
    Some(Current {
        base,
        effective_from,
        windows,
    })
}

/// A base rate and its prompt-size tiers `(start, rate)`, ascending.
#[derive(Debug, Clone)]
struct TieredRate {
    base: Decimal,
    tiers: Vec<(u64, Decimal)>,
}

impl TieredRate {
    /// The rate for a request whose input exceeds `threshold` (the highest tier at or below it).
    fn above(&self, threshold: u64) -> Decimal {
        self.tiers
            .iter()
            .rev()
            .find(|(s, _)| *s <= threshold)
            .map_or(self.base, |(_, d)| *d)
    }
}

/// A rate that is either a decimal string or `{base, tiers: [{start, price}]}`.
fn rate(v: Option<&Value>) -> Result<Option<TieredRate>, String> {
    let Some(v) = v else { return Ok(None) };
    if let Some(s) = v.as_str() {
        return parse_decimal(s)
            .map(|base| {
                Some(TieredRate {
                    base,
                    tiers: Vec::new(),
                })
            })
            .ok_or(format!("{s:?} is not a decimal"));
    }
    let base = v
        .get("base")
        .and_then(Value::as_str)
        .and_then(parse_decimal);
    let base = base.ok_or(format!("{v} has no decimal `base`"))?;
    let mut tiers = Vec::new();
    for t in v
        .get("tiers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let start = t.get("start").and_then(Value::as_u64);
        let price = t
            .get("price")
            .and_then(Value::as_str)
            .and_then(parse_decimal);
        match (start, price) {
            (Some(s), Some(p)) => tiers.push((s, p)),
            _ => return Err(format!("{t} is not a tier")),
        }
    }
    tiers.sort_by_key(|(s, _)| *s);
    Ok(Some(TieredRate { base, tiers }))
}

fn price(
    p: &Map<String, Value>,
    mode: Mode,
    provider: &str,
    id: &str,
    r: &mut ImportReport,
) -> Option<Price> {
    let mut get = |f: &str| match rate(p.get(f)) {
        Ok(v) => v,
        Err(e) => {
            r.push(
                SRC,
                provider,
                id,
                ProblemKind::Unparsable,
                format!("{f}: {e}"),
            );
            None
        }
    };
    let input = get("input_mtok");
    let output = get("output_mtok");
    let (cache_read, cw5, cw1h) = (
        get("cache_read_mtok"),
        get("cache_write_mtok"),
        get("cache_write_1h_mtok"),
    );
    let reasoning = get("output_reasoning_mtok");
    let modal = [
        get("input_audio_mtok"),
        get("cache_audio_read_mtok"),
        get("input_image_mtok"),
        get("output_audio_mtok"),
        get("output_image_mtok"),
    ];
    let Some(input) = input else {
        r.push(SRC, provider, id, ProblemKind::NoPrice, "no input_mtok");
        return None;
    };
    let output = match (output, mode) {
        (Some(o), _) => o,
        (None, Mode::Embedding) => TieredRate {
            base: Decimal::ZERO,
            tiers: Vec::new(),
        },
        (None, Mode::Chat) => {
            r.push(SRC, provider, id, ProblemKind::NoPrice, "no output_mtok");
            return None;
        }
    };
    let base = |x: &Option<TieredRate>| x.as_ref().map(|t| t.base);
    let mut price = Price::new(input.base, output.base, SRC);
    price.cache_read = base(&cache_read);
    price.cache_write_5m = base(&cw5);
    price.cache_write_1h = base(&cw1h);
    price.reasoning = base(&reasoning);
    [
        price.input_audio,
        price.cache_read_audio,
        price.input_image,
        price.output_audio,
        price.output_image,
    ] = modal.map(|m| m.map(|t| t.base));
    let all = [
        Some(&input),
        Some(&output),
        cache_read.as_ref(),
        cw5.as_ref(),
        cw1h.as_ref(),
    ];
    let mut starts: Vec<u64> = all
        .iter()
        .flatten()
        .flat_map(|t| t.tiers.iter().map(|(s, _)| *s))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let tiered = |x: &Option<TieredRate>, s: u64| {
        x.as_ref()
            .filter(|t| !t.tiers.is_empty())
            .map(|t| t.above(s))
    };
    price.long_context = starts
        .into_iter()
        .map(|s| LongContextTier {
            above_input_tokens: s,
            input: input.above(s),
            output: output.above(s),
            cache_read: tiered(&cache_read, s),
            cache_write_5m: tiered(&cw5, s),
            cache_write_1h: tiered(&cw1h, s),
        })
        .collect();
    Some(price)
}

/// Batch rates from a `{"when": {"processing": "batch"}}` variant in force on `as_of`.
fn batch(m: &Value, as_of: NaiveDate, price: &mut Price) {
    let variants = m.get("price_variants").and_then(Value::as_array);
    for v in variants.into_iter().flatten() {
        let is_batch = v.pointer("/when/processing").and_then(Value::as_str) == Some("batch");
        let start = v.pointer("/constraint/start_date").and_then(Value::as_str);
        let started = start
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .is_none_or(|d| d <= as_of);
        if !(is_batch && started) {
            continue;
        }
        let base = |f: &str| rate(v.get("prices")?.get(f)).ok().flatten().map(|x| x.base);
        price.batch_input = base("input_mtok");
        price.batch_output = base("output_mtok");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn imports_history_tiers_and_batch() {
        let json: Value = serde_json::from_str(r#"{"_note": "Exported from genai-prices==0.2.3 (x)",
          "providers": [
            {"id": "google", "models": [
              {"id": "gemini-2.5-pro", "match": {"starts_with": "gemini-2.5-pro"},
               "prices": {"input_mtok": {"base": "1.25", "tiers": [{"start": 200000, "price": "2.5"}]},
                          "output_mtok": {"base": "10", "tiers": [{"start": 200000, "price": "15"}]}},
               "price_variants": [{"when": {"processing": "batch"},
                                   "prices": {"input_mtok": "0.625", "output_mtok": "5"}}]}]},
            {"id": "openai", "models": [
              {"id": "o3", "match": {"or": [{"equals": "o3"}, {"equals": "o3-2025-04-16"}]},
               "prices": [{"prices": {"input_mtok": "10", "output_mtok": "40"}},
                          {"constraint": {"start_date": "2025-06-10"}, "prices": {"input_mtok": "2", "output_mtok": "8"}},
                          {"constraint": {"start_date": "2099-01-01"}, "prices": {"input_mtok": "1", "output_mtok": "4"}}]},
              {"id": "whisper", "prices": {"audio_hours": "0.36"}}]},
            {"id": "elevenlabs", "models": [{"id": "x", "prices": {}}]}
          ]}"#).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(version(&json).as_deref(), Some("genai-prices==0.2.3"));
        let (entries, report) = import_genai_prices(&json, day);
        assert_eq!(entries.len(), 2);
        let pro = &entries[0];
        assert_eq!(pro.provider, "gemini");
        let t = &pro.price.long_context[0];
        assert_eq!(
            (t.above_input_tokens, t.input, t.output),
            (200_000, dec!(2.5), dec!(15))
        );
        assert_eq!(pro.price.batch_input, Some(dec!(0.625)));
        let o3 = &entries[1];
        assert_eq!((o3.price.input, o3.price.output), (dec!(2), dec!(8)));
        assert_eq!(
            o3.price.effective_from,
            NaiveDate::from_ymd_opt(2025, 6, 10)
        );
        assert_eq!(o3.aliases, vec!["o3-2025-04-16"]);
        assert_eq!(report.count(ProblemKind::Scheduled), 1);
        assert_eq!(report.count(ProblemKind::NoPrice), 1);
        assert_eq!(report.skipped_provider, 1);
    }

    #[test]
    fn imports_every_tier_per_rate_windows_and_modalities() {
        let json: Value = serde_json::from_str(r#"{"providers": [
            {"id": "openrouter", "models": [
              {"id": "qwen/qwen3-coder-flash", "prices": {
                 "input_mtok": {"base": "0.3", "tiers": [{"start": 128000, "price": "0.8"}, {"start": 32000, "price": "0.5"}]},
                 "cache_read_mtok": "0.06",
                 "output_mtok": {"base": "1.5", "tiers": [{"start": 32000, "price": "2.5"}]}}}]},
            {"id": "deepseek", "models": [
              {"id": "deepseek-chat", "prices": [
                 {"prices": {"input_mtok": "0.135", "output_mtok": "0.55"}},
                 {"constraint": {"start_time": "00:30:00+00:00", "end_time": "16:30:00+00:00"},
                  "prices": {"input_mtok": "0.27", "output_mtok": "1.1"}}]}]},
            {"id": "google", "models": [
              {"id": "gemini-2.0-flash", "prices": {"input_mtok": "0.1", "output_mtok": "0.4",
                 "cache_read_mtok": "0.025", "input_audio_mtok": "0.7", "cache_audio_read_mtok": "0.175"}}]}
          ]}"#).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let (entries, report) = import_genai_prices(&json, day);
        assert_eq!(report.count(ProblemKind::NotModelled), 0);
        let by = |m: &str| &entries.iter().find(|e| e.model == m).unwrap().price;
        let qwen = by("qwen/qwen3-coder-flash");
        let tiers: Vec<_> = qwen
            .long_context
            .iter()
            .map(|t| (t.above_input_tokens, t.input, t.output, t.cache_read))
            .collect();
        // The cache rate is not tiered: it stays out of the tiers (the base rate applies).
        assert_eq!(
            tiers,
            vec![
                (32_000, dec!(0.5), dec!(2.5), None),
                (128_000, dec!(0.8), dec!(2.5), None)
            ]
        );
        let ds = by("deepseek-chat");
        assert_eq!(ds.input, dec!(0.135));
        assert_eq!(ds.windows.len(), 1);
        let noon = 12 * 3600;
        assert_eq!(ds.at(noon).input, dec!(0.27));
        assert_eq!(ds.at(20 * 3600).input, dec!(0.135));
        let flash = by("gemini-2.0-flash");
        assert_eq!(
            (flash.input_audio, flash.cache_read_audio),
            (Some(dec!(0.7)), Some(dec!(0.175)))
        );
    }
}
