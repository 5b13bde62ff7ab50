//! Golden wire tests (fixtures in `tests/fixtures/bedrock/`) and properties of the stream
//! decoder.

use futures::{executor::block_on, StreamExt};
use proptest::prelude::*;
use serde_json::{json, Value};
use switchyard_types::{ChatRequest, FinishReason, Usage};

use super::convert::{decode_response, encode_request, usage};
use super::eventstream::{encode_event, encode_exception};
use super::stream::{decode, Options};
use super::wire::{ConverseResponse, TokenUsage};
use super::{encode_path_segment, region_from_url};
use crate::{ErrorClass, ProviderError, StreamItem};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bedrock/",
            $name
        ))
    };
}

#[test]
fn encodes_the_full_request() {
    let req: ChatRequest = serde_json::from_str(fixture!("request_full.canonical.json")).unwrap();
    let got = serde_json::to_value(encode_request(&req, None).unwrap().body).unwrap();
    let want: Value = serde_json::from_str(fixture!("request_full.wire.json")).unwrap();
    assert_eq!(got, want);
}

#[test]
fn tool_choice_variants() {
    let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]});
    let enc = |choice: Value| {
        let mut r = base.clone();
        if !choice.is_null() {
            r["tool_choice"] = choice;
        }
        let req: ChatRequest = serde_json::from_value(r).unwrap();
        serde_json::to_value(encode_request(&req, None).unwrap().body).unwrap()
    };
    assert_eq!(enc(Value::Null)["toolConfig"]["toolChoice"], Value::Null);
    assert_eq!(
        enc(json!("auto"))["toolConfig"]["toolChoice"],
        json!({"auto": {}})
    );
    assert_eq!(
        enc(json!({"type": "function", "function": {"name": "f"}}))["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "f"}})
    );
    assert_eq!(enc(json!("none")).get("toolConfig"), None);
    // A schema-less tool still gets an object schema.
    assert_eq!(
        enc(Value::Null)["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"],
        "object"
    );
}

#[test]
fn rejects_what_converse_cannot_take() {
    let url_image: ChatRequest =
        serde_json::from_value(json!({"model": "m", "messages": [{"role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}))
        .unwrap();
    assert_eq!(
        encode_request(&url_image, None).unwrap_err().class,
        ErrorClass::BadRequest
    );
    let bad_args: ChatRequest = serde_json::from_value(json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "f", "arguments": "{nope"}}]}]}))
    .unwrap();
    assert_eq!(
        encode_request(&bad_args, None).unwrap_err().class,
        ErrorClass::BadRequest
    );
}

#[test]
fn json_mode_is_a_forced_tool_or_an_instruction() {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let req: ChatRequest = serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather report", "schema": schema}}}))
    .unwrap();
    let enc = encode_request(&req, None).unwrap();
    assert_eq!(enc.json_tool.as_deref(), Some("weather_report"));
    let tc = serde_json::to_value(&enc.body.tool_config).unwrap();
    assert_eq!(
        tc["toolChoice"],
        json!({"tool": {"name": "weather_report"}})
    );
    assert_eq!(tc["tools"][0]["toolSpec"]["inputSchema"]["json"], schema);
    // The forced tool's call comes back as text with finish `stop`.
    let wire: ConverseResponse = serde_json::from_value(json!({"output": {"message": {"role": "assistant",
        "content": [{"toolUse": {"toolUseId": "t", "name": "weather_report", "input": {"city": "Oslo"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}))
    .unwrap();
    let (resp, _) = decode_response(wire, Some("weather_report"), "id".into(), "m", 0);
    assert_eq!(resp.choices[0].message.text_content(), r#"{"city":"Oslo"}"#);
    assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::Stop));
    assert!(resp.choices[0].message.tool_calls.is_none());
    // With client tools, the schema becomes a system instruction.
    let mut with_tools = serde_json::to_value(&req).unwrap();
    with_tools["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
    let req: ChatRequest = serde_json::from_value(with_tools).unwrap();
    let enc = encode_request(&req, None).unwrap();
    assert!(enc.json_tool.is_none());
    assert!(serde_json::to_string(&enc.body.system)
        .unwrap()
        .contains("JSON schema"));
}

#[test]
fn cache_control_becomes_a_cache_point() {
    let req: ChatRequest = serde_json::from_value(json!({"model": "m", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}]}))
    .unwrap();
    let v = serde_json::to_value(encode_request(&req, None).unwrap().body).unwrap();
    assert_eq!(
        v["system"],
        json!([{"text": "long"}, {"cachePoint": {"type": "default"}}])
    );
    assert_eq!(
        v["messages"][0]["content"],
        json!([{"text": "q"}, {"cachePoint": {"type": "default"}}])
    );
}

#[test]
fn decodes_tool_response_and_cache_usage() {
    let wire: ConverseResponse = serde_json::from_str(fixture!("response_tools.json")).unwrap();
    let (resp, u) = decode_response(wire, None, "chatcmpl-1".into(), "anthropic.claude", 5);
    let msg = &resp.choices[0].message;
    assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(msg.text_content(), "Checking both.");
    assert_eq!(msg.reasoning_content.as_deref(), Some("Two cities."));
    let calls = msg.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[1].id.as_str(), calls[1].input()),
        ("tooluse_b", r#"{"city":"Rome"}"#)
    );
    assert_eq!(
        u,
        Usage {
            input: 120,
            cache_read: 2000,
            cache_write_5m: 100,
            cache_write_1h: 200,
            output: 40,
            reasoning: 0,
            ..Usage::default()
        }
    );
    let w = resp.usage.unwrap();
    assert_eq!((w.prompt_tokens, w.completion_tokens), (2420, 40));
}

#[test]
fn decodes_text_response() {
    let wire: ConverseResponse = serde_json::from_str(fixture!("response_text.json")).unwrap();
    let (resp, u) = decode_response(wire, None, "id".into(), "m", 0);
    assert_eq!(resp.choices[0].message.text_content(), "Hello there.");
    assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::Length));
    assert_eq!((u.input, u.output, u.total_input()), (12, 3, 12));
}

#[test]
fn cache_writes_without_details_default_to_5m() {
    let u = usage(&TokenUsage {
        input_tokens: 5,
        cache_write_input_tokens: Some(50),
        ..TokenUsage::default()
    });
    assert_eq!(
        (u.cache_write_5m, u.cache_write_1h, u.total_input()),
        (50, 0, 55)
    );
}

#[test]
fn finish_reasons() {
    let f = |s| super::convert::finish_reason(s, false);
    assert_eq!(f("end_turn"), FinishReason::Stop);
    assert_eq!(f("stop_sequence"), FinishReason::Stop);
    assert_eq!(f("max_tokens"), FinishReason::Length);
    assert_eq!(f("tool_use"), FinishReason::ToolCalls);
    assert_eq!(
        super::convert::finish_reason("tool_use", true),
        FinishReason::Stop
    );
    assert_eq!(f("guardrail_intervened"), FinishReason::ContentFilter);
    assert_eq!(f("content_filtered"), FinishReason::ContentFilter);
}

#[test]
fn model_ids_and_regions() {
    assert_eq!(
        encode_path_segment("anthropic.claude-3-haiku-20240307-v1:0"),
        "anthropic.claude-3-haiku-20240307-v1%3A0"
    );
    assert_eq!(
        encode_path_segment("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"),
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x"
    );
    assert_eq!(
        region_from_url("https://bedrock-runtime.eu-west-3.amazonaws.com"),
        Some("eu-west-3".into())
    );
    assert_eq!(
        region_from_url("https://bedrock-runtime-fips.us-east-1.amazonaws.com/"),
        Some("us-east-1".into())
    );
    assert_eq!(region_from_url("http://127.0.0.1:9000"), None);
}

/// A realistic ConverseStream body: text, a reasoning delta, two tool calls, stop, metadata.
fn stream_body() -> Vec<u8> {
    let events: Vec<(&str, Value)> = vec![
        ("messageStart", json!({"role": "assistant", "p": "abcd"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Checking"}, "p": "xy"}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": " now."}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        (
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "weather"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 1})),
        (
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t2", "name": "time"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{}"}}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 2})),
        ("messageStop", json!({"stopReason": "tool_use"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 30, "outputTokens": 9, "totalTokens": 39,
            "cacheReadInputTokens": 4}, "metrics": {"latencyMs": 5}}),
        ),
    ];
    events
        .iter()
        .flat_map(|(t, v)| encode_event(t, v.to_string().as_bytes()).to_vec())
        .collect()
}

fn run(raw: &[u8], cut: impl Fn(usize) -> usize) -> Vec<Result<StreamItem, ProviderError>> {
    let mut parts = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < raw.len() {
        let end = (at + cut(i).max(1)).min(raw.len());
        parts.push(Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(
            &raw[at..end],
        )));
        at = end;
        i += 1;
    }
    let opts = Options {
        id: "chatcmpl-x".into(),
        model: "m".into(),
        created: 1,
        json_tool: None,
    };
    block_on(decode(futures::stream::iter(parts), opts).collect())
}

#[test]
fn json_tool_streams_as_content() {
    let mut body = encode_event("messageStart", br#"{"role":"assistant"}"#).to_vec();
    for (t, v) in [
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"t","name":"json_response"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"a\":"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"1}"}}}"#,
        ),
        ("messageStop", r#"{"stopReason":"tool_use"}"#),
    ] {
        body.extend_from_slice(&encode_event(t, v.as_bytes()));
    }
    let parts = vec![Ok::<_, std::io::Error>(bytes::Bytes::from(body))];
    let opts = Options {
        json_tool: Some("json_response".into()),
        ..Options::default()
    };
    let a = assemble(&block_on(
        decode(futures::stream::iter(parts), opts).collect::<Vec<_>>(),
    ));
    assert_eq!(
        (a.text.as_str(), a.finish, a.calls.len()),
        (r#"{"a":1}"#, Some(FinishReason::Stop), 0)
    );
    assert!(a.done);
}

#[derive(Debug, Default, PartialEq)]
struct Assembled {
    role: bool,
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
                a.usage = u.or(a.usage);
                for ch in &c.choices {
                    a.role |= ch.delta.role.is_some();
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
                    a.finish = ch.finish_reason.clone().or(a.finish.take());
                }
            }
            Ok(StreamItem::Done) => a.done = true,
            Err(e) => a.error = Some(e.class),
        }
    }
    a
}

#[test]
fn decodes_a_full_stream() {
    let a = assemble(&run(&stream_body(), |_| usize::MAX));
    assert!(a.role && a.done && a.error.is_none());
    assert_eq!(a.text, "Checking now.");
    assert_eq!(a.reasoning, "hmm");
    assert_eq!(
        a.calls,
        vec![
            ("t1".into(), "weather".into(), r#"{"city":"Paris"}"#.into()),
            ("t2".into(), "time".into(), "{}".into())
        ]
    );
    assert_eq!(a.finish, Some(FinishReason::ToolCalls));
    let u = a.usage.unwrap();
    assert_eq!((u.input, u.cache_read, u.output), (30, 4, 9));
}

#[test]
fn cut_stream_is_stream_cut() {
    let body = stream_body();
    let a = assemble(&run(&body[..body.len() / 2], |_| 13));
    assert_eq!(a.error, Some(ErrorClass::StreamCut));
    assert!(!a.done);
}

#[test]
fn corrupt_frame_is_malformed() {
    let mut body = stream_body();
    body[40] ^= 0xFF;
    let a = assemble(&run(&body, |_| 64));
    assert_eq!(a.error, Some(ErrorClass::Malformed));
}

#[test]
fn exceptions_are_classified() {
    for (kind, class) in [
        ("throttlingException", ErrorClass::RateLimited),
        ("serviceUnavailableException", ErrorClass::Overloaded),
        ("modelStreamErrorException", ErrorClass::StreamCut),
        ("internalServerException", ErrorClass::Server),
        ("validationException", ErrorClass::BadRequest),
    ] {
        let mut body = encode_event("messageStart", br#"{"role":"assistant"}"#).to_vec();
        body.extend_from_slice(&encode_exception(kind, br#"{"message":"boom"}"#));
        let items = run(&body, |_| 7);
        let err = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!((err.class, err.message.as_str()), (class, "boom"), "{kind}");
    }
    let body = encode_exception(
        "validationException",
        br#"{"message":"Input is too long for requested model."}"#,
    );
    let a = assemble(&run(&body, |_| 100));
    assert_eq!(a.error, Some(ErrorClass::ContextLength));
}

#[test]
fn stop_without_metadata_still_completes() {
    let mut body = encode_event("messageStart", br#"{"role":"assistant"}"#).to_vec();
    body.extend_from_slice(&encode_event(
        "contentBlockDelta",
        br#"{"contentBlockIndex":0,"delta":{"text":"hi"}}"#,
    ));
    body.extend_from_slice(&encode_event(
        "messageStop",
        br#"{"stopReason":"end_turn"}"#,
    ));
    let a = assemble(&run(&body, |_| 5));
    assert!(a.done && a.error.is_none());
    assert_eq!(
        (a.text.as_str(), a.finish),
        ("hi", Some(FinishReason::Stop))
    );
}

proptest! {
    #[test]
    fn stream_decoding_is_independent_of_chunking(cuts in proptest::collection::vec(1usize..97, 1..64)) {
        let body = stream_body();
        let whole = assemble(&run(&body, |_| usize::MAX));
        let pieces = assemble(&run(&body, |i| cuts[i % cuts.len()]));
        prop_assert_eq!(whole, pieces);
    }
}
