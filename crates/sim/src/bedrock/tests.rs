use serde_json::json;

use super::*;

fn check(body: Value) -> Result<(), String> {
    decode("m", &body).map(|_| ()).map_err(|f| match f {
        Failure::BadRequest { message, .. } => message,
        other => format!("{other:?}"),
    })
}

#[test]
fn strict_validation() {
    let user = json!({"role": "user", "content": [{"text": "hi"}]});
    assert!(check(json!({"messages": [user]})).is_ok());
    let system_role = json!({"messages": [{"role": "system", "content": [{"text": "s"}]}, user]});
    assert!(check(system_role).unwrap_err().contains("enum value set"));
    let first_assistant = json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]});
    assert!(check(first_assistant)
        .unwrap_err()
        .contains("start with a user message"));
    let not_alternating = json!({"messages": [user, user]});
    assert!(check(not_alternating).unwrap_err().contains("alternate"));
    let blank = json!({"messages": [{"role": "user", "content": [{"text": " "}]}]});
    assert!(check(blank).unwrap_err().contains("blank"));
    let two_keys = json!({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]});
    assert!(check(two_keys).unwrap_err().contains("exactly one"));
    let result_in_assistant = json!({"toolConfig": {"tools": []}, "messages": [user,
        {"role": "assistant", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "x"}]}}]}]});
    assert!(check(result_in_assistant)
        .unwrap_err()
        .contains("not allowed in a assistant"));
    let use_without_config = json!({"messages": [user,
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]}]});
    assert!(check(use_without_config)
        .unwrap_err()
        .contains("toolConfig"));
    let bad_image = json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]}]});
    assert!(check(bad_image).unwrap_err().contains("image"));
    let zero_max = json!({"messages": [user], "inferenceConfig": {"maxTokens": 0}});
    assert!(check(zero_max).unwrap_err().contains("maxTokens"));
}

#[test]
fn cache_points_define_the_prefix() {
    let long = "policy ".repeat(1000);
    let body = json!({"system": [{"text": long}, {"cachePoint": {"type": "default"}}],
        "messages": [{"role": "user", "content": [{"text": "q"}]}]});
    let call = decode("m", &body).unwrap();
    let (_, prefix) = call.cache.unwrap();
    assert!(prefix >= CACHE_MIN_TOKENS && prefix < call.gen.prompt_tokens);
    let plain = json!({"system": [{"text": long}], "messages": [{"role": "user", "content": [{"text": "q"}]}]});
    assert!(decode("m", &plain).unwrap().cache.is_none());
}

#[test]
fn frames_have_valid_crcs() {
    let f = encode::event("messageStop", json!({"stopReason": "end_turn"}));
    let total = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
    assert_eq!(total, f.len());
    assert_eq!(
        u32::from_be_bytes([f[8], f[9], f[10], f[11]]),
        crc32fast::hash(&f[..8])
    );
    let n = f.len();
    assert_eq!(
        u32::from_be_bytes([f[n - 4], f[n - 3], f[n - 2], f[n - 1]]),
        crc32fast::hash(&f[..n - 4])
    );
}
