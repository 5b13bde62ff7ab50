//! Request bodies for OpenAI-wire upstreams, borrowed from the canonical request.
//!
//! The canonical request *is* the OpenAI shape, so the body is the client's request with the
//! per-call fields replaced — model, stream flags, usage option — serialised straight from the
//! borrowed fields: no copy of the prompt, no JSON `Value` round trip. Azure routes by
//! deployment in the URL, so its body has no `model`.

use serde::Serialize;
use switchyard_types::{
    ChatRequest, EmbeddingInput, EmbeddingsRequest, JsonMap, Message, ResponseFormat, ServiceTier,
    Stop, StreamOptions, Tool, ToolChoice,
};

/// `POST …/chat/completions`. Mirrors [`ChatRequest`] field for field (a test keeps the two
/// in step).
#[derive(Debug, Serialize)]
pub(crate) struct ChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a Vec<Tool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a JsonMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<ServiceTier>,
    #[serde(flatten)]
    extra: &'a JsonMap,
}

impl<'a> ChatBody<'a> {
    /// The body for `req` on `model` (`None`: Azure). Streams always ask for usage, so the
    /// gateway can account.
    pub(crate) fn new(req: &'a ChatRequest, model: Option<&'a str>, stream: bool) -> Self {
        let stream_options = stream.then(|| StreamOptions {
            include_usage: true,
            extra: req
                .stream_options
                .as_ref()
                .map(|o| o.extra.clone())
                .unwrap_or_default(),
        });
        ChatBody {
            model,
            messages: &req.messages,
            stream,
            stream_options,
            tools: req.tools.as_ref(),
            tool_choice: req.tool_choice.as_ref(),
            parallel_tool_calls: req.parallel_tool_calls,
            response_format: req.response_format.as_ref(),
            stop: req.stop.as_ref(),
            temperature: req.temperature,
            top_p: req.top_p,
            seed: req.seed,
            n: req.n,
            max_tokens: req.max_tokens,
            max_completion_tokens: req.max_completion_tokens,
            user: req.user.as_deref(),
            metadata: req.metadata.as_ref(),
            logprobs: req.logprobs,
            top_logprobs: req.top_logprobs,
            presence_penalty: req.presence_penalty,
            frequency_penalty: req.frequency_penalty,
            service_tier: req.service_tier.filter(|t| !t.is_standard()),
            extra: &req.extra,
        }
    }
}

/// `POST …/embeddings`.
#[derive(Debug, Serialize)]
pub(super) struct EmbedBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    input: &'a EmbeddingInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a JsonMap,
}

impl<'a> EmbedBody<'a> {
    /// The body for `req` on `model` (`None`: Azure).
    pub(super) fn new(req: &'a EmbeddingsRequest, model: Option<&'a str>) -> Self {
        EmbedBody {
            model,
            input: &req.input,
            encoding_format: req.encoding_format.as_deref(),
            dimensions: req.dimensions,
            user: req.user.as_deref(),
            extra: &req.extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every field of the canonical request reaches the body unchanged, except the per-call
    /// ones: a field added to `ChatRequest` and not here fails this test.
    #[test]
    fn the_body_is_the_canonical_request_with_the_call_fields_set() {
        let full = json!({
            "model": "client-name", "messages": [{"role": "user", "content": "hi"}],
            "stream": true, "stream_options": {"include_usage": false, "x": 1},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_choice": "auto", "parallel_tool_calls": true,
            "response_format": {"type": "json_object"}, "stop": ["END"], "temperature": 0.5,
            "top_p": 0.9, "seed": 7, "n": 1, "max_tokens": 10, "max_completion_tokens": 20,
            "user": "u", "metadata": {"task": "t"}, "logprobs": true, "top_logprobs": 2,
            "presence_penalty": 0.1, "frequency_penalty": 0.2, "vendor_flag": {"a": 1}
        });
        let req: ChatRequest = serde_json::from_value(full.clone()).unwrap();
        let got = serde_json::to_value(ChatBody::new(&req, Some("up"), true)).unwrap();
        let mut want = full;
        want["model"] = json!("up");
        want["stream_options"] = json!({"include_usage": true, "x": 1});
        assert_eq!(got, want);
        let azure = serde_json::to_value(ChatBody::new(&req, None, false)).unwrap();
        assert!(azure.get("model").is_none() && azure.get("stream").is_none());
        assert!(azure.get("stream_options").is_none());
    }
}
