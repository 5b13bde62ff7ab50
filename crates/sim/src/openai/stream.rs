//! The streaming body: every OpenAI SSE frame laid out on a timeline for `playback`, which
//! applies stream faults and plays it at the model's speed.

use bytes::Bytes;

use super::encode::{choice_json, json_str, ChunkWriter, Meta};
use crate::engine::{Answer, Choice};
use crate::faults::Fault;
use crate::playback::{apply_fault, Frame, Kind};

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
pub(crate) fn frames(
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
    apply_fault(&mut frames, fault, w.malformed());
    frames
}
