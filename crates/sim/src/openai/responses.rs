//! OpenAI Responses (`POST /v1/responses`): request decoding (`decode`), the answer as a
//! response object (`encode`) or as named SSE events (`stream`), served by the handler body
//! Chat Completions uses.
//!
//! Reasoning state is bound to the provider: when the request asks for reasoning (an `effort`
//! other than `none`), the output begins with a reasoning item whose `encrypted_content`
//! (returned when `include` has `reasoning.encrypted_content`) only this simulator writes, for
//! one model. Sent back in `input`, a reasoning item must carry content written for the same
//! model (else 400 `invalid_encrypted_content`); one without it is refused as OpenAI refuses
//! an item it never stored. The content is verified without state (see
//! [`reasoning_encrypted_content`]).
//!
//! Validation is as strict as the real API where gateways get it wrong: an unknown item type,
//! a part type the role does not take (`input_text` in an assistant message), a chat-style
//! function tool (no top-level `name`), a chat-style `json_schema` format (no `name`), a
//! `function_call_output` without its `function_call`, `max_output_tokens` below 16, or a
//! `previous_response_id` (nothing is stored) is a 400.

mod decode;
mod encode;
mod stream;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::encode::Meta;
use super::error;
use super::serve::{self, Shape};
use crate::engine::{Answer, Hasher};
use crate::faults::Fault;
use crate::playback::Frame;
use crate::server::SimState;

/// Reasoning tokens a reasoning item costs beyond its summary (the hidden part).
const HIDDEN_REASONING_TOKENS: u64 = 16;
/// Prefix of the encrypted reasoning content this simulator writes.
const ENCRYPTED_PREFIX: &str = "sim-enc.";

/// The Responses encoding of an answer: the reasoning item to put first and the request
/// fields the response object repeats.
pub(crate) struct Responses<'a> {
    /// The requested model, which the encrypted reasoning is bound to.
    model: &'a str,
    /// The reasoning summary, when reasoning was asked for.
    reasoning: Option<String>,
    /// `include` has `reasoning.encrypted_content`.
    include_encrypted: bool,
    /// Fields echoed in the response object.
    echo: Echo<'a>,
}

/// Request fields the response object repeats (defaults filled in).
#[derive(Serialize)]
struct Echo<'a> {
    instructions: Option<&'a Value>,
    max_output_tokens: Option<u64>,
    metadata: Cow<'a, Value>,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    prompt_cache_key: Option<&'a Value>,
    reasoning: ReasoningEcho<'a>,
    store: bool,
    temperature: Cow<'a, Value>,
    text: TextEcho<'a>,
    tool_choice: Cow<'a, Value>,
    tools: Cow<'a, Value>,
    top_p: Cow<'a, Value>,
    truncation: &'static str,
    user: Option<&'a Value>,
}

/// `reasoning` in the response object.
#[derive(Serialize)]
struct ReasoningEcho<'a> {
    effort: Option<&'a str>,
    summary: Option<&'a Value>,
}

/// `text` in the response object.
#[derive(Serialize)]
struct TextEcho<'a> {
    format: Cow<'a, Value>,
    verbosity: Cow<'a, Value>,
}

impl Shape for Responses<'_> {
    const ID_PREFIX: &'static str = "resp_";
    const ID_LEN: usize = 40;

    fn body(&self, meta: &Meta<'_>, answer: &Answer) -> Vec<u8> {
        encode::body(meta, self, answer)
    }

    fn frames(&self, meta: &Meta<'_>, answer: &Answer, fault: Option<Fault>) -> Vec<Frame> {
        stream::frames(meta, self, answer, fault)
    }
}

/// `POST /v1/responses` (and `/responses`).
pub(crate) async fn responses(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let json = match serve::read_json(&st, &parts, body).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    match decode::decode(&json) {
        Ok((call, shape)) => serve::serve(&st, &parts, &json, call, &shape).await,
        Err(f) => error::response(&f, &[]),
    }
}

/// The `encrypted_content` of a reasoning item this simulator wrote for `model` with this
/// summary text: `sim-enc.<16 hex digits>.<the summary's UTF-8 bytes in hex>`, where the
/// digits are the FNV-1a hash of `switchyard-sim-reasoning`, the model and the summary. It is
/// verified by decoding the summary and recomputing the hash, so it works across restarts and
/// simulators, and fails for another model or any edit.
pub fn reasoning_encrypted_content(model: &str, summary: &str) -> String {
    let mut out = format!("{ENCRYPTED_PREFIX}{:016x}.", seal(model, summary));
    for b in summary.bytes() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Whether `content` is encrypted reasoning this simulator wrote for `model`.
fn verify_encrypted_content(model: &str, content: &str) -> bool {
    let Some((hash, hex)) = content
        .strip_prefix(ENCRYPTED_PREFIX)
        .and_then(|rest| rest.split_once('.'))
    else {
        return false;
    };
    let summary = unhex(hex).and_then(|b| String::from_utf8(b).ok());
    summary.is_some_and(|s| hash == format!("{:016x}", seal(model, &s)))
}

fn seal(model: &str, summary: &str) -> u64 {
    Hasher::default()
        .bytes(b"switchyard-sim-reasoning")
        .u64(model.len() as u64)
        .bytes(model.as_bytes())
        .bytes(summary.as_bytes())
        .finish()
}

/// Bytes of a hex string (`None` when it is not one).
fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The reasoning summary of an answer to `question` (deterministic).
fn summary_text(question: Option<&str>) -> String {
    let words: Vec<&str> = question
        .unwrap_or_default()
        .split_whitespace()
        .take(8)
        .collect();
    if words.is_empty() {
        return "**Reading the conversation** I will answer briefly.".to_owned();
    }
    let asked = words.join(" ");
    format!(
        "**Considering the request** {}. I will answer briefly.",
        asked.trim_end_matches(['.', '?', '!'])
    )
}

/// Reasoning tokens of a reasoning item with this summary: its text (chars / 4, at least 1)
/// and the hidden part.
fn reasoning_tokens(summary: &str) -> u64 {
    (summary.chars().count() as u64).div_ceil(4).max(1) + HIDDEN_REASONING_TOKENS
}

#[cfg(test)]
mod tests;
