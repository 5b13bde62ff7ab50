//! The embedded catalog and lookup normalisation.

use chrono::Utc;
use rust_decimal_macros::dec;
use switchyard_pricing::audit::GatewayView;
use switchyard_pricing::diff::{diff, route_choices};
use switchyard_pricing::{cost, Catalog, CatalogEntry, CostContext, Mode, Price};
use switchyard_types::Usage;

fn entry(provider: &str, model: &str, input: rust_decimal::Decimal) -> CatalogEntry {
    CatalogEntry {
        provider: provider.into(),
        model: model.into(),
        aliases: Vec::new(),
        prefixes: Vec::new(),
        mode: Mode::Chat,
        price: Price::new(input, input * dec!(4), "test"),
        caps: Default::default(),
        deprecation_date: None,
        deprecated: false,
    }
}

#[test]
fn embedded_catalog_prices_the_usual_models() {
    let c = Catalog::embedded().unwrap();
    assert_eq!(Catalog::shared().unwrap().version, c.version);
    assert!(c.entries.len() > 1000);
    assert!(c.version.starts_with("sha256:"));
    assert!(c.sources.iter().any(|s| s.name == "litellm"));
    assert!(c.sources.iter().any(|s| s.name == "genai-prices"));
    let u = Usage {
        input: 1_000_000,
        output: 1_000_000,
        ..Usage::default()
    };
    let total = |p: &str, m: &str| {
        let e = c.lookup(p, m).unwrap_or_else(|| panic!("{p}/{m} missing"));
        cost(&e.price, &u, &CostContext::default()).total
    };
    assert_eq!(total("openai", "gpt-4o-mini"), dec!(0.75));
    assert_eq!(total("anthropic", "claude-3-5-haiku-20241022"), dec!(4.8));
    assert_eq!(total("anthropic", "claude-3-5-haiku-latest"), dec!(4.8));
    assert_eq!(total("gemini", "gemini-2.0-flash"), dec!(0.5));
    assert_eq!(total("sim", "sim-cheap"), dec!(0.75));
    assert_eq!(total("sim", "sim-premium"), dec!(12.5));
    let sim = c.lookup("sim", "sim-cheap").unwrap();
    assert_eq!(sim.price.cache_read, Some(dec!(0.075)));
    assert!(sim
        .price
        .source
        .starts_with("switchyard simulator (priced as gpt-4o-mini)"));
}

#[test]
fn lookup_normalisation_on_the_embedded_catalog() {
    let c = Catalog::embedded().unwrap();
    let flash = c.lookup("gemini", "gemini-2.0-flash").unwrap();
    assert_eq!(c.lookup("gemini", "gemini/gemini-2.0-flash"), Some(flash));
    assert_eq!(c.lookup("gemini", "models/gemini-2.0-flash"), Some(flash));
    assert!(c.lookup("openai", "gpt-4o-2024-08-06").is_some());
    assert!(c.lookup("nope", "gpt-4o").is_none());
}

#[test]
fn date_suffix_aliases_only_when_unambiguous() {
    let c = Catalog::new(
        vec![
            entry("openai", "gpt-x", dec!(1)),
            entry("openai", "gpt-y-2024-05-13", dec!(2)),
            entry("openai", "gpt-z-2024-05-13", dec!(3)),
            entry("openai", "gpt-z-2024-08-06", dec!(4)),
            entry("anthropic", "claude-q-20241022", dec!(5)),
        ],
        Utc::now(),
        Vec::new(),
        None,
    );
    // Dated → undated base.
    assert_eq!(
        c.lookup("openai", "gpt-x-2025-01-01").unwrap().model,
        "gpt-x"
    );
    // Undated → the one dated entry.
    assert_eq!(
        c.lookup("openai", "gpt-y").unwrap().model,
        "gpt-y-2024-05-13"
    );
    assert_eq!(
        c.lookup("anthropic", "claude-q").unwrap().model,
        "claude-q-20241022"
    );
    // Two dated entries with different prices: ambiguous.
    assert!(c.lookup("openai", "gpt-z").is_none());
    assert_eq!(c.lookup("openai", "openai/gpt-x").unwrap().model, "gpt-x");
}

#[test]
fn catalog_round_trips_and_stays_small() {
    let c = Catalog::embedded().unwrap();
    let text = c.to_json().unwrap();
    assert!(text.len() < 2_000_000);
    let back = Catalog::from_json(&text).unwrap();
    assert_eq!(back.entries, c.entries);
    assert_eq!(back.version, c.version);
}

#[test]
fn diff_reports_changes_and_route_choice() {
    let old = Catalog::new(
        vec![
            entry("openai", "a", dec!(1)),
            entry("openai", "b", dec!(2)),
            entry("openai", "gone", dec!(1)),
        ],
        Utc::now(),
        Vec::new(),
        None,
    );
    let new = Catalog::new(
        vec![
            entry("openai", "a", dec!(3)),
            entry("openai", "b", dec!(2)),
            entry("openai", "new", dec!(1)),
        ],
        Utc::now(),
        Vec::new(),
        None,
    );
    let d = diff(&old, &new);
    assert_eq!(d.added, vec!["openai/new"]);
    assert_eq!(d.removed, vec!["openai/gone"]);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(d.changed[0].key, "openai/a");
    assert_eq!(d.changed[0].fields[0].old, Some(dec!(1)));
    assert_eq!(d.changed[0].fields[0].new, Some(dec!(3)));
    let view = GatewayView::from_toml(
        r#"
        [[providers]]
        name = "oa"
        kind = "openai"
        [[models]]
        name = "A"
        provider = "oa"
        upstream = "a"
        [[models]]
        name = "B"
        provider = "oa"
        upstream = "b"
        [[models]]
        name = "G"
        provider = "oa"
        upstream = "gone"
        [[routes]]
        name = "auto"
        candidates = ["A", "B"]
        [[routes]]
        name = "legacy"
        candidates = ["G"]
        "#,
    )
    .unwrap();
    let routes = route_choices(&old, &new, &view);
    assert!(routes[0].changed);
    assert_eq!(routes[0].old.as_ref().unwrap().model, "A");
    assert_eq!(routes[0].new.as_ref().unwrap().model, "B");
    // 1000 × 2 + 300 × 8, per million.
    assert_eq!(routes[0].new.as_ref().unwrap().cost, dec!(0.0044));
    assert!(routes[1].changed && routes[1].new.is_none());
    assert_eq!(routes[1].unpriced, vec!["G"]);
}
