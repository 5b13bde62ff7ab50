//! The request driver: every API request, whatever the endpoint, runs these phases in this
//! order, each a small function over one [`RequestCx`].
//!
//! 1. **Ingress** (the server): read and decode the client's body into an ingress-neutral
//!    request ([`ChatRequest`] or [`EmbeddingsRequest`]) and start a [`RequestCx`].
//! 2. **Admit** ([`admit`]): the extension point for budgets and rate limits (pass-through
//!    today).
//! 3. **Features** ([`Features`]): computed once — token estimate, output cap, task, region,
//!    lane, session, tenant, tags, tools/images/JSON.
//! 4. **Plan** ([`plan::plan`]): the ordered candidates, and why each excluded one was left out.
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
use switchyard_providers::Reply;
use switchyard_types::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse};

use crate::{
    attempt,
    cx::{Facts, RequestCx},
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Accept,
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
pub async fn chat(mut cx: RequestCx, req: ChatRequest, hints: HeaderMap) -> Outcome {
    let hints = &hints;
    cx.stream = req.stream;
    if let Err(e) = admit(&cx, &req) {
        return Outcome::Failed(e, cx);
    }
    let features = Features::extract(&req, hints);
    let plan = match plan_for(&mut cx, &req, features) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e, cx),
    };
    if req.stream {
        stream(cx, plan, req).await
    } else {
        once(cx, plan, req).await
    }
}

/// Phases 2–5 and 7 for embeddings: the same name resolution, plan, attempt loop and settle.
pub async fn embed(mut cx: RequestCx, req: EmbeddingsRequest, hints: HeaderMap) -> EmbedOutcome {
    let hints = &hints;
    if let Err(e) = admit(&cx, &req) {
        return Err((e, cx));
    }
    let features = Features::extract_embeddings(&req, hints);
    let plan = match plan_for(&mut cx, &req, features) {
        Ok(p) => p,
        Err(e) => return Err((e, cx)),
    };
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

/// Phase 2, admit: the place budgets and rate limits will reserve capacity (a request that
/// cannot fit is refused here). Everything is admitted today.
pub fn admit(_cx: &RequestCx, _req: &impl Routable) -> Result<(), CoreError> {
    Ok(())
}

/// Phase 5's judgement of an answer: the place a cascade will evaluate the cheap answer and
/// escalate. Everything is accepted today.
pub fn evaluate(_cx: &RequestCx, _answered: DeploymentId, _reply: &Reply) -> Verdict {
    Verdict::Accept
}

/// Phases 3–4: features, then the plan; both are kept on the context for settle.
fn plan_for(
    cx: &mut RequestCx,
    req: &impl Routable,
    features: Features,
) -> Result<Arc<Plan>, CoreError> {
    features.check_labels().map_err(CoreError::BadRequest)?;
    let planned = plan::plan(&cx.snap, req, &features);
    cx.features = Some(features);
    let plan = Arc::new(planned?);
    cx.plan = Some(plan.clone());
    Ok(plan)
}

async fn once(mut cx: RequestCx, plan: Arc<Plan>, req: ChatRequest) -> Outcome {
    let (result, attempts) = attempt::chat(&cx.snap, &plan, &req).await;
    cx.attempts = attempts;
    match result {
        Ok((id, reply)) => match evaluate(&cx, id, &reply) {
            Verdict::Accept => {
                cx.answer(id, reply.usage);
                Outcome::Answer(Box::new(reply.response), cx)
            }
        },
        Err(e) => Outcome::Failed(e, cx),
    }
}

async fn stream(mut cx: RequestCx, plan: Arc<Plan>, req: ChatRequest) -> Outcome {
    let (result, attempts) = attempt::chat_stream(&cx.snap, &plan, &req).await;
    cx.attempts = attempts;
    match result {
        Ok((id, start)) => {
            cx.answered = Some(id);
            let facts = cx.facts(false);
            let events = relay(cx, plan, Arc::new(req), start);
            Outcome::Stream(Stream {
                facts,
                events: futures::StreamExt::boxed(events),
            })
        }
        Err(e) => Outcome::Failed(e, cx),
    }
}
