//! Relaying an upstream stream to the client as OpenAI server-sent events.
//!
//! Chunks are forwarded one by one as they arrive, never buffered whole. The stream ends with
//! `data: [DONE]` only when the upstream completed. A cut, a stall past the idle timeout or a
//! malformed stream after the first byte is completed from a fallback that can continue the
//! text already sent (prefill), when the plan has one; otherwise the stream ends with an
//! explicit `error` event carrying the real failure and no `[DONE]`, so a truncated answer
//! never looks complete.
//!
//! The same relay serves the Anthropic-compatible ingress: with [`Out::Anthropic`] the chunks
//! are re-encoded as Anthropic named events, and the end / failure as `message_stop` / `error`.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use bytes::Bytes;
use futures::{future::BoxFuture, stream::BoxStream, Stream, StreamExt};
use serde_json::json;
use switchyard_core::{
    attempt::{AttemptRecord, StreamStart},
    DeploymentId,
};
use switchyard_providers::{ErrorClass, ProviderError, StreamItem};
use switchyard_types::{ChatChunk, Usage};
use tokio::time::Instant;

/// How a relayed stream ended.
#[derive(Debug, Clone)]
pub(crate) enum StreamEnd {
    /// The upstream finished and the client got `[DONE]`.
    Completed,
    /// The stream failed after the first byte; the client got an error event.
    Failed(ProviderError),
    /// The client went away.
    Cancelled,
}

/// What the settle step learns when a stream ends.
#[derive(Debug, Clone)]
pub(crate) struct StreamOutcome {
    pub end: StreamEnd,
    /// Usage of the deployment that finished the answer.
    pub usage: Usage,
    /// The deployment that finished the answer.
    pub answered: DeploymentId,
    /// The failure of the first deployment, when a fallback completed its answer.
    pub broke: Option<ProviderError>,
    /// Attempts made to complete the answer.
    pub resumed: Vec<AttemptRecord>,
}

type OnEnd = Box<dyn FnOnce(StreamOutcome) + Send>;

/// The client's wire format.
pub(crate) enum Out {
    /// OpenAI chunks; the usage chunk only if the client asked for it.
    OpenAi { include_usage: bool },
    /// Anthropic named events.
    Anthropic(Box<switchyard_providers::anthropic::ingress::SseEncoder>),
}

/// Builds the `switchyard` extension (cost figures) added to the usage chunk.
pub(crate) type Annotate = Box<dyn Fn(DeploymentId, &Usage) -> serde_json::Value + Send>;

/// Starts a continuation of the text sent so far from another deployment.
pub(crate) type Resume = Box<
    dyn FnMut(
            DeploymentId,
            String,
            Instant,
        ) -> BoxFuture<'static, (Option<StreamStart>, Vec<AttemptRecord>)>
        + Send,
>;

struct Guard {
    on_end: Option<OnEnd>,
    outcome: StreamOutcome,
}

impl Guard {
    fn finish(&mut self, end: StreamEnd) {
        if let Some(f) = self.on_end.take() {
            let mut outcome = self.outcome.clone();
            outcome.end = end;
            f(outcome);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.finish(StreamEnd::Cancelled);
    }
}

struct State {
    head: VecDeque<StreamItem>,
    rest: BoxStream<'static, Result<StreamItem, ProviderError>>,
    idle: Duration,
    deadline: Instant,
    out: Out,
    annotate: Annotate,
    resume: Option<Resume>,
    /// Text sent so far (for a continuation); `None` once a tool call was sent.
    text: Option<String>,
    first_id: Option<String>,
    resuming: bool,
    over: bool,
    guard: Guard,
}

/// Write events that are already available together, in one body frame: no added latency (a
/// lone event is written at once), far fewer writes when the upstream delivers in bursts.
pub(crate) fn coalesce(
    events: impl Stream<Item = Result<Bytes, Infallible>> + Send,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    events.ready_chunks(64).map(|batch| {
        if batch.len() == 1 {
            return batch.into_iter().next().unwrap_or(Ok(Bytes::new()));
        }
        let mut buf = bytes::BytesMut::with_capacity(
            batch.iter().map(|b| b.as_ref().map_or(0, Bytes::len)).sum(),
        );
        for Ok(b) in batch {
            buf.extend_from_slice(&b);
        }
        Ok(buf.freeze())
    })
}

/// Turn a started upstream stream into the client's SSE body. `on_end` runs exactly once,
/// when the stream ends or the client disconnects.
pub(crate) fn relay(
    start: StreamStart,
    out: Out,
    annotate: Annotate,
    resume: Option<Resume>,
    on_end: impl FnOnce(StreamOutcome) + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let outcome = StreamOutcome {
        end: StreamEnd::Cancelled,
        usage: Usage::default(),
        answered: start.deployment,
        broke: None,
        resumed: Vec::new(),
    };
    let state = State {
        head: start.head.into(),
        rest: start.rest,
        idle: start.idle,
        deadline: start.deadline,
        out,
        annotate,
        text: resume.as_ref().map(|_| String::new()),
        resume,
        first_id: None,
        resuming: false,
        over: false,
        guard: Guard {
            on_end: Some(Box::new(on_end)),
            outcome,
        },
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.over {
            return None;
        }
        loop {
            let item = match st.head.pop_front() {
                Some(item) => Ok(item),
                None => next(&mut st).await,
            };
            let out = match item {
                Ok(StreamItem::Chunk(chunk, usage)) => match on_chunk(&mut st, chunk, usage) {
                    Some(bytes) => bytes,
                    None => continue,
                },
                Ok(StreamItem::Done) => {
                    st.over = true;
                    st.guard.finish(StreamEnd::Completed);
                    match &mut st.out {
                        Out::OpenAi { .. } => Bytes::from_static(b"data: [DONE]\n\n"),
                        Out::Anthropic(enc) => enc.done(),
                    }
                }
                Err(e) => {
                    if try_resume(&mut st, &e).await {
                        continue;
                    }
                    st.over = true;
                    let bytes = match &mut st.out {
                        Out::OpenAi { .. } => error_event(&e),
                        Out::Anthropic(enc) => enc.error("api_error", &incomplete(&e)),
                    };
                    st.guard.finish(StreamEnd::Failed(e));
                    bytes
                }
            };
            return Some((Ok(out), st));
        }
    })
}

fn on_chunk(st: &mut State, mut chunk: ChatChunk, usage: Option<Usage>) -> Option<Bytes> {
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
    if let Some(text) = &mut st.text {
        for c in &chunk.choices {
            if c.delta.tool_calls.is_some() {
                st.text = None;
                break;
            }
            if let Some(t) = &c.delta.content {
                text.push_str(t);
            }
        }
    }
    if let Some(u) = usage {
        st.guard.outcome.usage = u;
        let answered = st.guard.outcome.answered;
        match &mut st.out {
            Out::OpenAi {
                include_usage: true,
            } => {
                chunk
                    .extra
                    .insert("switchyard".to_owned(), (st.annotate)(answered, &u));
            }
            Out::OpenAi { .. } => {}
            Out::Anthropic(enc) => {
                let extra = serde_json::Map::from_iter([(
                    "switchyard".to_owned(),
                    (st.annotate)(answered, &u),
                )]);
                return enc.chunk(&chunk, Some(&u), Some(extra));
            }
        }
    }
    match &mut st.out {
        Out::OpenAi { include_usage } => encode_chunk(chunk, *include_usage),
        Out::Anthropic(enc) => enc.chunk(&chunk, None, None),
    }
}

/// After a mid-stream failure, try to complete the answer elsewhere. `true` if the relay now
/// continues from a fallback.
async fn try_resume(st: &mut State, e: &ProviderError) -> bool {
    let resumable = matches!(
        e.class,
        ErrorClass::StreamCut | ErrorClass::IdleTimeout | ErrorClass::Malformed
    );
    let (Some(resume), Some(text)) = (st.resume.as_mut(), st.text.as_ref()) else {
        return false;
    };
    if !resumable || st.guard.outcome.broke.is_some() {
        return false;
    }
    let (start, records) = resume(st.guard.outcome.answered, text.clone(), st.deadline).await;
    st.guard.outcome.resumed.extend(records);
    let Some(start) = start else { return false };
    tracing::info!(
        class = e.class.as_str(),
        "stream broke after the first token; completing it from a fallback"
    );
    st.guard.outcome.broke = Some(e.clone());
    st.guard.outcome.answered = start.deployment;
    st.guard.outcome.usage = Usage::default();
    st.head.extend(start.head);
    st.rest = start.rest;
    st.idle = start.idle;
    st.resuming = true;
    true
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

/// Encode a chunk for the client; `None` drops it (the usage chunk the client did not ask for).
fn encode_chunk(mut chunk: ChatChunk, include_usage: bool) -> Option<Bytes> {
    if !include_usage {
        if chunk.choices.is_empty() && chunk.usage.is_some() {
            return None;
        }
        chunk.usage = None;
    }
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, &chunk).ok()?;
    buf.extend_from_slice(b"\n\n");
    Some(Bytes::from(buf))
}

fn incomplete(e: &ProviderError) -> String {
    format!("switchyard: the upstream stream failed after the answer began; the answer is incomplete: {}", e.message)
}

/// The explicit error event that ends a failed stream (OpenAI clients raise it as an error).
fn error_event(e: &ProviderError) -> Bytes {
    let body = json!({"error": {
        "message": incomplete(e),
        "type": "upstream_error",
        "param": null,
        "code": e.class.as_str(),
    }});
    Bytes::from(format!("data: {body}\n\n"))
}
