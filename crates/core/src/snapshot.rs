//! The immutable, validated configuration a request runs against.
//!
//! Everything a decision needs is resolved here, once per load: model references, compiled
//! rules, prices (catalog or override) and capabilities, so that planning a request only
//! reads plain data.

use std::{collections::HashMap, sync::Arc};

use switchyard_pricing::Vendor;
use switchyard_pricing::{Catalog, Decimal, Price};
use switchyard_providers::{AnyProvider, ProviderKind, Timeouts};
use switchyard_types::ServiceTier;

use crate::{
    config::{ModelConfig, OnUnpriced, RouteConfig, RoutingConfig, Strategy},
    rules::{Rule, RuleAction},
    stats::{DeploymentStats, StatsRegistry},
    ConfigError,
};

/// Index of a deployment in [`Snapshot::deployments`].
pub type DeploymentId = usize;

/// What a deployment can do. `None` means unknown, which routing treats as supported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// Context window (input + output) in tokens.
    pub context_window: Option<u64>,
    /// Largest output in tokens.
    pub max_output: Option<u64>,
    /// Tool calling.
    pub tools: Option<bool>,
    /// Image input.
    pub vision: Option<bool>,
    /// JSON output.
    pub json: Option<bool>,
    /// Continues a trailing assistant message.
    pub prefill: bool,
    /// Takes a reasoning effort (`None`: not known).
    pub reasoning: Option<bool>,
}

/// Integer rates for cost *estimates*: nano-USD per million tokens. Exact for prices with up
/// to nine decimals per million tokens; used only to rank candidates, never to bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstRates {
    /// Uncached input.
    pub input: u128,
    /// Output.
    pub output: u128,
    /// Cache read (the input rate if the price has none).
    pub cache_read: u128,
}

impl EstRates {
    /// Nothing to pay (tokens inside a paid commitment).
    pub const ZERO: EstRates = EstRates {
        input: 0,
        output: 0,
        cache_read: 0,
    };

    fn of(p: &Price) -> EstRates {
        EstRates {
            input: nanos(p.input),
            output: nanos(p.output),
            cache_read: nanos(p.cache_read.unwrap_or(p.input)),
        }
    }

    /// The rates of a service tier the price states (cache reads: the tier's, else the
    /// standard cache-read rate).
    fn of_tier(p: &Price, tier: ServiceTier) -> Option<EstRates> {
        let t = p.tier(tier)?;
        Some(EstRates {
            input: nanos(t.input),
            output: nanos(t.output),
            cache_read: nanos(t.cache_read.or(p.cache_read).unwrap_or(t.input)),
        })
    }

    /// Estimated cost in nano-USD × 10⁻⁶ (i.e. femto-USD).
    pub fn estimate(&self, input: u64, cached: u64, output: u64) -> u128 {
        let cached = cached.min(input);
        (input - cached) as u128 * self.input
            + cached as u128 * self.cache_read
            + output as u128 * self.output
    }
}

/// USD per million → nano-USD per million.
fn nanos(d: Decimal) -> u128 {
    (d * Decimal::from(1_000_000_000u64))
        .round()
        .try_into()
        .unwrap_or(u128::MAX)
}

/// One model at one provider, ready to call.
#[derive(Debug)]
pub struct Deployment {
    /// Model name (what clients and routes use).
    pub name: String,
    /// Provider config name.
    pub provider_name: String,
    /// Provider wire API.
    pub provider_kind: ProviderKind,
    /// The adapter.
    pub provider: Arc<AnyProvider>,
    /// The provider's model id.
    pub upstream: String,
    /// Rule label.
    pub tier: Option<String>,
    /// Fallback deployments when the client names this model.
    pub fallbacks: Vec<DeploymentId>,
    /// The provider's timeouts.
    pub timeouts: Timeouts,
    /// Where the provider processes data.
    pub regions: Vec<String>,
    /// The provider's compliance tags.
    pub tags: Vec<String>,
    /// Capabilities (config over catalog).
    pub caps: Caps,
    /// Who bills for it (the catalog provider key).
    pub vendor: Vendor,
    /// The price in force (override, else catalog); `None` = unpriced.
    pub price: Option<Price>,
    /// Where the price came from: "override", "catalog <vendor>/<model> @ <version>", or
    /// why there is none.
    pub price_source: String,
    /// Integer rates for estimates.
    pub rates: Option<EstRates>,
    /// Live statistics.
    pub stats: Arc<DeploymentStats>,
    /// The provider account's configured limits.
    pub limits: crate::config::ProviderLimits,
    /// The provider account's usage this minute (shared by its deployments).
    pub usage: Arc<crate::health::ProviderUsage>,
    /// Adjustments applied to every request sent to it.
    pub adjust: Option<Arc<crate::config::Adjust>>,
    /// Integer rates of the flex and priority tiers, where the provider can be asked for the
    /// tier (OpenAI, Gemini, the simulator) and the price states its rates.
    pub tier_rates: [Option<EstRates>; 2],
    /// The month's tokens a commitment includes (their marginal cost is 0), and the volume
    /// tiers' integer rates by threshold, ascending: estimates follow the month's count.
    pub month_rates: (Option<u64>, Vec<(u64, EstRates)>),
    /// Integer rates through the provider's batch API (its batch rates where the price states
    /// them, else the standard ones).
    pub batch_rates: Option<EstRates>,
}

impl Deployment {
    /// The tier this deployment is asked for when `wanted` is: that tier where it sells it
    /// (see [`Deployment::tier_rates`]), else the standard tier.
    pub fn tier_for(&self, wanted: ServiceTier) -> ServiceTier {
        match wanted {
            ServiceTier::Flex if self.tier_rates[0].is_some() => wanted,
            ServiceTier::Priority if self.tier_rates[1].is_some() => wanted,
            _ => ServiceTier::Standard,
        }
    }

    /// Integer rates at the tier it is asked for when `wanted` is, at this month's count: 0
    /// inside a commitment's included tokens, a volume tier's past its threshold (as
    /// [`switchyard_pricing::cost`] bills them).
    pub fn rates_at(&self, wanted: ServiceTier) -> Option<EstRates> {
        let (included, volume) = &self.month_rates;
        if included.is_some() || !volume.is_empty() {
            let used = self.stats.monthly.current(crate::cx::unix_now());
            if included.is_some_and(|n| used < n) {
                return self.rates.map(|_| EstRates::ZERO);
            }
            if let Some((_, r)) = volume.iter().rev().find(|(t, _)| used >= *t) {
                return Some(*r);
            }
        }
        match self.tier_for(wanted) {
            ServiceTier::Flex => self.tier_rates[0],
            ServiceTier::Priority => self.tier_rates[1],
            ServiceTier::Standard => self.rates,
        }
    }
}

/// A resolved route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Route name.
    pub name: String,
    /// Ordering strategy.
    pub strategy: Strategy,
    /// Candidates in configured order.
    pub candidates: Vec<DeploymentId>,
    /// Compiled rules, first match wins.
    pub rules: Vec<Rule>,
    /// Weight per deployment for `weighted` (default 1).
    pub weights: HashMap<DeploymentId, u32>,
    /// Compliance tags every candidate's provider must carry.
    pub require_tags: Vec<String>,
    /// Timeouts overriding the providers'.
    pub timeouts: Option<Timeouts>,
    /// Most attempts per request.
    pub max_attempts: u32,
    /// Hedging policy.
    pub hedge: Option<crate::config::HedgeConfig>,
    /// Evaluators run on every answer.
    pub evaluators: Vec<crate::evaluate::Evaluator>,
    /// The `quality-floor` target.
    pub quality: Option<crate::config::QualityTarget>,
    /// Answer a refusal from the next candidate.
    pub escalate_on_refusal: bool,
    /// Longest held-back stream of a `cascade`, bytes.
    pub hold_back_bytes: usize,
    /// The `learned` strategy's model.
    pub router: Option<Arc<switchyard_router::Model>>,
    /// Keep prompts and answers.
    pub capture: Option<crate::config::CaptureConfig>,
    /// The service tier asked for on this route (a client's `flex` lane wins).
    pub service_tier: ServiceTier,
    /// The response cache, when on.
    pub cache: Option<crate::config::CacheConfig>,
    /// Automatic Anthropic prompt-cache breakpoints.
    pub cache_breakpoints: bool,
}

/// A provider as the snapshot needs it.
#[derive(Debug, Clone)]
pub struct ProviderEntry {
    /// The adapter.
    pub adapter: Arc<AnyProvider>,
    /// Its wire API.
    pub kind: ProviderKind,
    /// Its timeouts.
    pub timeouts: Timeouts,
    /// Where it processes data.
    pub regions: Vec<String>,
    /// Compliance tags.
    pub tags: Vec<String>,
    /// Percentage added to every price (residency uplift).
    pub uplift_percent: Option<switchyard_pricing::Decimal>,
    /// Configured rate limits.
    pub limits: crate::config::ProviderLimits,
    /// Who bills for it: the catalog provider key prices are looked up under.
    pub vendor: Vendor,
}

/// Describe a provider for [`Snapshot::build`].
pub fn snapshot_provider(
    adapter: Arc<AnyProvider>,
    kind: ProviderKind,
    timeouts: Timeouts,
) -> ProviderEntry {
    ProviderEntry {
        adapter,
        kind,
        timeouts,
        regions: Vec::new(),
        tags: Vec::new(),
        uplift_percent: None,
        limits: crate::config::ProviderLimits::default(),
        vendor: switchyard_pricing::vendor::resolve(kind.as_str(), "", None, None),
    }
}

/// Everything a request needs, resolved and validated; swapped atomically on reload.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// All deployments.
    pub deployments: Vec<Deployment>,
    /// Deployment by model name.
    pub models: HashMap<String, DeploymentId>,
    /// Routes by name.
    pub routes: HashMap<String, Route>,
    /// Route names in config order (for listings).
    pub route_order: Vec<String>,
    /// The route for `model = "auto"`.
    pub default_route: Option<String>,
    /// The baseline deployment for savings.
    pub baseline: Option<DeploymentId>,
    /// Unpriced candidates allowed?
    pub on_unpriced: OnUnpriced,
    /// Default expected output tokens for estimates.
    pub expected_output: u64,
    /// Version of the price catalog in use.
    pub catalog_version: String,
    /// Quality observations (shared across snapshots).
    pub quality: Arc<crate::quality::QualityBook>,
    /// Quality priors (`[routing.quality]`).
    pub quality_priors: crate::config::QualityPriors,
    /// Client model names and patterns, and the route or model each means.
    pub aliases: Vec<crate::config::AliasConfig>,
    /// Session pins (shared across snapshots).
    pub pins: Arc<crate::session::Pins>,
    /// How long a session pin lasts (zero: affinity off).
    pub session_ttl: std::time::Duration,
}

/// The inputs of [`Snapshot::build`].
#[derive(Debug)]
pub struct SnapshotInputs<'a> {
    /// `[[models]]`.
    pub models: &'a [ModelConfig],
    /// `[[routes]]`.
    pub routes: &'a [RouteConfig],
    /// `[routing]`.
    pub routing: &'a RoutingConfig,
    /// Providers by name.
    pub providers: &'a HashMap<String, ProviderEntry>,
    /// Price and capability catalog.
    pub catalog: &'a Catalog,
    /// Live statistics, kept across reloads.
    pub stats: &'a StatsRegistry,
}

impl Snapshot {
    /// Resolve and validate the model and route sections; every problem is reported.
    pub fn build(inp: SnapshotInputs<'_>) -> Result<Snapshot, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut snap = Snapshot {
            on_unpriced: inp.routing.on_unpriced,
            expected_output: inp.routing.expected_output_tokens,
            catalog_version: inp.catalog.version.clone(),
            quality: inp.stats.quality().clone(),
            pins: inp.stats.pins().clone(),
            session_ttl: inp.routing.session_ttl,
            quality_priors: inp.routing.quality.clone(),
            ..Snapshot::default()
        };
        for (i, m) in inp.models.iter().enumerate() {
            if snap.models.contains_key(&m.name) {
                errors.push(ConfigError::new(
                    format!("models[{i}].name"),
                    format!("duplicate model `{}`", m.name),
                ));
                continue;
            }
            let Some(p) = inp.providers.get(&m.provider) else {
                errors.push(ConfigError::new(
                    format!("models[{i}].provider"),
                    format!("unknown provider `{}`", m.provider),
                ));
                continue;
            };
            snap.models.insert(m.name.clone(), snap.deployments.len());
            snap.deployments
                .push(deployment(m, p, inp.catalog, inp.stats));
        }
        for (i, m) in inp.models.iter().enumerate() {
            let ids = resolve(
                &snap.models,
                &m.fallbacks,
                &format!("models[{i}].fallbacks"),
                &mut errors,
            );
            if let Some(&id) = snap.models.get(&m.name) {
                snap.deployments[id].fallbacks = ids;
            }
        }
        for (i, r) in inp.routes.iter().enumerate() {
            if let Some(route) = build_route(&snap, r, &format!("routes[{i}]"), &mut errors) {
                snap.route_order.push(r.name.clone());
                snap.routes.insert(r.name.clone(), route);
            }
        }
        check_route_refs(&snap, inp.routes, &mut errors);
        for (i, a) in inp.routing.aliases.iter().enumerate() {
            if !snap.routes.contains_key(&a.to)
                && !snap.models.contains_key(&a.to)
                && a.to != "auto"
            {
                errors.push(ConfigError::new(
                    format!("routing.aliases[{i}].to"),
                    format!("unknown route or model `{}`", a.to),
                ));
            }
            if a.pattern.is_empty() {
                errors.push(ConfigError::new(
                    format!("routing.aliases[{i}].match"),
                    "must not be empty",
                ));
            }
        }
        snap.aliases.clone_from(&inp.routing.aliases);
        if let Some(d) = &inp.routing.default {
            if !snap.routes.contains_key(d) {
                errors.push(ConfigError::new(
                    "routing.default",
                    format!("unknown route `{d}`"),
                ));
            }
            snap.default_route = Some(d.clone());
        }
        if let Some(b) = &inp.routing.baseline {
            match snap.models.get(b) {
                Some(&id) => snap.baseline = Some(id),
                None => errors.push(ConfigError::new(
                    "routing.baseline",
                    format!("unknown model `{b}`"),
                )),
            }
        }
        if errors.is_empty() {
            Ok(snap)
        } else {
            Err(errors)
        }
    }

    /// A deployment by id.
    pub fn deployment(&self, id: DeploymentId) -> &Deployment {
        &self.deployments[id]
    }
}

fn deployment(
    m: &ModelConfig,
    p: &ProviderEntry,
    catalog: &Catalog,
    stats: &StatsRegistry,
) -> Deployment {
    let upstream = m.upstream.clone().unwrap_or_else(|| m.name.clone());
    let vendor = p.vendor.key.as_str();
    let entry = catalog.lookup(vendor, &upstream);
    let resolved = switchyard_pricing::resolve(
        catalog,
        vendor,
        &upstream,
        m.price.as_ref(),
        p.uplift_percent,
    );
    let (price, price_source) = match resolved {
        Ok(r) => {
            let source = r.describe(&catalog.version);
            (Some(r.price), source)
        }
        Err(e) => (None, e.to_string()),
    };
    let cat = entry.map(|e| &e.caps);
    let caps = Caps {
        context_window: m.context_window.or(cat.and_then(|c| c.max_input_tokens)),
        max_output: m.max_output.or(cat.and_then(|c| c.max_output_tokens)),
        tools: m.capabilities.tools.or(cat.and_then(|c| c.supports_tools)),
        vision: m
            .capabilities
            .vision
            .or(cat.and_then(|c| c.supports_vision)),
        json: m
            .capabilities
            .json
            .or(cat.and_then(|c| c.supports_json_schema)),
        prefill: m
            .capabilities
            .prefill
            .unwrap_or(p.kind == ProviderKind::Anthropic),
        reasoning: m
            .capabilities
            .reasoning
            .or(cat.and_then(|c| c.supports_reasoning)),
    };
    Deployment {
        name: m.name.clone(),
        provider_name: m.provider.clone(),
        provider_kind: p.kind,
        provider: p.adapter.clone(),
        upstream,
        tier: m.tier.clone(),
        fallbacks: Vec::new(),
        timeouts: p.timeouts,
        regions: p.regions.clone(),
        tags: p.tags.clone(),
        caps,
        rates: price.as_ref().map(EstRates::of),
        batch_rates: price.as_ref().map(|p| EstRates {
            input: nanos(p.batch_input.unwrap_or(p.input)),
            output: nanos(p.batch_output.unwrap_or(p.output)),
            cache_read: nanos(p.cache_read.unwrap_or(p.input)),
        }),
        month_rates: match &price {
            Some(pr) => (pr.commitment.as_ref().map(|c| c.included_tokens), {
                let mut v: Vec<(u64, EstRates)> = pr
                    .volume_tiers
                    .iter()
                    .map(|v| {
                        let r = EstRates {
                            input: nanos(v.input),
                            output: nanos(v.output),
                            cache_read: nanos(v.cache_read.unwrap_or(v.input)),
                        };
                        (v.above_tokens_per_month, r)
                    })
                    .collect();
                v.sort_by_key(|(t, _)| *t);
                v
            }),
            None => (None, Vec::new()),
        },
        tier_rates: match (&price, p.kind) {
            (Some(pr), ProviderKind::OpenAi | ProviderKind::Gemini | ProviderKind::Sim) => [
                EstRates::of_tier(pr, ServiceTier::Flex),
                EstRates::of_tier(pr, ServiceTier::Priority),
            ],
            _ => [None, None],
        },
        price,
        price_source,
        vendor: p.vendor.clone(),
        stats: stats.get(&m.name),
        limits: p.limits,
        usage: stats.provider(&m.provider),
        adjust: m.adjust.clone().map(Arc::new),
    }
}

fn build_route(
    snap: &Snapshot,
    r: &RouteConfig,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Route> {
    if snap.models.contains_key(&r.name) {
        errors.push(ConfigError::new(
            format!("{path}.name"),
            format!("route `{}` has the name of a model", r.name),
        ));
    }
    if snap.routes.contains_key(&r.name) {
        errors.push(ConfigError::new(
            format!("{path}.name"),
            format!("duplicate route `{}`", r.name),
        ));
        return None;
    }
    if r.candidates.is_empty() {
        errors.push(ConfigError::new(
            format!("{path}.candidates"),
            "a route needs at least one candidate",
        ));
    }
    if r.max_attempts == 0 {
        errors.push(ConfigError::new(
            format!("{path}.max_attempts"),
            "must be at least 1",
        ));
    }
    if let Some(c) = &r.capture {
        if c.retention.is_zero() || c.max_bytes == 0 {
            errors.push(ConfigError::new(
                format!("{path}.capture"),
                "`retention` and `max_bytes` must be above zero (omit `capture` to keep nothing)",
            ));
        }
    }
    let candidates = resolve(
        &snap.models,
        &r.candidates,
        &format!("{path}.candidates"),
        errors,
    );
    let mut rules = Vec::with_capacity(r.rules.len());
    for (j, rc) in r.rules.iter().enumerate() {
        let rp = format!("{path}.rules[{j}]");
        let action = match (&rc.use_models, &rc.route) {
            (Some(models), None) => {
                if models.is_empty() {
                    errors.push(ConfigError::new(
                        format!("{rp}.use"),
                        "must name at least one model",
                    ));
                }
                RuleAction::Use(resolve(&snap.models, models, &format!("{rp}.use"), errors))
            }
            (None, Some(route)) => RuleAction::Route(route.clone()),
            _ => {
                errors.push(ConfigError::new(
                    rp.clone(),
                    "a rule needs exactly one of `use` or `route`",
                ));
                continue;
            }
        };
        match Rule::new(rc.name.clone(), rc.when.clone(), action) {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(ConfigError::new(format!("{rp}.when.prompt_regex"), e)),
        }
    }
    let mut evaluators = Vec::with_capacity(r.evaluators.len());
    for (j, e) in r.evaluators.iter().enumerate() {
        match crate::evaluate::Evaluator::compile(e) {
            Ok(e) => evaluators.push(e),
            Err(e) => errors.push(ConfigError::new(format!("{path}.evaluators[{j}]"), e)),
        }
    }
    match (r.strategy, &r.quality) {
        (crate::config::Strategy::QualityFloor, None) => errors.push(ConfigError::new(
            format!("{path}.quality"),
            "the quality-floor strategy needs `quality = { target = … }` or `{ relative = … }`",
        )),
        (_, Some(q)) => {
            let unit = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
            if q.target.is_none() && q.relative.is_none()
                || !unit(q.target)
                || !unit(q.relative)
                || !unit(Some(q.explore))
            {
                errors.push(ConfigError::new(
                    format!("{path}.quality"),
                    "needs `target` or `relative` in [0, 1], and `explore` in [0, 1]",
                ));
            }
        }
        _ => {}
    }
    let router = match (&r.router, r.strategy) {
        (Some(file), _) => match switchyard_router::Model::load(file) {
            Ok(m) => Some(Arc::new(m)),
            Err(e) => {
                errors.push(ConfigError::new(format!("{path}.router"), e.to_string()));
                None
            }
        },
        (None, crate::config::Strategy::Learned) => {
            errors.push(ConfigError::new(
                format!("{path}.router"),
                "the learned strategy needs `router = \"model.json\"` (switchyard train-router)",
            ));
            None
        }
        (None, _) => None,
    };
    if r.strategy == crate::config::Strategy::Cascade && evaluators.is_empty() {
        errors.push(ConfigError::new(
            format!("{path}.evaluators"),
            "a cascade needs at least one evaluator to judge the cheaper answers",
        ));
    }
    let mut weights = HashMap::new();
    for (name, w) in &r.weights {
        match snap.models.get(name) {
            Some(&id) => {
                weights.insert(id, *w);
            }
            None => errors.push(ConfigError::new(
                format!("{path}.weights.{name}"),
                format!("unknown model `{name}`"),
            )),
        }
    }
    Some(Route {
        name: r.name.clone(),
        strategy: r.strategy,
        candidates,
        rules,
        weights,
        require_tags: r.require_tags.clone(),
        timeouts: r.timeouts,
        max_attempts: r.max_attempts,
        hedge: r.hedge.clone(),
        evaluators,
        quality: r.quality,
        escalate_on_refusal: r.escalate_on_refusal,
        hold_back_bytes: r.hold_back_bytes,
        router,
        capture: r.capture,
        service_tier: r
            .service_tier
            .map_or(ServiceTier::Standard, ServiceTier::from),
        cache: r.cache,
        cache_breakpoints: r.cache_breakpoints,
    })
}

fn check_route_refs(snap: &Snapshot, routes: &[RouteConfig], errors: &mut Vec<ConfigError>) {
    for (i, r) in routes.iter().enumerate() {
        for (j, rule) in r.rules.iter().enumerate() {
            if let Some(target) = &rule.route {
                if !snap.routes.contains_key(target) {
                    errors.push(ConfigError::new(
                        format!("routes[{i}].rules[{j}].route"),
                        format!("unknown route `{target}`"),
                    ));
                } else if target == &r.name {
                    errors.push(ConfigError::new(
                        format!("routes[{i}].rules[{j}].route"),
                        "a rule cannot hand over to its own route",
                    ));
                }
            }
        }
    }
}

fn resolve(
    models: &HashMap<String, DeploymentId>,
    names: &[String],
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<DeploymentId> {
    let mut ids = Vec::with_capacity(names.len());
    for (j, n) in names.iter().enumerate() {
        match models.get(n) {
            Some(&id) => ids.push(id),
            None => errors.push(ConfigError::new(
                format!("{path}[{j}]"),
                format!("unknown model `{n}`"),
            )),
        }
    }
    ids
}
