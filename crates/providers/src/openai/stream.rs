//! OpenAI SSE → [`StreamItem`]s.
//!
//! Ends with [`StreamItem::Done`] on `data: [DONE]`, or as soon as the usage chunk that follows
//! the finish reason has arrived (so a stream that never sends `[DONE]` is finalised promptly).
//! A stream that ends before any finish reason is reported as [`ErrorClass::StreamCut`]; a
//! chunk that is not valid JSON is skipped and logged.

use futures::{stream::BoxStream, Stream, StreamExt};
use switchyard_types::{ChatChunk, OpenAiDialect, Usage};

use crate::sse::{Event, SseError};
use crate::{ErrorClass, ProviderError, StreamItem};

#[derive(Default)]
struct State {
    dialect: OpenAiDialect,
    finished: bool,
    /// The usage chunk after the finish reason has been yielded: the answer is complete.
    complete: bool,
    ended: bool,
}

/// Decode a streaming response body.
pub(super) fn decode(
    resp: reqwest::Response,
    dialect: OpenAiDialect,
) -> BoxStream<'static, Result<StreamItem, ProviderError>> {
    decode_events(crate::sse::events(resp.bytes_stream()), dialect).boxed()
}

pub(crate) fn decode_events<S>(
    events: S,
    dialect: OpenAiDialect,
) -> impl Stream<Item = Result<StreamItem, ProviderError>>
where
    S: Stream<Item = Result<Event, SseError>> + Unpin + Send + 'static,
{
    futures::stream::unfold(
        (
            events,
            State {
                dialect,
                ..State::default()
            },
        ),
        |(mut events, mut st)| async move {
            if st.ended {
                return None;
            }
            if st.complete {
                // Finalise promptly even if the upstream never sends `[DONE]` or closes.
                st.ended = true;
                return Some((Ok(StreamItem::Done), (events, st)));
            }
            loop {
                let item = match events.next().await {
                    None if st.finished => Ok(StreamItem::Done),
                    None => Err(ProviderError::new(
                        ErrorClass::StreamCut,
                        "upstream stream ended before the answer was complete",
                    )),
                    Some(Err(e)) => Err(ProviderError::new(
                        ErrorClass::StreamCut,
                        format!("upstream stream broke: {e}"),
                    )),
                    Some(Ok(ev)) => match on_event(&ev, &mut st) {
                        Some(item) => item,
                        None => continue,
                    },
                };
                if matches!(item, Ok(StreamItem::Done) | Err(_)) {
                    st.ended = true;
                }
                return Some((item, (events, st)));
            }
        },
    )
}

fn on_event(ev: &Event, st: &mut State) -> Option<Result<StreamItem, ProviderError>> {
    let data = ev.data.trim();
    if data.is_empty() {
        return None;
    }
    if data == "[DONE]" {
        return Some(Ok(StreamItem::Done));
    }
    match serde_json::from_str::<ChatChunk>(data) {
        Ok(mut chunk) => {
            if chunk.finish_reason().is_some() {
                st.finished = true;
            }
            let tier = super::served_tier(&chunk.extra);
            let usage = chunk.usage.as_mut().map(|w| {
                let mut u = Usage::from_openai(w, st.dialect);
                w.set_counts(&u);
                u.tier = tier;
                u
            });
            if st.finished && usage.is_some() {
                st.complete = true;
            }
            Some(Ok(StreamItem::Chunk(chunk, usage)))
        }
        Err(_) if data.contains("\"error\"") => {
            let mut e = super::error::classify(500, data.as_bytes());
            e.status = None;
            Some(Err(e))
        }
        Err(e) => {
            tracing::warn!(error = %e, "skipping malformed upstream stream chunk");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn run(raw: &str) -> Vec<Result<StreamItem, ProviderError>> {
        let bytes = futures::stream::iter(
            raw.as_bytes()
                .chunks(7)
                .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        block_on(decode_events(crate::sse::events(bytes), OpenAiDialect::Standard).collect())
    }

    const CHUNK: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
    const FINAL: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;

    #[test]
    fn clean_stream_ends_with_done() {
        let out = run(&format!(
            "data: {CHUNK}\n\ndata: {FINAL}\n\ndata: [DONE]\n\n"
        ));
        assert_eq!(out.len(), 3);
        assert!(matches!(out[2], Ok(StreamItem::Done)));
    }

    #[test]
    fn cut_stream_is_an_error() {
        let out = run(&format!("data: {CHUNK}\n\n"));
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].as_ref().unwrap_err().class, ErrorClass::StreamCut);
    }

    #[test]
    fn missing_done_after_finish_is_complete() {
        let out = run(&format!("data: {CHUNK}\n\ndata: {FINAL}\n\n"));
        assert!(matches!(out.last(), Some(Ok(StreamItem::Done))));
    }

    #[test]
    fn malformed_chunk_is_skipped() {
        let out = run(&format!(
            "data: {CHUNK}\n\ndata: {{nope\n\ndata: {FINAL}\n\ndata: [DONE]\n\n"
        ));
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|r| r.is_ok()));
    }
}
