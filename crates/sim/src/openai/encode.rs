//! Answer → OpenAI JSON: the non-streaming body and the pieces of streaming chunks.

use bytes::Bytes;
use serde::Serialize;

use crate::engine::{Answer, Choice, Finish, Usage};

/// Response-level fields shared by the body and every chunk.
pub(crate) struct Meta<'a> {
    pub id: String,
    pub created: u64,
    pub model: &'a str,
    /// `default`, `flex` or `priority`.
    pub service_tier: &'a str,
}

pub(crate) fn finish_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
    }
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

fn usage_out(u: &Usage) -> UsageOut {
    UsageOut {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.prompt_tokens + u.completion_tokens,
        prompt_tokens_details: PromptDetails {
            cached_tokens: u.cached_tokens,
            audio_tokens: 0,
        },
        completion_tokens_details: CompletionDetails {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
        },
    }
}

#[derive(Serialize)]
struct CompletionOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChoiceOut<'a>>,
    usage: UsageOut,
    service_tier: &'a str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: usize,
    message: MessageOut<'a>,
    logprobs: Option<LogprobsOut<'a>>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct LogprobsOut<'a> {
    content: Vec<TokenLogprob<'a>>,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct TokenLogprob<'a> {
    token: &'a str,
    logprob: f64,
    bytes: &'a [u8],
    top_logprobs: [(); 0],
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
    refusal: Option<()>,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

fn choice_out(index: usize, c: &Choice, logprobs: bool) -> ChoiceOut<'_> {
    let tool_calls: Vec<ToolCallOut<'_>> = c
        .tool_calls
        .iter()
        .map(|t| ToolCallOut {
            id: &t.id,
            kind: "function",
            function: FunctionOut {
                name: &t.name,
                arguments: &t.arguments,
            },
        })
        .collect();
    ChoiceOut {
        index,
        message: MessageOut {
            role: "assistant",
            content: tool_calls.is_empty().then_some(c.text.as_str()),
            tool_calls,
            refusal: None,
            annotations: [],
        },
        logprobs: (logprobs && c.tool_calls.is_empty()).then(|| LogprobsOut {
            content: c
                .pieces()
                .map(|p| TokenLogprob {
                    token: p,
                    logprob: c.confidence.max(1e-6).ln(),
                    bytes: p.as_bytes(),
                    top_logprobs: [],
                })
                .collect(),
            refusal: None,
        }),
        finish_reason: finish_reason(c.finish),
    }
}

/// The non-streaming `chat.completion` body.
pub(crate) fn completion(meta: &Meta<'_>, answer: &Answer, logprobs: bool) -> Vec<u8> {
    let body = CompletionOut {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: meta.model,
        choices: answer
            .choices
            .iter()
            .enumerate()
            .map(|(i, c)| choice_out(i, c, logprobs))
            .collect(),
        usage: usage_out(&answer.usage),
        service_tier: meta.service_tier,
        system_fingerprint: "fp_sim",
    };
    serde_json::to_vec(&body).unwrap_or_default()
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
             \"model\":{model},\"service_tier\":\"{}\",\"system_fingerprint\":\"fp_sim\",\
             \"choices\":[",
            meta.id, meta.created, meta.service_tier
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
        let usage = serde_json::to_string(&usage_out(usage)).unwrap_or_default();
        Bytes::from(format!("{}],\"usage\":{usage}}}\n\n", self.prefix))
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
