//! Canonical chunks → Anthropic named SSE events for the ingress.
//!
//! Blocks are opened lazily: text opens a `text` block, a tool-call header (a delta with an
//! `id`) opens a `tool_use` block; anything of another kind closes the open block first, so
//! block `index`es are consecutive as Anthropic clients expect. The stop reason and the usage
//! are held until the upstream is done, then sent in `message_delta`, then `message_stop`.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_types::{ChatChunk, FinishReason, JsonMap, Usage};

use super::{message_id, stop_reason, usage_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking(u32),
    Text(u32),
    Tool(u32),
}

/// Encodes one response's stream. Feed every chunk to [`SseEncoder::chunk`], then call
/// [`SseEncoder::done`] or [`SseEncoder::error`].
#[derive(Debug, Default)]
pub struct SseEncoder {
    started: bool,
    open: Option<Open>,
    next_index: u32,
    /// OpenAI tool-call index → Anthropic block index.
    tools: HashMap<u32, u32>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    extra: JsonMap,
    /// The prompt's tokens for `message_start` (the final count follows in `message_delta`).
    input_tokens: u64,
}

fn event(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

impl SseEncoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh encoder whose `message_start` reports `input_tokens` (the gateway's count of
    /// the prompt, for clients that show the context used as soon as a stream starts).
    pub fn with_input_tokens(input_tokens: u64) -> Self {
        SseEncoder {
            input_tokens,
            ..Self::default()
        }
    }

    /// Events for one chunk (possibly none). `usage` is the normalised usage it reports;
    /// `extra` (e.g. cost figures) is added to the final `message_delta`.
    pub fn chunk(
        &mut self,
        chunk: &ChatChunk,
        usage: Option<&Usage>,
        extra: Option<JsonMap>,
    ) -> Option<Bytes> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let start = json!({"type": "message_start", "message": {
                "id": message_id(&chunk.id), "type": "message", "role": "assistant", "model": chunk.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": 0}}});
            event(&mut out, "message_start", &start);
        }
        if let Some(u) = usage {
            self.usage = Some(*u);
        }
        if let Some(e) = extra {
            self.extra = e;
        }
        for c in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(r) = c
                .delta
                .reasoning_content
                .as_deref()
                .filter(|t| !t.is_empty())
            {
                let index = self.thinking_block(&mut out);
                let d = json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "thinking_delta", "thinking": r}});
                event(&mut out, "content_block_delta", &d);
            }
            if let Some(sig) = &c.delta.thinking_signature {
                let index = self.thinking_block(&mut out);
                let d = json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": sig}});
                event(&mut out, "content_block_delta", &d);
            }
            if let Some(text) = c.delta.content.as_deref().filter(|t| !t.is_empty()) {
                let index = self.text_block(&mut out);
                let d = json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": text}});
                event(&mut out, "content_block_delta", &d);
            }
            for t in c.delta.tool_calls.iter().flatten() {
                let f = t.function.clone().unwrap_or_default();
                if let Some(id) = &t.id {
                    self.close(&mut out);
                    let index = self.next_index;
                    self.next_index += 1;
                    self.open = Some(Open::Tool(index));
                    self.tools.insert(t.index, index);
                    let b = json!({"type": "content_block_start", "index": index, "content_block": {
                        "type": "tool_use", "id": id, "name": f.name.unwrap_or_default(), "input": {}}});
                    event(&mut out, "content_block_start", &b);
                }
                let (Some(args), Some(&index)) = (
                    f.arguments.filter(|a| !a.is_empty()),
                    self.tools.get(&t.index),
                ) else {
                    continue;
                };
                let d = json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": args}});
                event(&mut out, "content_block_delta", &d);
            }
            if c.finish_reason.is_some() {
                self.finish.clone_from(&c.finish_reason);
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    /// The open thinking block (opened if need be): reasoning text, then its signature when
    /// the upstream signed it (an unsigned block is never accepted back).
    fn thinking_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Thinking(i)) = self.open {
            return i;
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(Open::Thinking(index));
        let b = json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""}});
        event(out, "content_block_start", &b);
        index
    }

    fn text_block(&mut self, out: &mut Vec<u8>) -> u32 {
        if let Some(Open::Text(i)) = self.open {
            return i;
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(Open::Text(index));
        let b = json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}});
        event(out, "content_block_start", &b);
        index
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(Open::Thinking(i) | Open::Text(i) | Open::Tool(i)) = self.open.take() {
            event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": i}),
            );
        }
    }

    /// The upstream finished: close the open block, `message_delta`, `message_stop`.
    pub fn done(&mut self) -> Bytes {
        let mut out = Vec::new();
        self.close(&mut out);
        let usage = self
            .usage
            .map_or_else(|| json!({"output_tokens": 0}), |u| usage_json(&u));
        let mut delta = json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(self.finish.as_ref()), "stop_sequence": null},
            "usage": usage});
        if let Some(obj) = delta.as_object_mut() {
            obj.extend(std::mem::take(&mut self.extra));
        }
        event(&mut out, "message_delta", &delta);
        event(&mut out, "message_stop", &json!({"type": "message_stop"}));
        Bytes::from(out)
    }

    /// The stream failed after it began: an `error` event (Anthropic clients raise it).
    pub fn error(&mut self, kind: &str, message: &str) -> Bytes {
        let mut out = Vec::new();
        let body = json!({"type": "error", "error": {"type": kind, "message": message}});
        event(&mut out, "error", &body);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(v: Value) -> ChatChunk {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_then_tools_get_consecutive_indexes() {
        let mut e = SseEncoder::new();
        let mut all = String::new();
        let mut feed = |c: Value, u: Option<Usage>| {
            if let Some(b) = e.chunk(&chunk(c), u.as_ref(), None) {
                all.push_str(std::str::from_utf8(&b).unwrap());
            }
        };
        feed(
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            None,
        );
        feed(
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}),
            None,
        );
        feed(
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]}),
            None,
        );
        feed(
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "{\"a\":1}"}}]}}]}),
            None,
        );
        feed(
            json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            None,
        );
        let u = Usage {
            input: 5,
            output: 7,
            ..Usage::default()
        };
        feed(json!({"id": "c1", "model": "m", "choices": []}), Some(u));
        all.push_str(std::str::from_utf8(&e.done()).unwrap());
        let names: Vec<&str> = all
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(
            all.contains(r#""index":1,"type":"content_block_start""#)
                || all.contains(r#""index":1"#)
        );
        assert!(all.contains(r#""stop_reason":"tool_use""#));
        assert!(all.contains(r#""output_tokens":7"#) && all.contains(r#""id":"msg_c1""#));
    }
}

#[cfg(test)]
mod thinking_tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn thinking_then_its_signature_then_text_are_three_events_in_two_blocks() {
        let mut e = SseEncoder::new();
        let mut c: ChatChunk = serde_json::from_value(json!({"id": "x", "model": "m",
            "choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}))
        .unwrap();
        let mut all = String::from_utf8(e.chunk(&c, None, None).unwrap().to_vec()).unwrap();
        c.choices[0].delta.reasoning_content = None;
        c.choices[0].delta.thinking_signature = Some("sig".into());
        all += std::str::from_utf8(&e.chunk(&c, None, None).unwrap()).unwrap();
        c.choices[0].delta.thinking_signature = None;
        c.choices[0].delta.content = Some("answer".into());
        all += std::str::from_utf8(&e.chunk(&c, None, None).unwrap()).unwrap();
        let data: Vec<Value> = all
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let kinds: Vec<String> = data
            .iter()
            .map(|d| {
                let t = d["type"].as_str().unwrap();
                match d["delta"]["type"].as_str() {
                    Some(dt) => format!("{t}:{dt}@{}", d["index"]),
                    None => format!("{t}@{}", d["index"]),
                }
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "message_start@null",
                "content_block_start@0",
                "content_block_delta:thinking_delta@0",
                "content_block_delta:signature_delta@0",
                "content_block_stop@0",
                "content_block_start@1",
                "content_block_delta:text_delta@1",
            ]
        );
    }
}
