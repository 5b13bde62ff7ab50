//! The ConverseStream body: event-stream messages on the token timeline, faults applied.
//!
//! `messageStart` → per block `contentBlockStart` (tool blocks only) / `contentBlockDelta`… /
//! `contentBlockStop` → `messageStop` (stop reason) → `metadata` (usage, metrics). The
//! `nodone` fault drops `metadata`; `malformed-<n>` inserts a frame whose CRC is wrong.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use serde_json::{json, Value};

use super::encode::{event, stop_reason, tool_id, usage_json, Meta};
use crate::engine::Choice;
use crate::faults::Fault;
use crate::model::Profile;
use crate::playback::{apply_fault, play, Frame, Kind};

fn frames(meta: &Meta, c: &Choice, fault: Option<Fault>) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut push = |slot: u64, kind: Kind, name: &str, data: Value| {
        out.push(Frame {
            slot,
            kind,
            bytes: event(name, data),
        });
    };
    push(0, Kind::Head, "messageStart", json!({"role": "assistant"}));
    let mut k = 0u64;
    if c.tool_calls.is_empty() {
        for piece in c.pieces() {
            let d = json!({"contentBlockIndex": 0, "delta": {"text": piece}});
            push(k, Kind::Token(k), "contentBlockDelta", d);
            k += 1;
        }
        let last = k.saturating_sub(1);
        push(
            last,
            Kind::Token(last),
            "contentBlockStop",
            json!({"contentBlockIndex": 0}),
        );
    } else {
        for (j, call) in c.tool_calls.iter().enumerate() {
            let kind = if j == 0 { Kind::Head } else { Kind::Token(k) };
            let start = json!({"contentBlockIndex": j, "start": {"toolUse": {
                "toolUseId": tool_id(call), "name": call.name}}});
            push(k, kind, "contentBlockStart", start);
            k += 1;
            let mut from = 0usize;
            for &end in &call.fragments {
                let frag = call.arguments.get(from..end as usize).unwrap_or("");
                from = end as usize;
                let d = json!({"contentBlockIndex": j, "delta": {"toolUse": {"input": frag}}});
                push(k, Kind::Token(k), "contentBlockDelta", d);
                k += 1;
            }
            let last = k.saturating_sub(1);
            push(
                last,
                Kind::Token(last),
                "contentBlockStop",
                json!({"contentBlockIndex": j}),
            );
        }
    }
    let last = k.saturating_sub(1);
    push(
        last,
        Kind::Finish,
        "messageStop",
        json!({"stopReason": stop_reason(c.finish)}),
    );
    if fault != Some(Fault::NoDone) {
        let metadata = json!({"usage": usage_json(&meta.usage),
            "metrics": {"latencyMs": meta.latency_ms}});
        push(last, Kind::Tail, "metadata", metadata);
    }
    out
}

/// A frame whose message CRC is wrong (the `malformed` fault).
fn corrupt_frame() -> Bytes {
    let good = event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
    );
    let mut bad = BytesMut::from(&good[..]);
    let n = bad.len();
    bad[n - 1] ^= 0xFF;
    bad.freeze()
}

/// The event-stream body for an answer.
pub(crate) fn plan(
    meta: &Meta,
    c: &Choice,
    profile: &Profile,
    fault: Option<Fault>,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let mut frames = frames(meta, c, fault);
    apply_fault(&mut frames, fault, corrupt_frame());
    play(frames, profile, fault)
}
