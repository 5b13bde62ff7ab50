//! The streaming body: every SSE frame laid out on a timeline, stream faults applied, then
//! played back at the model's speed. Frames due at the same instant go out as one write.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::time::Instant;

use super::encode::{choice_json, json_str, ChunkWriter, Meta};
use crate::engine::{Answer, Choice};
use crate::faults::Fault;
use crate::model::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Head,
    Token(u64),
    Finish,
    Tail,
}

struct Frame {
    /// Token slot: the frame is due `slot / tps` after the first token.
    slot: u64,
    kind: Kind,
    bytes: Bytes,
}

enum Step {
    Data(Duration, Bytes),
    Cut(Duration),
    Stall(Duration),
}

fn choice_frames(w: &ChunkWriter, index: usize, c: &Choice, out: &mut Vec<Frame>) {
    let mut push = |slot: u64, kind: Kind, delta: &str, finish| {
        out.push(Frame {
            slot,
            kind,
            bytes: w.frame(&choice_json(index, delta, finish)),
        });
    };
    let mut k = 0u64;
    if c.tool_calls.is_empty() {
        push(
            0,
            Kind::Head,
            r#"{"role":"assistant","content":"","refusal":null}"#,
            None,
        );
        for piece in c.pieces() {
            push(
                k,
                Kind::Token(k),
                &format!("{{\"content\":{}}}", json_str(piece)),
                None,
            );
            k += 1;
        }
    } else {
        for (j, call) in c.tool_calls.iter().enumerate() {
            let header = format!(
                "[{{\"index\":{j},\"id\":\"{}\",\"type\":\"function\",\"function\":{{\"name\":{},\
                 \"arguments\":\"\"}}}}]",
                call.id,
                json_str(&call.name)
            );
            if j == 0 {
                let delta = format!(
                    "{{\"role\":\"assistant\",\"content\":null,\"tool_calls\":{header},\"refusal\":null}}"
                );
                push(0, Kind::Head, &delta, None);
            } else {
                push(
                    k,
                    Kind::Token(k),
                    &format!("{{\"tool_calls\":{header}}}"),
                    None,
                );
            }
            k += 1;
            let mut start = 0usize;
            for &end in &call.fragments {
                let frag = call.arguments.get(start..end as usize).unwrap_or("");
                start = end as usize;
                let delta = format!(
                    "{{\"tool_calls\":[{{\"index\":{j},\"function\":{{\"arguments\":{}}}}}]}}",
                    json_str(frag)
                );
                push(k, Kind::Token(k), &delta, None);
                k += 1;
            }
        }
    }
    push(k.saturating_sub(1), Kind::Finish, "{}", Some(c.finish));
}

/// Lay out the frames of a streamed answer and apply the stream fault.
fn frames(
    meta: &Meta<'_>,
    answer: &Answer,
    include_usage: bool,
    fault: Option<Fault>,
) -> Vec<Frame> {
    let w = ChunkWriter::new(meta, include_usage);
    let mut frames = Vec::new();
    for (i, c) in answer.choices.iter().enumerate() {
        choice_frames(&w, i, c, &mut frames);
    }
    // Interleave choices by slot; the sort is stable, so each choice keeps its order.
    frames.sort_by_key(|f| f.slot);
    let last = frames.last().map_or(0, |f| f.slot);
    if include_usage {
        frames.push(Frame {
            slot: last,
            kind: Kind::Tail,
            bytes: w.usage_frame(&answer.usage),
        });
    }
    if fault != Some(Fault::NoDone) {
        frames.push(Frame {
            slot: last,
            kind: Kind::Tail,
            bytes: Bytes::from_static(b"data: [DONE]\n\n"),
        });
    }
    if let Some(Fault::Cut(n) | Fault::Stall(n) | Fault::Malformed(n)) = fault {
        let at = frames
            .iter()
            .position(|f| match f.kind {
                Kind::Token(k) => k >= u64::from(n),
                Kind::Finish | Kind::Tail => true,
                Kind::Head => false,
            })
            .unwrap_or(frames.len());
        if let Some(Fault::Malformed(_)) = fault {
            let slot = frames.get(at).map_or(last, |f| f.slot);
            let bad = Frame {
                slot,
                kind: Kind::Tail,
                bytes: w.malformed(),
            };
            frames.insert(at, bad);
        } else {
            frames.truncate(at);
        }
    }
    frames
}

/// The SSE body stream for an answer (the handler has already waited for the first token).
pub(crate) fn plan(
    meta: &Meta<'_>,
    answer: &Answer,
    include_usage: bool,
    profile: &Profile,
    fault: Option<Fault>,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let frames = frames(meta, answer, include_usage, fault);
    let end_slot = frames.last().map_or(0, |f| f.slot);
    let mut steps: Vec<Step> = Vec::new();
    let mut pending: Option<(Duration, BytesMut)> = None;
    for f in frames {
        let at = profile.token_offset(f.slot);
        match &mut pending {
            Some((t, buf)) if *t == at => buf.extend_from_slice(&f.bytes),
            _ => {
                if let Some((t, buf)) = pending.take() {
                    steps.push(Step::Data(t, buf.freeze()));
                }
                pending = Some((at, BytesMut::from(&f.bytes[..])));
            }
        }
    }
    if let Some((t, buf)) = pending.take() {
        steps.push(Step::Data(t, buf.freeze()));
    }
    let end = profile.token_offset(end_slot);
    match fault {
        Some(Fault::Cut(_)) => steps.push(Step::Cut(end)),
        Some(Fault::Stall(_)) => steps.push(Step::Stall(end)),
        _ => {}
    }
    let start = Instant::now();
    futures::stream::unfold(steps.into_iter(), move |mut steps| async move {
        let step = steps.next()?;
        let at = match &step {
            Step::Data(at, _) | Step::Cut(at) | Step::Stall(at) => *at,
        };
        if !at.is_zero() {
            tokio::time::sleep_until(start + at).await;
        }
        match step {
            Step::Data(_, bytes) => Some((Ok(bytes), steps)),
            Step::Cut(_) => {
                // Let hyper flush what was sent so far, then abort the connection.
                tokio::task::yield_now().await;
                Some((Err(io::Error::other("sim: stream cut")), steps))
            }
            Step::Stall(_) => std::future::pending().await,
        }
    })
}
