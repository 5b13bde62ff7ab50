//! Merge the two sources into one catalog (precedence in the module docs of `import`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::genai::{self, GenaiModel};
use super::litellm::import_litellm;
use super::report::{Disagreement, ImportReport};
use crate::catalog::{Catalog, SourceInfo};
use crate::price::{Capabilities, CatalogEntry, Mode, Price, TierRates};

/// The precedence rule, as recorded in the catalog file.
pub const PRECEDENCE: &str = "genai-prices rates win (exact decimals, dated history); LiteLLM \
supplies capabilities, deprecation dates, and rates genai-prices lacks (batch, 1h cache write, \
long-context, flex and priority tiers) only where both agree on input and output; single-source models come from their \
source; sim entries are fixed";

/// One parsed source file and its provenance.
#[derive(Debug, Clone, Copy)]
pub struct ImportInput<'a> {
    /// The parsed JSON.
    pub json: &'a Value,
    /// Where it came from (name, file, version, sha256).
    pub source: &'a SourceInfo,
}

/// Import both sources (either may be absent), merge, add the simulator's models.
///
/// `as_of` is the day used for price history and deprecation checks.
pub fn build_catalog(
    litellm: Option<ImportInput<'_>>,
    genai: Option<ImportInput<'_>>,
    as_of: NaiveDate,
    generated_at: DateTime<Utc>,
) -> (Catalog, ImportReport) {
    let mut report = ImportReport::default();
    let mut sources = Vec::new();
    let lit = litellm.map(|i| {
        sources.push(i.source.clone());
        let (e, r) = import_litellm(i.json, as_of);
        report.merge(r);
        e
    });
    let gen = genai.map(|i| {
        let mut s = i.source.clone();
        s.version = s.version.or_else(|| genai::version(i.json));
        sources.push(s);
        let (m, r) = genai::import_models(i.json, as_of);
        report.merge(r);
        m
    });
    let mut entries = merge(
        lit.unwrap_or_default(),
        gen.unwrap_or_default(),
        &mut report,
    );
    entries.extend(sim_entries());
    sources.push(SourceInfo {
        name: "switchyard".into(),
        file: None,
        version: Some("simulator models sim-cheap, sim-premium".into()),
        sha256: None,
    });
    let catalog = Catalog::new(entries, generated_at, sources, Some(PRECEDENCE.into()));
    (catalog, report)
}

fn merge(lit: Vec<CatalogEntry>, gen: Vec<GenaiModel>, r: &mut ImportReport) -> Vec<CatalogEntry> {
    let mut by_provider: HashMap<&str, Vec<&GenaiModel>> = HashMap::new();
    for g in &gen {
        by_provider
            .entry(g.entry.provider.as_str())
            .or_default()
            .push(g);
    }
    let mut out = Vec::with_capacity(lit.len() + gen.len());
    for mut e in lit {
        let found = by_provider
            .get(e.provider.as_str())
            .and_then(|v| v.iter().find(|g| g.matcher.matches(&e.model)));
        if let Some(g) = found {
            r.disagreements.extend(compare(&e, &g.entry.price));
            e.price = combine(&g.entry.price, &e.price);
            e.deprecated |= g.entry.deprecated;
            e.caps.max_input_tokens = e.caps.max_input_tokens.or(g.entry.caps.max_input_tokens);
        }
        out.push(e);
    }
    let keys: HashSet<(String, String)> = out
        .iter()
        .map(|e| (e.provider.clone(), e.model.clone()))
        .collect();
    for g in gen {
        let mut e = g.entry;
        if !belongs(&e) {
            continue;
        }
        e.aliases
            .retain(|a| !keys.contains(&(e.provider.clone(), a.clone())));
        if keys.contains(&(e.provider.clone(), e.model.clone())) {
            let target = out
                .iter_mut()
                .find(|x| x.provider == e.provider && x.model == e.model);
            if let Some(t) = target {
                t.aliases.extend(e.aliases);
                t.prefixes.extend(e.prefixes);
            }
            continue;
        }
        out.push(e);
    }
    out
}

/// genai-prices' `google` provider also lists models served only on Vertex AI (Claude, Llama);
/// the Gemini API serves Google's own families.
fn belongs(e: &CatalogEntry) -> bool {
    const GEMINI_API: [&str; 5] = ["gemini", "gemma", "text-embedding", "embedding", "learnlm"];
    e.provider != "gemini" || GEMINI_API.iter().any(|p| e.model.starts_with(p))
}

/// genai-prices' price, completed from LiteLLM's where the base rates agree.
fn combine(genai: &Price, lit: &Price) -> Price {
    let mut p = genai.clone();
    if genai.input != lit.input || genai.output != lit.output {
        return p;
    }
    let before = p.clone();
    p.cache_read = p.cache_read.or(lit.cache_read);
    p.cache_write_5m = p.cache_write_5m.or(lit.cache_write_5m);
    p.cache_write_1h = p.cache_write_1h.or(lit.cache_write_1h);
    p.reasoning = p.reasoning.or(lit.reasoning);
    p.input_audio = p.input_audio.or(lit.input_audio);
    p.cache_read_audio = p.cache_read_audio.or(lit.cache_read_audio);
    p.input_image = p.input_image.or(lit.input_image);
    p.output_audio = p.output_audio.or(lit.output_audio);
    p.output_image = p.output_image.or(lit.output_image);
    if p.batch_input.is_none() && p.batch_output.is_none() {
        p.batch_input = lit.batch_input;
        p.batch_output = lit.batch_output;
    }
    if p.long_context.is_empty() && p.windows.is_empty() {
        p.long_context = lit.long_context.clone();
    }
    p.flex = p.flex.take().or_else(|| lit.flex.clone());
    p.priority = p.priority.take().or_else(|| lit.priority.clone());
    if p != before {
        p.source = "genai-prices+litellm".into();
    }
    p
}

fn compare(lit: &CatalogEntry, genai: &Price) -> Vec<Disagreement> {
    let l = &lit.price;
    let pairs = [
        ("input", Some(l.input), Some(genai.input)),
        ("output", Some(l.output), Some(genai.output)),
        ("cache_read", l.cache_read, genai.cache_read),
        ("cache_write_5m", l.cache_write_5m, genai.cache_write_5m),
        ("cache_write_1h", l.cache_write_1h, genai.cache_write_1h),
    ];
    pairs
        .into_iter()
        .filter_map(|(field, a, b)| {
            let (a, b) = (a?, b?);
            (a != b).then(|| Disagreement {
                provider: lit.provider.clone(),
                model: lit.model.clone(),
                field,
                litellm: a,
                genai: b,
                diff_percent: diff_percent(a, b),
            })
        })
        .collect()
}

/// |a − b| / max(a, b) × 100, rounded to 2 decimal places (100 when one side is 0).
pub(crate) fn diff_percent(a: Decimal, b: Decimal) -> Decimal {
    let max = a.max(b);
    if max.is_zero() {
        return Decimal::ZERO;
    }
    ((a - b).abs() * Decimal::ONE_HUNDRED / max).round_dp(2)
}

/// The simulator's models, priced like the OpenAI models they stand in for.
pub fn sim_entries() -> Vec<CatalogEntry> {
    let sim = |model: &str, like: &str, i: Decimal, o: Decimal, c: Decimal, pri: [Decimal; 3]| {
        let mut price = Price::new(i, o, format!("switchyard simulator (priced as {like})"));
        price.cache_read = Some(c);
        // Batch at half price, as OpenAI's Batch API.
        price.batch_input = Some((i / Decimal::TWO).normalize());
        price.batch_output = Some((o / Decimal::TWO).normalize());
        price.priority = Some(TierRates {
            input: pri[0],
            output: pri[1],
            cache_read: Some(pri[2]),
            input_audio: None,
        });
        CatalogEntry {
            provider: "sim".into(),
            model: model.into(),
            aliases: Vec::new(),
            prefixes: Vec::new(),
            mode: Mode::Chat,
            price,
            caps: Capabilities {
                max_input_tokens: Some(128_000),
                max_output_tokens: Some(16_384),
                supports_tools: Some(true),
                supports_prompt_caching: Some(true),
                ..Capabilities::default()
            },
            deprecation_date: None,
            deprecated: false,
        }
    };
    vec![
        // Priority and batch rates as OpenAI's for the model stood in for; neither sells flex.
        sim(
            "sim-cheap",
            "gpt-4o-mini",
            d(15, 2),
            d(60, 2),
            d(75, 3),
            [d(25, 2), d(1, 0), d(125, 3)],
        ),
        sim(
            "sim-premium",
            "gpt-4o",
            d(250, 2),
            d(1000, 2),
            d(125, 2),
            [d(425, 2), d(17, 0), d(2125, 3)],
        ),
    ]
}

/// `mantissa × 10^-scale`.
fn d(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}
