//! Relaying an upstream stream to the client as OpenAI server-sent events.
//!
//! Chunks are forwarded one by one as they arrive, never buffered whole. The stream ends with
//! `data: [DONE]` only when the upstream completed; a cut, a stall past the idle timeout, the
//! request deadline or an upstream error event ends it with an explicit `error` event and no
//! `[DONE]`, so a truncated answer never looks complete.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use serde_json::json;
use switchyard_core::attempt::StreamStart;
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
    pub usage: Usage,
}

type OnEnd = Box<dyn FnOnce(StreamOutcome) + Send>;

/// Builds the `switchyard` extension (cost figures) added to the usage chunk.
pub(crate) type Annotate = Box<dyn Fn(&Usage) -> serde_json::Value + Send>;

struct Guard {
    on_end: Option<OnEnd>,
    usage: Usage,
}

impl Guard {
    fn finish(&mut self, end: StreamEnd) {
        if let Some(f) = self.on_end.take() {
            f(StreamOutcome { end, usage: self.usage });
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
    include_usage: bool,
    annotate: Annotate,
    over: bool,
    guard: Guard,
}

/// Turn a started upstream stream into the client's SSE body. `on_end` runs exactly once,
/// when the stream ends or the client disconnects.
pub(crate) fn relay(
    start: StreamStart,
    include_usage: bool,
    annotate: Annotate,
    on_end: impl FnOnce(StreamOutcome) + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let state = State {
        head: start.head.into(),
        rest: start.rest,
        idle: start.idle,
        deadline: start.deadline,
        include_usage,
        annotate,
        over: false,
        guard: Guard { on_end: Some(Box::new(on_end)), usage: Usage::default() },
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
                Ok(StreamItem::Chunk(mut chunk, usage)) => {
                    if let Some(u) = usage {
                        st.guard.usage = u;
                        if st.include_usage {
                            chunk.extra.insert("switchyard".to_owned(), (st.annotate)(&u));
                        }
                    }
                    match encode_chunk(chunk, st.include_usage) {
                        Some(bytes) => bytes,
                        None => continue,
                    }
                }
                Ok(StreamItem::Done) => {
                    st.over = true;
                    st.guard.finish(StreamEnd::Completed);
                    Bytes::from_static(b"data: [DONE]\n\n")
                }
                Err(e) => {
                    st.over = true;
                    let bytes = error_event(&e);
                    st.guard.finish(StreamEnd::Failed(e));
                    bytes
                }
            };
            return Some((Ok(out), st));
        }
    })
}

async fn next(st: &mut State) -> Result<StreamItem, ProviderError> {
    let now = Instant::now();
    if now >= st.deadline {
        return Err(ProviderError::new(ErrorClass::FirstTokenTimeout, "request deadline exceeded mid-stream"));
    }
    let wait = st.idle.min(st.deadline - now);
    match tokio::time::timeout(wait, st.rest.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => Err(ProviderError::new(ErrorClass::StreamCut, "upstream stream ended before the answer was complete")),
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

/// The explicit error event that ends a failed stream (OpenAI clients raise it as an error).
fn error_event(e: &ProviderError) -> Bytes {
    let body = json!({"error": {
        "message": format!("switchyard: the upstream stream failed after the answer began: {}", e.message),
        "type": "upstream_error",
        "param": null,
        "code": e.class.as_str(),
    }});
    Bytes::from(format!("data: {body}\n\n"))
}
