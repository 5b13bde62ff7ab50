//! pydantic genai-prices' catalog: USD per million tokens as decimal strings, with dated
//! price history, prompt-size tiers and batch variants.
//!
//! * History: `prices` may be a list of `{constraint: {start_date}, prices}`; the latest one
//!   that has started by `as_of` wins (its date becomes `effective_from`). Later dates are
//!   reported as [`ProblemKind::Scheduled`]; time-of-day windows as not modelled.
//! * Tiers: `{"base": "1.25", "tiers": [{"start": 200000, "price": "2.5"}]}` → a
//!   [`LongContextTier`] above `start` (the whole request, as the providers bill it). Only the
//!   first tier is kept; more are reported.
//! * Variants: `{"when": {"processing": "batch"}}` → batch rates. Service tiers are ignored.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::genai_provider_key;
use super::matcher::Matcher;
use super::report::{ImportReport, ProblemKind};
use crate::exact::parse_decimal;
use crate::price::{Capabilities, CatalogEntry, LongContextTier, Mode, Price};

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
    let (prices, effective_from) = current_prices(m.get("prices")?, provider, id, as_of, r)?;
    let mut price = price(prices, mode, provider, id, r)?;
    price.effective_from = effective_from;
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

/// Pick the price set in force on `as_of` from a plain object or a dated list.
fn current_prices<'a>(
    v: &'a Value,
    provider: &str,
    id: &str,
    as_of: NaiveDate,
    r: &mut ImportReport,
) -> Option<(&'a Map<String, Value>, Option<NaiveDate>)> {
    if let Some(o) = v.as_object() {
        return Some((o, None));
    }
    let mut best: Option<(&Map<String, Value>, Option<NaiveDate>)> = None;
    for item in v.as_array()? {
        let Some(prices) = item.get("prices").and_then(Value::as_object) else {
            continue;
        };
        let c = item.get("constraint").and_then(Value::as_object);
        if c.is_some_and(|c| c.contains_key("start_time") || c.contains_key("end_time")) {
            r.push(
                SRC,
                provider,
                id,
                ProblemKind::NotModelled,
                "time-of-day price window ignored",
            );
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
    best
}

/// A base rate and its first prompt-size tier `(start, rate)`, if any.
type TieredRate = (Decimal, Option<(u64, Decimal)>);

/// A rate that is either a decimal string or `{base, tiers: [{start, price}]}`.
fn rate(v: Option<&Value>) -> Result<Option<TieredRate>, String> {
    let Some(v) = v else { return Ok(None) };
    if let Some(s) = v.as_str() {
        return parse_decimal(s)
            .map(|d| Some((d, None)))
            .ok_or(format!("{s:?} is not a decimal"));
    }
    let base = v
        .get("base")
        .and_then(Value::as_str)
        .and_then(parse_decimal);
    let base = base.ok_or(format!("{v} has no decimal `base`"))?;
    let first = v
        .get("tiers")
        .and_then(Value::as_array)
        .and_then(|t| t.first());
    let tier = first.and_then(|t| {
        let start = t.get("start")?.as_u64()?;
        Some((start, parse_decimal(t.get("price")?.as_str()?)?))
    });
    Ok(Some((base, tier)))
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
    let Some(input) = input else {
        r.push(SRC, provider, id, ProblemKind::NoPrice, "no input_mtok");
        return None;
    };
    let output = match (output, mode) {
        (Some(o), _) => o,
        (None, Mode::Embedding) => (Decimal::ZERO, None),
        (None, Mode::Chat) => {
            r.push(SRC, provider, id, ProblemKind::NoPrice, "no output_mtok");
            return None;
        }
    };
    let mut price = Price::new(input.0, output.0, SRC);
    price.cache_read = cache_read.map(|x| x.0);
    price.cache_write_5m = cw5.map(|x| x.0);
    price.cache_write_1h = cw1h.map(|x| x.0);
    price.reasoning = reasoning.map(|x| x.0);
    if let Some((start, tier_input)) = input.1 {
        let tier = |x: Option<TieredRate>| {
            x.and_then(|(_, t)| t.filter(|(s, _)| *s == start).map(|(_, d)| d))
        };
        price.long_context = Some(LongContextTier {
            above_input_tokens: start,
            input: tier_input,
            output: tier(Some(output)).unwrap_or(output.0),
            cache_read: tier(cache_read),
            cache_write_5m: tier(cw5),
            cache_write_1h: tier(cw1h),
        });
    }
    let extra_tiers = p.values().any(|v| {
        v.get("tiers")
            .and_then(Value::as_array)
            .is_some_and(|t| t.len() > 1)
    });
    if extra_tiers {
        r.push(
            SRC,
            provider,
            id,
            ProblemKind::NotModelled,
            "tiers beyond the first ignored",
        );
    }
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
        let base = |f: &str| rate(v.get("prices")?.get(f)).ok().flatten().map(|x| x.0);
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
        let t = pro.price.long_context.as_ref().unwrap();
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
}
