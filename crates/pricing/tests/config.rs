//! Config-facing types: exact TOML numbers, units, strictness, resolution.

use rust_decimal_macros::dec;
use switchyard_pricing::audit::{self, GatewayView};
use switchyard_pricing::{resolve, Catalog, PriceOverride, PriceUnit};

#[derive(serde::Deserialize)]
struct Model {
    price: PriceOverride,
}

fn parse(s: &str) -> Result<PriceOverride, toml::de::Error> {
    toml::from_str::<Model>(s).map(|m| m.price)
}

#[test]
fn toml_floats_are_exact() {
    let o = parse(
        r#"price = { input = 0.15, output = 0.60, cached_input = 0.075, unit = "per_million" }"#,
    )
    .unwrap();
    assert_eq!(o.input.to_string(), "0.15");
    assert_eq!(o.output, dec!(0.6));
    assert_eq!(o.cached_input, Some(dec!(0.075)));
    assert_eq!(o.unit, PriceUnit::PerMillion);
    let p = o.to_price();
    assert_eq!(
        (p.input.to_string().as_str(), p.source.as_str()),
        ("0.15", "config override")
    );
}

#[test]
fn integers_strings_and_units() {
    let o = parse(r#"price = { input = 3, output = "15", unit = "per_thousand" }"#).unwrap();
    assert_eq!(
        (o.to_price().input, o.to_price().output),
        (dec!(3000), dec!(15000))
    );
    let o = parse(r#"price = { input = 1.5e-7, output = 6e-7, unit = "per_token" }"#).unwrap();
    assert_eq!(
        (o.to_price().input, o.to_price().output),
        (dec!(0.15), dec!(0.6))
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let e = parse(r#"price = { input = 1, output = 2, cached = 0.5 }"#).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
    assert!(parse(r#"price = { input = 1 }"#).is_err());
    assert!(parse(r#"price = { input = "cheap", output = 1 }"#).is_err());
}

#[test]
fn override_beats_catalog_and_unknown_is_unpriced() {
    let c = Catalog::embedded().unwrap();
    let o = parse("price = { input = 0.1, output = 0.2 }").unwrap();
    let r = resolve(&c, "openai", "gpt-4o-mini", Some(&o), None).unwrap();
    assert!(!r.from_catalog);
    assert_eq!(r.price.input, dec!(0.1));
    let e = resolve(&c, "openai", "no-such-model-xyz", None, None).unwrap_err();
    assert_eq!(e.model, "no-such-model-xyz");
    assert!(resolve(&c, "openai", "no-such-model-xyz", Some(&o), None).is_ok());
}

#[test]
fn check_reports_unpriced_config_models() {
    let view = GatewayView::from_toml(
        r#"
        [server]
        listen = "127.0.0.1:8080"
        [[providers]]
        name = "openai"
        kind = "openai"
        api_key_env = "OPENAI_API_KEY"
        [[providers]]
        name = "groq"
        kind = "openai-compatible"
        base_url = "https://api.groq.com/openai/v1"
        uplift_percent = 10
        [[models]]
        name = "mini"
        provider = "openai"
        upstream = "gpt-4o-mini"
        tier = "basic"
        [[models]]
        name = "mystery"
        provider = "openai"
        [[models]]
        name = "negotiated"
        provider = "openai"
        upstream = "mystery-2"
        price = { input = 0.15, output = 0.60 }
        [[models]]
        name = "llama"
        provider = "groq"
        upstream = "llama-3.1-8b-instant"
        [[models]]
        name = "orphan"
        provider = "nowhere"
        "#,
    )
    .unwrap();
    let c = Catalog::embedded().unwrap();
    let today = c.generated_at.date_naive();
    let r = audit::check(&c, today, None, Some(&view), dec!(1));
    let deps = r.deployments.unwrap();
    let unpriced: Vec<&str> = deps
        .iter()
        .filter(|d| d.price.is_err())
        .map(|d| d.model.as_str())
        .collect();
    assert_eq!(unpriced, vec!["mystery", "orphan"]);
    let llama = deps.iter().find(|d| d.model == "llama").unwrap();
    assert_eq!(llama.provider, "groq");
    assert!(llama
        .price
        .as_ref()
        .unwrap()
        .price
        .source
        .contains("+10% uplift"));
    assert_eq!(r.age_days, 0);
    assert!(r.disagreements.is_none());
}
