//! Golden wire tests (fixtures in `tests/fixtures/anthropic/`) and properties of the decoder.

use futures::{executor::block_on, StreamExt};
use proptest::prelude::*;
use serde_json::{json, Value};
use switchyard_types::{ChatRequest, FinishReason, Usage};

use super::convert::{decode_response, encode_request};
use super::stream::{decode_events, Options};
use super::wire::MessagesResponse;
use crate::{ErrorClass, ProviderError, StreamItem};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/anthropic/",
            $name
        ))
    };
}

fn run(raw: &str, chunk: usize, json_tool: Option<&str>) -> Vec<Result<StreamItem, ProviderError>> {
    let parts: Vec<Result<bytes::Bytes, std::io::Error>> = raw
        .as_bytes()
        .chunks(chunk.max(1))
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let opts = Options {
        json_tool: json_tool.map(str::to_owned),
        created: 7,
    };
    block_on(decode_events(crate::sse::events(futures::stream::iter(parts)), opts).collect())
}

/// Reassembled stream: text, reasoning, tool calls (id, name, args), finish, usage, done.
#[derive(Debug, Default, PartialEq)]
struct Assembled {
    text: String,
    reasoning: String,
    calls: Vec<(String, String, String)>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
    error: Option<ErrorClass>,
}

fn assemble(items: &[Result<StreamItem, ProviderError>]) -> Assembled {
    let mut a = Assembled::default();
    for item in items {
        match item {
            Ok(StreamItem::Chunk(c, u)) => {
                if u.is_some() {
                    a.usage = *u;
                }
                for ch in &c.choices {
                    a.text.push_str(ch.delta.content.as_deref().unwrap_or(""));
                    a.reasoning
                        .push_str(ch.delta.reasoning_content.as_deref().unwrap_or(""));
                    for t in ch.delta.tool_calls.iter().flatten() {
                        let i = t.index as usize;
                        if a.calls.len() <= i {
                            a.calls.resize(i + 1, Default::default());
                        }
                        let f = t.function.clone().unwrap_or_default();
                        a.calls[i].0.push_str(t.id.as_deref().unwrap_or(""));
                        a.calls[i].1.push_str(f.name.as_deref().unwrap_or(""));
                        a.calls[i].2.push_str(f.arguments.as_deref().unwrap_or(""));
                    }
                    if ch.finish_reason.is_some() {
                        a.finish.clone_from(&ch.finish_reason);
                    }
                }
            }
            Ok(StreamItem::Done) => a.done = true,
            Err(e) => a.error = Some(e.class),
        }
    }
    a
}

#[test]
fn encodes_the_full_request() {
    let req: ChatRequest = serde_json::from_str(fixture!("request_full.canonical.json")).unwrap();
    let enc = encode_request(&req, "claude-sonnet-4-5", None).unwrap();
    let got = serde_json::to_value(&enc.body).unwrap();
    let want: Value = serde_json::from_str(fixture!("request_full.wire.json")).unwrap();
    assert_eq!(got, want);
    assert!(enc.json_tool.is_none());
}

#[test]
fn plain_request_has_string_system_and_default_max_tokens() {
    let req: ChatRequest = serde_json::from_value(json!({"model": "m", "messages": [
        {"role": "system", "content": "A"}, {"role": "system", "content": "B"},
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure: "}]}))
    .unwrap();
    let body = serde_json::to_value(encode_request(&req, "up", None).unwrap().body).unwrap();
    assert_eq!(body["system"], "A\n\nB");
    assert_eq!(body["max_tokens"], 4096);
    // A prefill must not end with whitespace.
    assert_eq!(body["messages"][1]["content"][0]["text"], "Sure:");
    assert!(body.get("tool_choice").is_none() && body.get("stream").is_none());
}

#[test]
fn json_schema_becomes_a_forced_tool() {
    let req: ChatRequest = serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "city info", "schema": {"type": "object"}}}}))
    .unwrap();
    let enc = encode_request(&req, "up", None).unwrap();
    assert_eq!(enc.json_tool.as_deref(), Some("city_info"));
    let body = serde_json::to_value(&enc.body).unwrap();
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "city_info"})
    );
    let resp: MessagesResponse =
        serde_json::from_value(json!({"id": "m1", "model": "c", "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "t", "name": "city_info", "input": {"a": 1}}],
        "usage": {"input_tokens": 1, "output_tokens": 2}}))
        .unwrap();
    let (r, _) = decode_response(resp, enc.json_tool.as_deref(), 0);
    assert_eq!(r.choices[0].message.text_content(), r#"{"a":1}"#);
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    assert!(r.choices[0].message.tool_calls.is_none());
}

#[test]
fn decodes_text_response_with_cache_usage() {
    let resp: MessagesResponse = serde_json::from_str(fixture!("response_text.json")).unwrap();
    let (r, u) = decode_response(resp, None, 1);
    let m = &r.choices[0].message;
    assert_eq!(m.text_content(), "Hello! How can I help?");
    assert_eq!(m.reasoning_content.as_deref(), Some("Let me think."));
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    let want = Usage {
        input: 12,
        cache_read: 2000,
        cache_write_5m: 60,
        cache_write_1h: 40,
        output: 9,
        reasoning: 0,
        ..Usage::default()
    };
    assert_eq!(u, want);
    let w = r.usage.unwrap();
    assert_eq!((w.prompt_tokens, w.completion_tokens), (2112, 9));
    assert_eq!(w.prompt_tokens_details.unwrap().cached_tokens, Some(2000));
}

#[test]
fn decodes_tool_response() {
    let resp: MessagesResponse = serde_json::from_str(fixture!("response_tools.json")).unwrap();
    let (r, u) = decode_response(resp, None, 1);
    let calls = r.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].name()),
        ("toolu_01", "get_weather")
    );
    assert_eq!(
        serde_json::from_str::<Value>(calls[1].input()).unwrap(),
        json!({"tz": "Europe/Paris"})
    );
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!((u.input, u.output), (300, 80));
}

#[test]
fn decodes_text_stream() {
    let a = assemble(&run(fixture!("stream_text.sse"), 4096, None));
    assert_eq!(a.text, "Hello, world ✓");
    assert_eq!(a.reasoning, "Hmm, ");
    assert_eq!(a.finish, Some(FinishReason::Stop));
    let u = a.usage.unwrap();
    assert_eq!((u.input, u.cache_read, u.output), (25, 1024, 15));
    assert!(a.done && a.error.is_none());
}

#[test]
fn decodes_parallel_tool_stream() {
    let a = assemble(&run(fixture!("stream_tools.sse"), 4096, None));
    assert_eq!(a.text, "Checking.");
    assert_eq!(a.calls.len(), 2);
    assert_eq!(a.calls[0].0, "toolu_A");
    assert_eq!(
        serde_json::from_str::<Value>(&a.calls[0].2).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        (a.calls[1].1.as_str(), a.calls[1].2.as_str()),
        ("get_time", r#"{"tz":"UTC"}"#)
    );
    assert_eq!(a.finish, Some(FinishReason::ToolCalls));
    assert!(a.done);
}

#[test]
fn error_event_and_cut_are_errors() {
    let a = assemble(&run(fixture!("stream_error.sse"), 4096, None));
    assert_eq!(
        (a.text.as_str(), a.error, a.done),
        ("Hi", Some(ErrorClass::Overloaded), false)
    );
    let raw = fixture!("stream_text.sse");
    let cut = &raw[..raw.find("event: message_delta").unwrap()];
    let a = assemble(&run(cut, 4096, None));
    assert_eq!((a.error, a.done), (Some(ErrorClass::StreamCut), false));
}

proptest! {
    #[test]
    fn decoding_is_independent_of_chunking(size in 1usize..200, which in 0usize..3) {
        let raw = [fixture!("stream_text.sse"), fixture!("stream_tools.sse"), fixture!("stream_error.sse")][which];
        prop_assert_eq!(assemble(&run(raw, size, None)), assemble(&run(raw, usize::MAX, None)));
    }
}

/// A canonical request on the subset the Anthropic Messages API expresses exactly: system
/// text, alternating user/assistant text turns, an assistant tool call answered by a tool
/// result, tool definitions, stop sequences, temperature and max_tokens.
fn canonical_request() -> impl Strategy<Value = ChatRequest> {
    use switchyard_types::{FunctionDef, Message, Role, Stop, Tool, ToolCall};
    let word = "[a-z]{1,8}( [a-z]{1,8}){0,4}";
    (
        proptest::option::of(word),
        proptest::collection::vec(word, 1..4),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec("[A-Z]{2,5}", 1..3)),
        proptest::option::of(0u32..=20),
        1u32..8192,
    )
        .prop_map(|(system, turns, with_tool, stop, temp, max)| {
            let mut messages = Vec::new();
            if let Some(s) = system {
                messages.push(Message::text(Role::System, s));
            }
            if with_tool {
                messages.push(Message::text(Role::User, "weather in paris?"));
                let mut call = Message::text(Role::Assistant, "");
                call.content = None;
                call.tool_calls = Some(vec![ToolCall::function(
                    "toolu_1".into(),
                    "get_weather".into(),
                    r#"{"city":"paris"}"#.into(),
                )]);
                messages.push(call);
                let mut result = Message::text(Role::Tool, "18C");
                result.tool_call_id = Some("toolu_1".into());
                messages.push(result);
                messages.push(Message::text(Role::Assistant, "it is 18C"));
            }
            for (i, t) in turns.iter().enumerate() {
                let role = if i % 2 == 0 { Role::User } else { Role::Assistant };
                messages.push(Message::text(role, t.clone()));
            }
            if messages.last().is_some_and(|m| m.role == Role::Assistant) {
                messages.push(Message::text(Role::User, "thanks"));
            }
            ChatRequest {
                model: "claude-x".into(),
                messages,
                tools: with_tool.then(|| {
                    vec![Tool {
                        kind: "function".into(),
                        function: Some(FunctionDef {
                            name: "get_weather".into(),
                            description: Some("Weather for a city".into()),
                            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
                            strict: None,
                        }),
                        extra: Default::default(),
                    }]
                }),
                stop: stop.map(Stop::Many),
                temperature: temp.map(|t| f64::from(t) / 10.0),
                max_tokens: Some(max),
                ..ChatRequest::default()
            }
        })
}

proptest! {
    /// canonical → Anthropic wire (what the adapter sends) → canonical (what the ingress reads)
    /// is the identity on the subset Anthropic expresses.
    #[test]
    fn canonical_to_wire_to_canonical_is_the_identity(req in canonical_request()) {
        let wire = serde_json::to_vec(&encode_request(&req, "claude-x", None).unwrap().body).unwrap();
        let back = super::ingress::parse_request(&wire).unwrap();
        let view = |r: &ChatRequest| {
            let msgs: Vec<_> = r
                .messages
                .iter()
                .map(|m| (m.role, m.text_content(), m.tool_calls.clone(), m.tool_call_id.clone()))
                .collect();
            let stop = r.stop.as_ref().map(switchyard_types::Stop::to_vec);
            (msgs, r.tools.clone(), stop, r.temperature, r.max_output(), r.model.clone())
        };
        prop_assert_eq!(view(&back), view(&req));
    }
}

/// A custom (free-form) tool has no Anthropic form: the request is unsupported here (another
/// candidate may serve it), naming the tool.
#[test]
fn custom_tools_cannot_be_translated() {
    let req: ChatRequest = serde_json::from_value(json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "custom", "custom": {"name": "code_exec"}}]
    }))
    .unwrap();
    let e = encode_request(&req, "up", None).unwrap_err();
    assert_eq!(e.class, crate::ErrorClass::Unsupported);
    assert!(e.message.contains("`code_exec`"), "{}", e.message);
}

/// A custom tool's call in the conversation, or a `custom` / `allowed_tools` tool choice, has
/// no Anthropic form either: unsupported, never a silently different request.
#[test]
fn custom_calls_and_choices_cannot_be_translated() {
    let fn_tool = json!({"type": "function", "function": {"name": "f"}});
    let bodies = [
        json!({"model": "m", "tools": [fn_tool], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "custom",
                "custom": {"name": "grep", "input": "x"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "y"}]}),
        json!({"model": "m", "tools": [fn_tool], "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": {"type": "allowed_tools",
                "allowed_tools": {"mode": "auto", "tools": [fn_tool]}}}),
    ];
    for body in bodies {
        let req: ChatRequest = serde_json::from_value(body).unwrap();
        let e = encode_request(&req, "up", None).unwrap_err();
        assert_eq!(e.class, crate::ErrorClass::Unsupported, "{}", e.message);
        let e = crate::bedrock::convert::encode_request(&req, None).unwrap_err();
        assert_eq!(e.class, crate::ErrorClass::Unsupported, "{}", e.message);
        let e = crate::gemini::convert::to_wire(&req).unwrap_err();
        assert_eq!(e.class, crate::ErrorClass::Unsupported, "{}", e.message);
    }
}

#[test]
fn a_system_message_inside_messages_is_kept_in_place() {
    // As Claude Code sends it (the `mid-conversation-system` beta), with `?beta=true`.
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "system": "You are terse.",
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": [{"type": "text", "text": "The user is on a phone."}]},
        {"role": "user", "content": "and now?"}
    ]});
    let req = super::ingress::parse_request(&serde_json::to_vec(&body).unwrap()).unwrap();
    let roles: Vec<(switchyard_types::Role, String)> = req
        .messages
        .iter()
        .map(|m| (m.role, m.text_content()))
        .collect();
    use switchyard_types::Role::*;
    assert_eq!(
        roles,
        [
            (System, "You are terse.".to_owned()),
            (User, "hi".to_owned()),
            (Assistant, "hello".to_owned()),
            (System, "The user is on a phone.".to_owned()),
            (User, "and now?".to_owned()),
        ]
    );
    // To an Anthropic upstream: in place with the client's beta (passed on with the request),
    // else joined to the system prompt.
    let wire = |req: &switchyard_types::ChatRequest| {
        let enc = super::convert::encode_request(req, "up", None).unwrap();
        serde_json::to_value(&enc.body).unwrap()
    };
    let moved = wire(&req);
    assert_eq!(moved["system"], "You are terse.\n\nThe user is on a phone.");
    assert_eq!(moved["messages"].as_array().unwrap().len(), 3, "{moved}");
    let mut with_beta = req.clone();
    with_beta.native.get_or_insert_with(Default::default).betas =
        vec!["mid-conversation-system-2026-04-07".to_owned()];
    let kept = wire(&with_beta);
    assert_eq!(kept["system"], "You are terse.");
    let roles: Vec<&str> = kept["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "system", "user"], "{kept}");
    let bad =
        json!({"model": "m", "max_tokens": 8, "messages": [{"role": "tool", "content": "x"}]});
    let e = super::ingress::parse_request(&serde_json::to_vec(&bad).unwrap()).unwrap_err();
    assert!(e.contains("'user', 'assistant' or 'system'"), "{e}");
}

#[test]
fn an_anthropic_clients_thinking_is_a_reasoning_effort_for_other_apis() {
    use crate::anthropic::{convert, ingress};
    let effort = |extra: serde_json::Value| {
        let mut body = json!({"model": "m", "max_tokens": 32000,
            "messages": [{"role": "user", "content": "Hi"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let req = ingress::parse_request(body.to_string().as_bytes()).unwrap();
        // An Anthropic upstream gets the client's own fields, never the derived effort.
        let wire =
            serde_json::to_value(convert::encode_request(&req, "up", None).unwrap().body).unwrap();
        assert!(wire.get("reasoning_effort").is_none(), "{wire}");
        assert_eq!(wire.get("thinking"), extra.get("thinking"), "{wire}");
        req.extra.get("reasoning_effort").cloned()
    };
    let enabled = |b: u32| json!({"thinking": {"type": "enabled", "budget_tokens": b}});
    assert_eq!(effort(enabled(1024)), Some(json!("low")));
    assert_eq!(effort(enabled(10_000)), Some(json!("medium")));
    assert_eq!(effort(enabled(30_000)), Some(json!("high")));
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}})),
        Some(json!("medium"))
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}})),
        Some(json!("high"))
    );
    assert_eq!(effort(json!({"thinking": {"type": "disabled"}})), None);
    assert_eq!(effort(json!({})), None);
}

#[test]
fn native_fields_and_signed_thinking_go_only_to_an_anthropic_upstream() {
    use crate::anthropic::{convert, ingress};
    let body = serde_json::json!({
        "model": "m", "max_tokens": 100, "top_k": 5,
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"},
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "thinking", "thinking": "unsigned", "signature": ""},
                {"type": "text", "text": "Hello"}]},
            {"role": "user", "content": "Again"}]
    });
    let req = ingress::parse_request(body.to_string().as_bytes()).unwrap();
    let native = req.native.as_ref().unwrap();
    assert_eq!(native.fields["thinking"]["type"], "adaptive");
    assert_eq!(native.fields["top_k"], 5);
    assert_eq!(
        req.messages[1].thinking.len(),
        1,
        "the unsigned block is left out"
    );
    // The canonical (OpenAI) JSON carries none of it.
    let canonical = serde_json::to_string(&req).unwrap();
    assert!(!canonical.contains("adaptive") && !canonical.contains("\"t\""));
    // An Anthropic upstream gets all of it, the signed block first in its turn.
    let enc = convert::encode_request(&req, "claude", None).unwrap();
    let wire = serde_json::to_value(&enc.body).unwrap();
    assert_eq!(wire["thinking"]["type"], "adaptive");
    assert_eq!(wire["output_config"]["effort"], "low");
    assert_eq!(wire["messages"][1]["content"][0]["type"], "thinking");
    assert_eq!(wire["messages"][1]["content"][0]["signature"], "s");
}

#[test]
fn reasoning_effort_from_other_apis_becomes_a_thinking_budget_where_allowed() {
    use crate::anthropic::convert;
    let mut req: switchyard_types::ChatRequest = serde_json::from_value(serde_json::json!({
        "model": "m", "max_completion_tokens": 30000, "temperature": 0.2,
        "reasoning_effort": "high",
        "messages": [{"role": "user", "content": "Prove it."}]}))
    .unwrap();
    let wire =
        serde_json::to_value(convert::encode_request(&req, "claude", None).unwrap().body).unwrap();
    assert_eq!(
        wire["thinking"],
        serde_json::json!({"type": "enabled", "budget_tokens": 24576})
    );
    assert!(
        wire.get("temperature").is_none(),
        "thinking allows no temperature"
    );
    req.max_completion_tokens = Some(500);
    let wire =
        serde_json::to_value(convert::encode_request(&req, "claude", None).unwrap().body).unwrap();
    assert!(wire.get("thinking").is_none(), "below the minimum budget");
    req.max_completion_tokens = Some(30000);
    req.response_format = Some(switchyard_types::ResponseFormat::JsonObject);
    let wire =
        serde_json::to_value(convert::encode_request(&req, "claude", None).unwrap().body).unwrap();
    assert!(wire.get("thinking").is_none(), "JSON mode forces a tool");
}
