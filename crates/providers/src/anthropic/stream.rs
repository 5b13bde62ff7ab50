//! Anthropic named SSE events → OpenAI-shaped [`StreamItem`]s.
//!
//! `message_start` → a role chunk; text / thinking deltas → `content` / `reasoning_content`;
//! a `tool_use` block → a tool-call header chunk, its `input_json_delta`s → argument
//! fragments, with the OpenAI `index` counting tool blocks only; `message_delta` → the finish
//! reason; `message_stop` → a usage chunk (empty `choices`) and [`StreamItem::Done`].
//! A stream that ends before `message_stop` is [`ErrorClass::StreamCut`] unless the stop reason
//! already arrived; an `error` event is classified like an HTTP error body.

use std::collections::{HashMap, VecDeque};

use futures::{stream::BoxStream, Stream, StreamExt};
use switchyard_types::{
    ChatChunk, ChunkChoice, Delta, FunctionCallDelta, JsonMap, Role, ToolCallDelta, Usage,
};

use super::convert::{finish_reason, usage};
use super::wire::{AnthropicUsage, Block, BlockDelta, StreamEvent};
use crate::sse::{Event, SseError};
use crate::{ErrorClass, ProviderError, StreamItem};

/// What the decoder knows about the request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// The forced JSON-mode tool, whose input streams as content.
    pub json_tool: Option<String>,
    /// Unix seconds for `created`.
    pub created: u64,
}

#[derive(Default)]
struct State {
    opts: Options,
    id: String,
    model: String,
    usage: AnthropicUsage,
    /// Anthropic block index → OpenAI tool-call index (`None` for the JSON-mode tool).
    tools: HashMap<u32, Option<u32>>,
    next_tool: u32,
    finished: bool,
    ended: bool,
    queue: VecDeque<Result<StreamItem, ProviderError>>,
}

/// Decode a streaming response body.
pub(super) fn decode(
    resp: reqwest::Response,
    opts: Options,
) -> BoxStream<'static, Result<StreamItem, ProviderError>> {
    decode_events(crate::sse::events(resp.bytes_stream()), opts).boxed()
}

/// Decode a stream of SSE events (exposed for tests with arbitrary chunking).
pub(crate) fn decode_events<S>(
    events: S,
    opts: Options,
) -> impl Stream<Item = Result<StreamItem, ProviderError>>
where
    S: Stream<Item = Result<Event, SseError>> + Unpin + Send + 'static,
{
    let st = State {
        opts,
        ..State::default()
    };
    futures::stream::unfold((events, st), |(mut events, mut st)| async move {
        loop {
            if let Some(item) = st.queue.pop_front() {
                return Some((item, (events, st)));
            }
            if st.ended {
                return None;
            }
            match events.next().await {
                Some(Ok(ev)) => on_event(&ev, &mut st),
                Some(Err(e)) => {
                    st.ended = true;
                    st.queue.push_back(Err(ProviderError::new(
                        ErrorClass::StreamCut,
                        format!("upstream stream broke: {e}"),
                    )));
                }
                None if st.finished => finish(&mut st),
                None => {
                    st.ended = true;
                    st.queue.push_back(Err(ProviderError::new(
                        ErrorClass::StreamCut,
                        "upstream stream ended before the answer was complete",
                    )));
                }
            }
        }
    })
}

fn on_event(ev: &Event, st: &mut State) {
    let data = ev.data.trim();
    if data.is_empty() {
        return;
    }
    let event = match serde_json::from_str::<StreamEvent>(data) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, event = %ev.event, "skipping malformed upstream stream event");
            return;
        }
    };
    match event {
        StreamEvent::MessageStart { message } => {
            st.id = message.id;
            st.model = message.model;
            st.usage = message.usage;
            let delta = Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
                ..Delta::default()
            };
            emit(st, delta, None);
        }
        StreamEvent::ContentBlockStart {
            index,
            content_block,
        } => block_start(st, index, content_block),
        StreamEvent::ContentBlockDelta { index, delta } => block_delta(st, index, delta),
        StreamEvent::MessageDelta { delta, usage } => {
            st.usage.merge(&usage);
            if let Some(stop) = delta.stop_reason {
                st.finished = true;
                let reason = finish_reason(&stop, st.opts.json_tool.is_some());
                emit(st, Delta::default(), Some(reason));
            }
        }
        StreamEvent::MessageStop => finish(st),
        StreamEvent::Error { error } => {
            st.ended = true;
            st.queue
                .push_back(Err(super::error::classify_body(None, &error)));
        }
        StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping | StreamEvent::Unknown => {}
    }
}

fn block_start(st: &mut State, index: u32, block: Block) {
    match block {
        Block::ToolUse { name, .. } if Some(name.as_ref()) == st.opts.json_tool.as_deref() => {
            st.tools.insert(index, None);
        }
        Block::ToolUse { id, name, .. } => {
            let i = st.next_tool;
            st.next_tool += 1;
            st.tools.insert(index, Some(i));
            let call = ToolCallDelta {
                index: i,
                id: Some(id.into_owned()),
                kind: Some("function".to_owned()),
                function: Some(FunctionCallDelta {
                    name: Some(name.into_owned()),
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
        Block::Text { text, .. } if !text.is_empty() => {
            emit(
                st,
                Delta {
                    content: Some(text.into_owned()),
                    ..Delta::default()
                },
                None,
            );
        }
        _ => {}
    }
}

fn block_delta(st: &mut State, index: u32, delta: BlockDelta) {
    let d = match delta {
        BlockDelta::TextDelta { text } => Delta {
            content: Some(text),
            ..Delta::default()
        },
        BlockDelta::ThinkingDelta { thinking } => Delta {
            reasoning_content: Some(thinking),
            ..Delta::default()
        },
        BlockDelta::InputJsonDelta { partial_json } => match st.tools.get(&index) {
            Some(None) => Delta {
                content: Some(partial_json),
                ..Delta::default()
            },
            Some(Some(i)) => {
                let call = ToolCallDelta {
                    index: *i,
                    id: None,
                    kind: None,
                    function: Some(FunctionCallDelta {
                        name: None,
                        arguments: Some(partial_json),
                    }),
                };
                Delta {
                    tool_calls: Some(vec![call]),
                    ..Delta::default()
                }
            }
            None => return,
        },
        BlockDelta::SignatureDelta { signature } => Delta {
            thinking_signature: Some(signature),
            ..Delta::default()
        },
        BlockDelta::Unknown => return,
    };
    if d.content.as_deref().is_some_and(str::is_empty) {
        return;
    }
    emit(st, d, None);
}

/// The usage chunk, then `Done`.
fn finish(st: &mut State) {
    if st.ended {
        return;
    }
    st.ended = true;
    let u: Usage = usage(&st.usage);
    let mut chunk = chunk(st, Vec::new());
    chunk.usage = Some(u.to_openai());
    st.queue.push_back(Ok(StreamItem::Chunk(chunk, Some(u))));
    st.queue.push_back(Ok(StreamItem::Done));
}

fn emit(st: &mut State, delta: Delta, finish: Option<switchyard_types::FinishReason>) {
    let choice = ChunkChoice {
        index: 0,
        delta,
        finish_reason: finish,
        logprobs: None,
        extra: JsonMap::new(),
    };
    let c = chunk(st, vec![choice]);
    st.queue.push_back(Ok(StreamItem::Chunk(c, None)));
}

fn chunk(st: &State, choices: Vec<ChunkChoice>) -> ChatChunk {
    ChatChunk {
        id: st.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: st.opts.created,
        model: st.model.clone(),
        choices,
        usage: None,
        system_fingerprint: None,
        extra: JsonMap::new(),
    }
}
