//! Phase 5, attempt: call the plan's deployments until one answers.
//!
//! Non-streaming requests return when an answer is in. Streaming requests return once the
//! first token has arrived (the *head* of the stream), so a failure before it falls over to
//! the next candidate invisibly; the caller pumps the rest, and may ask [`resume_stream`] to
//! complete a stream cut after the first token from a deployment that supports prefill.
//!
//! Every attempt passes the deployment's circuit breaker, earns or spends retry budget, and
//! reports its outcome back to the deployment's health.

use std::time::Duration;

use futures::{stream::BoxStream, StreamExt};
use switchyard_providers::{
    CallCx, ErrorClass, Provider, ProviderError, RateLimitInfo, StreamItem, Timeouts, UpstreamMeta,
};
use switchyard_types::{ChatRequest, EmbeddingsRequest, Message, Role, ServiceTier, Usage};
use tokio::time::Instant;

use crate::{
    health::Admit,
    plan::Plan,
    retry::{decide, Decision, Stage},
    CoreError, DeploymentId, Snapshot,
};

/// One upstream attempt, for the ledger and the `x-switchyard-attempts` header.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// Which deployment.
    pub deployment: DeploymentId,
    /// Upstream HTTP status (0 if none was received).
    pub status: u16,
    /// Why it failed, if it did.
    pub error: Option<ProviderError>,
    /// Time spent on it.
    pub latency: Duration,
    /// Time to first token (streams).
    pub ttft: Option<Duration>,
    /// Usage the provider reported for it.
    pub usage: Usage,
    /// Why the gateway rejected the answer and escalated (it is still billed).
    pub rejected: Option<String>,
    /// When it started.
    pub started: Instant,
    /// The model the upstream named in its answer.
    pub served_model: Option<String>,
}

/// All attempts of a request, and the time spent waiting on upstreams (backoff included).
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    /// In order.
    pub records: Vec<AttemptRecord>,
    /// Time not attributable to the gateway: upstream calls and retry pauses.
    pub upstream_time: Duration,
}

impl Attempts {
    /// Append a later stage's attempts (a cascade's escalation).
    pub fn extend(&mut self, later: Attempts) {
        self.records.extend(later.records);
        self.upstream_time += later.upstream_time;
    }
}

/// A stream whose first token has arrived.
pub struct StreamStart {
    /// The deployment that is answering.
    pub deployment: DeploymentId,
    /// Items received up to and including the first token.
    pub head: Vec<StreamItem>,
    /// The rest of the stream.
    pub rest: BoxStream<'static, Result<StreamItem, ProviderError>>,
    /// Response header facts.
    pub meta: UpstreamMeta,
    /// Idle timeout to apply to `rest`.
    pub idle: Duration,
    /// When the whole request must be over.
    pub deadline: Instant,
}

impl std::fmt::Debug for StreamStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamStart")
            .field("deployment", &self.deployment)
            .finish()
    }
}

/// A successful attempt.
struct Done<T> {
    /// The model the upstream named in its answer (empty names are `None`).
    served: Option<String>,
    status: u16,
    usage: Usage,
    ttft: Option<Duration>,
    rate_limit: RateLimitInfo,
    value: T,
}

/// A model name as the upstream gave it, `None` when it gave none.
fn named(model: &str) -> Option<String> {
    (!model.is_empty()).then(|| model.to_owned())
}

/// Serve a non-streaming request along the plan.
pub async fn chat(
    snap: &Snapshot,
    plan: &Plan,
    req: &ChatRequest,
) -> (
    Result<(DeploymentId, switchyard_providers::Reply), CoreError>,
    Attempts,
) {
    run(snap, plan, |id, tier, t, remaining| async move {
        let d = snap.deployment(id);
        let req = crate::adjust::for_deployment(d, req, tier, plan.cache_breakpoints);
        // Boxed: inline, the largest adapter's future made the driver's 3.4 KB larger.
        let reply = whole(
            t.response.min(remaining),
            Box::pin(d.provider.chat(&req, call_cx(d))),
        )
        .await?;
        Ok(Done {
            served: named(&reply.response.model),
            status: reply.meta.status,
            usage: reply.usage,
            ttft: None,
            rate_limit: reply.meta.rate_limit,
            value: reply,
        })
    })
    .await
}

/// Start a streaming request along the plan: returns once a deployment has produced its
/// first token.
pub async fn chat_stream(
    snap: &Snapshot,
    plan: &Plan,
    req: &ChatRequest,
) -> (Result<(DeploymentId, StreamStart), CoreError>, Attempts) {
    run(snap, plan, |id, tier, t, remaining| async move {
        start_stream(snap, plan, id, tier, t, remaining, req).await
    })
    .await
}

/// Serve an embeddings request along the plan (the same loop, breakers, retry policy and
/// deadline as chat).
pub async fn embed(
    snap: &Snapshot,
    plan: &Plan,
    req: &EmbeddingsRequest,
) -> (
    Result<(DeploymentId, switchyard_providers::EmbedReply), CoreError>,
    Attempts,
) {
    run(snap, plan, |id, _tier, t, remaining| async move {
        let d = snap.deployment(id);
        let reply = whole(
            t.response.min(remaining),
            d.provider.embed(req, &d.upstream),
        )
        .await?;
        Ok(Done {
            served: named(&reply.response.model),
            status: reply.meta.status,
            usage: reply.usage,
            ttft: None,
            rate_limit: reply.meta.rate_limit,
            value: reply,
        })
    })
    .await
}

/// Read a started stream to its end into `start.head`, holding it back from the client, as
/// long as its text stays within `limit` bytes, it has at most [`MAX_HELD_ITEMS`] chunks (a
/// stream of empty chunks is bounded too) and the idle timeout and deadline allow.
/// `true` when the whole answer is in; otherwise what was read stays in the head and the
/// rest (or the failure, for the relay to handle) is still to come.
pub async fn hold_back(start: &mut StreamStart, limit: usize) -> bool {
    let mut bytes: usize = start.head.iter().map(item_bytes).sum();
    loop {
        if matches!(start.head.last(), Some(StreamItem::Done)) {
            return true;
        }
        if bytes > limit || start.head.len() >= MAX_HELD_ITEMS {
            return false;
        }
        let now = Instant::now();
        if now >= start.deadline {
            return false;
        }
        let wait = start.idle.min(start.deadline - now);
        match tokio::time::timeout(wait, start.rest.next()).await {
            Ok(Some(Ok(item))) => {
                bytes += item_bytes(&item);
                start.head.push(item);
            }
            Ok(Some(Err(e))) => {
                start.rest = Box::pin(futures::stream::once(async move { Err(e) }));
                return false;
            }
            // Ended without `Done`, or stalled: the relay reports it as it would.
            Ok(None) | Err(_) => return false,
        }
    }
}

/// Most chunks a held-back answer may have.
const MAX_HELD_ITEMS: usize = 65_536;

/// The generated bytes a stream item carries.
fn item_bytes(item: &StreamItem) -> usize {
    let StreamItem::Chunk(c, _) = item else {
        return 0;
    };
    c.choices
        .iter()
        .map(|ch| {
            let d = &ch.delta;
            d.content.as_ref().map_or(0, String::len)
                + d.refusal.as_ref().map_or(0, String::len)
                + d.tool_calls
                    .iter()
                    .flatten()
                    .map(|t| {
                        t.function
                            .as_ref()
                            .map_or(0, |f| f.arguments.as_ref().map_or(0, String::len))
                    })
                    .sum::<usize>()
        })
        .sum()
}

/// A whole answer (non-streaming) within `limit`.
async fn whole<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(ProviderError::new(
            ErrorClass::FirstTokenTimeout,
            format!("no answer within {limit:?}"),
        ))
    })
}

/// Open a stream on one deployment and wait (bounded by the first-token timeout) for its
/// first token.
async fn start_stream(
    snap: &Snapshot,
    plan: &Plan,
    id: DeploymentId,
    tier: ServiceTier,
    t: Timeouts,
    remaining: Duration,
    req: &ChatRequest,
) -> Result<Done<StreamStart>, ProviderError> {
    let d = snap.deployment(id);
    let started = Instant::now();
    let deadline = started + remaining;
    let limit = t.first_token.min(remaining);
    let head = tokio::time::timeout(limit, async {
        let req = crate::adjust::for_deployment(d, req, tier, plan.cache_breakpoints);
        // Boxed for the same reason as in `chat`.
        let reply = Box::pin(d.provider.chat_stream(&req, call_cx(d))).await?;
        let mut stream = reply.stream;
        let mut head = Vec::new();
        loop {
            match stream.next().await {
                Some(Ok(StreamItem::Chunk(c, u))) => {
                    let first = c.has_output();
                    head.push(StreamItem::Chunk(c, u));
                    if first {
                        return Ok((head, stream, reply.meta));
                    }
                }
                Some(Ok(StreamItem::Done)) => {
                    head.push(StreamItem::Done);
                    return Ok((head, stream, reply.meta));
                }
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(ProviderError::new(
                        ErrorClass::StreamCut,
                        "upstream stream ended before the first token",
                    ));
                }
            }
        }
    })
    .await;
    match head {
        Ok(Ok((head, rest, meta))) => {
            let ttft = started.elapsed();
            d.stats.observe_ttft(ttft);
            let served = head.iter().find_map(|item| match item {
                StreamItem::Chunk(c, _) => named(&c.model),
                _ => None,
            });
            Ok(Done {
                served,
                status: meta.status,
                usage: Usage::default(),
                ttft: Some(ttft),
                rate_limit: meta.rate_limit,
                value: StreamStart {
                    deployment: id,
                    head,
                    rest,
                    meta,
                    idle: t.idle,
                    deadline,
                },
            })
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ProviderError::new(
            ErrorClass::FirstTokenTimeout,
            format!("no first token within {limit:?}"),
        )),
    }
}

/// Complete a stream that broke after `text` was sent, from the next deployment in the plan
/// that can continue a trailing assistant message (prefill). Returns the continuation, if
/// any deployment could start one; every attempt is recorded in `attempts` and reported to
/// its deployment's health, as in the main loop.
pub async fn resume_stream(
    snap: &Snapshot,
    plan: &Plan,
    req: &ChatRequest,
    failed: DeploymentId,
    text: &str,
    deadline: Instant,
    attempts: &mut Attempts,
) -> Option<StreamStart> {
    let pos = plan
        .targets
        .iter()
        .position(|&t| t == failed)
        .map_or(0, |p| p + 1);
    // One copy of the request per continuation (rare), not per attempt.
    let mut cont = req.clone();
    cont.messages.push(Message::text(Role::Assistant, text));
    for &id in &plan.targets[pos..] {
        let d = snap.deployment(id);
        if !d.caps.prefill || d.stats.health.admit() == Admit::No {
            continue;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        d.usage.record(plan.tokens);
        let started = Instant::now();
        let result = {
            let _inflight = d.stats.begin();
            let t = timeouts(snap, plan, id);
            start_stream(snap, plan, id, plan.tier, t, remaining, &cont).await
        };
        attempts.upstream_time += started.elapsed();
        if let Ok(start) = settle_attempt(snap, id, result, started, attempts) {
            return Some(start);
        }
    }
    None
}

/// The call's facts: the upstream model id, and for APIs that require an output cap
/// (`ProviderKind::requires_output_cap`) the model's maximum output from the capability table,
/// sent when the client set none. The request itself is never copied.
pub fn call_cx(d: &crate::Deployment) -> CallCx<'_> {
    CallCx {
        upstream_model: &d.upstream,
        default_max_tokens: d
            .caps
            .max_output
            .filter(|_| d.provider_kind.requires_output_cap())
            .map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
    }
}

fn timeouts(snap: &Snapshot, plan: &Plan, id: DeploymentId) -> Timeouts {
    plan.timeouts.unwrap_or(snap.deployment(id).timeouts)
}

fn total(snap: &Snapshot, plan: &Plan) -> Duration {
    plan.timeouts
        .or_else(|| plan.targets.first().map(|&id| snap.deployment(id).timeouts))
        .unwrap_or_default()
        .total
}

/// The loop shared by both modes: one attempt at a time, the retry decision from
/// [`decide`], everything bounded by the request deadline and `max_attempts`.
async fn run<T, F, Fut>(
    snap: &Snapshot,
    plan: &Plan,
    mut call: F,
) -> (Result<(DeploymentId, T), CoreError>, Attempts)
where
    F: FnMut(DeploymentId, ServiceTier, Timeouts, Duration) -> Fut,
    Fut: std::future::Future<Output = Result<Done<T>, ProviderError>>,
{
    let total = total(snap, plan);
    let deadline = Instant::now() + total;
    let mut attempts = Attempts::default();
    let mut last: Option<ProviderError> = None;
    let mut idx = 0;
    let mut tries_here = 0u32;
    if let Some(h) = &plan.hedge {
        // Boxed: a hedge holds two attempts at once (~16 KB of future); inline, that size would
        // be part of every request's future and copied with it, hedged or not.
        match Box::pin(hedged(snap, plan, h, &mut call, deadline, &mut attempts)).await {
            Hedged::NotApplicable => {}
            Hedged::Won(id, value) => return (Ok((id, value)), attempts),
            Hedged::Failed(e, next) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if decide(&e, 0, remaining, Stage::Hedge) != Decision::Next {
                    return (Err(CoreError::Upstream(e)), attempts);
                }
                idx = next;
                last = Some(e);
            }
        }
    }
    // Panic mode: the breakers refused every target (open, or a half-open probe in flight), so
    // no attempt was made; go round once more ignoring them rather than fail for certain.
    let mut panic = plan.panic;
    let mut refused = false;
    // The service tier asked for; once a tier is out of capacity, the standard tier.
    let mut tier = plan.tier;
    loop {
        if idx >= plan.targets.len() {
            if attempts.records.is_empty() && refused && !panic {
                panic = true;
                idx = 0;
                continue;
            }
            break;
        }
        if (attempts.records.len() as u32) >= plan.max_attempts {
            break;
        }
        let id = plan.targets[idx];
        let d = snap.deployment(id);
        let health = &d.stats.health;
        if tries_here == 0 {
            if !panic && health.admit() == Admit::No {
                refused = true;
                idx += 1;
                continue;
            }
            health.earn_retry();
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return (Err(CoreError::Deadline(total)), attempts);
        }
        d.usage.record(plan.tokens);
        let started = Instant::now();
        let result = {
            let _inflight = d.stats.begin();
            call(id, tier, timeouts(snap, plan, id), remaining).await
        };
        attempts.upstream_time += started.elapsed();
        match settle_attempt(snap, id, result, started, &mut attempts) {
            Ok(value) => return (Ok((id, value)), attempts),
            Err(e) if e.class == ErrorClass::TierUnavailable && !d.tier_for(tier).is_standard() => {
                // The tier has no capacity: the same deployment at the standard tier, now.
                tracing::debug!(model = %d.name, tier = tier.as_str(), "tier unavailable; standard tier");
                tier = ServiceTier::Standard;
                last = Some(e);
            }
            Err(e) => {
                tracing::debug!(model = %d.name, class = e.class.as_str(), "attempt failed");
                let remaining = deadline.saturating_duration_since(Instant::now());
                match decide(&e, tries_here, remaining, Stage::BeforeFirstByte) {
                    Decision::RetrySame(wait) if health.spend_retry() => {
                        tokio::time::sleep(wait).await;
                        attempts.upstream_time += wait;
                        tries_here += 1;
                    }
                    Decision::RetrySame(_) | Decision::Next => {
                        idx = next_target(snap, plan, idx, &e);
                        tries_here = 0;
                    }
                    Decision::Stop | Decision::Resume => {
                        return (Err(CoreError::Upstream(e)), attempts)
                    }
                }
                last = Some(e);
            }
        }
    }
    let err = match last {
        Some(e) => CoreError::Upstream(e),
        None => CoreError::NoCandidate(format!(
            "route `{}`: every candidate's circuit is open or its quota exhausted; try again shortly",
            plan.route
        )),
    };
    (Err(err), attempts)
}

enum Hedged<T> {
    NotApplicable,
    Won(DeploymentId, T),
    Failed(ProviderError, usize),
}

/// The first attempt of a hedged route: start the first target; if it has not answered after
/// the hedge delay, start the second as well; the first success wins and the other is
/// cancelled (recorded as `hedge_lost`). Both attempts are recorded.
async fn hedged<T, F, Fut>(
    snap: &Snapshot,
    plan: &Plan,
    h: &crate::config::HedgeConfig,
    call: &mut F,
    deadline: Instant,
    attempts: &mut Attempts,
) -> Hedged<T>
where
    F: FnMut(DeploymentId, ServiceTier, Timeouts, Duration) -> Fut,
    Fut: std::future::Future<Output = Result<Done<T>, ProviderError>>,
{
    let (Some(&t0), Some(&t1)) = (plan.targets.first(), plan.targets.get(1)) else {
        return Hedged::NotApplicable;
    };
    let d0 = snap.deployment(t0);
    if !d0.stats.health.available() || !snap.deployment(t1).stats.health.available() {
        return Hedged::NotApplicable;
    }
    if d0.stats.health.admit() == Admit::No {
        return Hedged::NotApplicable;
    }
    let delay = match h.after {
        crate::config::HedgeAfter::Fixed(d) => d,
        crate::config::HedgeAfter::P95 => d0.stats.ttft_p95().unwrap_or(h.fallback),
    };
    let started = Instant::now();
    let launch = |call: &mut F, id: DeploymentId| {
        snap.deployment(id).usage.record(plan.tokens);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let guard = snap.deployment(id).stats.begin();
        let fut = call(id, plan.tier, timeouts(snap, plan, id), remaining);
        async move {
            let r = fut.await;
            drop(guard);
            r
        }
    };
    let f0 = launch(call, t0);
    tokio::pin!(f0);
    let early = tokio::select! {
        r = &mut f0 => Some(r),
        () = tokio::time::sleep(delay) => None,
    };
    if let Some(r) = early {
        attempts.upstream_time += started.elapsed();
        return match settle_attempt(snap, t0, r, started, attempts) {
            Ok(v) => Hedged::Won(t0, v),
            Err(e) => Hedged::Failed(e, 1),
        };
    }
    if snap.deployment(t1).stats.health.admit() == Admit::No {
        let r = f0.await;
        attempts.upstream_time += started.elapsed();
        return match settle_attempt(snap, t0, r, started, attempts) {
            Ok(v) => Hedged::Won(t0, v),
            Err(e) => Hedged::Failed(e, 1),
        };
    }
    tracing::debug!(after = ?delay, first = %d0.name, "hedging");
    let started1 = Instant::now();
    let f1 = launch(call, t1);
    tokio::pin!(f1);
    let (first_id, first, first_start, other_id, other_start) = tokio::select! {
        r = &mut f0 => (t0, r, started, t1, started1),
        r = &mut f1 => (t1, r, started1, t0, started),
    };
    match settle_attempt(snap, first_id, first, first_start, attempts) {
        Ok(v) => {
            lost(snap, other_id, other_start, attempts);
            attempts.upstream_time += started.elapsed();
            Hedged::Won(first_id, v)
        }
        Err(_) => {
            let r = if other_id == t1 {
                (&mut f1).await
            } else {
                (&mut f0).await
            };
            attempts.upstream_time += started.elapsed();
            match settle_attempt(snap, other_id, r, other_start, attempts) {
                Ok(v) => Hedged::Won(other_id, v),
                Err(e) => Hedged::Failed(e, 2),
            }
        }
    }
}

/// Record a finished attempt and report it to the deployment's health.
fn settle_attempt<T>(
    snap: &Snapshot,
    id: DeploymentId,
    r: Result<Done<T>, ProviderError>,
    started: Instant,
    attempts: &mut Attempts,
) -> Result<T, ProviderError> {
    let d = snap.deployment(id);
    let latency = started.elapsed();
    match r {
        Ok(done) => {
            d.stats.health.on_success();
            d.stats.health.observe_rate_limit(&done.rate_limit);
            if done.ttft.is_none() {
                d.stats.observe_ttft(latency);
            }
            attempts.records.push(AttemptRecord {
                deployment: id,
                status: done.status,
                error: None,
                latency,
                ttft: done.ttft,
                usage: done.usage,
                rejected: None,
                started,
                served_model: done.served,
            });
            Ok(done.value)
        }
        Err(e) => {
            d.stats.health.on_failure(e.class);
            if e.class == ErrorClass::Quota {
                exhaust_provider(snap, &d.provider_name);
            }
            attempts.records.push(AttemptRecord {
                deployment: id,
                status: e.status.unwrap_or(0),
                error: Some(e.clone()),
                latency,
                ttft: None,
                usage: Usage::default(),
                rejected: None,
                started,
                served_model: None,
            });
            Err(e)
        }
    }
}

/// Record the cancelled loser of a hedge.
fn lost(snap: &Snapshot, id: DeploymentId, started: Instant, attempts: &mut Attempts) {
    snap.deployment(id)
        .stats
        .health
        .on_failure(ErrorClass::HedgeLost);
    let e = ProviderError::new(
        ErrorClass::HedgeLost,
        "cancelled: the hedged request answered first",
    );
    attempts.records.push(AttemptRecord {
        deployment: id,
        status: 0,
        error: Some(e),
        latency: started.elapsed(),
        ttft: None,
        usage: Usage::default(),
        rejected: None,
        started,
        served_model: None,
    });
}

/// The index of the next target to try after a failure at `idx`: after a context-length
/// error, the next target with a larger (or unknown) context window.
fn next_target(snap: &Snapshot, plan: &Plan, idx: usize, e: &ProviderError) -> usize {
    if e.class != ErrorClass::ContextLength {
        return idx + 1;
    }
    let window = snap.deployment(plan.targets[idx]).caps.context_window;
    plan.targets[idx + 1..]
        .iter()
        .position(
            |&t| match (window, snap.deployment(t).caps.context_window) {
                (Some(w), Some(tw)) => tw > w,
                _ => true,
            },
        )
        .map_or(plan.targets.len(), |p| idx + 1 + p)
}

/// A quota or spend-limit error takes the provider key out of rotation: every deployment of
/// that provider.
fn exhaust_provider(snap: &Snapshot, provider: &str) {
    tracing::warn!(provider, "provider key out of quota; taken out of rotation");
    for d in snap
        .deployments
        .iter()
        .filter(|d| d.provider_name == provider)
    {
        d.stats.health.exhaust_quota();
    }
}
