//! Answer → the Responses `response` object and its output items, shared by the whole body
//! and the streamed events.

use serde::Serialize;

use super::{reasoning_encrypted_content, reasoning_tokens, Echo, Responses};
use crate::engine::{self, Answer, Choice, Finish, Hasher, Rng, ToolCall};
use crate::openai::encode::Meta;

/// Length of the random part of an item id.
const ITEM_ID_LEN: usize = 40;

/// The answer as Responses output: items in order, status and usage. Built once, then written
/// as a body or as events.
pub(super) struct Output<'a> {
    /// The output items: a reasoning item when asked for, then the message or the calls.
    pub parts: Vec<Part<'a>>,
    /// Cut at `max_output_tokens`.
    pub incomplete: bool,
    /// Usage, reasoning tokens included in `output_tokens`.
    pub usage: UsageOut,
}

/// One output item.
pub(super) enum Part<'a> {
    Reasoning {
        id: String,
        summary: &'a str,
        /// Present when the request included `reasoning.encrypted_content`.
        encrypted: Option<String>,
    },
    Message {
        id: String,
        choice: &'a Choice,
    },
    Call {
        id: String,
        call: &'a ToolCall,
    },
}

/// An output item on the wire (`type` first).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Item<'a> {
    Reasoning {
        id: &'a str,
        summary: Vec<SummaryText<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<&'a str>,
    },
    Message {
        id: &'a str,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText<'a>>,
    },
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
        status: &'static str,
    },
}

/// A reasoning summary part.
#[derive(Serialize)]
pub(super) struct SummaryText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    pub text: &'a str,
}

/// An `output_text` content part.
#[derive(Serialize)]
pub(super) struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    pub text: &'a str,
    annotations: [(); 0],
    logprobs: [(); 0],
}

/// Responses `usage`.
#[derive(Serialize, Clone, Copy)]
pub(super) struct UsageOut {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Serialize, Clone, Copy)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Serialize, Clone, Copy)]
struct OutputDetails {
    reasoning_tokens: u64,
}

/// The `response` object.
#[derive(Serialize)]
pub(super) struct ResponseOut<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    background: bool,
    error: Option<()>,
    incomplete_details: Option<Incomplete>,
    model: &'a str,
    output: Vec<Item<'a>>,
    #[serde(flatten)]
    echo: &'a Echo<'a>,
    service_tier: &'a str,
    usage: Option<UsageOut>,
}

#[derive(Serialize)]
struct Incomplete {
    reason: &'static str,
}

// === impl Output ===

impl<'a> Output<'a> {
    /// The output of `answer`; item ids derive from the response id.
    pub(super) fn new(meta: &Meta<'_>, shape: &'a Responses<'_>, answer: &'a Answer) -> Self {
        let mut ids = Rng::new(Hasher::default().bytes(meta.id.as_bytes()).finish());
        let mut id = |prefix: &str| format!("{prefix}{}", engine::base62(&mut ids, ITEM_ID_LEN));
        let mut parts = Vec::new();
        if let Some(summary) = shape.reasoning.as_deref() {
            parts.push(Part::Reasoning {
                id: id("rs_"),
                summary,
                encrypted: shape
                    .include_encrypted
                    .then(|| reasoning_encrypted_content(shape.model, summary)),
            });
        }
        let choice = answer.choices.first();
        let incomplete = choice.is_some_and(|c| c.finish == Finish::Length);
        if let Some(c) = choice {
            if c.tool_calls.is_empty() && !(incomplete && c.text.is_empty()) {
                parts.push(Part::Message {
                    id: id("msg_"),
                    choice: c,
                });
            }
            for call in &c.tool_calls {
                parts.push(Part::Call {
                    id: id("fc_"),
                    call,
                });
            }
        }
        // Reasoning spends the output cap first; it stops there.
        let reasoning = shape
            .reasoning
            .as_deref()
            .map_or(0, reasoning_tokens)
            .min(shape.echo.max_output_tokens.unwrap_or(u64::MAX));
        let u = &answer.usage;
        let output_tokens = u.completion_tokens + reasoning;
        let usage = UsageOut {
            input_tokens: u.prompt_tokens,
            input_tokens_details: InputDetails {
                cached_tokens: u.cached_tokens,
            },
            output_tokens,
            output_tokens_details: OutputDetails {
                reasoning_tokens: reasoning,
            },
            total_tokens: u.prompt_tokens + output_tokens,
        };
        Output {
            parts,
            incomplete,
            usage,
        }
    }

    /// `completed` or `incomplete`.
    pub(super) fn status(&self) -> &'static str {
        if self.incomplete {
            "incomplete"
        } else {
            "completed"
        }
    }

    /// The response object: `in_progress` (no output, no usage) or finished.
    pub(super) fn response<'b>(
        &'b self,
        meta: &'b Meta<'_>,
        shape: &'b Responses<'_>,
        finished: bool,
    ) -> ResponseOut<'b> {
        ResponseOut {
            id: &meta.id,
            object: "response",
            created_at: meta.created,
            status: if finished {
                self.status()
            } else {
                "in_progress"
            },
            background: false,
            error: None,
            incomplete_details: (finished && self.incomplete).then_some(Incomplete {
                reason: "max_output_tokens",
            }),
            model: meta.model,
            output: if finished {
                self.parts.iter().map(|p| p.item(true)).collect()
            } else {
                Vec::new()
            },
            echo: &shape.echo,
            service_tier: meta.service_tier,
            usage: finished.then_some(self.usage),
        }
    }
}

// === impl Part ===

impl Part<'_> {
    /// The item id.
    pub(super) fn id(&self) -> &str {
        match self {
            Part::Reasoning { id, .. } | Part::Message { id, .. } | Part::Call { id, .. } => id,
        }
    }

    /// The item as first announced (`done == false`: empty, in progress) or finished.
    pub(super) fn item(&self, done: bool) -> Item<'_> {
        match self {
            Part::Reasoning {
                id,
                summary,
                encrypted,
            } => Item::Reasoning {
                id,
                summary: if done {
                    vec![summary_text(summary)]
                } else {
                    Vec::new()
                },
                encrypted_content: encrypted.as_deref().filter(|_| done),
            },
            Part::Message { id, choice } => Item::Message {
                id,
                status: match (done, choice.finish) {
                    (false, _) => "in_progress",
                    (true, Finish::Length) => "incomplete",
                    (true, _) => "completed",
                },
                role: "assistant",
                content: if done {
                    vec![output_text(&choice.text)]
                } else {
                    Vec::new()
                },
            },
            Part::Call { id, call } => Item::FunctionCall {
                id,
                call_id: &call.id,
                name: &call.name,
                arguments: if done { &call.arguments } else { "" },
                status: if done { "completed" } else { "in_progress" },
            },
        }
    }
}

/// A `summary_text` part.
pub(super) fn summary_text(text: &str) -> SummaryText<'_> {
    SummaryText {
        kind: "summary_text",
        text,
    }
}

/// An `output_text` part.
pub(super) fn output_text(text: &str) -> OutputText<'_> {
    OutputText {
        kind: "output_text",
        text,
        annotations: [],
        logprobs: [],
    }
}

/// The non-streaming body: the finished response object.
pub(super) fn body(meta: &Meta<'_>, shape: &Responses<'_>, answer: &Answer) -> Vec<u8> {
    let out = Output::new(meta, shape, answer);
    serde_json::to_vec(&out.response(meta, shape, true)).unwrap_or_default()
}
