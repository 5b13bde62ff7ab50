//! ConverseStream event-stream messages → OpenAI-shaped [`StreamItem`]s.
//!
//! `messageStart` → a role chunk; `contentBlockStart` with `toolUse` → a tool-call header
//! chunk (the OpenAI `index` counts tool blocks only); `contentBlockDelta` → `content`, tool
//! argument fragments or `reasoning_content`; `messageStop` → the finish reason; `metadata` →
//! a usage chunk (empty `choices`) and [`StreamItem::Done`]. An exception message is
//! classified like an HTTP error; a frame that fails its CRC is [`ErrorClass::Malformed`]; a
//! body that ends before `messageStop` is [`ErrorClass::StreamCut`].

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use switchyard_types::{
    ChatChunk, ChunkChoice, Delta, FinishReason, FunctionCallDelta, JsonMap, Role, ToolCallDelta,
    Usage,
};

use super::convert::{finish_reason, usage};
use super::eventstream::{Decoder, Message};
use super::wire::{BlockDelta, BlockStart, MessageStop, Metadata};
use crate::{ErrorClass, ProviderError, StreamItem};

/// Chunk fields the stream does not carry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Completion id for every chunk.
    pub id: String,
    /// Model name for every chunk.
    pub model: String,
    /// Unix seconds for `created`.
    pub created: u64,
    /// The forced JSON-mode tool, whose input streams as content.
    pub json_tool: Option<String>,
}

struct State<S> {
    body: S,
    decoder: Decoder,
    opts: Options,
    /// Bedrock block index → OpenAI tool-call index (`None` for the JSON-mode tool).
    tools: HashMap<u32, Option<u32>>,
    next_tool: u32,
    usage: Option<Usage>,
    finished: bool,
    ended: bool,
    queue: VecDeque<Result<StreamItem, ProviderError>>,
}

/// Decode an event-stream body delivered in arbitrary byte chunks.
pub fn decode<S, E>(
    body: S,
    opts: Options,
) -> impl Stream<Item = Result<StreamItem, ProviderError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
    E: std::fmt::Display,
{
    let st = State {
        body,
        decoder: Decoder::new(),
        opts,
        tools: HashMap::new(),
        next_tool: 0,
        usage: None,
        finished: false,
        ended: false,
        queue: VecDeque::new(),
    };
    futures::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(item) = st.queue.pop_front() {
                return Some((item, st));
            }
            if st.ended {
                return None;
            }
            match st.decoder.next_message() {
                Ok(Some(msg)) => {
                    on_message(&msg, &mut st);
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    fail(
                        &mut st,
                        ProviderError::new(ErrorClass::Malformed, e.to_string()),
                    );
                    continue;
                }
            }
            match st.body.next().await {
                Some(Ok(bytes)) => st.decoder.push(&bytes),
                Some(Err(e)) => {
                    fail(
                        &mut st,
                        ProviderError::new(
                            ErrorClass::StreamCut,
                            format!("upstream stream broke: {e}"),
                        ),
                    );
                }
                None if st.finished => finish(&mut st),
                None => fail(
                    &mut st,
                    ProviderError::new(
                        ErrorClass::StreamCut,
                        "upstream stream ended before the answer was complete",
                    ),
                ),
            }
        }
    })
}

fn fail<S>(st: &mut State<S>, e: ProviderError) {
    st.ended = true;
    st.queue.push_back(Err(e));
}

fn parse<T: DeserializeOwned>(msg: &Message) -> Option<T> {
    match serde_json::from_slice(&msg.payload) {
        Ok(v) => Some(v),
        Err(e) => {
            let event = msg.header(":event-type").unwrap_or("");
            tracing::warn!(error = %e, event, "skipping malformed upstream stream event");
            None
        }
    }
}

fn on_message<S>(msg: &Message, st: &mut State<S>) {
    match msg.header(":message-type") {
        Some("exception") => {
            let kind = msg.header(":exception-type");
            fail(st, super::error::classify(None, kind, &msg.payload));
            return;
        }
        Some("error") => {
            let code = msg.header(":error-code");
            let text = msg
                .header(":error-message")
                .unwrap_or("upstream stream error");
            let body = serde_json::json!({ "message": text }).to_string();
            fail(st, super::error::classify(None, code, body.as_bytes()));
            return;
        }
        _ => {}
    }
    match msg.header(":event-type").unwrap_or("") {
        "messageStart" => {
            emit(
                st,
                Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            );
        }
        "contentBlockStart" => {
            let Some(start) = parse::<BlockStart>(msg) else {
                return;
            };
            if let Some(tool) = start.start.and_then(|s| s.tool_use) {
                if Some(tool.name.as_str()) == st.opts.json_tool.as_deref() {
                    st.tools.insert(start.content_block_index, None);
                    return;
                }
                let i = st.next_tool;
                st.next_tool += 1;
                st.tools.insert(start.content_block_index, Some(i));
                let call = ToolCallDelta {
                    index: i,
                    id: Some(tool.tool_use_id),
                    kind: Some("function".to_owned()),
                    function: Some(FunctionCallDelta {
                        name: Some(tool.name),
                        arguments: Some(String::new()),
                    }),
                };
                emit(
                    st,
                    Delta {
                        tool_calls: Some(vec![call]),
                        ..Delta::default()
                    },
                    None,
                );
            }
        }
        "contentBlockDelta" => {
            let Some(d) = parse::<BlockDelta>(msg) else {
                return;
            };
            block_delta(st, d);
        }
        "messageStop" => {
            let Some(stop) = parse::<MessageStop>(msg) else {
                return;
            };
            st.finished = true;
            let reason = finish_reason(&stop.stop_reason, st.opts.json_tool.is_some());
            emit(st, Delta::default(), Some(reason));
        }
        "metadata" => {
            let Some(meta) = parse::<Metadata>(msg) else {
                return;
            };
            st.usage = Some(usage(&meta.usage));
            if st.finished {
                finish(st);
            }
        }
        _ => {}
    }
}

fn block_delta<S>(st: &mut State<S>, d: BlockDelta) {
    let info = d.delta;
    let delta = if let Some(text) = info.text {
        if text.is_empty() {
            return;
        }
        Delta {
            content: Some(text),
            ..Delta::default()
        }
    } else if let Some(tool) = info.tool_use {
        let index = match st.tools.get(&d.content_block_index) {
            Some(Some(i)) => *i,
            Some(None) if !tool.input.is_empty() => {
                emit(
                    st,
                    Delta {
                        content: Some(tool.input),
                        ..Delta::default()
                    },
                    None,
                );
                return;
            }
            _ => return,
        };
        let call = ToolCallDelta {
            index,
            id: None,
            kind: None,
            function: Some(FunctionCallDelta {
                name: None,
                arguments: Some(tool.input),
            }),
        };
        Delta {
            tool_calls: Some(vec![call]),
            ..Delta::default()
        }
    } else if let Some(text) = info.reasoning_content.and_then(|r| r.text) {
        Delta {
            reasoning_content: Some(text),
            ..Delta::default()
        }
    } else {
        return;
    };
    emit(st, delta, None);
}

/// The usage chunk (zero usage if the upstream sent no `metadata`), then `Done`.
fn finish<S>(st: &mut State<S>) {
    if st.ended {
        return;
    }
    st.ended = true;
    let u = st.usage.unwrap_or_default();
    let mut c = chunk(&st.opts, Vec::new());
    c.usage = Some(u.to_openai());
    st.queue.push_back(Ok(StreamItem::Chunk(c, Some(u))));
    st.queue.push_back(Ok(StreamItem::Done));
}

fn emit<S>(st: &mut State<S>, delta: Delta, finish: Option<FinishReason>) {
    let choice = ChunkChoice {
        index: 0,
        delta,
        finish_reason: finish,
        logprobs: None,
        extra: JsonMap::new(),
    };
    let c = chunk(&st.opts, vec![choice]);
    st.queue.push_back(Ok(StreamItem::Chunk(c, None)));
}

fn chunk(opts: &Options, choices: Vec<ChunkChoice>) -> ChatChunk {
    ChatChunk {
        id: opts.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: opts.created,
        model: opts.model.clone(),
        choices,
        usage: None,
        system_fingerprint: None,
        extra: JsonMap::new(),
    }
}
