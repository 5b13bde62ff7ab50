//! `streamGenerateContent?alt=sse` → OpenAI-shaped [`StreamItem`]s.
//!
//! Each SSE event is a whole `GenerateContentResponse`. Per candidate, the first chunk carries
//! `role: assistant`; text and thoughts become `content` / `reasoning_content` deltas; each
//! `functionCall` part becomes one complete tool-call delta (id, name and all arguments at
//! once). A candidate's `finishReason` is sent as a separate chunk with an empty delta. When
//! the upstream closes: if a finish reason was seen, a usage chunk (`choices: []`, usage from
//! the last `usageMetadata`) and then [`StreamItem::Done`]; otherwise [`ErrorClass::StreamCut`].

use std::collections::{HashMap, VecDeque};

use futures::{stream::BoxStream, Stream, StreamExt};
use switchyard_types::{
    ChatChunk, ChunkChoice, Delta, FunctionCallDelta, JsonMap, Role, ToolCallDelta,
};

use super::convert::{blocked, finish_reason, split, usage};
use super::wire::{GenerateContentResponse, UsageMetadata};
use crate::sse::{Event, SseError};
use crate::{ErrorClass, ProviderError, StreamItem};

#[derive(Default)]
struct CandState {
    started: bool,
    calls: u32,
}

struct State {
    id: Option<String>,
    model: String,
    created: u64,
    cands: HashMap<u32, CandState>,
    next_call: u32,
    finished: bool,
    usage: Option<UsageMetadata>,
    queue: VecDeque<Result<StreamItem, ProviderError>>,
    ended: bool,
}

/// Decode a streaming response body.
pub(super) fn decode(
    resp: reqwest::Response,
    model: String,
    created: u64,
) -> BoxStream<'static, Result<StreamItem, ProviderError>> {
    decode_events(crate::sse::events(resp.bytes_stream()), model, created).boxed()
}

pub(crate) fn decode_events<S>(
    events: S,
    model: String,
    created: u64,
) -> impl Stream<Item = Result<StreamItem, ProviderError>>
where
    S: Stream<Item = Result<Event, SseError>> + Unpin + Send + 'static,
{
    let st = State {
        id: None,
        model,
        created,
        cands: HashMap::new(),
        next_call: 0,
        finished: false,
        usage: None,
        queue: VecDeque::new(),
        ended: false,
    };
    futures::stream::unfold((events, st), |(mut events, mut st)| async move {
        loop {
            if let Some(item) = st.queue.pop_front() {
                if matches!(item, Ok(StreamItem::Done) | Err(_)) {
                    st.queue.clear();
                    st.ended = true;
                }
                return Some((item, (events, st)));
            }
            if st.ended {
                return None;
            }
            match events.next().await {
                None if st.finished => {
                    let chunk = st.chunk(Vec::new());
                    let mut chunk = chunk;
                    let u = st.usage.as_ref().map(usage).unwrap_or_default();
                    chunk.usage = Some(u.to_openai());
                    st.queue.push_back(Ok(StreamItem::Chunk(chunk, Some(u))));
                    st.queue.push_back(Ok(StreamItem::Done));
                }
                None => st.queue.push_back(Err(ProviderError::new(
                    ErrorClass::StreamCut,
                    "upstream stream ended before the answer was complete",
                ))),
                Some(Err(e)) => st.queue.push_back(Err(ProviderError::new(
                    ErrorClass::StreamCut,
                    format!("upstream stream broke: {e}"),
                ))),
                Some(Ok(ev)) => on_event(&ev, &mut st),
            }
        }
    })
}

impl State {
    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatChunk {
        ChatChunk {
            id: format!("chatcmpl-{}", self.id.as_deref().unwrap_or("gemini")),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage: None,
            system_fingerprint: None,
            extra: JsonMap::new(),
        }
    }

    fn push(&mut self, index: u32, delta: Delta, finish: Option<switchyard_types::FinishReason>) {
        let choice = ChunkChoice {
            index,
            delta,
            finish_reason: finish,
            logprobs: None,
            extra: JsonMap::new(),
        };
        let chunk = self.chunk(vec![choice]);
        self.queue.push_back(Ok(StreamItem::Chunk(chunk, None)));
    }
}

fn on_event(ev: &Event, st: &mut State) {
    let data = ev.data.trim();
    if data.is_empty() {
        return;
    }
    let resp = match serde_json::from_str::<GenerateContentResponse>(data) {
        Ok(r) if !r.extra.contains_key("error") => r,
        Ok(r) => {
            let code = r
                .extra
                .get("error")
                .and_then(|e| e.get("code"))
                .and_then(serde_json::Value::as_u64);
            let status = code.and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
            let mut e = super::error::classify(status, data.as_bytes());
            e.status = None;
            st.queue.push_back(Err(e));
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "skipping malformed upstream stream event");
            return;
        }
    };
    if st.id.is_none() {
        st.id = resp.response_id.clone();
    }
    if let Some(v) = &resp.model_version {
        st.model.clone_from(v);
    }
    if resp.usage_metadata.is_some() {
        st.usage.clone_from(&resp.usage_metadata);
    }
    if resp.candidates.is_empty() {
        if let Some(e) = blocked(&resp) {
            st.queue.push_back(Err(e));
        }
        return;
    }
    for (i, c) in resp.candidates.iter().enumerate() {
        let index = c.index.unwrap_or(i as u32);
        let s = split(c, &mut st.next_call);
        let cand = st.cands.entry(index).or_default();
        let role = (!cand.started).then_some(Role::Assistant);
        cand.started = true;
        let first_call = cand.calls;
        cand.calls += s.calls.len() as u32;
        let had_calls = cand.calls > 0;
        let tool_calls: Vec<ToolCallDelta> = s
            .calls
            .into_iter()
            .enumerate()
            .map(|(k, call)| ToolCallDelta {
                index: first_call + k as u32,
                id: Some(call.id),
                kind: Some("function".to_owned()),
                function: call.function.map(|f| FunctionCallDelta {
                    name: Some(f.name),
                    arguments: Some(f.arguments),
                }),
            })
            .collect();
        let has_delta = role.is_some()
            || !s.text.is_empty()
            || !s.thoughts.is_empty()
            || !tool_calls.is_empty();
        if has_delta {
            let delta = Delta {
                role,
                content: (!s.text.is_empty()).then_some(s.text),
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
                reasoning_content: (!s.thoughts.is_empty()).then_some(s.thoughts),
                extra: JsonMap::new(),
                ..Delta::default()
            };
            st.push(index, delta, None);
        }
        if let Some(r) = c.finish_reason.as_deref() {
            st.finished = true;
            st.push(index, Delta::default(), Some(finish_reason(r, had_calls)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use switchyard_types::FinishReason;

    fn run(raw: &str) -> Vec<Result<StreamItem, ProviderError>> {
        let bytes = futures::stream::iter(
            raw.as_bytes()
                .chunks(11)
                .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        block_on(decode_events(crate::sse::events(bytes), "gemini-2.0-flash".into(), 1).collect())
    }

    fn chunk(r: &Result<StreamItem, ProviderError>) -> &ChatChunk {
        match r {
            Ok(StreamItem::Chunk(c, _)) => c,
            other => panic!("not a chunk: {other:?}"),
        }
    }

    const A: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"responseId":"r1","modelVersion":"gemini-2.0-flash"}"#;
    const B: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2,"thoughtsTokenCount":3,"cachedContentTokenCount":4,"totalTokenCount":15}}"#;

    #[test]
    fn clean_stream() {
        let out = run(&format!("data: {A}\r\n\r\ndata: {B}\r\n\r\n"));
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(chunk(&out[0]).choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(
            chunk(&out[0]).choices[0].delta.content.as_deref(),
            Some("Hel")
        );
        assert_eq!(
            chunk(&out[1]).choices[0].delta.content.as_deref(),
            Some("lo")
        );
        assert_eq!(
            chunk(&out[2]).choices[0].finish_reason,
            Some(FinishReason::Stop)
        );
        let Ok(StreamItem::Chunk(u, Some(usage))) = &out[3] else {
            panic!("{:?}", out[3])
        };
        assert!(u.choices.is_empty());
        assert_eq!(
            (usage.input, usage.cache_read, usage.output, usage.reasoning),
            (6, 4, 5, 3)
        );
        assert_eq!(u.usage.as_ref().unwrap().prompt_tokens, 10);
        assert!(matches!(out[4], Ok(StreamItem::Done)));
        assert_eq!(chunk(&out[0]).id, "chatcmpl-r1");
    }

    #[test]
    fn cut_stream() {
        let out = run(&format!("data: {A}\n\n"));
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].as_ref().unwrap_err().class, ErrorClass::StreamCut);
    }

    #[test]
    fn function_calls_are_whole_deltas() {
        let ev = r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_time","args":{}}}]},"finishReason":"STOP","index":0}]}"#;
        let out = run(&format!("data: {ev}\n\n"));
        let calls = chunk(&out[0]).choices[0].delta.tool_calls.clone().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id.as_deref(), Some("call_0"));
        assert_eq!(calls[1].index, 1);
        assert_eq!(
            calls[0].function.as_ref().unwrap().arguments.as_deref(),
            Some(r#"{"city":"Paris"}"#)
        );
        assert_eq!(
            chunk(&out[1]).choices[0].finish_reason,
            Some(FinishReason::ToolCalls)
        );
    }

    #[test]
    fn error_event_and_block() {
        let err = r#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#;
        let out = run(&format!("data: {A}\n\ndata: {err}\n\n"));
        assert_eq!(
            out.last().unwrap().as_ref().unwrap_err().class,
            ErrorClass::Overloaded
        );
        let blocked = r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#;
        let out = run(&format!("data: {blocked}\n\n"));
        assert_eq!(
            out[0].as_ref().unwrap_err().class,
            ErrorClass::ContentPolicy
        );
    }
}
