//! Unit tests of Responses decoding and the encrypted reasoning content.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use serde_json::json;

use super::*;
use crate::engine::{Format, ToolChoice};
use crate::model::Failure;

fn refusal(body: Value) -> (String, Option<String>, Option<&'static str>) {
    match decode::decode(&body).map(|_| ()) {
        Err(Failure::BadRequest {
            message,
            param,
            code,
        }) => (message, param, code),
        other => panic!("expected a 400, got {:?}", other.err()),
    }
}

#[test]
fn encrypted_content_round_trips_and_binds_the_model() {
    let token = reasoning_encrypted_content("gpt-x", "**Thinking** about ünïcode.");
    assert!(token.starts_with("sim-enc."), "{token}");
    assert!(verify_encrypted_content("gpt-x", &token));
    assert!(!verify_encrypted_content("gpt-y", &token));
    let edited = token.replacen("sim-enc.", "sim-enc.1", 1);
    assert!(!verify_encrypted_content("gpt-x", &edited));
    for junk in [
        "",
        "sim-enc.",
        "sim-enc.zz.zz",
        "sim-enc.00.123",
        "gAAAAABxyz",
    ] {
        assert!(!verify_encrypted_content("gpt-x", junk), "{junk}");
    }
    // Deterministic: the same item gets the same content everywhere.
    assert_eq!(
        token,
        reasoning_encrypted_content("gpt-x", "**Thinking** about ünïcode.")
    );
}

#[test]
fn string_input_is_one_user_message() {
    let body = json!({"model": "m", "input": "12345678", "instructions": "1234"});
    let (call, shape) = decode::decode(&body).unwrap();
    // 8 chars → 2 tokens + 3 for the message, + 1 for the instructions.
    assert_eq!(call.gen.prompt_tokens, 6);
    assert_eq!(call.gen.question.as_deref(), Some("12345678"));
    assert!(shape.reasoning.is_none());
    assert!(call.cache.head.is_some() && call.cache.items.len() == 1);
}

#[test]
fn options_reach_the_engine() {
    let body = json!({"model": "m", "input": [
            {"type": "message", "role": "developer", "content": "be nice"},
            {"role": "user", "content": [{"type": "input_text", "text": "run in parallel"},
                {"type": "input_image", "image_url": "https://x/y.png"}]}],
        "tools": [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}],
        "tool_choice": {"type": "function", "name": "b"},
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "high"}, "max_output_tokens": 100, "stream": true});
    let (call, shape) = decode::decode(&body).unwrap();
    assert!(call.stream && call.gen.parallel);
    assert_eq!(call.gen.tools.len(), 2);
    assert_eq!(call.gen.tool_choice, ToolChoice::Named("b"));
    assert!(matches!(call.gen.format, Format::JsonObject));
    let summary = shape.reasoning.as_deref().unwrap();
    assert!(summary.contains("run in parallel"), "{summary}");
    // The cap covers the reasoning tokens.
    let left = 100 - reasoning_tokens(summary);
    assert_eq!(call.gen.max_tokens, Some(u32::try_from(left).unwrap()));
    assert_eq!(shape.echo.reasoning.effort, Some("high"));
}

#[test]
fn strict_validation() {
    let (message, param, code) =
        refusal(json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}));
    assert_eq!(param.as_deref(), Some("input[0].role"));
    assert_eq!(code, Some("invalid_value"));
    assert!(message.starts_with("Invalid value: 'robot'."), "{message}");
    let (_, param, _) = refusal(
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]}),
    );
    assert_eq!(param.as_deref(), Some("input[0].content[0]"));
    let (_, param, code) = refusal(json!({"input": "x"}));
    assert_eq!(
        (param.as_deref(), code),
        (Some("model"), Some("missing_required_parameter"))
    );
    let (_, param, _) =
        refusal(json!({"model": "m", "input": "x", "reasoning": {"effort": "max"}}));
    assert_eq!(param.as_deref(), Some("reasoning.effort"));
    let (_, param, _) = refusal(json!({"model": "m", "input": "x", "tool_choice": "always"}));
    assert_eq!(param.as_deref(), Some("tool_choice"));
    let (_, param, _) = refusal(
        json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]}),
    );
    assert_eq!(param.as_deref(), Some("input[0].arguments"));
    let (_, param, code) = refusal(
        json!({"model": "m", "input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"}]}),
    );
    assert_eq!((param, code), (None, Some("invalid_encrypted_content")));
}
