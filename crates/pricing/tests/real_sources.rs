//! Import the real shared catalogs (skipped with a message if the shared dir is absent).

use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use rust_decimal_macros::dec;
use switchyard_pricing::import::{build_catalog, ProblemKind, SourceFile};

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/prices")
        .join(name)
}

#[test]
fn imports_the_shared_catalogs() {
    let (lp, gp) = (
        shared("litellm_model_prices.json"),
        shared("genai_prices.json"),
    );
    if !lp.exists() || !gp.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "shared price data not found at {} but CI=true",
            lp.display()
        );
        eprintln!("shared price data not found at {}: skipping", lp.display());
        return;
    }
    let lit = SourceFile::read(&lp, "litellm", None).unwrap();
    let gen = SourceFile::read(&gp, "genai-prices", None).unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let (c, report) = build_catalog(Some(lit.input()), Some(gen.input()), day, Utc::now());
    assert!(c.entries.len() > 1500, "{}", c.entries.len());
    for p in [
        "openai",
        "anthropic",
        "gemini",
        "azure-openai",
        "bedrock",
        "groq",
        "sim",
    ] {
        assert!(c.providers().iter().any(|(k, _)| k == p), "no {p} entries");
    }
    // Problems are reported, not hidden.
    assert!(report.count(ProblemKind::NoPrice) > 0);
    assert!(report.count(ProblemKind::PastDeprecation) > 0);
    assert!(!report.disagreements.is_empty());
    let mini = c.lookup("openai", "gpt-4o-mini").unwrap();
    assert_eq!(
        (mini.price.input, mini.price.output),
        (dec!(0.15), dec!(0.6))
    );
    // genai-prices' rates, completed with LiteLLM's priority tier (the base rates agree).
    assert_eq!(mini.price.source, "genai-prices+litellm");
    let priority = mini.price.priority.as_ref().unwrap();
    assert_eq!(
        (priority.input, priority.output, priority.cache_read),
        (dec!(0.25), dec!(1), Some(dec!(0.125)))
    );
    assert!(mini.price.flex.is_none(), "gpt-4o-mini sells no flex tier");
    let flex = &c.lookup("openai", "gpt-5-mini").unwrap().price.flex;
    assert_eq!(
        flex.as_ref().map(|t| (t.input, t.output)),
        Some((dec!(0.125), dec!(1)))
    );
    assert_eq!(
        mini.caps.supports_tools,
        Some(true),
        "caps come from LiteLLM"
    );
    // LiteLLM's float noise is gone: its rates fit in 12 significant digits.
    for e in &c.entries {
        for (f, d) in e.price.fields() {
            let digits = d.normalize().mantissa().unsigned_abs().to_string().len();
            let noisy = e.price.source == "litellm" && digits > 12;
            assert!(!noisy, "{}/{} {f} = {d}", e.provider, e.model);
            assert!(d >= dec!(0), "{}/{} {f} negative", e.provider, e.model);
        }
    }
    assert_eq!(gen.info.version, None);
    let g = c.sources.iter().find(|s| s.name == "genai-prices").unwrap();
    assert_eq!(g.version.as_deref(), Some("genai-prices==0.2.3"));
}
