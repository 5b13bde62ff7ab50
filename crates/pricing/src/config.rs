//! Config-facing price types: negotiated overrides, volume tiers, uplifts, and resolution.
//!
//! ```toml
//! price = { input = 0.15, output = 0.60, cached_input = 0.075, unit = "per_million" }
//! ```
//! Numbers deserialise exactly (see [`crate::exact`]): `0.15` is `0.15`, not the binary float
//! nearest to it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::exact;
use crate::price::{Commitment, Price, TierRates, VolumeRates};

/// A negotiated price for one deployment, replacing the catalog's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    /// Uncached input rate.
    #[serde(deserialize_with = "exact::deserialize")]
    pub input: Decimal,
    /// Output rate.
    #[serde(deserialize_with = "exact::deserialize")]
    pub output: Decimal,
    /// Cache read rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub cached_input: Option<Decimal>,
    /// 5-minute cache write rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub cache_write: Option<Decimal>,
    /// 1-hour cache write rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub cache_write_1h: Option<Decimal>,
    /// Reasoning token rate (default: output).
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub reasoning: Option<Decimal>,
    /// Batch input rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub batch_input: Option<Decimal>,
    /// Batch output rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub batch_output: Option<Decimal>,
    /// The unit all the rates above (and in `volume_tiers`) are given in.
    #[serde(default)]
    pub unit: PriceUnit,
    /// Rates that apply once a month's volume passes a threshold.
    #[serde(default)]
    pub volume_tiers: Vec<VolumeTier>,
    /// A flat monthly commitment: `{ monthly_fee = 500, included_tokens = 2_000_000_000 }`;
    /// the rates above are then the overage price.
    #[serde(default)]
    pub commitment: Option<CommitmentOverride>,
    /// Rates of the provider's `flex` service tier.
    #[serde(default)]
    pub flex: Option<TierOverride>,
    /// Rates of the provider's `priority` service tier.
    #[serde(default)]
    pub priority: Option<TierOverride>,
}

/// `commitment = { monthly_fee = 500, included_tokens = 2_000_000_000 }` (fee in USD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentOverride {
    /// USD per UTC calendar month.
    #[serde(deserialize_with = "exact::deserialize")]
    pub monthly_fee: Decimal,
    /// Tokens a month the fee includes (every bucket counts).
    pub included_tokens: u64,
}

/// `flex = { input = …, output = …, cached_input = … }`, in the price's `unit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierOverride {
    /// Uncached input rate.
    #[serde(deserialize_with = "exact::deserialize")]
    pub input: Decimal,
    /// Output rate.
    #[serde(deserialize_with = "exact::deserialize")]
    pub output: Decimal,
    /// Cache read rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub cached_input: Option<Decimal>,
}

/// The unit a configured rate is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    /// USD per million tokens (the default, and the catalog's unit).
    #[default]
    PerMillion,
    /// USD per thousand tokens.
    PerThousand,
    /// USD per token.
    PerToken,
}

/// `{ above_tokens_per_month = 1_000_000_000, input = …, output = … }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeTier {
    /// The tier applies once this many tokens were used in the month.
    pub above_tokens_per_month: u64,
    /// Uncached input rate.
    #[serde(deserialize_with = "exact::deserialize")]
    pub input: Decimal,
    /// Output rate.
    #[serde(deserialize_with = "exact::deserialize")]
    pub output: Decimal,
    /// Cache read rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub cached_input: Option<Decimal>,
}

/// The price a deployment is billed at, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedPrice {
    /// Effective rates (overrides and uplift applied), per million tokens.
    pub price: Price,
    /// True when the rates came from the catalog rather than an override.
    pub from_catalog: bool,
    /// The catalog entry used (`provider/model`), when the rates came from the catalog.
    pub catalog_entry: Option<String>,
}

/// No price is known for a deployment: no override and no catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no price for model {model:?} at provider {provider:?}: add it to the catalog or set `price` on the model")]
pub struct Unpriced {
    /// The catalog provider key that was looked up.
    pub provider: String,
    /// The upstream model id.
    pub model: String,
}

/// Resolves deployment prices against one catalog.
#[derive(Debug, Clone, Copy)]
pub struct PriceResolver<'a> {
    /// The catalog consulted when there is no override.
    pub catalog: &'a Catalog,
}

// === impl PriceUnit ===

impl PriceUnit {
    /// The factor turning a rate in this unit into USD per million tokens.
    pub fn to_per_million(self) -> Decimal {
        match self {
            PriceUnit::PerMillion => Decimal::ONE,
            PriceUnit::PerThousand => Decimal::from(1_000u32),
            PriceUnit::PerToken => Decimal::from(1_000_000u32),
        }
    }
}

// === impl PriceOverride ===

impl PriceOverride {
    /// The override as a per-million [`Price`] with source "config override".
    pub fn to_price(&self) -> Price {
        let k = self.unit.to_per_million();
        let m = |d: Decimal| (d * k).normalize();
        let o = |d: Option<Decimal>| d.map(m);
        let mut p = Price::new(m(self.input), m(self.output), "config override");
        p.cache_read = o(self.cached_input);
        p.cache_write_5m = o(self.cache_write);
        p.cache_write_1h = o(self.cache_write_1h);
        p.reasoning = o(self.reasoning);
        p.batch_input = o(self.batch_input);
        p.batch_output = o(self.batch_output);
        p.volume_tiers = self
            .volume_tiers
            .iter()
            .map(|v| VolumeRates {
                above_tokens_per_month: v.above_tokens_per_month,
                input: m(v.input),
                output: m(v.output),
                cache_read: o(v.cached_input),
            })
            .collect();
        let tier = |t: &TierOverride| TierRates {
            input: m(t.input),
            output: m(t.output),
            cache_read: o(t.cached_input),
            input_audio: None,
        };
        p.commitment = self.commitment.as_ref().map(|c| Commitment {
            monthly_fee: c.monthly_fee,
            included_tokens: c.included_tokens,
        });
        p.flex = self.flex.as_ref().map(tier);
        p.priority = self.priority.as_ref().map(tier);
        p
    }
}

// === impl ResolvedPrice ===

impl ResolvedPrice {
    /// Where the price came from, for people: `override` or
    /// `catalog openai/gpt-4o (genai-prices) @ sha256:…`, with any uplift noted.
    pub fn describe(&self, catalog_version: &str) -> String {
        match &self.catalog_entry {
            Some(e) => format!("catalog {e} ({}) @ {catalog_version}", self.price.source),
            None => self.price.source.clone(),
        }
    }
}

// === impl PriceResolver ===

impl PriceResolver<'_> {
    /// See [`resolve`].
    pub fn resolve(
        &self,
        provider: &str,
        upstream_model: &str,
        price_override: Option<&PriceOverride>,
        uplift_percent: Option<Decimal>,
    ) -> Result<ResolvedPrice, Unpriced> {
        resolve(
            self.catalog,
            provider,
            upstream_model,
            price_override,
            uplift_percent,
        )
    }
}

/// The effective price of a deployment.
///
/// `provider` is the catalog provider key ([`crate::vendor::resolve`] maps a configured
/// provider's kind and name to it). An override wins over the catalog; an uplift (e.g. `10`
/// for a +10% residency surcharge) then scales every rate, and is noted in `source`.
pub fn resolve(
    catalog: &Catalog,
    provider: &str,
    upstream_model: &str,
    price_override: Option<&PriceOverride>,
    uplift_percent: Option<Decimal>,
) -> Result<ResolvedPrice, Unpriced> {
    let (mut price, catalog_entry) = match price_override {
        Some(o) => (o.to_price(), None),
        None => match catalog.lookup(provider, upstream_model) {
            Some(e) => (e.price.clone(), Some(format!("{}/{}", e.provider, e.model))),
            None => {
                return Err(Unpriced {
                    provider: provider.to_owned(),
                    model: upstream_model.to_owned(),
                })
            }
        },
    };
    if let Some(pct) = uplift_percent.filter(|p| !p.is_zero()) {
        let factor = Decimal::ONE + pct / Decimal::ONE_HUNDRED;
        let sign = if pct.is_sign_positive() { "+" } else { "" };
        let source = format!("{} ({sign}{}% uplift)", price.source, pct.normalize());
        price = price.scaled(factor);
        price.source = source;
    }
    Ok(ResolvedPrice {
        price,
        from_catalog: catalog_entry.is_some(),
        catalog_entry,
    })
}
