//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`, off in every build
//! the gateway ships).
//!
//! Each function takes arbitrary bytes as they would arrive from a client or from a provider,
//! runs the real parser on them and then the code that consumes the parse (translation to every
//! upstream shape, the stream state machines, error classification). A run passes when nothing
//! panics, nothing hangs and the invariants asserted here hold; a `Result::Err` from a parser is
//! a correct answer to bad input, not a finding.
//!
//! The first byte of an input selects a variant (which adapter, how the bytes are chunked), so
//! one target covers every adapter's version of the same parser.

#![allow(clippy::panic, clippy::unwrap_used)] // a broken invariant must crash the fuzzer

use std::convert::Infallible;

use bytes::Bytes;
use futures::{executor::block_on, Stream, StreamExt};
use switchyard_types::{ChatRequest, ChatResponse, EmbeddingsRequest, JsonMap, OpenAiDialect};

use crate::{anthropic, bedrock, gemini, openai, ProviderError, StreamItem};

/// `POST /v1/chat/completions`: the OpenAI-shaped request decoder, then the translation of
/// whatever it accepted into every upstream's body.
pub fn openai_request(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<ChatRequest>(data) {
        translate(&req);
    }
}

/// `POST /v1/messages`: the Anthropic-shaped request decoder, then the same translations.
pub fn anthropic_request(data: &[u8]) {
    if let Ok(req) = anthropic::ingress::parse_request(data) {
        translate(&req);
    }
}

/// `POST /v1/embeddings`: the request decoder.
pub fn embeddings_request(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<EmbeddingsRequest>(data) {
        serde_json::to_vec(&req).unwrap();
    }
}

/// A canonical request written as each upstream's body. Translation may refuse a request it
/// cannot express (a [`ProviderError`]); what it writes must serialise.
fn translate(req: &ChatRequest) {
    for stream in [false, true] {
        let body = openai::wire::ChatBody::new(req, Some("m"), stream);
        serde_json::to_vec(&body).unwrap();
    }
    if let Ok(enc) = anthropic::convert::encode_request(req, "m", Some(1024)) {
        serde_json::to_vec(&enc.body).unwrap();
    }
    if let Ok(enc) = bedrock::convert::encode_request(req, Some(1024)) {
        serde_json::to_vec(&enc.body).unwrap();
    }
    if let Ok(body) = gemini::convert::to_wire(req) {
        serde_json::to_vec(&body).unwrap();
    }
}

/// A non-streamed upstream answer, decoded by the adapter chosen by the first byte and written
/// back in both client shapes.
pub fn upstream_answer(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let decoded = match which % 4 {
        0 => serde_json::from_slice::<ChatResponse>(body)
            .ok()
            .map(|mut r| {
                let usage = match r.usage.as_mut() {
                    Some(w) => {
                        let u = switchyard_types::Usage::from_openai(w, OpenAiDialect::default());
                        w.set_counts(&u);
                        u
                    }
                    None => Default::default(),
                };
                (r, usage)
            }),
        1 => serde_json::from_slice::<anthropic::wire::MessagesResponse>(body)
            .ok()
            .map(|w| anthropic::convert::decode_response(w, Some("json"), 1)),
        2 => serde_json::from_slice::<bedrock::wire::ConverseResponse>(body)
            .ok()
            .map(|w| bedrock::convert::decode_response(w, Some("json"), "id".into(), "m", 1)),
        _ => serde_json::from_slice::<gemini::wire::GenerateContentResponse>(body)
            .ok()
            .and_then(|w| gemini::convert::from_wire(w, "m", 1).ok()),
    };
    if let Some((response, usage)) = decoded {
        serde_json::to_vec(&response).unwrap();
        let _ = anthropic::ingress::encode_response(&response, &usage, JsonMap::new());
    }
}

/// An upstream error body (status from the second and third bytes), classified by the adapter
/// chosen by the first. The message passed on is bounded and carries no credential shape.
pub fn upstream_error(data: &[u8]) {
    let [which, hi, lo, body @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*hi, *lo]) % 600;
    let err = match which % 4 {
        0 => openai::error::classify(status, body),
        1 => anthropic::error::classify(status, body),
        2 => bedrock::error::classify(Some(status), None, body),
        _ => gemini::error::classify(status, body),
    };
    let _ = crate::redact_secrets(&err.message);
}

/// An SSE body (OpenAI, Anthropic or Gemini by the first byte) delivered in chunks whose size
/// the second byte sets, through the event parser and the adapter's stream decoder.
pub fn sse_stream(data: &[u8]) {
    let [which, size, body @ ..] = data else {
        return;
    };
    let events = crate::sse::events(chunks(body, *size));
    match which % 3 {
        0 => drain(openai::stream::decode_events(
            events,
            OpenAiDialect::default(),
        )),
        1 => drain(anthropic::stream::decode_events(
            events,
            anthropic::stream::Options {
                json_tool: Some("json".into()),
                created: 1,
            },
        )),
        _ => drain(gemini::stream::decode_events(events, "m".into(), 1)),
    }
}

/// A Bedrock event-stream body. With an even first byte the bytes are framed as they came
/// (exercising the prelude, CRCs and header parsing); with an odd one they are split on `\n`
/// into `event-type␞payload` records, each framed correctly, so the stream decoder behind the
/// CRC check is reached too.
pub fn bedrock_stream(data: &[u8]) {
    let [which, size, body @ ..] = data else {
        return;
    };
    let bytes: Vec<u8> = if which % 2 == 0 {
        body.to_vec()
    } else {
        body.split(|b| *b == b'\n')
            .flat_map(|record| {
                let (kind, payload) = match record.iter().position(|b| *b == 0x1e) {
                    Some(i) => (&record[..i], &record[i + 1..]),
                    None => (&b"contentBlockDelta"[..], record),
                };
                let kind = String::from_utf8_lossy(kind);
                if kind.ends_with("Exception") {
                    bedrock::eventstream::encode_exception(&kind, payload).to_vec()
                } else {
                    bedrock::eventstream::encode_event(&kind, payload).to_vec()
                }
            })
            .collect()
    };
    // The frame decoder alone, fed one byte at a time.
    let mut decoder = bedrock::eventstream::Decoder::new();
    for b in &bytes {
        decoder.push(std::slice::from_ref(b));
        while let Ok(Some(_)) = decoder.next_message() {}
    }
    // The whole stream decoder, in chunks.
    drain(bedrock::stream::decode(
        chunks(&bytes, *size),
        bedrock::stream::Options {
            id: "id".into(),
            model: "m".into(),
            created: 1,
            json_tool: Some("json".into()),
        },
    ));
}

/// `body` as a stream of chunks of `size` bytes (at least one).
fn chunks(body: &[u8], size: u8) -> impl Stream<Item = Result<Bytes, Infallible>> + Unpin {
    let size = usize::from(size).max(1);
    let parts: Vec<_> = body
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(parts)
}

/// Run a decoded stream to its end. Invariant: `Done` or an error is the last item.
fn drain(stream: impl Stream<Item = Result<StreamItem, ProviderError>>) {
    let items: Vec<_> = block_on(stream.collect());
    if let Some(pos) = items
        .iter()
        .position(|i| matches!(i, Ok(StreamItem::Done) | Err(_)))
    {
        assert_eq!(pos + 1, items.len(), "a stream went on after its end");
    }
    for item in &items {
        if let Ok(StreamItem::Chunk(chunk, _)) = item {
            serde_json::to_vec(chunk).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The targets run on a few ordinary inputs, so the feature stays compiled and working.
    use super::*;

    #[test]
    fn targets_accept_ordinary_and_garbage_input() {
        let chat = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#;
        for input in [&chat[..], b"", b"\xff\x00{", b"[]"] {
            openai_request(input);
            anthropic_request(input);
            embeddings_request(input);
            for which in 0..4u8 {
                let mut v = vec![which, 1, 244];
                v.extend_from_slice(input);
                upstream_answer(&v);
                upstream_error(&v);
                sse_stream(&v);
                bedrock_stream(&v);
            }
        }
        let sse = b"\x00\x07data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        sse_stream(sse);
        bedrock_stream(b"\x01\x03messageStart\x1e{\"role\":\"assistant\"}\ncontentBlockDelta\x1e{\"contentBlockIndex\":0,\"delta\":{\"text\":\"hi\"}}\nmessageStop\x1e{\"stopReason\":\"end_turn\"}");
    }
}
