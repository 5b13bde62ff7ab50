//! The request driver: every API request, whatever the endpoint, runs these phases in this
//! order, each a small function over one [`RequestCx`].
//!
//! 1. **Ingress** (the server): read and decode the client's body into an ingress-neutral
//!    request ([`ChatRequest`] or [`EmbeddingsRequest`]) and start a [`RequestCx`].
//! 2. **Admit** ([`admit`]): a gateway key's grant (routes and models); the extension point
//!    for budgets and rate limits.
//! 3. **Features** ([`Features`]): computed once — token estimate, output cap, task, region,
//!    lane, session, tenant, tags, tools/images/JSON.
//! 4. **Plan** ([`plan::plan`]): the ordered candidates, and why each excluded one was left out.
//!    A keyed request is then admitted against its key's limits and budgets with the plan's
//!    worst-case cost ([`crate::admission`]).
//! 5. **Attempt** ([`attempt`]): retries, fallbacks and hedging within the deadline; streams
//!    return at the first token and are pumped by [`relay`](crate::relay::relay) (idle
//!    timeout, continuation of a cut stream). [`evaluate`] is the extension point where a
//!    cascade will judge an answer (accepts everything today).
//! 6. **Respond** (the server): encode the [`Outcome`] in the client's API, with the headers
//!    from [`RequestCx::facts`].
//! 7. **Settle** ([`crate::cx`]): one bill, one ledger row, whatever the ending; it runs when
//!    the response body has been handed over (or dropped), off the client's critical path.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::HeaderMap;
use switchyard_providers::{Reply, StreamItem};
use switchyard_types::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, Usage};

use crate::{
    attempt::{self, StreamStart},
    cache,
    config::Strategy,
    cx::{Facts, RequestCx},
    evaluate::{self, AnswerView},
    plan::{self, Plan},
    relay::{relay, Event},
    routable::Routable,
    CoreError, DeploymentId, Features,
};

/// How a chat request came out of the driver; the server encodes it. Each variant carries
/// the request context (a stream's is inside its relay), which settles when it is finished
/// or dropped.
pub enum Outcome {
    /// A whole chat answer.
    Answer(Box<ChatResponse>, RequestCx),
    /// A chat stream whose first token is in; it settles itself when it ends.
    Stream(Stream),
    /// The request failed before any answer was sent.
    Failed(CoreError, RequestCx),
}

/// How an embeddings request came out of the driver.
pub type EmbedOutcome = Result<(Box<EmbeddingsResponse>, RequestCx), (CoreError, RequestCx)>;

/// A started stream: the facts for the headers (at the first token), and its events.
pub struct Stream {
    /// What the response headers report.
    pub facts: Facts,
    /// The events, ending with [`Event::Done`] or [`Event::Failed`].
    pub events: futures::stream::BoxStream<'static, Event>,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answer(..) => f.write_str("Answer"),
            Outcome::Stream(_) => f.write_str("Stream"),
            Outcome::Failed(e, _) => write!(f, "Failed({e})"),
        }
    }
}

/// What [`evaluate`] says about an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Accept,
    /// Do not serve it; ask the next candidate (the reason goes in the attempt record).
    Escalate(String),
}

/// A request future that runs to completion even if its caller goes away: polled in place
/// while the client waits (no extra task, no extra hop), and moved into a task of its own if
/// it is dropped first — a client that disconnects does not cancel an upstream call already
/// under way, so what it costs is still recorded (the outcome then settles as abandoned).
pub struct RunToCompletion<T: Send + 'static> {
    fut: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> RunToCompletion<T> {
    /// Wrap `fut`.
    pub fn new(fut: impl Future<Output = T> + Send + 'static) -> Self {
        RunToCompletion {
            fut: Some(Box::pin(fut)),
        }
    }
}

impl<T: Send + 'static> Future for RunToCompletion<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Pending;
        };
        let out = fut.as_mut().poll(cx);
        if out.is_ready() {
            self.fut = None;
        }
        out
    }
}

impl<T: Send + 'static> Drop for RunToCompletion<T> {
    fn drop(&mut self) {
        if let (Some(fut), Ok(rt)) = (self.fut.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(fut);
        }
    }
}

// === the phases ===

/// Phases 2–5 and 7 for a chat completion (streamed or not).
pub async fn chat(mut cx: RequestCx, mut req: ChatRequest, hints: HeaderMap) -> Outcome {
    if let Some(pin) = cx.key.as_ref().and_then(|k| k.pin_route.clone()) {
        req.model = pin;
    }
    let hints = &hints;
    cx.trace_parent = trace_parent(hints);
    cx.stream = req.stream;
    if let Err(e) = admit(&cx, &req) {
        return Outcome::Failed(e, cx);
    }
    let features = Features::extract(&req, hints);
    let plan = match plan_for(&mut cx, &req, features) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e, cx),
    };
    if let Err(e) = reserve(&mut cx, &plan).await {
        return Outcome::Failed(e, cx);
    }
    if let Some(spec) = cx.snap.routes.get(&plan.route).and_then(|r| r.capture) {
        cx.capture = Some(crate::capture::Capture::of(spec, &req));
    }
    if let Some(entry) = cached(&mut cx, &plan, &req).await {
        return replay(cx, entry);
    }
    if req.stream {
        stream(cx, plan, req).await
    } else {
        once(cx, plan, req).await
    }
}

/// Phases 2–5 and 7 for embeddings: the same name resolution, plan, attempt loop and settle.
pub async fn embed(
    mut cx: RequestCx,
    mut req: EmbeddingsRequest,
    hints: HeaderMap,
) -> EmbedOutcome {
    if let Some(pin) = cx.key.as_ref().and_then(|k| k.pin_route.clone()) {
        req.model = pin;
    }
    let hints = &hints;
    cx.trace_parent = trace_parent(hints);
    if let Err(e) = admit(&cx, &req) {
        return Err((e, cx));
    }
    let features = Features::extract_embeddings(&req, hints);
    let plan = match plan_for(&mut cx, &req, features) {
        Ok(p) => p,
        Err(e) => return Err((e, cx)),
    };
    if let Err(e) = reserve(&mut cx, &plan).await {
        return Err((e, cx));
    }
    let (result, attempts) = attempt::embed(&cx.snap, &plan, &req).await;
    cx.attempts = attempts;
    match result {
        Ok((id, mut reply)) => {
            reply
                .response
                .model
                .clone_from(&cx.snap.deployment(id).name);
            cx.answer(id, reply.usage);
            Ok((Box::new(reply.response), cx))
        }
        Err(e) => Err((e, cx)),
    }
}

/// Phases 2–4 for one line of a batch (the batch lane): admit, features (lane `batch`), plan
/// — then only the deployments whose provider has a batch API are kept, cheapest at batch
/// prices first (the lane exists to save; the route's strategy orders the rest of its
/// traffic). Phase 5 is the provider's batch API (the server's batch worker), phase 7
/// [`settle_batch_line`].
pub fn plan_batch_line(cx: &mut RequestCx, req: &ChatRequest) -> Result<Arc<Plan>, CoreError> {
    admit(cx, req)?;
    let mut features = Features::extract(req, &HeaderMap::new());
    features.lane = Some("batch".to_owned());
    let plan = plan_for(cx, req, features)?;
    let snap = cx.snap.clone();
    let f = cx.features.clone().unwrap_or_default();
    let f = &f;
    let mut ranked: Vec<(DeploymentId, Option<u128>)> = plan
        .targets
        .iter()
        .filter(|&&t| snap.deployment(t).provider.batch_api().is_some())
        .map(|&t| (t, crate::plan::estimate_batch(&snap, snap.deployment(t), f)))
        .collect();
    if ranked.is_empty() {
        return Err(CoreError::NoCandidate(format!(
            "route `{}`: no candidate's provider has a batch API",
            plan.route
        )));
    }
    ranked.sort_by_key(|(_, e)| e.unwrap_or(u128::MAX));
    let mut p = (*plan).clone();
    // One attempt: the line goes to the first target's batch API.
    p.max_attempts = 1;
    p.targets = ranked.iter().map(|(t, _)| *t).collect();
    p.estimates = ranked.iter().map(|(_, e)| *e).collect();
    let p = Arc::new(p);
    cx.plan = Some(p.clone());
    Ok(p)
}

/// Phase 7 for one line of a batch, answered by `id` through its provider's batch API after
/// `latency`: `Ok(usage)` is billed at the deployment's batch rates, `Err((status, class))` is
/// a failed line (nothing billed). One ledger row, as for any request.
pub fn settle_batch_line(
    mut cx: RequestCx,
    id: DeploymentId,
    outcome: Result<Usage, (u16, String)>,
    latency: std::time::Duration,
) -> crate::cx::Bill {
    cx.batch = true;
    cx.attempts.upstream_time += latency;
    let started = tokio::time::Instant::now();
    match outcome {
        Ok(usage) => {
            cx.attempts.records.push(crate::attempt::AttemptRecord {
                deployment: id,
                status: 200,
                error: None,
                latency,
                ttft: None,
                usage,
                rejected: None,
                started,
                served_model: None,
            });
            cx.answer(id, usage);
        }
        Err((status, class)) => {
            cx.attempts.records.push(crate::attempt::AttemptRecord {
                deployment: id,
                status,
                error: Some(switchyard_providers::ProviderError::new(
                    switchyard_providers::ErrorClass::BadRequest,
                    class.clone(),
                )),
                latency,
                ttft: None,
                usage: Usage::default(),
                rejected: None,
                started,
                served_model: None,
            });
            cx.fail(status, class);
        }
    }
    let bill = cx.bill().clone();
    cx.finish(crate::cx::Ending::Delivered);
    bill
}

/// Phase 5's first step on a route with a response cache: the answer of an earlier identical
/// request, if one is kept; on a miss, where this request's answer will be kept.
async fn cached(cx: &mut RequestCx, plan: &Plan, req: &ChatRequest) -> Option<cache::Entry> {
    let spec = cx.snap.routes.get(&plan.route).and_then(|r| r.cache)?;
    let store = cx.cache.clone()?;
    let tenant = cx
        .features
        .as_ref()
        .and_then(|f| f.tenant.as_deref())
        .unwrap_or("default");
    let key = cache::key(tenant, &plan.route, req, &spec)?;
    match store.get(key).await {
        Some(e) if matches!(e.answer, cache::Answer::Stream { .. }) == req.stream => Some(e),
        _ => {
            cx.cache_key = Some((key, spec.ttl));
            None
        }
    }
}

/// Serve a cached answer: $0, named after the request it came from; a stream replays its
/// chunks and settles when the last one is sent.
fn replay(mut cx: RequestCx, e: cache::Entry) -> Outcome {
    cx.hit = Some(crate::cx::Hit {
        from: e.from,
        provider: e.provider,
        model: e.model,
        usage: e.usage,
        cost: e.cost.and_then(|c| c.parse().ok()),
    });
    match e.answer {
        cache::Answer::Whole(response) => {
            captured(&mut cx, &response);
            Outcome::Answer(response, cx)
        }
        cache::Answer::Stream { chunks, usage_at } => {
            if cx.capture.is_some() {
                let items: Vec<StreamItem> = chunks
                    .iter()
                    .map(|c| StreamItem::Chunk(c.clone(), None))
                    .collect();
                cx.capture_answer(&AnswerView::of_chunks(&items));
            }
            let facts = cx.facts(false);
            let usage = e.usage;
            let events = futures::stream::unfold(
                (Some(cx), chunks.into_iter().enumerate()),
                move |(mut cx, mut chunks)| async move {
                    let event = match chunks.next() {
                        Some((i, c)) if Some(i) == usage_at => {
                            let bill = cx.as_mut()?.bill().clone();
                            Event::Usage(Box::new(c), usage, bill)
                        }
                        Some((_, c)) => Event::Chunk(c),
                        None => {
                            cx.take()?.finish(crate::cx::Ending::Delivered);
                            Event::Done
                        }
                    };
                    Some((event, (cx, chunks)))
                },
            );
            Outcome::Stream(Stream {
                facts,
                events: futures::StreamExt::boxed(events),
            })
        }
    }
}

/// The client's W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), if well-formed.
fn trace_parent(h: &HeaderMap) -> Option<String> {
    let v = h.get("traceparent")?.to_str().ok()?;
    let ok = v.len() == 55
        && v.split('-').map(str::len).eq([2, 32, 16, 2])
        && v.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit());
    ok.then(|| v.to_ascii_lowercase())
}

/// Phase 2, admit: a gateway key may use only the routes and models it was granted (the
/// place budgets and rate limits will reserve capacity too: a request that cannot fit is
/// refused here).
pub fn admit(cx: &RequestCx, req: &impl Routable) -> Result<(), CoreError> {
    let Some(key) = &cx.key else {
        return Ok(());
    };
    if key.pin_route.is_some() {
        return Ok(()); // the operator's choice, made before this phase
    }
    let named = req.model();
    // `auto` is the default route, and is granted as that route.
    let name = match named {
        "auto" => cx.snap.default_route.as_deref().unwrap_or(named),
        other => other,
    };
    if key.allows(name) {
        return Ok(());
    }
    Err(CoreError::Forbidden(format!(
        "this gateway key may not use `{named}`"
    )))
}

/// Phase 4½, reserve: a key with rate limits or budgets is admitted against them with the
/// plan's worst-case cost, or refused before any provider is called; the reservation is
/// settled with the bill (see [`crate::admission`]).
async fn reserve(cx: &mut RequestCx, plan: &Plan) -> Result<(), CoreError> {
    use crate::admission;
    let (Some(key), Some(adm)) = (cx.key.clone(), cx.admission.clone()) else {
        return Ok(());
    };
    if !admission::limited(&key) {
        return Ok(());
    }
    let Some(f) = cx.features.as_ref() else {
        return Ok(());
    };
    let ticket = admission::ticket(&cx.snap, plan, f, cx.id(), key);
    match adm.reserve(ticket).await {
        Ok(a) => {
            cx.admitted = Some(a);
            Ok(())
        }
        Err(r) => Err(admission::refused(r)),
    }
}

/// Phase 5's judgement of an answer: the route's evaluators read it (their signals are
/// kept for the ledger and teach the quality model); a `cascade` escalates an answer that
/// fails one, and a route with `escalate_on_refusal` escalates a refusal — unless `last`
/// (no candidate is left to ask), when the answer is served whatever the verdict.
pub fn evaluate(
    cx: &mut RequestCx,
    req: &ChatRequest,
    answered: DeploymentId,
    answer: &AnswerView,
    last: bool,
) -> Verdict {
    let snap = cx.snap.clone();
    let Some(route) = cx.plan.as_ref().and_then(|p| snap.routes.get(&p.route)) else {
        return Verdict::Accept;
    };
    let (mut signals, mut passed) = evaluate::judge_all(&route.evaluators, req, answer);
    let refused = route.escalate_on_refusal && evaluate::is_refusal(answer);
    if refused && !signals.iter().any(|s| s.name == "refusal") {
        signals.push(evaluate::Signal {
            name: "refusal",
            score: 0.0,
            passed: false,
            detail: Some("the model refused".into()),
        });
        passed = false;
    }
    let failed: Vec<&'static str> = signals
        .iter()
        .filter(|s| !s.passed)
        .map(|s| s.name)
        .collect();
    for e in &route.evaluators {
        if let evaluate::Evaluator::Judge(spec) = e {
            crate::judge::maybe_spawn(cx, spec, req, answered, answer);
        }
    }
    cx.judge(answered, signals, passed);
    let cascade = route.strategy == Strategy::Cascade && !passed;
    if last || !(cascade || refused) {
        return Verdict::Accept;
    }
    Verdict::Escalate(format!("evaluator failed: {}", failed.join(", ")))
}

/// Whether the route has evaluators or answers refusals elsewhere.
fn judges(cx: &RequestCx, plan: &Plan) -> bool {
    cx.snap
        .routes
        .get(&plan.route)
        .is_some_and(|r| !r.evaluators.is_empty() || r.escalate_on_refusal)
}

/// Whether the route may escalate (so a streamed cascade holds answers back).
fn holds_back(cx: &RequestCx, plan: &Plan) -> Option<usize> {
    let route = cx.snap.routes.get(&plan.route)?;
    let escalates = route.strategy == Strategy::Cascade || route.escalate_on_refusal;
    escalates.then_some(route.hold_back_bytes)
}

/// Phases 3–4: features, then the plan; both are kept on the context for settle.
fn plan_for(
    cx: &mut RequestCx,
    req: &impl Routable,
    features: Features,
) -> Result<Arc<Plan>, CoreError> {
    features.check_labels().map_err(CoreError::BadRequest)?;
    let mut features = features;
    // A keyed request's tenant is its key's, whatever the client wrote; its region is a hard
    // constraint and its tags are added.
    if let Some(k) = &cx.key {
        features.tenant = Some(k.tenant.clone());
        if k.region.is_some() {
            features.region.clone_from(&k.region);
        }
        for t in &k.tags {
            if !features.tags.contains(t) {
                features.tags.push(t.clone());
            }
        }
    }
    let planned = plan::plan(&cx.snap, req, &features);
    cx.features = Some(features);
    let plan = Arc::new(planned?);
    cx.plan = Some(plan.clone());
    Ok(plan)
}

/// A whole answer; a judged route may escalate it to the next candidate (a cascade's later
/// stage), in which case both attempts are billed.
async fn once(mut cx: RequestCx, plan: Arc<Plan>, req: ChatRequest) -> Outcome {
    let mut stage = plan.clone();
    // A rejected answer is kept: if every later candidate fails, it is served after all.
    let mut held: Option<(DeploymentId, Reply)> = None;
    loop {
        let (result, attempts) = attempt::chat(&cx.snap, &stage, &req).await;
        cx.attempts.extend(attempts);
        let (id, reply) = match result {
            Ok(answer) => answer,
            Err(e) => match held.take() {
                Some((id, reply)) => {
                    cx.unreject(id);
                    cx.answer(id, reply.usage);
                    captured(&mut cx, &reply.response);
                    return Outcome::Answer(Box::new(reply.response), cx);
                }
                None => return Outcome::Failed(e, cx),
            },
        };
        let next = next_stage(&cx, &plan, id);
        // Only a route that judges its answers pays for reading one.
        let verdict = if judges(&cx, &plan) {
            let view = AnswerView::of_response(&reply.response);
            evaluate(&mut cx, &req, id, &view, next.is_none())
        } else {
            Verdict::Accept
        };
        match verdict {
            Verdict::Accept => {
                cx.answer(id, reply.usage);
                captured(&mut cx, &reply.response);
                if cx.cache_key.is_some() {
                    let answer = cache::Answer::Whole(Box::new(reply.response.clone()));
                    cx.keep_answer(answer);
                }
                return Outcome::Answer(Box::new(reply.response), cx);
            }
            Verdict::Escalate(why) => {
                cx.reject(id, reply.usage, &why);
                tracing::debug!(model = %cx.snap.deployment(id).name, %why, "escalating");
                held = Some((id, reply));
                stage = Arc::new(
                    plan.from_target(next.unwrap_or(usize::MAX), cx.attempts.records.len()),
                );
            }
        }
    }
}

/// Keep the answer served, on a route that captures.
fn captured(cx: &mut RequestCx, response: &ChatResponse) {
    if cx.capture.is_some() {
        cx.capture_answer(&AnswerView::of_response(response));
    }
}

/// The index in `plan` of the candidate after `answered`, if one is left and attempts remain.
fn next_stage(cx: &RequestCx, plan: &Plan, answered: DeploymentId) -> Option<usize> {
    let pos = plan.targets.iter().position(|&t| t == answered)?;
    let more = (cx.attempts.records.len() as u32) < plan.max_attempts;
    (pos + 1 < plan.targets.len() && more).then_some(pos + 1)
}

/// A stream. On a route that may escalate, each answer but the last candidate's is held back
/// (up to `hold_back_bytes`) until the evaluators have judged it: the client sees nothing of a
/// rejected answer. An answer longer than the hold-back is released unjudged.
async fn stream(mut cx: RequestCx, plan: Arc<Plan>, req: ChatRequest) -> Outcome {
    let hold_back = holds_back(&cx, &plan);
    let mut stage = plan.clone();
    let mut held: Option<(DeploymentId, StreamStart)> = None;
    loop {
        let (result, attempts) = attempt::chat_stream(&cx.snap, &stage, &req).await;
        cx.attempts.extend(attempts);
        let (id, mut start) = match (result, held.take()) {
            (Ok(started), _) => started,
            // Every later candidate failed: the rejected answer is better than none.
            (Err(_), Some((id, start))) => {
                cx.unreject(id);
                (id, start)
            }
            (Err(e), None) => return Outcome::Failed(e, cx),
        };
        let next = next_stage(&cx, &plan, id);
        if let (Some(limit), Some(next)) = (hold_back, next) {
            if attempt::hold_back(&mut start, limit).await {
                let view = AnswerView::of_chunks(&start.head);
                if let Verdict::Escalate(why) = evaluate(&mut cx, &req, id, &view, false) {
                    let usage = held_usage(&cx, &req, &start, &view);
                    cx.reject(id, usage, &why);
                    stage = Arc::new(plan.from_target(next, cx.attempts.records.len()));
                    held = Some((id, start));
                    continue;
                }
            }
        }
        cx.answered = Some(id);
        let facts = cx.facts(false);
        let events = relay(cx, stage, Arc::new(req), start);
        return Outcome::Stream(Stream {
            facts,
            events: futures::StreamExt::boxed(events),
        });
    }
}

/// The usage of a held-back answer: as its stream reported it, else estimated.
fn held_usage(cx: &RequestCx, req: &ChatRequest, start: &StreamStart, view: &AnswerView) -> Usage {
    let reported = start.head.iter().rev().find_map(|i| match i {
        StreamItem::Chunk(_, Some(u)) => Some(*u),
        _ => None,
    });
    reported.unwrap_or_else(|| cx.estimate_usage(req, &view.text))
}
