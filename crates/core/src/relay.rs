//! Phase 5 continued, for streams: pump an upstream stream whose first token is in, as
//! canonical [`Event`]s, until it ends — and settle it.
//!
//! The relay applies the idle timeout and the request deadline. A cut, a stall or a malformed
//! stream after the first byte is completed from a deployment that can continue the text
//! already sent (prefill), when [`retry::decide`](crate::retry) says so and the plan has one;
//! the continuation presents itself as the same message. Otherwise the stream ends with
//! [`Event::Failed`], so a truncated answer is never presented as complete.
//!
//! The usage event carries the bill, computed once: the final chunk tells the client exactly
//! what the ledger records. A relay dropped before its end (the client went away) records the
//! usage reported so far, or, if the provider reported none, the input tokens counted from the
//! prompt and the output received, marked as estimated.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use futures::{stream::BoxStream, Stream, StreamExt};
use switchyard_providers::{ErrorClass, ProviderError, StreamItem};
use switchyard_types::{ChatChunk, ChatRequest, Usage};
use tokio::time::Instant;

use crate::{
    attempt::{self, StreamStart},
    cx::{Bill, Ending, RequestCx},
    plan::Plan,
    retry::{decide, Decision, Stage},
};

/// What the client is sent, in canonical form; the server encodes it in the client's API.
#[derive(Debug)]
pub enum Event {
    /// A chunk of the answer.
    Chunk(ChatChunk),
    /// The chunk that carries the answer's usage, with the request's bill (the ledger's).
    Usage(Box<ChatChunk>, Usage, Bill),
    /// The upstream completed the answer.
    Done,
    /// The stream failed after the first byte and could not be completed elsewhere.
    Failed(ProviderError),
}

struct State {
    /// `None` once settled. Boxed: `unfold` moves the state on every item.
    cx: Option<Box<RequestCx>>,
    plan: Arc<Plan>,
    req: Arc<ChatRequest>,
    head: VecDeque<StreamItem>,
    rest: BoxStream<'static, Result<StreamItem, ProviderError>>,
    idle: Duration,
    deadline: Instant,
    relay_started: Instant,
    /// Text output sent so far (a continuation's prefill, and the estimate of an abandoned
    /// answer's output).
    sent: String,
    /// A tool call was sent: the answer cannot be continued by prefill.
    tool_call_sent: bool,
    /// The answer's finish reason, once sent.
    finish: Option<switchyard_types::FinishReason>,
    usage_seen: bool,
    first_id: Option<String>,
    resuming: bool,
    /// The chunks sent, kept for the response cache (on a caching route, until they outgrow
    /// [`crate::cache::MAX_ENTRY_BYTES`]), their size, and which one carried the usage.
    kept: Option<Vec<ChatChunk>>,
    kept_bytes: usize,
    usage_at: Option<usize>,
}

/// Turn a started stream into events. The relay owns the request context and settles it.
pub fn relay(
    mut cx: RequestCx,
    plan: Arc<Plan>,
    req: Arc<ChatRequest>,
    start: StreamStart,
) -> impl Stream<Item = Event> + Send {
    cx.answered = Some(start.deployment);
    let kept = cx.cache_key.is_some().then(Vec::new);
    let state = State {
        cx: Some(Box::new(cx)),
        plan,
        req,
        head: start.head.into(),
        rest: start.rest,
        idle: start.idle,
        deadline: start.deadline,
        relay_started: Instant::now(),
        sent: String::new(),
        tool_call_sent: false,
        finish: None,
        usage_seen: false,
        first_id: None,
        resuming: false,
        kept,
        kept_bytes: 0,
        usage_at: None,
    };
    futures::stream::unfold(state, |mut st| async move {
        st.cx.as_ref()?;
        loop {
            let item = match st.head.pop_front() {
                Some(item) => Ok(item),
                None => next(&mut st).await,
            };
            let event = match item {
                Ok(StreamItem::Chunk(chunk, usage)) => match on_chunk(&mut st, chunk, usage) {
                    Some(e) => e,
                    None => continue,
                },
                Ok(StreamItem::Done) => {
                    st.end(None);
                    Event::Done
                }
                Err(e) => {
                    if resume(&mut st, &e).await {
                        continue;
                    }
                    st.end(Some(&e));
                    Event::Failed(e)
                }
            };
            return Some((event, st));
        }
    })
}

impl State {
    /// Settle: completed (`None`) or failed after the first byte.
    fn end(&mut self, failure: Option<&ProviderError>) {
        let elapsed = self.relay_started.elapsed();
        let Some(mut cx) = self.cx.take().map(|b| *b) else {
            return;
        };
        if let Some(a) = answering_record(&mut cx) {
            a.latency += elapsed;
        }
        match failure {
            Some(e) => cx.fail(200, e.class.as_str()),
            None => self.judge(&mut cx),
        }
        // A complete answer is kept for the requests that repeat this one.
        if let (None, Some(chunks), Some(_)) = (failure, self.kept.take(), &self.finish) {
            let usage_at = self.usage_at;
            cx.keep_answer(crate::cache::Answer::Stream { chunks, usage_at });
        }
        self.capture(&mut cx);
        cx.finish(Ending::Delivered);
    }

    /// Keep the text sent, on a route that captures.
    fn capture(&self, cx: &mut RequestCx) {
        if cx.capture.is_some() {
            cx.capture_answer(&crate::evaluate::AnswerView {
                text: self.sent.clone(),
                ..Default::default()
            });
        }
    }

    /// The route's evaluators read a streamed answer that was not held back (it can no
    /// longer be escalated, but its signals count): its text, as sent.
    fn judge(&self, cx: &mut RequestCx) {
        let Some(id) = cx.answered else { return };
        if cx.judged.last().is_some_and(|j| j.deployment == id) {
            return; // judged while held back
        }
        let has_evaluators = cx
            .snap
            .routes
            .get(&self.plan.route)
            .is_some_and(|r| !r.evaluators.is_empty());
        if !has_evaluators || self.tool_call_sent {
            return;
        }
        let view = crate::evaluate::AnswerView {
            text: self.sent.clone(),
            finish: self.finish.clone(),
            ..Default::default()
        };
        crate::driver::evaluate(cx, &self.req, id, &view, true);
    }
}

impl Drop for State {
    /// The client went away mid-stream: record what was spent.
    fn drop(&mut self) {
        let Some(mut cx) = self.cx.take() else { return };
        self.capture(&mut cx);
        let cx = self.cx.insert(cx);
        if self.usage_seen {
            return;
        }
        let estimate = cx.estimate_usage(&self.req, &self.sent);
        if let Some(id) = cx.answered {
            cx.answer(id, estimate);
            cx.usage_estimated = true;
        }
    }
}

/// The attempt record of the deployment answering now.
fn answering_record(cx: &mut RequestCx) -> Option<&mut attempt::AttemptRecord> {
    let id = cx.answered?;
    cx.attempts
        .records
        .iter_mut()
        .rev()
        .find(|a| a.deployment == id && a.error.is_none())
}

fn on_chunk(st: &mut State, mut chunk: ChatChunk, usage: Option<Usage>) -> Option<Event> {
    // A continuation presents itself as the same message: same id, no second role chunk.
    match &st.first_id {
        None => st.first_id = Some(chunk.id.clone()),
        Some(id) if st.resuming => {
            chunk.id.clone_from(id);
            if !chunk.has_output() && chunk.usage.is_none() {
                return None;
            }
            for c in &mut chunk.choices {
                c.delta.role = None;
            }
        }
        Some(_) => {}
    }
    for c in &chunk.choices {
        if c.finish_reason.is_some() {
            st.finish.clone_from(&c.finish_reason);
        }
        if let Some(t) = &c.delta.content {
            st.sent.push_str(t);
        }
        for call in c.delta.tool_calls.iter().flatten() {
            st.tool_call_sent = true;
            if let Some(f) = &call.function {
                st.sent.push_str(f.arguments.as_deref().unwrap_or(""));
            }
        }
    }
    if let Some(kept) = &mut st.kept {
        st.kept_bytes += crate::cache::chunk_bytes(&chunk);
        if st.kept_bytes > crate::cache::MAX_ENTRY_BYTES {
            st.kept = None;
        } else {
            if usage.is_some() {
                st.usage_at = Some(kept.len());
            }
            kept.push(chunk.clone());
        }
    }
    let Some(u) = usage else {
        return Some(Event::Chunk(chunk));
    };
    st.usage_seen = true;
    let cx = st.cx.as_mut()?;
    if let Some(id) = cx.answered {
        cx.answer(id, u);
    }
    let bill = cx.bill().clone();
    Some(Event::Usage(Box::new(chunk), u, bill))
}

/// After a mid-stream failure, try to complete the answer elsewhere. `true` if the relay now
/// continues from a fallback.
async fn resume(st: &mut State, e: &ProviderError) -> bool {
    let remaining = st.deadline.saturating_duration_since(Instant::now());
    let continuable = !st.tool_call_sent && !st.resuming;
    if !continuable || decide(e, 0, remaining, Stage::MidStream) != Decision::Resume {
        return false;
    }
    let Some(cx) = st.cx.as_mut() else {
        return false;
    };
    let (snap, plan, req) = (cx.snap.clone(), st.plan.clone(), st.req.clone());
    let Some(failed) = cx.answered.filter(|&f| plan_can_continue(&snap, &plan, f)) else {
        return false;
    };
    if let Some(a) = answering_record(cx) {
        a.error = Some(e.clone());
    }
    let start = attempt::resume_stream(
        &snap,
        &plan,
        &req,
        failed,
        &st.sent,
        st.deadline,
        &mut cx.attempts,
    )
    .await;
    let Some(start) = start else { return false };
    tracing::info!(
        class = e.class.as_str(),
        "stream broke after the first token; completing it from a fallback"
    );
    cx.answered = Some(start.deployment);
    st.head.extend(start.head);
    st.rest = start.rest;
    st.idle = start.idle;
    st.resuming = true;
    st.relay_started = Instant::now();
    true
}

/// Whether a deployment after `failed` in the plan can continue a cut answer (prefill).
fn plan_can_continue(snap: &crate::Snapshot, plan: &Plan, failed: crate::DeploymentId) -> bool {
    let Some(pos) = plan.targets.iter().position(|&t| t == failed) else {
        return false;
    };
    plan.targets[pos + 1..]
        .iter()
        .any(|&t| snap.deployment(t).caps.prefill)
}

async fn next(st: &mut State) -> Result<StreamItem, ProviderError> {
    let now = Instant::now();
    if now >= st.deadline {
        return Err(ProviderError::new(
            ErrorClass::FirstTokenTimeout,
            "request deadline exceeded mid-stream",
        ));
    }
    let wait = st.idle.min(st.deadline - now);
    match tokio::time::timeout(wait, st.rest.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => Err(ProviderError::new(
            ErrorClass::StreamCut,
            "upstream stream ended before the answer was complete",
        )),
        Err(_) => Err(ProviderError::new(
            ErrorClass::IdleTimeout,
            format!("upstream stream stalled for {wait:?}; the answer is incomplete"),
        )),
    }
}
