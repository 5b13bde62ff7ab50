//! Encoding a relayed stream ([`switchyard_core::relay::Event`]s) as the client's
//! server-sent events: OpenAI chunks, or Anthropic named events.
//!
//! The stream ends with `data: [DONE]` (Anthropic: `message_stop`) only when the upstream
//! completed it; a failure after the first byte ends it with an explicit `error` event, so a
//! truncated answer never looks complete. The usage chunk carries switchyard's cost figures
//! (the `switchyard` object): they are the bill the ledger records.

use std::convert::Infallible;

use bytes::Bytes;
use futures::{stream::BoxStream, Stream, StreamExt};
use serde_json::json;
use switchyard_core::{relay::Event, Bill};
use switchyard_providers::ProviderError;
use switchyard_types::ChatChunk;

/// The client's wire format.
pub(crate) enum Out {
    /// OpenAI chunks; the usage chunk only if the client asked for it.
    OpenAi { include_usage: bool },
    /// Anthropic named events.
    Anthropic(Box<switchyard_providers::anthropic::ingress::SseEncoder>),
}

/// Encode events as they arrive, never buffered whole.
pub(crate) fn encode(
    events: BoxStream<'static, Event>,
    mut out: Out,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    events.filter_map(move |event| {
        let bytes = match event {
            Event::Chunk(chunk) => match &mut out {
                Out::OpenAi { include_usage } => encode_chunk(chunk, *include_usage),
                Out::Anthropic(enc) => enc.chunk(&chunk, None, None),
            },
            Event::Usage(mut chunk, usage, bill) => match &mut out {
                Out::OpenAi {
                    include_usage: true,
                } => {
                    chunk.extra.insert("switchyard".to_owned(), annotate(&bill));
                    encode_chunk(*chunk, true)
                }
                Out::OpenAi { .. } => encode_chunk(*chunk, false),
                Out::Anthropic(enc) => {
                    let extra =
                        serde_json::Map::from_iter([("switchyard".to_owned(), annotate(&bill))]);
                    enc.chunk(&chunk, Some(&usage), Some(extra))
                }
            },
            Event::Done => Some(match &mut out {
                Out::OpenAi { .. } => Bytes::from_static(b"data: [DONE]\n\n"),
                Out::Anthropic(enc) => enc.done(),
            }),
            Event::Failed(e) => Some(match &mut out {
                Out::OpenAi { .. } => error_event(&e),
                Out::Anthropic(enc) => enc.error("api_error", &incomplete(&e)),
            }),
        };
        std::future::ready(bytes.map(Ok))
    })
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

/// The `switchyard` object of the usage chunk: the request's bill, as the ledger records it.
pub(crate) fn annotate(bill: &Bill) -> serde_json::Value {
    json!({
        "cost_usd": bill.cost,
        "baseline_cost_usd": bill.baseline,
        "unpriced": !bill.cost.is_priced(),
    })
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

pub(crate) fn incomplete(e: &ProviderError) -> String {
    format!(
        "switchyard: the upstream stream failed after the answer began; the answer is incomplete: {}",
        switchyard_providers::redact_secrets(&e.message)
    )
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
