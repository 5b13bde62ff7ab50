//! Phase 4, plan: from the requested model name and the request's features to an ordered
//! list of deployments to try, with the reason for every exclusion.
//!
//! Steps: resolve the name (`auto`, a route, or a model with its fallbacks) → first matching
//! rule (narrow the candidates or hand over to another route) → filters (region and compliance
//! are hard constraints; then context window, capabilities, price) → the route's strategy
//! orders what is left.

use switchyard_providers::Timeouts;
use switchyard_types::ServiceTier;

use crate::{
    config::{OnUnpriced, Strategy},
    routable::Routable,
    snapshot::{Deployment, Route},
    strategy, CoreError, DeploymentId, Features, Snapshot,
};

/// Why a deployment was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// The provider does not process data in the required region.
    Region,
    /// The provider lacks a required compliance tag.
    Compliance,
    /// Input plus output does not fit the context window.
    ContextWindow,
    /// The model cannot call tools.
    NoTools,
    /// The model cannot read images.
    NoVision,
    /// The model cannot produce JSON output.
    NoJson,
    /// The model has no known price and unpriced models are excluded.
    Unpriced,
    /// The deployment's circuit is open.
    CircuitOpen,
    /// The provider key is out of quota or past its spend limit.
    QuotaExhausted,
}

impl Exclusion {
    /// Stable label for headers, logs and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::Region => "region",
            Exclusion::Compliance => "compliance",
            Exclusion::ContextWindow => "context_window",
            Exclusion::NoTools => "no_tools",
            Exclusion::NoVision => "no_vision",
            Exclusion::NoJson => "no_json",
            Exclusion::Unpriced => "unpriced",
            Exclusion::CircuitOpen => "circuit_open",
            Exclusion::QuotaExhausted => "quota_exhausted",
        }
    }

    /// Whether the exclusion is about the deployment's health rather than the request.
    pub fn is_health(self) -> bool {
        matches!(self, Exclusion::CircuitOpen | Exclusion::QuotaExhausted)
    }
}

/// The ordered candidates for one request, and why.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The route that decided (a route name, or the model name the client asked for).
    pub route: String,
    /// The rule that matched, if any.
    pub rule: Option<String>,
    /// The strategy that ordered the targets.
    pub strategy: Strategy,
    /// Deployments to try, in order.
    pub targets: Vec<DeploymentId>,
    /// Estimated cost per target (femto-USD), aligned with `targets`; `None` = unpriced.
    pub estimates: Vec<Option<u128>>,
    /// Deployments left out, with the reason.
    pub excluded: Vec<(DeploymentId, Exclusion)>,
    /// Timeouts overriding each provider's.
    pub timeouts: Option<Timeouts>,
    /// Most upstream attempts.
    pub max_attempts: u32,
    /// Hedging policy of the route.
    pub hedge: Option<crate::config::HedgeConfig>,
    /// Estimated tokens (input + expected output), counted against provider limits.
    pub tokens: u64,
    /// Every eligible candidate's circuit was open: the breakers are bypassed for this request.
    pub panic: bool,
    /// The `learned` strategy's score for this prompt (probability the premium model is needed).
    pub router_score: Option<f64>,
    /// The client's model name and the alias pattern that mapped it, when one did.
    pub alias: Option<(String, String)>,
    /// The deployment the request's session was pinned to, and whether the pin held.
    pub session_pin: Option<(String, bool)>,
    /// The service tier asked for (each target gets it where it sells it, see
    /// [`Deployment::tier_for`]): `flex` when the client's lane says so, else the route's.
    pub tier: ServiceTier,
    /// Mark long, repeated system prompts as cache breakpoints for Anthropic upstreams.
    pub cache_breakpoints: bool,
}

impl Plan {
    /// The plan from target `from` on, with `used` attempts already spent: the next stage of
    /// a cascade.
    pub fn from_target(&self, from: usize, used: usize) -> Plan {
        let from = from.min(self.targets.len());
        Plan {
            targets: self.targets[from..].to_vec(),
            estimates: self.estimates[from..].to_vec(),
            max_attempts: self
                .max_attempts
                .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX)),
            ..self.clone()
        }
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters (none included).
pub fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: exact
    };
    for p in middle {
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Longest chain of rule hand-overs between routes.
const MAX_HANDOVERS: usize = 4;

/// Resolve `req.model()` (`auto`, a route, or a model) into a plan. Chat completions and
/// embeddings are planned alike; embeddings keep the candidates' configured order.
pub fn plan(snap: &Snapshot, req: &impl Routable, f: &Features) -> Result<Plan, CoreError> {
    let asked = req.model();
    match plan_name(snap, asked, req, f) {
        // A name that is neither a route nor a model may be a client's own (an agent's
        // hard-coded model): the first alias that matches says what it means.
        Err(CoreError::UnknownModel(_)) if asked != "auto" => {
            let Some(a) = snap.aliases.iter().find(|a| glob(&a.pattern, asked)) else {
                return Err(CoreError::UnknownModel(asked.to_owned()));
            };
            let mut p = plan_name(snap, &a.to, req, f)?;
            p.alias = Some((asked.to_owned(), a.pattern.clone()));
            Ok(p)
        }
        planned => planned,
    }
}

fn plan_name(
    snap: &Snapshot,
    name: &str,
    req: &impl Routable,
    f: &Features,
) -> Result<Plan, CoreError> {
    let route_name = if name == "auto" {
        snap.default_route.as_deref().unwrap_or(name)
    } else {
        name
    };
    let (route, rule, candidates) = if let Some(route) = snap.routes.get(route_name) {
        apply_rules(snap, route, f, req)
    } else if let Some(&id) = snap.models.get(name) {
        return direct(snap, id, req, f);
    } else {
        return Err(CoreError::UnknownModel(name.to_owned()));
    };
    let mut p = Plan {
        route: route.name.clone(),
        rule,
        strategy: route.strategy,
        targets: Vec::with_capacity(candidates.len()),
        estimates: Vec::new(),
        excluded: Vec::new(),
        timeouts: route.timeouts,
        max_attempts: route.max_attempts,
        hedge: route.hedge.clone(),
        tokens: f.input_tokens + f.max_output.unwrap_or(snap.expected_output),
        panic: false,
        router_score: None,
        alias: None,
        session_pin: None,
        tier: ServiceTier::Standard,
        cache_breakpoints: false,
    };
    finish(snap, &mut p, Some(route), candidates, req, f)?;
    Ok(p)
}

/// First matching rule, following hand-overs to other routes.
fn apply_rules<'s>(
    snap: &'s Snapshot,
    mut route: &'s Route,
    f: &Features,
    req: &impl Routable,
) -> (&'s Route, Option<String>, &'s [DeploymentId]) {
    let mut rule_name = None;
    'hops: for _ in 0..MAX_HANDOVERS {
        for rule in &route.rules {
            if !rule.matches(f, req) {
                continue;
            }
            rule_name = Some(rule.name.clone());
            match &rule.action {
                crate::rules::RuleAction::Use(ids) => return (route, rule_name, ids),
                crate::rules::RuleAction::Route(next) => match snap.routes.get(next) {
                    Some(r) => {
                        route = r;
                        continue 'hops;
                    }
                    None => break 'hops,
                },
            }
        }
        break;
    }
    (route, rule_name, &route.candidates)
}

/// The client named a model: that model, then its fallbacks; constraints still apply.
fn direct(
    snap: &Snapshot,
    id: DeploymentId,
    req: &impl Routable,
    f: &Features,
) -> Result<Plan, CoreError> {
    let d = snap.deployment(id);
    let mut candidates = Vec::with_capacity(1 + d.fallbacks.len());
    candidates.push(id);
    candidates.extend(d.fallbacks.iter().copied().filter(|x| *x != id));
    let mut p = Plan {
        route: d.name.clone(),
        rule: None,
        strategy: Strategy::Priority,
        targets: Vec::with_capacity(candidates.len()),
        estimates: Vec::new(),
        excluded: Vec::new(),
        timeouts: None,
        max_attempts: (candidates.len() as u32 + 1).max(2),
        hedge: None,
        tokens: f.input_tokens + f.max_output.unwrap_or(snap.expected_output),
        panic: false,
        router_score: None,
        alias: None,
        session_pin: None,
        tier: ServiceTier::Standard,
        cache_breakpoints: false,
    };
    finish(snap, &mut p, None, &candidates, req, f)?;
    Ok(p)
}

/// The steps every plan shares: filter the candidates (the route's compliance tags apply),
/// fall back to panic mode, estimate each target's cost, order by the route's strategy (a
/// model named directly keeps its fallback order) and spill low-headroom targets to the end.
fn finish(
    snap: &Snapshot,
    p: &mut Plan,
    route: Option<&Route>,
    candidates: &[DeploymentId],
    req: &impl Routable,
    f: &Features,
) -> Result<(), CoreError> {
    p.cache_breakpoints = route.is_some_and(|r| r.cache_breakpoints);
    p.tier = match f.lane.as_deref() {
        Some("flex") => ServiceTier::Flex,
        _ => route.map_or(ServiceTier::Standard, |r| r.service_tier),
    };
    let tags = route.map_or(&[][..], |r| &r.require_tags[..]);
    filter(snap, tags, candidates, req, f, p);
    panic_if_all_open(p);
    if p.targets.is_empty() {
        return Err(unsatisfiable(snap, p, f));
    }
    p.estimates = p
        .targets
        .iter()
        .map(|&t| estimate(snap, snap.deployment(t), f, p.tier))
        .collect();
    if let (Some(r), Some(chat)) = (route, req.as_chat()) {
        let learned = &mut p.router_score;
        if let Some(order) = strategy::order(snap, r, f, chat, &p.targets, &p.estimates, learned) {
            reorder(p, &order);
        }
        pin_session(snap, f, p);
    }
    spill_low_headroom(snap, f, p);
    Ok(())
}

fn filter(
    snap: &Snapshot,
    require_tags: &[String],
    candidates: &[DeploymentId],
    req: &impl Routable,
    f: &Features,
    p: &mut Plan,
) {
    let mut exact: Option<Option<u64>> = None;
    for &id in candidates {
        let d = snap.deployment(id);
        let reason = if f
            .region
            .as_ref()
            .is_some_and(|r| !d.regions.iter().any(|x| x == r))
        {
            Some(Exclusion::Region)
        } else if !require_tags.iter().all(|t| d.tags.contains(t)) {
            Some(Exclusion::Compliance)
        } else if !fits(d, f, req, &mut exact) {
            Some(Exclusion::ContextWindow)
        } else if f.tools && d.caps.tools == Some(false) {
            Some(Exclusion::NoTools)
        } else if f.images && d.caps.vision == Some(false) {
            Some(Exclusion::NoVision)
        } else if f.json && d.caps.json == Some(false) {
            Some(Exclusion::NoJson)
        } else if d.price.is_none() && snap.on_unpriced == OnUnpriced::Exclude {
            Some(Exclusion::Unpriced)
        } else if !d.stats.health.available() {
            Some(if d.stats.health.quota_exhausted() {
                Exclusion::QuotaExhausted
            } else {
                Exclusion::CircuitOpen
            })
        } else {
            None
        };
        match reason {
            Some(r) => p.excluded.push((id, r)),
            None => p.targets.push(id),
        }
    }
}

/// Panic mode (as Envoy's): when open circuits are all that keeps a request from being served,
/// try those deployments anyway rather than fail for certain. A provider that is really down
/// fails fast; one that recovered answers. Hard constraints and exhausted quota still apply.
fn panic_if_all_open(p: &mut Plan) {
    if !p.targets.is_empty() || !p.excluded.iter().any(|(_, e)| *e == Exclusion::CircuitOpen) {
        return;
    }
    p.targets = p
        .excluded
        .iter()
        .filter(|(_, e)| *e == Exclusion::CircuitOpen)
        .map(|(id, _)| *id)
        .collect();
    p.excluded.retain(|(_, e)| *e != Exclusion::CircuitOpen);
    p.panic = true;
}

/// Conversation affinity: put the deployment that answered this session last first, when it
/// is still eligible and staying costs no more than moving (the head of the plan priced
/// without the cached prefix it would lose).
fn pin_session(snap: &Snapshot, f: &Features, p: &mut Plan) {
    // A quality decision comes before a cache: these strategies choose by quality, and a pin
    // to a cheaper model must not undo that.
    if matches!(
        p.strategy,
        Strategy::QualityFloor | Strategy::Cascade | Strategy::Learned
    ) {
        return;
    }
    let Some(session) = f.session.as_deref().filter(|_| !snap.session_ttl.is_zero()) else {
        return;
    };
    let Some(pinned) = snap.pins.get(&p.route, session) else {
        return;
    };
    let Some(k) = p
        .targets
        .iter()
        .position(|&t| snap.deployment(t).name == pinned)
    else {
        // No longer eligible (excluded, or its circuit is open): the pin is broken.
        p.session_pin = Some((pinned, false));
        return;
    };
    if k == 0 {
        p.session_pin = Some((pinned, true));
        return;
    }
    let head = snap.deployment(p.targets[0]);
    let output = f.max_output.unwrap_or(snap.expected_output);
    let moving = head
        .rates_at(p.tier)
        .map(|r| r.estimate(f.input_tokens, 0, output));
    // The session's last request went to the pinned deployment: its prefix is in that cache.
    let stay = estimate_with(snap, snap.deployment(p.targets[k]), f, p.tier, None);
    let keep = match (stay, moving) {
        (Some(stay), Some(go)) => stay <= go,
        // Unknown prices: the pin holds (the cache and provider state are known goods).
        _ => true,
    };
    if keep {
        let mut order: Vec<usize> = (0..p.targets.len()).collect();
        order.remove(k);
        order.insert(0, k);
        reorder(p, &order);
    }
    p.session_pin = Some((pinned, keep));
}

/// Move deployments whose provider reported no rate-limit headroom to the end of the plan,
/// so traffic spills to the next candidate before a 429 happens.
fn spill_low_headroom(snap: &Snapshot, f: &Features, p: &mut Plan) {
    let need = f.input_tokens + f.max_output.unwrap_or(snap.expected_output);
    let low = |id: DeploymentId| {
        let d = snap.deployment(id);
        d.stats.health.low_headroom(need) || d.usage.near_limit(&d.limits, need)
    };
    if !p.targets.iter().any(|&id| low(id)) {
        return;
    }
    let mut order: Vec<usize> = (0..p.targets.len()).collect();
    order.sort_by_key(|&i| low(p.targets[i]));
    reorder(p, &order);
}

/// Put the targets (and their estimates) in `order` (indices into them).
fn reorder(p: &mut Plan, order: &[usize]) {
    p.targets = order.iter().map(|&i| p.targets[i]).collect();
    p.estimates = order.iter().map(|&i| p.estimates[i]).collect();
}

/// Whether input plus requested output fits the context window. The fast estimate decides
/// unless it is within 20% of the window; then the exact count does.
fn fits(
    d: &Deployment,
    f: &Features,
    req: &impl Routable,
    exact: &mut Option<Option<u64>>,
) -> bool {
    let Some(window) = d.caps.context_window else {
        return true;
    };
    let out = f.max_output.unwrap_or(1);
    let est = f.input_tokens + out;
    if est * 10 < window * 8 {
        return true;
    }
    if est * 10 > window * 12 {
        return false;
    }
    match *exact.get_or_insert_with(|| req.exact_input_tokens()) {
        Some(n) => n + out <= window,
        None => est <= window,
    }
}

/// Estimated cost of the request on a deployment asked for `tier` (femto-USD), `None` if
/// unpriced.
pub(crate) fn estimate(
    snap: &Snapshot,
    d: &Deployment,
    f: &Features,
    tier: ServiceTier,
) -> Option<u128> {
    estimate_with(snap, d, f, tier, d.stats.cache_hit_rate(f.prefix_tokens))
}

/// Estimated cost of the request through a deployment's batch API (femto-USD), at its batch
/// rates (the standard rates where the price has none), `None` if unpriced.
pub(crate) fn estimate_batch(snap: &Snapshot, d: &Deployment, f: &Features) -> Option<u128> {
    let rates = d.batch_rates?;
    let history = d
        .stats
        .expected_output(f.task.as_deref())
        .unwrap_or(snap.expected_output);
    let output = f.max_output.map_or(history, |m| m.min(history));
    Some(rates.estimate(f.input_tokens, 0, output))
}

/// [`estimate`] with the cacheable prefix read from the cache in the share `hit_rate` (all of
/// it when `None`).
fn estimate_with(
    snap: &Snapshot,
    d: &Deployment,
    f: &Features,
    tier: ServiceTier,
    hit_rate: Option<f64>,
) -> Option<u128> {
    let rates = d.rates_at(tier)?;
    let history = d
        .stats
        .expected_output(f.task.as_deref())
        .unwrap_or(snap.expected_output);
    let output = f.max_output.map_or(history, |m| m.min(history));
    // A cacheable prefix is priced as cache reads in the share this deployment's provider has
    // been serving from its cache for prefixes of that size (all of it until observed).
    let cached = match crate::stats::prefix_class(f.prefix_tokens) {
        Some(_) => (f.prefix_tokens as f64 * hit_rate.unwrap_or(1.0)) as u64,
        None => 0,
    };
    Some(rates.estimate(f.input_tokens, cached, output))
}

fn unsatisfiable(snap: &Snapshot, p: &Plan, f: &Features) -> CoreError {
    let mut parts: Vec<String> = Vec::new();
    for (id, why) in &p.excluded {
        let d = snap.deployment(*id);
        let detail = match why {
            Exclusion::Region => format!(
                "region `{}` required, provider `{}` serves [{}]",
                f.region.as_deref().unwrap_or(""),
                d.provider_name,
                d.regions.join(", ")
            ),
            Exclusion::ContextWindow => format!(
                "~{} input tokens do not fit its context window of {}",
                f.input_tokens,
                d.caps.context_window.unwrap_or(0)
            ),
            other => other.as_str().to_owned(),
        };
        parts.push(format!("{}: {detail}", d.name));
    }
    let msg = format!(
        "no candidate of route `{}` can serve this request ({})",
        p.route,
        parts.join("; ")
    );
    if p.excluded.iter().any(|(_, e)| e.is_health()) {
        CoreError::NoCandidate(msg)
    } else {
        CoreError::Unsatisfiable(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn alias_patterns() {
        assert!(glob("claude-*-haiku-*", "claude-3-5-haiku-20241022"));
        assert!(glob("claude-*haiku*", "claude-haiku-4-5"));
        assert!(!glob("claude-*-haiku-*", "claude-sonnet-4-5"));
        assert!(glob("gpt-4o", "gpt-4o") && !glob("gpt-4o", "gpt-4o-mini"));
        assert!(glob("*", "anything") && glob("*", ""));
        assert!(glob("a*a", "aa") && !glob("a*a", "a"));
        assert!(glob("*-mini", "gpt-4o-mini") && !glob("*-mini", "gpt-4o-mini-2"));
    }
}
