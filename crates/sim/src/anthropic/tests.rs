use serde_json::json;

use super::*;

fn check(body: Value) -> Result<(), String> {
    decode(&body, &http::HeaderMap::new())
        .map(|_| ())
        .map_err(|f| match f {
            Failure::BadRequest { message, .. } => message,
            other => format!("{other:?}"),
        })
}

#[test]
fn strict_validation() {
    let ok =
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    assert!(check(ok).is_ok());
    let no_max = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert!(check(no_max).unwrap_err().contains("max_tokens"));
    let system_role = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]});
    assert!(check(system_role).unwrap_err().contains("role"));
    let first_assistant =
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "assistant", "content": "x"}]});
    assert!(check(first_assistant)
        .unwrap_err()
        .contains("first message"));
    let empty =
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": ""}]});
    assert!(check(empty).unwrap_err().contains("non-empty"));
    let misplaced = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]});
    assert!(check(misplaced)
        .unwrap_err()
        .contains("only allowed in user"));
    let trailing = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "So "}]});
    assert!(check(trailing).unwrap_err().contains("trailing whitespace"));
}

#[test]
fn a_system_message_inside_messages_needs_the_beta_and_a_turn_before_it() {
    let mid = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"},
        {"role": "system", "content": "s"}, {"role": "user", "content": "again"}]});
    assert!(check(mid.clone()).unwrap_err().contains("role"));
    let mut beta = http::HeaderMap::new();
    beta.insert(
        "anthropic-beta",
        http::HeaderValue::from_static(
            "interleaved-thinking-2025-05-14,mid-conversation-system-2026-04-07",
        ),
    );
    assert!(decode(&mid, &beta).is_ok());
    let first = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "s"},
        {"role": "user", "content": "hi"}]});
    assert!(
        decode(&first, &beta).is_err(),
        "the first message is still a user's"
    );
}

#[test]
fn cache_prefix_needs_a_marker_and_length() {
    let long = "word ".repeat(2000);
    let marked = json!({"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}]});
    let call = decode(&marked, &http::HeaderMap::new()).unwrap();
    let (_, tokens) = call.cache.unwrap();
    assert!(tokens >= 2000 && tokens < call.gen.prompt_tokens);
    let unmarked = json!({"model": "m", "max_tokens": 10, "system": long, "messages": [{"role": "user", "content": "hi"}]});
    assert!(decode(&unmarked, &http::HeaderMap::new())
        .unwrap()
        .cache
        .is_none());
}
