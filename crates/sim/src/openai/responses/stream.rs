//! The streamed answer: Responses' named SSE events (`event: <type>` and a `data:` object with
//! that `type` and an increasing `sequence_number`) laid out as `playback` frames. The
//! envelope and any reasoning item come at the first token; each text piece and argument
//! fragment is one token, as in Chat Completions; `response.completed` (or
//! `response.incomplete`) is the finish, which the `nodone` fault leaves out.

use bytes::Bytes;
use serde::Serialize;

use super::encode::{output_text, summary_text, Output, Part};
use super::Responses;
use crate::engine::{piece_bounds, Answer, Choice, ToolCall};
use crate::faults::Fault;
use crate::openai::encode::{json_str, Meta};
use crate::playback::{apply_fault, Frame, Kind};

/// Summary pieces per `response.reasoning_summary_text.delta`.
const SUMMARY_PIECES_PER_DELTA: usize = 4;

/// Frames under construction, numbering events as they are pushed.
#[derive(Default)]
struct Events {
    seq: u64,
    frames: Vec<Frame>,
}

impl Events {
    /// Push `event: ty` whose data is `{"type":ty,"sequence_number":n,FIELDS}`.
    fn push(&mut self, slot: u64, kind: Kind, ty: &str, fields: &str) {
        let bytes = format!(
            "event: {ty}\ndata: {{\"type\":\"{ty}\",\"sequence_number\":{},{fields}}}\n\n",
            self.seq
        );
        self.seq += 1;
        self.frames.push(Frame {
            slot,
            kind,
            bytes: Bytes::from(bytes),
        });
    }

    /// `response.output_item.added` or `.done` for output item `o`.
    fn item(&mut self, slot: u64, kind: Kind, o: usize, part: &Part<'_>, done: bool) {
        let ty = if done {
            "response.output_item.done"
        } else {
            "response.output_item.added"
        };
        let fields = format!(
            "\"output_index\":{o},\"item\":{}",
            to_json(&part.item(done))
        );
        self.push(slot, kind, ty, &fields);
    }
}

/// Lay out the events of a streamed answer and apply the stream fault.
pub(super) fn frames(
    meta: &Meta<'_>,
    shape: &Responses<'_>,
    answer: &Answer,
    fault: Option<Fault>,
) -> Vec<Frame> {
    let out = Output::new(meta, shape, answer);
    let mut ev = Events::default();
    let created = format!(
        "\"response\":{}",
        to_json(&out.response(meta, shape, false))
    );
    ev.push(0, Kind::Head, "response.created", &created);
    ev.push(0, Kind::Head, "response.in_progress", &created);
    // The next token's index.
    let mut k = 0u64;
    for (o, part) in out.parts.iter().enumerate() {
        match part {
            Part::Reasoning { summary, .. } => reasoning(&mut ev, o, part, summary),
            Part::Message { choice, .. } => message(&mut ev, o, part, choice, &mut k),
            Part::Call { call, .. } => function_call(&mut ev, o, part, call, &mut k),
        }
    }
    if fault != Some(Fault::NoDone) {
        let last = ev.frames.last().map_or(0, |f| f.slot);
        let ty = if out.incomplete {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let fields = format!("\"response\":{}", to_json(&out.response(meta, shape, true)));
        ev.push(last, Kind::Finish, ty, &fields);
    }
    let malformed = malformed(&out, ev.seq);
    apply_fault(&mut ev.frames, fault, malformed);
    ev.frames
}

/// A reasoning item, all before the first token: its summary in a few deltas.
fn reasoning(ev: &mut Events, o: usize, part: &Part<'_>, summary: &str) {
    let id = json_str(part.id());
    let at = format!("\"item_id\":{id},\"output_index\":{o},\"summary_index\":0");
    ev.item(0, Kind::Head, o, part, false);
    let empty = to_json(&summary_text(""));
    let added = format!("{at},\"part\":{empty}");
    ev.push(
        0,
        Kind::Head,
        "response.reasoning_summary_part.added",
        &added,
    );
    let mut start = 0usize;
    for chunk in piece_bounds(summary).chunks(SUMMARY_PIECES_PER_DELTA) {
        let end = chunk.last().map_or(start, |&e| e as usize);
        let delta = summary.get(start..end).unwrap_or_default();
        start = end;
        let fields = format!("{at},\"delta\":{}", json_str(delta));
        ev.push(
            0,
            Kind::Head,
            "response.reasoning_summary_text.delta",
            &fields,
        );
    }
    let text = format!("{at},\"text\":{}", json_str(summary));
    ev.push(0, Kind::Head, "response.reasoning_summary_text.done", &text);
    let part_done = format!("{at},\"part\":{}", to_json(&summary_text(summary)));
    ev.push(
        0,
        Kind::Head,
        "response.reasoning_summary_part.done",
        &part_done,
    );
    ev.item(0, Kind::Head, o, part, true);
}

/// A message item: one `response.output_text.delta` per text piece.
fn message(ev: &mut Events, o: usize, part: &Part<'_>, choice: &Choice, k: &mut u64) {
    let id = json_str(part.id());
    let at = format!("\"item_id\":{id},\"output_index\":{o},\"content_index\":0");
    let (slot, kind) = opening(*k);
    ev.item(slot, kind, o, part, false);
    let empty = to_json(&output_text(""));
    let added = format!("{at},\"part\":{empty}");
    ev.push(slot, kind, "response.content_part.added", &added);
    let first = *k;
    for piece in choice.pieces() {
        let fields = format!("{at},\"delta\":{},\"logprobs\":[]", json_str(piece));
        ev.push(*k, Kind::Token(*k), "response.output_text.delta", &fields);
        *k += 1;
    }
    let (slot, kind) = closing(first, *k, (slot, kind));
    let text = format!("{at},\"text\":{},\"logprobs\":[]", json_str(&choice.text));
    ev.push(slot, kind, "response.output_text.done", &text);
    let part_done = format!("{at},\"part\":{}", to_json(&output_text(&choice.text)));
    ev.push(slot, kind, "response.content_part.done", &part_done);
    ev.item(slot, kind, o, part, true);
}

/// A function call item: its header is a token (as in Chat Completions), then one
/// `response.function_call_arguments.delta` per fragment.
fn function_call(ev: &mut Events, o: usize, part: &Part<'_>, call: &ToolCall, k: &mut u64) {
    let id = json_str(part.id());
    let at = format!("\"item_id\":{id},\"output_index\":{o}");
    let (slot, kind) = opening(*k);
    ev.item(slot, kind, o, part, false);
    let first = *k;
    *k += 1;
    let mut start = 0usize;
    for &end in &call.fragments {
        let frag = call.arguments.get(start..end as usize).unwrap_or_default();
        start = end as usize;
        let fields = format!("{at},\"delta\":{}", json_str(frag));
        ev.push(
            *k,
            Kind::Token(*k),
            "response.function_call_arguments.delta",
            &fields,
        );
        *k += 1;
    }
    let (slot, kind) = closing(first, *k, (slot, kind));
    let done = format!(
        "{at},\"name\":{},\"arguments\":{}",
        json_str(&call.name),
        json_str(&call.arguments)
    );
    ev.push(slot, kind, "response.function_call_arguments.done", &done);
    ev.item(slot, kind, o, part, true);
}

/// Where an item opens: with the envelope before the first token, else as token `k`.
fn opening(k: u64) -> (u64, Kind) {
    if k == 0 {
        (0, Kind::Head)
    } else {
        (k, Kind::Token(k))
    }
}

/// Where an item whose tokens were `first..next` closes: with its last token (so a cut before
/// that token drops the close too), or where it opened when it had none.
fn closing(first: u64, next: u64, opened: (u64, Kind)) -> (u64, Kind) {
    if next > first {
        (next - 1, Kind::Token(next - 1))
    } else {
        opened
    }
}

/// An event whose data is not valid JSON (the `malformed` fault): a delta cut inside its
/// string.
fn malformed(out: &Output<'_>, seq: u64) -> Bytes {
    let found = out.parts.iter().enumerate().find_map(|(o, p)| match p {
        Part::Message { .. } => Some((o, p, "response.output_text.delta", ",\"content_index\":0")),
        Part::Call { .. } => Some((o, p, "response.function_call_arguments.delta", "")),
        Part::Reasoning { .. } => None,
    });
    let (o, id, ty, extra) = found.map_or(
        (0, "", "response.output_text.delta", ""),
        |(o, p, ty, x)| (o, p.id(), ty, x),
    );
    Bytes::from(format!(
        "event: {ty}\ndata: {{\"type\":\"{ty}\",\"sequence_number\":{seq},\"item_id\":\"{id}\",\
         \"output_index\":{o}{extra},\"delta\":\"\n\n"
    ))
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
