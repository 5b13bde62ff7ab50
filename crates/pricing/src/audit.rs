//! `switchyard prices check`: catalog age, deprecations, source disagreements, and which
//! deployments in a gateway config have no price.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::config::{resolve, PriceOverride, ResolvedPrice, Unpriced};
use crate::exact;
use crate::import::{Disagreement, ImportReport, ProblemKind};
use crate::vendor;

/// The parts of a gateway config that pricing needs; everything else is ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewayView {
    /// `[[providers]]`.
    #[serde(default)]
    pub providers: Vec<ProviderView>,
    /// `[[models]]`.
    #[serde(default)]
    pub models: Vec<ModelView>,
    /// `[[routes]]`.
    #[serde(default)]
    pub routes: Vec<RouteView>,
}

/// A `[[providers]]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderView {
    /// Provider name, referenced by models.
    pub name: String,
    /// Provider kind (openai, anthropic, openai-compatible, …).
    pub kind: String,
    /// Base URL, for inferring an OpenAI-compatible provider's vendor.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Explicit vendor.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Residency or reseller uplift in percent, applied to every rate.
    #[serde(default, deserialize_with = "exact::deserialize_opt")]
    pub uplift_percent: Option<Decimal>,
}

/// A `[[models]]` table (a deployment).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelView {
    /// Deployment name.
    pub name: String,
    /// Provider name.
    pub provider: String,
    /// The provider's model id (default: `name`).
    #[serde(default)]
    pub upstream: Option<String>,
    /// Negotiated price.
    #[serde(default)]
    pub price: Option<PriceOverride>,
}

/// A `[[routes]]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct RouteView {
    /// Route name.
    pub name: String,
    /// Candidate deployment names.
    #[serde(default)]
    pub candidates: Vec<String>,
}

/// The outcome of `prices check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Catalog content version.
    pub catalog_version: String,
    /// Days since the catalog was generated.
    pub age_days: i64,
    /// Entries whose deprecation date has passed.
    pub past_deprecation: Vec<DeprecatedEntry>,
    /// Entries a source marks deprecated without a date.
    pub flagged_deprecated: usize,
    /// Disagreements between the source catalogs above the tolerance (`None`: not checked).
    pub disagreements: Option<Vec<Disagreement>>,
    /// The tolerance used, in percent.
    pub tolerance_percent: Decimal,
    /// Source entries left out for lack of a token price (`None`: sources not read).
    pub source_unpriced: Option<usize>,
    /// Config deployments and their prices (`None`: no config given).
    pub deployments: Option<Vec<DeploymentPrice>>,
}

/// A catalog entry past its deprecation date.
#[derive(Debug, Clone, Serialize)]
pub struct DeprecatedEntry {
    /// Provider key.
    pub provider: String,
    /// Model id.
    pub model: String,
    /// Deprecation date.
    pub date: NaiveDate,
}

/// How one configured deployment is priced.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentPrice {
    /// Deployment name.
    pub model: String,
    /// Catalog provider key.
    pub provider: String,
    /// Upstream model id.
    pub upstream: String,
    /// The price, or why there is none.
    pub price: Result<ResolvedPrice, String>,
}

// === impl GatewayView ===

impl GatewayView {
    /// Parse the pricing-relevant parts of a gateway TOML config.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Resolve every deployment's price against a catalog.
    pub fn price_deployments(&self, catalog: &Catalog) -> Vec<DeploymentPrice> {
        self.models
            .iter()
            .map(|m| self.price_of(catalog, m))
            .collect()
    }

    /// Resolve one deployment by name (`None`: no such deployment).
    pub fn price_named(&self, catalog: &Catalog, name: &str) -> Option<DeploymentPrice> {
        let m = self.models.iter().find(|m| m.name == name)?;
        Some(self.price_of(catalog, m))
    }

    fn price_of(&self, catalog: &Catalog, m: &ModelView) -> DeploymentPrice {
        let upstream = m.upstream.clone().unwrap_or_else(|| m.name.clone());
        let Some(p) = self.providers.iter().find(|p| p.name == m.provider) else {
            return DeploymentPrice {
                model: m.name.clone(),
                provider: m.provider.clone(),
                upstream,
                price: Err(format!("unknown provider {:?}", m.provider)),
            };
        };
        let key = vendor::resolve(&p.kind, &p.name, p.base_url.as_deref(), p.vendor.as_deref()).key;
        let price = resolve(catalog, &key, &upstream, m.price.as_ref(), p.uplift_percent)
            .map_err(|e: Unpriced| e.to_string());
        DeploymentPrice {
            model: m.name.clone(),
            provider: key,
            upstream,
            price,
        }
    }
}

/// Audit a catalog. `sources` is the report of re-importing the source catalogs, if read.
pub fn check(
    catalog: &Catalog,
    today: NaiveDate,
    sources: Option<&ImportReport>,
    config: Option<&GatewayView>,
    tolerance_percent: Decimal,
) -> CheckReport {
    let past_deprecation = catalog
        .entries
        .iter()
        .filter_map(|e| {
            let date = e.deprecation_date.filter(|d| *d < today)?;
            Some(DeprecatedEntry {
                provider: e.provider.clone(),
                model: e.model.clone(),
                date,
            })
        })
        .collect();
    CheckReport {
        catalog_version: catalog.version.clone(),
        age_days: (today - catalog.generated_at.date_naive()).num_days(),
        past_deprecation,
        flagged_deprecated: catalog.entries.iter().filter(|e| e.deprecated).count(),
        disagreements: sources.map(|r| {
            r.disagreements_above(tolerance_percent)
                .into_iter()
                .cloned()
                .collect()
        }),
        tolerance_percent,
        source_unpriced: sources.map(|r| r.count(ProblemKind::NoPrice)),
        deployments: config.map(|c| c.price_deployments(catalog)),
    }
}
