//! Exact decimal parsing: JSON numbers, TOML floats and per-token float noise.
//!
//! Two sources hand us binary floats. LiteLLM's JSON stores USD per token (`7.5e-08`), and
//! TOML config writes `input = 0.15`. Neither may go through `f64` arithmetic:
//!
//! * JSON numbers are converted from their **text** (`serde_json::Number::to_string`, which is
//!   the shortest round-trip form) with `Decimal::from_str` / `from_scientific`.
//! * TOML floats reach serde as `f64`; we format them with `{}` (Rust's shortest round-trip
//!   representation, so `0.15` prints as `0.15`) and parse that text. Integers and strings
//!   (`"0.15"`) are accepted too.
//! * LiteLLM's per-token floats carry noise in their last digits (`4.2000000000000006e-08`).
//!   After scaling to per-million we round to [`NOISE_SIGNIFICANT_DIGITS`] significant digits:
//!   f64 noise lives in the 16th–17th digit, while no real price has more than ~8.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer};

/// Significant digits kept when cleaning float noise from per-token prices.
pub const NOISE_SIGNIFICANT_DIGITS: u32 = 12;

/// Parse decimal text, plain (`0.15`) or scientific (`7.5e-08`).
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        Decimal::from_str(s).ok()
    }
}

/// A JSON number as an exact decimal, via its text.
pub fn from_json_number(n: &serde_json::Number) -> Option<Decimal> {
    parse_decimal(&n.to_string())
}

/// An `f64` as the decimal its shortest round-trip text denotes (`0.15` → `0.15`).
pub fn from_f64_text(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    parse_decimal(&format!("{f}"))
}

/// USD per token (a float-noisy JSON number) → USD per million, noise rounded away.
pub fn per_token_to_per_million(n: &serde_json::Number) -> Option<Decimal> {
    let per_token = from_json_number(n)?;
    let per_million = per_token.checked_mul(Decimal::from(1_000_000u32))?;
    Some(
        per_million
            .round_sf(NOISE_SIGNIFICANT_DIGITS)
            .unwrap_or(per_million)
            .normalize(),
    )
}

/// Serde helper: deserialise a TOML/JSON float, integer or string into an exact `Decimal`.
///
/// Use as `#[serde(deserialize_with = "switchyard_pricing::exact::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(ExactVisitor)
}

/// Like [`deserialize`] for an `Option<Decimal>` field (pair with `#[serde(default)]`).
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "deserialize")] Decimal);
    Option::<Wrap>::deserialize(d).map(|o| o.map(|w| w.0))
}

struct ExactVisitor;

impl de::Visitor<'_> for ExactVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number or a decimal string")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        from_f64_text(v).ok_or_else(|| E::custom(format!("{v} is not a representable decimal")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse_decimal(v).ok_or_else(|| E::custom(format!("{v:?} is not a decimal number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn float_noise_is_rounded_away() {
        let n: serde_json::Number = serde_json::from_str("4.2000000000000006e-08").unwrap();
        assert_eq!(per_token_to_per_million(&n), Some(dec!(0.042)));
        let n: serde_json::Number = serde_json::from_str("7.5e-08").unwrap();
        assert_eq!(per_token_to_per_million(&n), Some(dec!(0.075)));
        let n: serde_json::Number = serde_json::from_str("3.0001999999999996e-07").unwrap();
        assert_eq!(per_token_to_per_million(&n), Some(dec!(0.30002)));
    }

    #[test]
    fn f64_text_is_exact() {
        assert_eq!(from_f64_text(0.15), Some(dec!(0.15)));
        assert_eq!(from_f64_text(0.1 + 0.2), Some(dec!(0.30000000000000004)));
        assert_eq!(from_f64_text(1e-7), Some(dec!(0.0000001)));
        assert_eq!(from_f64_text(f64::NAN), None);
    }
}
