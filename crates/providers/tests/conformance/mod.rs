//! The conformance suite every adapter passes, against the simulator speaking its wire format.
//!
//! Use it from a test file:
//!
//! ```ignore
//! #[macro_use]
//! mod conformance;
//! provider_conformance!(anthropic, ProviderKind::Anthropic, |sim: &Sim| sim.base_url());
//! // or declare what the adapter cannot do:
//! provider_conformance!(x, ProviderKind::X, |sim: &Sim| sim.base_url(), Caps { cache: false, ..Caps::ALL });
//! ```
//!
//! Every case runs against a fresh [`Sim`]; the model names select the simulator's faults
//! (`sim-500`, `sim-cut-3`, …). An unsupported capability is declared in [`Caps`] and reported
//! on stderr when its case is skipped, never skipped silently.

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_providers::{
    AnyProvider, ErrorClass, Provider, ProviderConfig, ProviderError, ProviderKind, Reply,
    StreamItem, Timeouts,
};
use switchyard_sim::{Sim, SimConfig};
use switchyard_types::{ChatRequest, FinishReason, Usage};

/// What an adapter supports; a `false` case is reported as skipped.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Prompt-cache token accounting.
    pub cache: bool,
    /// Image input.
    pub images: bool,
    /// `response_format` JSON modes.
    pub json: bool,
    /// Several tool calls in one turn.
    pub parallel_tools: bool,
}

impl Caps {
    /// Everything.
    pub const ALL: Caps = Caps {
        cache: true,
        images: true,
        json: true,
        parallel_tools: true,
    };
}

/// A fresh simulator and an adapter pointed at it.
pub struct Env {
    /// Keeps the simulator alive.
    pub sim: Sim,
    /// The adapter under test.
    pub provider: AnyProvider,
    /// Declared capabilities.
    pub caps: Caps,
    /// Adapter name, for messages.
    pub name: &'static str,
}

/// Start a simulator and build the adapter; `base_url` maps the simulator to the adapter's URL.
pub async fn env(
    name: &'static str,
    kind: ProviderKind,
    base_url: impl Fn(&Sim) -> String,
    caps: Caps,
) -> Env {
    let sim = Sim::start(SimConfig::instant())
        .await
        .expect("start the simulator");
    let cfg = ProviderConfig {
        name: format!("conformance-{name}"),
        kind,
        base_url: base_url(&sim),
        // Bedrock signs with `ACCESS_KEY_ID:SECRET_ACCESS_KEY`; other kinds send a bearer key.
        api_key: Some(match kind {
            ProviderKind::Bedrock => "AKIDCONFORMANCE:sk-conformance".to_owned().into(),
            _ => "sk-conformance".to_owned().into(),
        }),
        timeouts: Timeouts {
            first_token: Duration::from_secs(10),
            ..Timeouts::default()
        },
        api_version: None,
        responses_api: false,
        region: Some("us-east-1".to_owned()),
        vendor: String::new(),
    };
    let provider = AnyProvider::new(cfg).expect("build the adapter");
    Env {
        sim,
        provider,
        caps,
        name,
    }
}

impl Env {
    /// Skip a case the adapter declared unsupported, saying so.
    pub fn skip(&self, supported: bool, case: &str) -> bool {
        if !supported {
            eprintln!(
                "conformance[{}]: `{case}` declared unsupported; skipped",
                self.name
            );
        }
        !supported
    }
}

/// A request from JSON.
pub fn request(v: Value) -> ChatRequest {
    serde_json::from_value(v).expect("a valid canonical request")
}

/// A one-message user request.
pub fn user(text: &str) -> ChatRequest {
    request(json!({"model": "x", "messages": [{"role": "user", "content": text}]}))
}

/// The weather tool (and a clock tool for parallel calls).
pub fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "description": "Time by zone",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}
    ])
}

/// A reassembled stream.
#[derive(Debug, Default)]
pub struct Collected {
    /// Concatenated text.
    pub text: String,
    /// Tool calls by index: (id, name, arguments).
    pub calls: Vec<(String, String, String)>,
    /// The last finish reason.
    pub finish: Option<FinishReason>,
    /// The last reported usage.
    pub usage: Option<Usage>,
    /// Ended with `Done`.
    pub done: bool,
    /// Ended with this error.
    pub error: Option<ProviderError>,
}

/// Run a stream to its end.
pub async fn collect(
    p: &AnyProvider,
    req: &ChatRequest,
    model: &str,
) -> Result<Collected, ProviderError> {
    let mut s = p.chat_stream(req, model.into()).await?.stream;
    let mut c = Collected::default();
    while let Some(item) = s.next().await {
        match item {
            Ok(StreamItem::Chunk(chunk, usage)) => {
                assert!(!c.done, "no chunk after Done");
                c.usage = usage.or(c.usage);
                for ch in chunk.choices {
                    c.text.push_str(ch.delta.content.as_deref().unwrap_or(""));
                    for t in ch.delta.tool_calls.unwrap_or_default() {
                        let i = t.index as usize;
                        if c.calls.len() <= i {
                            c.calls.resize(i + 1, Default::default());
                        }
                        let f = t.function.unwrap_or_default();
                        c.calls[i].0.push_str(t.id.as_deref().unwrap_or(""));
                        c.calls[i].1.push_str(f.name.as_deref().unwrap_or(""));
                        c.calls[i].2.push_str(f.arguments.as_deref().unwrap_or(""));
                    }
                    c.finish = ch.finish_reason.or(c.finish);
                }
            }
            Ok(StreamItem::Done) => c.done = true,
            Err(e) => {
                c.error = Some(e);
                break;
            }
        }
    }
    Ok(c)
}

fn text(r: &Reply) -> String {
    r.response.choices[0].message.text_content()
}

/// Plain chat: text, finish reason, usage in both forms.
pub async fn chat(e: &Env) {
    let r = e
        .provider
        .chat(&user("Say hello."), "sim-cheap".into())
        .await
        .expect("chat");
    assert!(!text(&r).trim().is_empty(), "empty answer");
    assert!(matches!(
        r.response.choices[0].finish_reason,
        Some(FinishReason::Stop | FinishReason::Length)
    ));
    assert!(
        r.usage.total_input() > 0 && r.usage.output > 0,
        "usage: {:?}",
        r.usage
    );
    let wire = r.response.usage.expect("OpenAI-shaped usage");
    assert_eq!(wire.prompt_tokens, r.usage.total_input());
    assert_eq!(wire.completion_tokens, r.usage.output);
    assert_eq!(r.meta.status, 200);
}

/// Streaming: text reassembles, a finish reason, usage, then `Done`.
pub async fn stream(e: &Env) {
    let c = collect(&e.provider, &user("Tell me a story."), "sim-cheap")
        .await
        .expect("stream");
    assert!(c.error.is_none(), "stream failed: {:?}", c.error);
    assert!(c.done, "stream did not end with Done");
    assert!(!c.text.trim().is_empty());
    assert!(matches!(
        c.finish,
        Some(FinishReason::Stop | FinishReason::Length)
    ));
    let u = c.usage.expect("usage on the stream");
    assert!(u.total_input() > 0 && u.output > 0, "usage: {u:?}");
}

/// One tool call, then the second turn with its result.
pub async fn tools_single(e: &Env) {
    let mut req = request(json!({"model": "x", "tools": tools(),
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}]}));
    let r = e
        .provider
        .chat(&req, "sim-cheap".into())
        .await
        .expect("chat with tools");
    let choice = &r.response.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    let calls = choice.message.tool_calls.clone().expect("tool calls");
    assert_eq!(calls.len(), 1);
    assert!(!calls[0].id.is_empty());
    let args: Value = serde_json::from_str(calls[0].input()).expect("JSON arguments");
    assert!(args.is_object());
    req.messages.push(choice.message.clone());
    req.messages.push(
        serde_json::from_value(
            json!({"role": "tool", "tool_call_id": calls[0].id, "content": "18C and sunny"}),
        )
        .expect("tool message"),
    );
    let r2 = e
        .provider
        .chat(&req, "sim-cheap".into())
        .await
        .expect("second turn with the tool result");
    assert_eq!(
        r2.response.choices[0].finish_reason,
        Some(FinishReason::Stop)
    );
    assert!(!text(&r2).is_empty());
}

/// Parallel tool calls, non-streaming and streamed (deltas reassemble to valid JSON).
pub async fn tools_parallel(e: &Env) {
    if e.skip(e.caps.parallel_tools, "parallel tool calls") {
        return;
    }
    let req = request(json!({"model": "x", "tools": tools(),
        "messages": [{"role": "user", "content": "Weather and time, in parallel please."}]}));
    let r = e
        .provider
        .chat(&req, "sim-cheap".into())
        .await
        .expect("chat");
    let calls = r.response.choices[0]
        .message
        .tool_calls
        .clone()
        .expect("tool calls");
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].id, calls[1].id);
    let c = collect(&e.provider, &req, "sim-cheap")
        .await
        .expect("stream");
    assert!(c.done && c.error.is_none());
    assert_eq!(c.finish, Some(FinishReason::ToolCalls));
    assert_eq!(c.calls.len(), 2);
    for (id, name, args) in &c.calls {
        assert!(!id.is_empty() && !name.is_empty());
        let v: Value = serde_json::from_str(args)
            .unwrap_or_else(|e| panic!("streamed arguments {args:?}: {e}"));
        assert!(v.is_object());
    }
}

/// Streamed single tool call.
pub async fn tools_stream(e: &Env) {
    let req = request(
        json!({"model": "x", "tools": tools(), "tool_choice": {"type": "function", "function": {"name": "get_time"}},
        "messages": [{"role": "user", "content": "What time is it?"}]}),
    );
    let c = collect(&e.provider, &req, "sim-cheap")
        .await
        .expect("stream");
    assert!(c.done);
    assert_eq!(c.calls.len(), 1);
    assert_eq!(c.calls[0].1, "get_time");
    assert!(serde_json::from_str::<Value>(&c.calls[0].2).is_ok_and(|v| v.is_object()));
}

/// A data-URL image part is accepted.
pub async fn images(e: &Env) {
    if e.skip(e.caps.images, "images") {
        return;
    }
    let req = request(
        json!({"model": "x", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}
        ]}]}),
    );
    let r = e
        .provider
        .chat(&req, "sim-cheap".into())
        .await
        .expect("chat with an image");
    assert!(!text(&r).is_empty());
}

/// JSON object and JSON schema modes answer with JSON.
pub async fn json_mode(e: &Env) {
    if e.skip(e.caps.json, "JSON mode") {
        return;
    }
    let obj = request(
        json!({"model": "x", "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": "Reply in JSON."}]}),
    );
    let r = e
        .provider
        .chat(&obj, "sim-cheap".into())
        .await
        .expect("json_object");
    let v: Value = serde_json::from_str(&text(&r)).expect("JSON answer");
    assert!(v.is_object());
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number"}}, "required": ["city", "temp"]});
    let sch = request(
        json!({"model": "x", "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}},
        "messages": [{"role": "user", "content": "Weather in JSON."}]}),
    );
    let r = e
        .provider
        .chat(&sch, "sim-cheap".into())
        .await
        .expect("json_schema");
    assert_eq!(
        r.response.choices[0].finish_reason,
        Some(FinishReason::Stop)
    );
    let v: Value = serde_json::from_str(&text(&r)).expect("JSON answer");
    assert!(v.get("city").is_some_and(Value::is_string), "{v}");
    let c = collect(&e.provider, &sch, "sim-cheap")
        .await
        .expect("streamed json_schema");
    assert!(
        serde_json::from_str::<Value>(&c.text).is_ok_and(|v| v.is_object()),
        "streamed {:?}",
        c.text
    );
}

/// A long cacheable prefix: the second identical call reports cache reads.
pub async fn cache_usage(e: &Env) {
    if e.skip(e.caps.cache, "prompt-cache usage") {
        return;
    }
    let long = "You are a meticulous assistant for the routing team. ".repeat(120);
    let req = request(json!({"model": "x", "messages": [
        {"role": "system", "content": [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "Summarise the policy."}]}));
    let first = e
        .provider
        .chat(&req, "sim-cheap".into())
        .await
        .expect("first call")
        .usage;
    let second = e
        .provider
        .chat(&req, "sim-cheap".into())
        .await
        .expect("second call")
        .usage;
    assert!(first.total_input() >= 1024, "{first:?}");
    assert_eq!(
        first.total_input(),
        second.total_input(),
        "same prompt, same input tokens"
    );
    assert!(
        second.cache_read > 0,
        "no cache read on the second call: {second:?}"
    );
    assert!(second.input < first.total_input());
    let c = collect(&e.provider, &req, "sim-cheap")
        .await
        .expect("stream");
    assert!(
        c.usage.is_some_and(|u| u.cache_read > 0),
        "streamed usage {:?}",
        c.usage
    );
}

async fn expect_err(e: &Env, model: &str) -> ProviderError {
    match e.provider.chat(&user("hi"), model.into()).await {
        Ok(_) => panic!("{model}: expected an error"),
        Err(err) => err,
    }
}

/// Each error class, non-streaming and at stream start.
pub async fn errors(e: &Env) {
    let err = expect_err(e, "sim-429").await;
    assert_eq!(err.class, ErrorClass::RateLimited, "{err:?}");
    assert!(err.retry_after.is_some(), "429 without retry_after");
    assert!(err.retryable());
    assert_eq!(expect_err(e, "sim-500").await.class, ErrorClass::Server);
    assert_eq!(expect_err(e, "sim-529").await.class, ErrorClass::Overloaded);
    assert_eq!(expect_err(e, "sim-503").await.class, ErrorClass::Overloaded);
    let ctx = expect_err(e, "sim-ctx").await;
    assert_eq!(ctx.class, ErrorClass::ContextLength, "{ctx:?}");
    assert!(!ctx.retryable() && ctx.class.try_next_candidate());
    let policy = expect_err(e, "sim-policy").await.class;
    assert!(
        matches!(policy, ErrorClass::ContentPolicy | ErrorClass::BadRequest),
        "{policy:?}"
    );
    assert_eq!(expect_err(e, "sim-quota").await.class, ErrorClass::Quota);
    match e.provider.chat_stream(&user("hi"), "sim-529".into()).await {
        Ok(_) => panic!("stream start: expected an error"),
        Err(err) => assert_eq!(err.class, ErrorClass::Overloaded),
    }
}

/// A stream cut after a few tokens ends with an error, never `Done`.
pub async fn stream_cut(e: &Env) {
    let c = collect(&e.provider, &user("Tell me a story."), "sim-cut-3")
        .await
        .expect("stream start");
    assert!(!c.done, "a cut stream must not end with Done");
    let err = c.error.expect("an error at the cut");
    assert!(err.retryable(), "{err:?}");
}

/// Dropping a stream mid-way is clean, and the adapter keeps working.
pub async fn cancellation(e: &Env) {
    let mut s = e
        .provider
        .chat_stream(&user("Tell me a long story."), "sim-tps-50-len-200".into())
        .await
        .expect("stream")
        .stream;
    let first = s.next().await;
    assert!(matches!(first, Some(Ok(StreamItem::Chunk(..)))));
    drop(s);
    chat(e).await;
}

/// Instantiate the suite for one adapter.
macro_rules! provider_conformance {
    ($name:ident, $kind:expr, $base_url:expr) => {
        provider_conformance!($name, $kind, $base_url, $crate::conformance::Caps::ALL);
    };
    ($name:ident, $kind:expr, $base_url:expr, $caps:expr) => {
        mod $name {
            use super::conformance as c;
            #[allow(unused_imports, reason = "the caller's expressions may use these")]
            use super::*;
            #[allow(unused_imports, reason = "the caller's closures may name it")]
            use switchyard_sim::Sim;

            async fn env() -> c::Env {
                c::env(stringify!($name), $kind, $base_url, $caps).await
            }

            #[tokio::test]
            async fn chat() {
                c::chat(&env().await).await;
            }
            #[tokio::test]
            async fn stream() {
                c::stream(&env().await).await;
            }
            #[tokio::test]
            async fn tools_single() {
                c::tools_single(&env().await).await;
            }
            #[tokio::test]
            async fn tools_parallel() {
                c::tools_parallel(&env().await).await;
            }
            #[tokio::test]
            async fn tools_stream() {
                c::tools_stream(&env().await).await;
            }
            #[tokio::test]
            async fn images() {
                c::images(&env().await).await;
            }
            #[tokio::test]
            async fn json_mode() {
                c::json_mode(&env().await).await;
            }
            #[tokio::test]
            async fn cache_usage() {
                c::cache_usage(&env().await).await;
            }
            #[tokio::test]
            async fn errors() {
                c::errors(&env().await).await;
            }
            #[tokio::test]
            async fn stream_cut() {
                c::stream_cut(&env().await).await;
            }
            #[tokio::test]
            async fn cancellation() {
                c::cancellation(&env().await).await;
            }
        }
    };
}
