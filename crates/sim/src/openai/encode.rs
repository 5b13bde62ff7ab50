//! Answer → OpenAI JSON: the non-streaming body and the pieces of streaming chunks.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue};
use serde_json::{json, Value};

use crate::engine::{Answer, Choice, Finish, Usage};

/// Response-level fields shared by the body and every chunk.
pub(crate) struct Meta<'a> {
    pub id: String,
    pub created: u64,
    pub model: &'a str,
}

pub(crate) fn finish_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
    }
}

pub(crate) fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn message_json(c: &Choice) -> Value {
    if c.tool_calls.is_empty() {
        return json!({"role": "assistant", "content": c.text, "refusal": null, "annotations": []});
    }
    let calls: Vec<Value> = c
        .tool_calls
        .iter()
        .map(|t| {
            json!({"id": t.id, "type": "function",
                   "function": {"name": t.name, "arguments": t.arguments}})
        })
        .collect();
    json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null,
           "annotations": []})
}

/// The non-streaming `chat.completion` body.
pub(crate) fn completion(meta: &Meta<'_>, answer: &Answer) -> Vec<u8> {
    let choices: Vec<Value> = answer
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"index": i, "message": message_json(c), "logprobs": null,
                   "finish_reason": finish_reason(c.finish)})
        })
        .collect();
    let body = json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": usage_json(&answer.usage),
        "service_tier": "default",
        "system_fingerprint": "fp_sim",
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A 200 whose body sends `prefix` and then either drops the connection or hangs forever.
pub(crate) fn broken_body(prefix: &[u8], hang: bool) -> Response {
    let first = Bytes::copy_from_slice(prefix);
    let stream = futures::stream::unfold(0u8, move |step| {
        let first = first.clone();
        async move {
            match step {
                0 => Some((Ok(first), 1)),
                _ if hang => std::future::pending().await,
                1 => {
                    // Let hyper flush the prefix, then abort the connection.
                    tokio::task::yield_now().await;
                    Some((Err(std::io::Error::other("sim: connection cut")), 2))
                }
                _ => None,
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Builds `data: {chunk}\n\n` frames around a fixed prefix.
pub(crate) struct ChunkWriter {
    /// `data: {"id":…,"object":"chat.completion.chunk",…,"choices":[`
    prefix: String,
    usage_null: bool,
}

impl ChunkWriter {
    pub(crate) fn new(meta: &Meta<'_>, usage_null: bool) -> ChunkWriter {
        let model = json_str(meta.model);
        let prefix = format!(
            "data: {{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"created\":{},\
             \"model\":{model},\"service_tier\":\"default\",\"system_fingerprint\":\"fp_sim\",\
             \"choices\":[",
            meta.id, meta.created
        );
        ChunkWriter { prefix, usage_null }
    }

    /// A frame with one choice object (already JSON).
    pub(crate) fn frame(&self, choice: &str) -> Bytes {
        let mut s = String::with_capacity(self.prefix.len() + choice.len() + 24);
        s.push_str(&self.prefix);
        s.push_str(choice);
        s.push(']');
        if self.usage_null {
            s.push_str(",\"usage\":null");
        }
        s.push_str("}\n\n");
        Bytes::from(s)
    }

    /// The final usage frame: `"choices":[]` and the usage object.
    pub(crate) fn usage_frame(&self, usage: &Usage) -> Bytes {
        Bytes::from(format!(
            "{}],\"usage\":{}}}\n\n",
            self.prefix,
            usage_json(usage)
        ))
    }

    /// A frame whose data is not valid JSON (the `malformed` fault).
    pub(crate) fn malformed(&self) -> Bytes {
        Bytes::from(format!(
            "{}{{\"index\":0,\"delta\":{{\"content\n\n",
            self.prefix
        ))
    }
}

/// `{"index":i,"delta":DELTA,"logprobs":null,"finish_reason":FINISH}`
pub(crate) fn choice_json(index: usize, delta: &str, finish: Option<Finish>) -> String {
    let finish = finish.map_or("null".to_string(), |f| format!("\"{}\"", finish_reason(f)));
    format!("{{\"index\":{index},\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}")
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
