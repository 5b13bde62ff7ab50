//! `switchyard prices diff`: what changed between two catalogs, and whether each route's
//! cheapest candidate changes with it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::audit::GatewayView;
use crate::catalog::Catalog;
use crate::cost::estimate;

/// The standard request routes are compared on: input and output tokens.
pub const STANDARD_REQUEST: (u64, u64) = (1000, 300);

/// Differences between two catalogs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CatalogDiff {
    /// Entries only in the new catalog, as `provider/model`.
    pub added: Vec<String>,
    /// Entries only in the old catalog.
    pub removed: Vec<String>,
    /// Entries whose rates changed.
    pub changed: Vec<PriceChange>,
}

/// One entry's rate changes.
#[derive(Debug, Clone, Serialize)]
pub struct PriceChange {
    /// `provider/model`.
    pub key: String,
    /// Changed rates.
    pub fields: Vec<FieldChange>,
}

/// One rate, before and after (`None`: not set).
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    /// Rate name.
    pub field: &'static str,
    /// Old rate per million.
    pub old: Option<Decimal>,
    /// New rate per million.
    pub new: Option<Decimal>,
}

/// A route's cheapest candidate under both catalogs.
#[derive(Debug, Clone, Serialize)]
pub struct RouteChoice {
    /// Route name.
    pub route: String,
    /// Cheapest under the old catalog.
    pub old: Option<Choice>,
    /// Cheapest under the new catalog.
    pub new: Option<Choice>,
    /// Whether the cheapest deployment differs.
    pub changed: bool,
    /// Candidates without a price under the new catalog (never chosen as "cheapest").
    pub unpriced: Vec<String>,
}

/// A deployment and its cost for the standard request.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Deployment name.
    pub model: String,
    /// USD for [`STANDARD_REQUEST`].
    pub cost: Decimal,
}

/// Compare two catalogs entry by entry.
pub fn diff(old: &Catalog, new: &Catalog) -> CatalogDiff {
    let index = |c: &Catalog| -> BTreeMap<String, Vec<(&'static str, Decimal)>> {
        let key = |p: &str, m: &str| format!("{p}/{m}");
        c.entries
            .iter()
            .map(|e| (key(&e.provider, &e.model), e.price.fields()))
            .collect()
    };
    let (a, b) = (index(old), index(new));
    let mut d = CatalogDiff {
        removed: a.keys().filter(|k| !b.contains_key(*k)).cloned().collect(),
        added: b.keys().filter(|k| !a.contains_key(*k)).cloned().collect(),
        changed: Vec::new(),
    };
    for (k, old_fields) in &a {
        let Some(new_fields) = b.get(k) else { continue };
        let fields = field_changes(old_fields, new_fields);
        if !fields.is_empty() {
            d.changed.push(PriceChange {
                key: k.clone(),
                fields,
            });
        }
    }
    d
}

fn field_changes(
    old: &[(&'static str, Decimal)],
    new: &[(&'static str, Decimal)],
) -> Vec<FieldChange> {
    let get = |v: &[(&'static str, Decimal)], f: &str| v.iter().find(|(n, _)| *n == f).map(|x| x.1);
    let mut names: Vec<&'static str> = old.iter().chain(new).map(|(n, _)| *n).collect();
    names.dedup();
    let mut seen = Vec::new();
    names
        .into_iter()
        .filter(|n| {
            let fresh = !seen.contains(n);
            seen.push(n);
            fresh
        })
        .filter_map(|field| {
            let (o, n) = (get(old, field), get(new, field));
            (o != n).then_some(FieldChange {
                field,
                old: o,
                new: n,
            })
        })
        .collect()
}

/// For each route, the cheapest candidate for the standard request under each catalog.
pub fn route_choices(old: &Catalog, new: &Catalog, config: &GatewayView) -> Vec<RouteChoice> {
    config
        .routes
        .iter()
        .map(|r| {
            let old_c = cheapest(old, config, &r.candidates).0;
            let (new_c, unpriced) = cheapest(new, config, &r.candidates);
            let changed = old_c.as_ref().map(|c| &c.model) != new_c.as_ref().map(|c| &c.model);
            RouteChoice {
                route: r.name.clone(),
                old: old_c,
                new: new_c,
                changed,
                unpriced,
            }
        })
        .collect()
}

fn cheapest(
    c: &Catalog,
    config: &GatewayView,
    candidates: &[String],
) -> (Option<Choice>, Vec<String>) {
    let (input, output) = STANDARD_REQUEST;
    let mut best: Option<Choice> = None;
    let mut unpriced = Vec::new();
    for name in candidates {
        let priced = config.price_named(c, name).and_then(|d| d.price.ok());
        let Some(p) = priced else {
            unpriced.push(name.clone());
            continue;
        };
        let cost = estimate(
            &p.price,
            input,
            output,
            0,
            switchyard_types::ServiceTier::Standard,
        );
        if best.as_ref().is_none_or(|b| cost < b.cost) {
            best = Some(Choice {
                model: name.clone(),
                cost,
            });
        }
    }
    (best, unpriced)
}
