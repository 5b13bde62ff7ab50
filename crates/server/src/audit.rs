//! The audit: routing assumptions gone stale, each finding naming what to change. From the
//! config and the price catalog: stale or missing prices, deprecated models still routed to,
//! routes whose compliance tags exclude every candidate. From the ledger window: deployments
//! whose failures or escalations make trying them first dearer than going straight to the next
//! candidate, rules that never matched, requests every candidate was excluded for, a task mix
//! that shifted from the previous window.
//!
//! `switchyard audit` prints it; `serve` runs it every `[audit] interval`, exports the counts as
//! `switchyard_audit_findings` and shows the findings on the dashboard.

use std::{collections::BTreeMap, time::Duration};

use rust_decimal::{prelude::ToPrimitive, Decimal};
use serde::Serialize;
use switchyard_pricing::audit::{GatewayView, ModelView, ProviderView, RouteView};
use switchyard_pricing::{Catalog, Utc};
use switchyard_store::{GroupBy, LedgerReader, LedgerRow, StoreError};

use crate::config::Config;

/// Catalog older than this many days is stale.
const STALE_DAYS: i64 = 30;
/// Fewest requests a route needs before the ledger checks judge it.
const MIN_REQUESTS: usize = 50;
/// The row-level checks (effective cost, exclusions, task mix) read at most this many of the
/// latest rows of each window.
const SAMPLE: u32 = 20_000;
/// Task-mix shift (total variation distance) that is reported.
const MIX_SHIFT: f64 = 0.2;

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `warning` or `info`.
    pub severity: &'static str,
    /// What kind of problem.
    pub kind: &'static str,
    /// What it is about (a model, route or rule).
    pub subject: String,
    /// What was found.
    pub message: String,
    /// What to change.
    pub fix: String,
}

/// An audit's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// When it ran (unix ms).
    pub at_ms: i64,
    /// Start of the window the ledger checks read (unix ms).
    pub since_ms: i64,
    /// Requests in that window.
    pub requests: usize,
    /// What was found.
    pub findings: Vec<Finding>,
}

/// Audit `cfg` priced by `catalog` against the ledger's last `window` before `now` (unix ms);
/// the task mix is compared with the window before it.
pub async fn audit(
    cfg: &Config,
    catalog: &Catalog,
    reader: &LedgerReader,
    window: Duration,
    now: i64,
) -> Result<Audit, StoreError> {
    let mut findings = config_findings(catalog, &price_view(cfg));
    findings.extend(tag_findings(cfg));
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 4);
    let since = now - window_ms;
    // Counts from the route and rule summaries (rollups); the row-level checks read at most
    // the latest SAMPLE rows of each window, so memory stays bounded on a large ledger.
    let counts = |g: Vec<switchyard_store::SummaryRow>| -> BTreeMap<String, u64> {
        g.into_iter().map(|r| (r.key, r.requests)).collect()
    };
    let routes = counts(reader.summary(Some(since), None, GroupBy::Route).await?);
    let rules = counts(reader.summary(Some(since), None, GroupBy::Rule).await?);
    let current: Vec<LedgerRow> = reader
        .recent(SAMPLE, None)
        .await?
        .into_iter()
        .filter(|r| r.ts >= since)
        .collect();
    let previous: Vec<LedgerRow> = reader
        .recent(SAMPLE, Some(since))
        .await?
        .into_iter()
        .filter(|r| r.ts >= since - window_ms)
        .collect();
    let (current, previous): (Vec<&LedgerRow>, Vec<&LedgerRow>) =
        (current.iter().collect(), previous.iter().collect());
    findings.extend(effective_cost_findings(&current));
    findings.extend(rule_findings(cfg, &routes, &rules));
    findings.extend(excluded_findings(&current));
    findings.extend(served_model_findings(cfg, &current));
    findings.extend(mix_findings(&previous, &current));
    Ok(Audit {
        at_ms: now,
        since_ms: since,
        requests: usize::try_from(routes.values().sum::<u64>()).unwrap_or(usize::MAX),
        findings,
    })
}

/// The parts of the config pricing reads.
pub fn price_view(cfg: &Config) -> GatewayView {
    GatewayView {
        providers: cfg
            .providers
            .iter()
            .map(|p| ProviderView {
                name: p.name.clone(),
                kind: p.kind.as_str().into(),
                base_url: p.base_url.clone(),
                vendor: p.vendor.clone(),
                uplift_percent: p.uplift_percent,
            })
            .collect(),
        models: cfg
            .models
            .iter()
            .map(|m| ModelView {
                name: m.name.clone(),
                provider: m.provider.clone(),
                upstream: m.upstream.clone(),
                price: m.price.clone(),
            })
            .collect(),
        routes: cfg
            .routes
            .iter()
            .map(|r| RouteView {
                name: r.name.clone(),
                candidates: r.candidates.clone(),
            })
            .collect(),
    }
}

/// Routes whose `require_tags` no candidate's provider carries: every request is refused.
pub fn tag_findings(cfg: &Config) -> Vec<Finding> {
    let provider_of = |model: &str| {
        let m = cfg.models.iter().find(|m| m.name == model)?;
        cfg.providers.iter().find(|p| p.name == m.provider)
    };
    cfg.routes
        .iter()
        .filter(|r| !r.require_tags.is_empty())
        .filter(|r| {
            !r.candidates.iter().any(|c| {
                provider_of(c).is_some_and(|p| r.require_tags.iter().all(|t| p.tags.contains(t)))
            })
        })
        .map(|r| Finding {
            severity: "warning",
            kind: "constraints_exclude_all",
            subject: format!("route {}", r.name),
            message: format!(
                "no candidate's provider carries every required tag ({}): every request is refused",
                r.require_tags.join(", ")
            ),
            fix: "add a candidate whose provider carries those tags, or tag its provider".into(),
        })
        .collect()
}

/// Deployments whose answers name another model than the one requested: the provider served
/// something else (a silent substitution, a wrong `upstream`), billed at the requested price.
/// A dated or versioned name of the requested model (`gpt-4o-mini-2024-07-18` for
/// `gpt-4o-mini`, `claude-3-5-haiku-20241022` for `claude-3-5-haiku-latest`) is the same
/// model; Azure OpenAI (deployment names) and Bedrock are not judged.
pub fn served_model_findings(cfg: &Config, rows: &[&LedgerRow]) -> Vec<Finding> {
    use switchyard_providers::ProviderKind;
    /// Per deployment: the upstream asked, answers judged, the other names seen.
    type Seen<'a> = (&'a str, usize, BTreeMap<&'a str, usize>);
    let mut seen: BTreeMap<&str, Seen> = BTreeMap::new();
    for a in rows.iter().flat_map(|r| &r.attempts) {
        let Some(served) = a.served_model.as_deref() else {
            continue;
        };
        let Some(m) = cfg.models.iter().find(|m| m.name == a.model) else {
            continue;
        };
        let kind = cfg
            .providers
            .iter()
            .find(|p| p.name == m.provider)
            .map(|p| p.kind);
        if matches!(
            kind,
            Some(ProviderKind::AzureOpenAi | ProviderKind::Bedrock) | None
        ) {
            continue;
        }
        let asked = m.upstream.as_deref().unwrap_or(&m.name);
        let e = seen.entry(&m.name).or_insert((asked, 0, BTreeMap::new()));
        e.1 += 1;
        if !same_model(asked, served) {
            *e.2.entry(served).or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, (_, _, other))| !other.is_empty())
        .map(|(model, (asked, n, other))| {
            let count: usize = other.values().sum();
            let names: Vec<String> = other.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            Finding {
                severity: "warning",
                kind: "served_other_model",
                subject: model.to_owned(),
                message: format!(
                    "{count} of {n} answer(s) asked of `{asked}` named another model: {}; they were billed at `{model}`'s price",
                    names.join(", ")
                ),
                fix: format!("check the provider's model mapping and `upstream` of `{model}`, or price it as what is served"),
            }
        })
        .collect()
}

/// Whether an answer's model name is the requested model (or a dated/versioned name of it).
fn same_model(asked: &str, served: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("models/").unwrap_or(&s).to_owned();
        s.strip_suffix("-latest").map(str::to_owned).unwrap_or(s)
    };
    let (a, s) = (norm(asked), norm(served));
    let base = |x: &str| x.rsplit('/').next().unwrap_or(x).to_owned();
    let (a, s) = (base(&a), base(&s));
    // Equal, or one is the other plus a date or version (`-2024-07-18`, `-001`).
    let versioned = |long: &str, short: &str| {
        long.strip_prefix(short)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    a == s || versioned(&s, &a) || versioned(&a, &s)
}

/// Routes where requests failed because every candidate was excluded (context window, tools,
/// images, JSON, region, compliance, unpriced, circuits open), with the reasons seen.
pub fn excluded_findings(rows: &[&LedgerRow]) -> Vec<Finding> {
    let mut by_route: BTreeMap<String, (usize, BTreeMap<String, usize>)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.error_class.as_deref() == Some("no_candidate"))
    {
        let e = by_route
            .entry(r.route.clone().unwrap_or_else(|| "(none)".into()))
            .or_default();
        e.0 += 1;
        let reasons = r.decision.get("excluded").and_then(|x| x.as_array());
        for x in reasons.into_iter().flatten() {
            if let Some(why) = x.get("reason").and_then(|v| v.as_str()) {
                *e.1.entry(why.to_owned()).or_default() += 1;
            }
        }
    }
    by_route
        .into_iter()
        .map(|(route, (n, reasons))| {
            let why: Vec<String> = reasons.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            Finding {
                severity: "warning",
                kind: "constraints_exclude_all",
                subject: format!("route {route}"),
                message: format!(
                    "{n} request(s) found every candidate excluded{}",
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", why.join(", "))
                    }
                ),
                fix: "add a candidate that meets those requests' needs (context window, tools, images, region) or relax the route's constraints".into(),
            }
        })
        .collect()
}

/// Prices: the catalog's age, deployments without a price, deprecated models still routed to.
pub fn config_findings(
    catalog: &switchyard_pricing::Catalog,
    view: &switchyard_pricing::audit::GatewayView,
) -> Vec<Finding> {
    let today = Utc::now().date_naive();
    let report = switchyard_pricing::audit::check(catalog, today, None, Some(view), Decimal::ONE);
    let mut out = Vec::new();
    if report.age_days > STALE_DAYS {
        out.push(Finding {
            severity: "warning",
            kind: "stale_prices",
            subject: format!("catalog {}", report.catalog_version),
            message: format!("the price catalog is {} days old", report.age_days),
            fix: "re-import it (`switchyard prices import`) and review `switchyard prices diff`"
                .into(),
        });
    }
    let routed = |model: &str| -> Vec<String> {
        view.routes
            .iter()
            .filter(|r| r.candidates.iter().any(|c| c == model))
            .map(|r| r.name.clone())
            .collect()
    };
    for d in report.deployments.iter().flatten() {
        match &d.price {
            Err(why) => out.push(Finding {
                severity: "warning",
                kind: "missing_price",
                subject: d.model.clone(),
                message: format!("unpriced: {why}; its spend is reported as unpriced, never $0"),
                fix: format!(
                    "set `price` on model `{}` or use a catalog that has it",
                    d.model
                ),
            }),
            Ok(p) if !p.from_catalog => {}
            Ok(_) => {
                let deprecated = report
                    .past_deprecation
                    .iter()
                    .find(|e| e.provider == d.provider && e.model == d.upstream);
                if let Some(e) = deprecated {
                    let routes = routed(&d.model);
                    out.push(Finding {
                        severity: "warning",
                        kind: "deprecated_model",
                        subject: d.model.clone(),
                        message: format!(
                            "{}/{} was deprecated on {}; routes using it: {}",
                            e.provider,
                            e.model,
                            e.date,
                            if routes.is_empty() {
                                "none".into()
                            } else {
                                routes.join(", ")
                            }
                        ),
                        fix: "replace it with its successor in those routes".into(),
                    });
                }
            }
        }
    }
    out
}

/// Per route and first-tried model: what a request cost when that model was tried first
/// (failed attempts and escalations included) against what the next model cost when it
/// answered. A first choice that costs more on average than its own fallback is a bad bet.
pub fn effective_cost_findings(rows: &[&LedgerRow]) -> Vec<Finding> {
    #[derive(Default)]
    struct Acc {
        n: usize,
        moved: usize,
        cost: Decimal,
    }
    // (route, first model) → rows; (route, model) → cost of that model's answering attempts.
    let mut first: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut answered: BTreeMap<(String, String), (usize, Decimal)> = BTreeMap::new();
    let mut order: BTreeMap<(String, String), String> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.status == "ok") {
        let (Some(route), Some(cost), Some(a0)) = (&r.route, r.cost(), r.attempts.first()) else {
            continue;
        };
        let acc = first.entry((route.clone(), a0.model.clone())).or_default();
        acc.n += 1;
        acc.cost += cost;
        if r.attempts.len() > 1 {
            acc.moved += 1;
        }
        if let Some(next) = r.attempts.iter().find(|a| a.model != a0.model) {
            order
                .entry((route.clone(), a0.model.clone()))
                .or_insert_with(|| next.model.clone());
        }
        if let Some(last) = r.attempts.last() {
            let e = answered
                .entry((route.clone(), last.model.clone()))
                .or_default();
            e.0 += 1;
            e.1 += last.cost().unwrap_or_default();
        }
    }
    let mut out = Vec::new();
    for ((route, model), acc) in &first {
        let Some(next) = order.get(&(route.clone(), model.clone())) else {
            continue;
        };
        let Some(&(k, next_cost)) = answered.get(&(route.clone(), next.clone())) else {
            continue;
        };
        if acc.n < MIN_REQUESTS || k == 0 {
            continue;
        }
        let tried_first = acc.cost / Decimal::from(acc.n);
        let direct = next_cost / Decimal::from(k);
        if tried_first > direct {
            let rate = 100.0 * acc.moved as f64 / acc.n as f64;
            out.push(Finding {
                severity: "warning",
                kind: "effective_cost",
                subject: format!("route {route}: {model}"),
                message: format!(
                    "{rate:.0}% of requests tried on {model} first moved on (failed or escalated); with those attempts a request that starts there costs ${:.8} on average, more than ${:.8} for {next} answering directly",
                    tried_first.to_f64().unwrap_or(0.0),
                    direct.to_f64().unwrap_or(0.0),
                ),
                fix: format!("put {next} before {model} in route {route} (or fix what makes {model} fail its evaluators)"),
            });
        }
    }
    out
}

/// Rules of routes with traffic that never matched in the window.
///
/// `routes` and `rules` are the window's request counts per route and per rule name.
pub fn rule_findings(
    cfg: &Config,
    routes: &BTreeMap<String, u64>,
    rules: &BTreeMap<String, u64>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for route in &cfg.routes {
        let traffic = routes.get(&route.name).copied().unwrap_or(0);
        if traffic < MIN_REQUESTS as u64 {
            continue;
        }
        for rule in &route.rules {
            if rules.get(&rule.name).copied().unwrap_or(0) == 0 {
                out.push(Finding {
                    severity: "info",
                    kind: "rule_never_matched",
                    subject: format!("route {}: rule {}", route.name, rule.name),
                    message: format!("no match in {traffic} request(s) of the route"),
                    fix: "check its conditions (task labels, tags, token bounds) or remove it"
                        .into(),
                });
            }
        }
    }
    out
}

/// The share of each task label now against the window before (total variation distance).
pub fn mix_findings(previous: &[&LedgerRow], current: &[&LedgerRow]) -> Vec<Finding> {
    fn shares(rows: &[&LedgerRow]) -> BTreeMap<String, f64> {
        let mut m: BTreeMap<String, f64> = BTreeMap::new();
        for r in rows {
            *m.entry(r.task.clone().unwrap_or_else(|| "(none)".into()))
                .or_default() += 1.0;
        }
        let n = rows.len().max(1) as f64;
        m.values_mut().for_each(|v| *v /= n);
        m
    }
    if previous.len() < MIN_REQUESTS || current.len() < MIN_REQUESTS {
        return Vec::new();
    }
    let (a, b) = (shares(previous), shares(current));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    let tvd: f64 = keys
        .iter()
        .map(|k| (get(&a, k) - get(&b, k)).abs())
        .sum::<f64>()
        / 2.0;
    if tvd < MIX_SHIFT {
        return Vec::new();
    }
    let mut moves: Vec<(&String, f64, f64)> =
        keys.iter().map(|k| (*k, get(&a, k), get(&b, k))).collect();
    moves.sort_by(|x, y| (y.2 - y.1).abs().total_cmp(&(x.2 - x.1).abs()));
    let top: Vec<String> = moves
        .iter()
        .take(3)
        .map(|(k, x, y)| format!("{k} {:.0}% → {:.0}%", 100.0 * x, 100.0 * y))
        .collect();
    vec![Finding {
        severity: "info",
        kind: "task_mix_shift",
        subject: "task mix".into(),
        message: format!(
            "the task mix moved {:.0}% (total variation) from the window before: {}",
            100.0 * tvd,
            top.join(", ")
        ),
        fix: "re-check rules and routes written for the old mix (`switchyard replay` shows what another config would do)".into(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_store::AttemptRow;

    fn attempt(model: &str, usd: &str, rejected: bool) -> AttemptRow {
        let mut a = AttemptRow {
            provider: "p".into(),
            model: model.into(),
            status: 200,
            error_class: None,
            latency_ms: 1,
            ttft_ms: None,
            usage: Default::default(),
            cost_nanos: None,
            cost_rem_femtos: 0,
            usage_estimated: false,
            billed: true,
            rejected: rejected.then(|| "evaluator failed: json".into()),
            served_model: None,
            offset_us: 0,
        };
        a.set_cost(Some(usd.parse().unwrap()));
        a
    }

    fn row(task: &str, attempts: Vec<AttemptRow>) -> LedgerRow {
        let mut r = LedgerRow::new();
        r.route = Some("r".into());
        r.status = "ok".into();
        r.task = Some(task.into());
        let total: Decimal = attempts.iter().filter_map(AttemptRow::cost).sum();
        r.set_cost(Some(total));
        r.attempts = attempts;
        r
    }

    #[test]
    fn a_first_choice_that_escalates_too_often_costs_more_than_its_fallback() {
        // cheap costs 0.4, premium 1.0; 70% of cheap answers are escalated: a request that
        // starts on cheap costs 0.4 + 0.7 × 1.0 = 1.1 > 1.0.
        let mut rows: Vec<LedgerRow> = (0..100)
            .map(|i| {
                if i % 10 < 7 {
                    row(
                        "t",
                        vec![
                            attempt("cheap", "0.4", true),
                            attempt("premium", "1.0", false),
                        ],
                    )
                } else {
                    row("t", vec![attempt("cheap", "0.4", false)])
                }
            })
            .collect();
        let refs: Vec<&LedgerRow> = rows.iter().collect();
        let f = effective_cost_findings(&refs);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("70%"), "{}", f[0].message);
        assert!(f[0].fix.contains("put premium before cheap"));
        // At 30% escalation the cheap model pays for itself: no finding.
        for (i, r) in rows.iter_mut().enumerate() {
            if i % 10 >= 3 {
                *r = row("t", vec![attempt("cheap", "0.4", false)]);
            }
        }
        let refs: Vec<&LedgerRow> = rows.iter().collect();
        assert!(effective_cost_findings(&refs).is_empty());
    }

    #[test]
    fn a_provider_serving_another_model_is_reported_and_a_dated_name_is_not() {
        let cfg = crate::config::parse(
            r#"
            [[providers]]
            name = "p"
            kind = "openai-compatible"
            base_url = "http://127.0.0.1:9/v1"
            [[models]]
            name = "mini"
            provider = "p"
            upstream = "gpt-4o-mini"
            [[models]]
            name = "haiku"
            provider = "p"
            upstream = "claude-3-5-haiku-latest"
            "#,
        )
        .unwrap();
        let served = |model: &str, served: &str| {
            let mut a = attempt(model, "0.1", false);
            a.served_model = Some(served.into());
            row("t", vec![a])
        };
        let rows = [
            served("mini", "gpt-4o-mini-2024-07-18"),
            served("haiku", "claude-3-5-haiku-20241022"),
            served("mini", "gpt-3.5-turbo"),
            served("mini", "gpt-4o-mini"),
        ];
        let f = served_model_findings(&cfg, &rows.iter().collect::<Vec<_>>());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "mini");
        assert!(
            f[0].message.starts_with("1 of 3 answer(s)"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("gpt-3.5-turbo ×1"));
        assert!(same_model(
            "gemini-2.5-flash",
            "models/gemini-2.5-flash-001"
        ));
        assert!(!same_model("gpt-4o", "llama-3-70b"));
        assert!(
            !same_model("gpt-4o", "gpt-4o-mini"),
            "a cheaper sibling is another model"
        );
        assert!(same_model("gpt-4o-2024-08-06", "gpt-4o"));
    }

    #[test]
    fn a_shifted_task_mix_is_reported_and_a_stable_one_is_not() {
        let before: Vec<LedgerRow> = (0..100)
            .map(|i| row(if i % 2 == 0 { "faq" } else { "code" }, vec![]))
            .collect();
        let same: Vec<LedgerRow> = (0..100)
            .map(|i| row(if i % 2 == 0 { "faq" } else { "code" }, vec![]))
            .collect();
        let shifted: Vec<LedgerRow> = (0..100)
            .map(|i| row(if i % 10 == 0 { "faq" } else { "code" }, vec![]))
            .collect();
        let b: Vec<&LedgerRow> = before.iter().collect();
        assert!(mix_findings(&b, &same.iter().collect::<Vec<_>>()).is_empty());
        let f = mix_findings(&b, &shifted.iter().collect::<Vec<_>>());
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("40%"), "{}", f[0].message);
    }

    #[test]
    fn a_rule_that_never_matched_is_reported() {
        let cfg = crate::config::parse(
            r#"
            [[providers]]
            name = "p"
            kind = "openai-compatible"
            base_url = "http://127.0.0.1:9/v1"
            [[models]]
            name = "m"
            provider = "p"
            [[routes]]
            name = "r"
            candidates = ["m"]
            rules = [{ name = "used", when = { task = "t" }, use = ["m"] },
                     { name = "dead", when = { task = "never" }, use = ["m"] }]
            "#,
        )
        .unwrap();
        let routes = [("r".to_owned(), 60)].into_iter().collect();
        let rules = [("used".to_owned(), 60)].into_iter().collect();
        let f = rule_findings(&cfg, &routes, &rules);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "route r: rule dead");
    }
}
