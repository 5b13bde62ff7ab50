//! LiteLLM's `model_prices_and_context_window.json`: USD **per token**, as JSON floats.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::litellm_provider_key;
use super::report::{ImportReport, ProblemKind};
use crate::exact::per_token_to_per_million;
use crate::price::{Capabilities, CatalogEntry, LongContextTier, Mode, Price, TierRates};

const SRC: &str = "litellm";

/// Import LiteLLM entries for the providers switchyard supports (chat and embedding models).
///
/// `as_of` is the day deprecation dates are compared against. Entries with no token price are
/// reported as [`ProblemKind::NoPrice`] and left out; deprecated ones are kept and reported.
pub fn import_litellm(json: &Value, as_of: NaiveDate) -> (Vec<CatalogEntry>, ImportReport) {
    let mut report = ImportReport::default();
    let mut out: Vec<CatalogEntry> = Vec::new();
    let Some(obj) = json.as_object() else {
        report.push(
            SRC,
            "",
            "",
            ProblemKind::Unparsable,
            "top level is not an object",
        );
        return (out, report);
    };
    let mut seen = std::collections::HashMap::new();
    for (key, v) in obj {
        let Some(e) = entry(key, v, as_of, &mut report) else {
            continue;
        };
        let k = (e.provider.clone(), e.model.clone());
        if let Some(&i) = seen.get(&k) {
            let first: &CatalogEntry = &out[i];
            if first.price.fields() != e.price.fields() {
                let detail = format!("source key {key} prices it differently; first kept");
                report.push(SRC, &e.provider, &e.model, ProblemKind::Duplicate, detail);
            }
            continue;
        }
        seen.insert(k, out.len());
        out.push(e);
    }
    report.imported = out.len();
    (out, report)
}

fn entry(key: &str, v: &Value, as_of: NaiveDate, r: &mut ImportReport) -> Option<CatalogEntry> {
    let o = v.as_object()?;
    if key == "sample_spec" {
        return None;
    }
    let lp = o
        .get("litellm_provider")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(provider) = litellm_provider_key(lp) else {
        r.skipped_provider += 1;
        return None;
    };
    let mode = match o.get("mode").and_then(Value::as_str) {
        Some("chat") => Mode::Chat,
        Some("embedding") => Mode::Embedding,
        _ => {
            r.skipped_mode += 1;
            return None;
        }
    };
    let model = strip_prefix(key, lp);
    if provider == "bedrock" && model.contains('/') {
        r.skipped_variant += 1;
        return None;
    }
    let price = price(o, mode, provider, model, r)?;
    let deprecation_date = deprecation(o, provider, model, as_of, r);
    Some(CatalogEntry {
        provider: provider.to_owned(),
        model: model.to_owned(),
        aliases: Vec::new(),
        prefixes: Vec::new(),
        mode,
        price,
        caps: caps(o),
        deprecation_date,
        deprecated: false,
    })
}

fn strip_prefix<'a>(key: &'a str, litellm_provider: &str) -> &'a str {
    let prefix = match litellm_provider {
        "azure" => "azure",
        "bedrock" | "bedrock_converse" => "bedrock",
        other => other,
    };
    key.strip_prefix(prefix)
        .and_then(|k| k.strip_prefix('/'))
        .unwrap_or(key)
}

/// A per-token rate as per-million; `Err` carries a parse problem.
fn rate(o: &Map<String, Value>, field: &str) -> Result<Option<Decimal>, String> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => per_token_to_per_million(n)
            .map(Some)
            .ok_or_else(|| format!("{field}: {n} is not a decimal")),
        Some(other) => Err(format!("{field}: expected a number, got {other}")),
    }
}

fn price(
    o: &Map<String, Value>,
    mode: Mode,
    provider: &str,
    model: &str,
    r: &mut ImportReport,
) -> Option<Price> {
    let mut get = |field: &str| match rate(o, field) {
        Ok(v) => v,
        Err(e) => {
            r.push(SRC, provider, model, ProblemKind::Unparsable, e);
            None
        }
    };
    let input = get("input_cost_per_token");
    let output = get("output_cost_per_token");
    let (input, output) = match (input, output, mode) {
        (Some(i), Some(o), _) => (i, o),
        (Some(i), None, Mode::Embedding) => (i, Decimal::ZERO),
        (i, _, _) => {
            let missing = if i.is_none() {
                "input_cost_per_token"
            } else {
                "output_cost_per_token"
            };
            r.push(
                SRC,
                provider,
                model,
                ProblemKind::NoPrice,
                format!("no {missing}"),
            );
            return None;
        }
    };
    let mut p = Price::new(input, output, SRC);
    p.cache_read = get("cache_read_input_token_cost");
    p.cache_write_5m = get("cache_creation_input_token_cost");
    p.cache_write_1h = get("cache_creation_input_token_cost_above_1hr");
    p.reasoning = get("output_cost_per_reasoning_token");
    p.batch_input = get("input_cost_per_token_batches");
    p.batch_output = get("output_cost_per_token_batches");
    p.input_audio = get("input_cost_per_audio_token");
    p.cache_read_audio = get("cache_read_input_audio_token_cost");
    p.input_image = get("input_cost_per_image_token");
    p.output_audio = get("output_cost_per_audio_token");
    p.output_image = get("output_cost_per_image_token");
    p.long_context = long_context(o);
    for (suffix, slot) in [("flex", &mut p.flex), ("priority", &mut p.priority)] {
        if let (Some(input), Some(output)) = (
            get(&format!("input_cost_per_token_{suffix}")),
            get(&format!("output_cost_per_token_{suffix}")),
        ) {
            *slot = Some(TierRates {
                input,
                output,
                cache_read: get(&format!("cache_read_input_token_cost_{suffix}")),
                input_audio: get(&format!("input_cost_per_audio_token_{suffix}")),
            });
        }
    }
    if o.contains_key("tiered_pricing") {
        r.push(
            SRC,
            provider,
            model,
            ProblemKind::NotModelled,
            "tiered_pricing ignored",
        );
    }
    Some(p)
}

/// `input_cost_per_token_above_{N}k_tokens` and friends: one tier per threshold. A rate the
/// source does not tier is left out of the tier (the base rate then applies to it).
fn long_context(o: &Map<String, Value>) -> Vec<LongContextTier> {
    let mut thresholds: Vec<u64> = o
        .keys()
        .filter_map(|k| {
            k.strip_prefix("input_cost_per_token_above_")?
                .strip_suffix("k_tokens")
        })
        .filter_map(|n| n.parse().ok())
        .collect();
    thresholds.sort_unstable();
    thresholds
        .into_iter()
        .filter_map(|n| {
            let get = |f: &str| rate(o, &format!("{f}_above_{n}k_tokens")).ok().flatten();
            let input = get("input_cost_per_token")?;
            let output = get("output_cost_per_token").or(rate(o, "output_cost_per_token").ok()?)?;
            Some(LongContextTier {
                above_input_tokens: n * 1000,
                input,
                output,
                cache_read: get("cache_read_input_token_cost"),
                cache_write_5m: get("cache_creation_input_token_cost"),
                cache_write_1h: get("cache_creation_input_token_cost_above_1hr"),
            })
        })
        .collect()
}

fn deprecation(
    o: &Map<String, Value>,
    provider: &str,
    model: &str,
    as_of: NaiveDate,
    r: &mut ImportReport,
) -> Option<NaiveDate> {
    let s = o.get("deprecation_date")?.as_str()?;
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => {
            if d < as_of {
                let detail = format!("deprecation date {d} has passed");
                r.push(SRC, provider, model, ProblemKind::PastDeprecation, detail);
            }
            Some(d)
        }
        Err(_) => {
            let detail = format!("deprecation_date {s:?} is not YYYY-MM-DD");
            r.push(SRC, provider, model, ProblemKind::Unparsable, detail);
            None
        }
    }
}

fn caps(o: &Map<String, Value>) -> Capabilities {
    let n = |f: &str| {
        let v = o.get(f)?;
        v.as_u64()
            .or_else(|| v.as_f64().filter(|x| *x >= 0.0).map(|x| x as u64))
    };
    let b = |f: &str| o.get(f).and_then(Value::as_bool);
    Capabilities {
        max_input_tokens: n("max_input_tokens"),
        max_output_tokens: n("max_output_tokens"),
        supports_tools: b("supports_function_calling"),
        supports_vision: b("supports_vision"),
        supports_json_schema: b("supports_response_schema"),
        supports_prompt_caching: b("supports_prompt_caching"),
        supports_reasoning: b("supports_reasoning"),
        supports_system_messages: b("supports_system_messages"),
        supports_pdf_input: b("supports_pdf_input"),
        supports_audio_input: b("supports_audio_input"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    }

    #[test]
    fn imports_a_small_sample() {
        let json: Value = serde_json::from_str(
            r#"{
            "sample_spec": {"litellm_provider": "one of", "mode": "chat"},
            "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat",
                "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
                "cache_read_input_token_cost": 7.5e-08, "input_cost_per_token_batches": 7.5e-08,
                "output_cost_per_token_batches": 3e-07, "max_input_tokens": 128000,
                "supports_function_calling": true, "supports_vision": true},
            "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat",
                "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
                "input_cost_per_token_above_200k_tokens": 2.5e-06,
                "output_cost_per_token_above_200k_tokens": 1.5e-05},
            "groq/llama-x": {"litellm_provider": "groq", "mode": "chat",
                "input_cost_per_token": 4.2000000000000006e-08, "output_cost_per_token": 1e-07,
                "deprecation_date": "2025-01-01"},
            "no-price": {"litellm_provider": "openai", "mode": "chat"},
            "bad": {"litellm_provider": "openai", "mode": "chat",
                "input_cost_per_token": "cheap", "output_cost_per_token": 1e-07},
            "emb": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08},
            "dall-e": {"litellm_provider": "openai", "mode": "image_generation"},
            "vertex_ai/x": {"litellm_provider": "vertex_ai", "mode": "chat"},
            "bedrock/us-east-1/anthropic.claude-v2": {"litellm_provider": "bedrock", "mode": "chat",
                "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}
        }"#,
        )
        .unwrap();
        let (entries, report) = import_litellm(&json, day());
        let get = |p: &str, m: &str| entries.iter().find(|e| e.provider == p && e.model == m);
        let mini = get("openai", "gpt-4o-mini").unwrap();
        assert_eq!(mini.price.input, dec!(0.15));
        assert_eq!(mini.price.cache_read, Some(dec!(0.075)));
        assert_eq!(mini.price.batch_output, Some(dec!(0.3)));
        assert_eq!(mini.caps.max_input_tokens, Some(128000));
        let pro = get("gemini", "gemini-2.5-pro").unwrap();
        let tier = &pro.price.long_context[0];
        assert_eq!((tier.above_input_tokens, tier.input), (200_000, dec!(2.5)));
        assert_eq!(get("groq", "llama-x").unwrap().price.input, dec!(0.042));
        assert_eq!(get("openai", "emb").unwrap().price.output, Decimal::ZERO);
        assert_eq!(entries.len(), 4);
        assert_eq!(
            report.count(ProblemKind::NoPrice),
            2,
            "{:?}",
            report.problems
        );
        assert_eq!(report.count(ProblemKind::Unparsable), 1);
        assert_eq!(report.count(ProblemKind::PastDeprecation), 1);
        assert_eq!((report.skipped_mode, report.skipped_provider), (1, 1));
        assert_eq!(report.skipped_variant, 1);
    }
}
