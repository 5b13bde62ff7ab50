//! The Anthropic streaming body: named events on the token timeline, faults applied.
//!
//! `message_start` → per block `content_block_start` / `content_block_delta`… /
//! `content_block_stop` (a `ping` after the first block starts) → `message_delta` (stop reason,
//! output tokens) → `message_stop`. The `nodone` fault drops `message_stop`.

use std::io;

use bytes::Bytes;
use futures::Stream;
use serde_json::{json, Value};

use super::encode::{event, stop_reason, tool_id, usage_json, Meta};
use crate::engine::Choice;
use crate::faults::Fault;
use crate::model::Profile;
use crate::playback::{apply_fault, play, Frame, Kind};

fn frames(meta: &Meta<'_>, c: &Choice, fault: Option<Fault>) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut push = |slot: u64, kind: Kind, name: &str, data: Value| {
        out.push(Frame {
            slot,
            kind,
            bytes: event(name, &data),
        });
    };
    let start = json!({"type": "message_start", "message": {
        "id": meta.id, "type": "message", "role": "assistant", "model": meta.model, "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": usage_json(&meta.usage, 1)}});
    push(0, Kind::Head, "message_start", start);
    // A thinking block first, when asked for: its text, then its signature.
    let base = usize::from(meta.thinking.is_some());
    if let Some((text, sig)) = &meta.thinking {
        let block = json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""}});
        push(0, Kind::Head, "content_block_start", block);
        let d = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": text}});
        push(0, Kind::Head, "content_block_delta", d);
        let d = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": sig}});
        push(0, Kind::Head, "content_block_delta", d);
        push(
            0,
            Kind::Head,
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        );
    }
    let mut k = 0u64;
    if c.tool_calls.is_empty() {
        let block = json!({"type": "content_block_start", "index": base, "content_block": {"type": "text", "text": ""}});
        push(0, Kind::Head, "content_block_start", block);
        push(0, Kind::Head, "ping", json!({"type": "ping"}));
        for piece in c.pieces() {
            let d = json!({"type": "content_block_delta", "index": base, "delta": {"type": "text_delta", "text": piece}});
            push(k, Kind::Token(k), "content_block_delta", d);
            k += 1;
        }
        let last = k.saturating_sub(1);
        push(
            last,
            Kind::Token(last),
            "content_block_stop",
            json!({"type": "content_block_stop", "index": base}),
        );
    } else {
        for (j, call) in c.tool_calls.iter().enumerate() {
            let j = j + base;
            let kind = if j == base {
                Kind::Head
            } else {
                Kind::Token(k)
            };
            let block = json!({"type": "content_block_start", "index": j, "content_block": {
                "type": "tool_use", "id": tool_id(call), "name": call.name, "input": {}}});
            push(k, kind, "content_block_start", block);
            if j == base {
                push(0, Kind::Head, "ping", json!({"type": "ping"}));
            }
            k += 1;
            let mut from = 0usize;
            for &end in &call.fragments {
                let frag = call.arguments.get(from..end as usize).unwrap_or("");
                from = end as usize;
                let d = json!({"type": "content_block_delta", "index": j,
                    "delta": {"type": "input_json_delta", "partial_json": frag}});
                push(k, Kind::Token(k), "content_block_delta", d);
                k += 1;
            }
            let last = k.saturating_sub(1);
            push(
                last,
                Kind::Token(last),
                "content_block_stop",
                json!({"type": "content_block_stop", "index": j}),
            );
        }
    }
    let last = k.saturating_sub(1);
    let delta = json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason(c.finish), "stop_sequence": null},
        "usage": {"output_tokens": meta.usage.output}});
    push(last, Kind::Finish, "message_delta", delta);
    if fault != Some(Fault::NoDone) {
        push(
            last,
            Kind::Tail,
            "message_stop",
            json!({"type": "message_stop"}),
        );
    }
    out
}

/// The SSE body for an answer.
pub(crate) fn plan(
    meta: &Meta<'_>,
    c: &Choice,
    profile: &Profile,
    fault: Option<Fault>,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let mut frames = frames(meta, c, fault);
    let malformed = Bytes::from_static(
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\n\n",
    );
    apply_fault(&mut frames, fault, malformed);
    play(frames, profile, fault)
}
