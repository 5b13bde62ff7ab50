//! Conversion tests: canonical ⇄ Gemini, no network.

use serde_json::json;
use switchyard_types::{ChatRequest, FinishReason};

use super::convert::{from_wire, to_wire};
use super::wire::GenerateContentResponse;
use crate::ErrorClass;

fn req(v: serde_json::Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

#[test]
fn request_roles_tools_images_and_config() {
    let r = req(json!({
        "model": "gemini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Use metric."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "user", "content": [
                {"type": "text", "text": "and this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?x=1"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\": 21}"},
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "w",
            "parameters": {"type": "object", "additionalProperties": false, "$schema": "x",
                           "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "stop": "END", "n": 2, "seed": 7,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w",
            "schema": {"type": "object", "additionalProperties": false, "properties": {"t": {"type": "number"}}}}}
    }));
    let w = serde_json::to_value(to_wire(&r).unwrap()).unwrap();
    assert_eq!(
        w,
        json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]},
            "contents": [
                {"role": "user", "parts": [
                    {"text": "Weather in Paris?"},
                    {"text": "and this"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
                    {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}}
                ]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_time", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                    {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}}
                ]}
            ],
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "w",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generationConfig": {
                "maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"],
                "candidateCount": 2, "seed": 7, "responseMimeType": "application/json",
                "responseSchema": {"type": "object", "properties": {"t": {"type": "number"}}}
            }
        })
    );
}

#[test]
fn tool_choice_modes_and_json_object() {
    for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
        let r = req(
            json!({"model": "g", "messages": [{"role": "user", "content": "hi"}], "tool_choice": choice,
                           "response_format": {"type": "json_object"}}),
        );
        let w = serde_json::to_value(to_wire(&r).unwrap()).unwrap();
        assert_eq!(w["toolConfig"]["functionCallingConfig"]["mode"], mode);
        assert_eq!(
            w["generationConfig"]["responseMimeType"],
            "application/json"
        );
    }
}

#[test]
fn unknown_tool_call_id_is_a_bad_request() {
    let r = req(json!({"model": "g", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "nope", "content": "x"}
    ]}));
    assert_eq!(to_wire(&r).unwrap_err().class, ErrorClass::BadRequest);
}

fn resp(v: serde_json::Value) -> GenerateContentResponse {
    serde_json::from_value(v).unwrap()
}

#[test]
fn response_text_thoughts_calls_usage() {
    let w = resp(json!({
        "candidates": [
            {"content": {"role": "model", "parts": [
                {"text": "thinking…", "thought": true},
                {"text": "Hello "}, {"text": "world"}
            ]}, "finishReason": "STOP", "index": 0},
            {"content": {"role": "model", "parts": [
                {"functionCall": {"name": "f", "args": {"a": 1}}},
                {"functionCall": {"name": "g"}}
            ]}, "finishReason": "STOP", "index": 1}
        ],
        "usageMetadata": {"promptTokenCount": 100, "cachedContentTokenCount": 60, "candidatesTokenCount": 20,
                          "thoughtsTokenCount": 5, "totalTokenCount": 125},
        "modelVersion": "gemini-2.5-flash", "responseId": "abc"
    }));
    let (r, u) = from_wire(w, "gemini-2.5-flash", 9).unwrap();
    assert_eq!(r.id, "chatcmpl-abc");
    assert_eq!(r.choices[0].message.text_content(), "Hello world");
    assert_eq!(
        r.choices[0].message.reasoning_content.as_deref(),
        Some("thinking…")
    );
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    let calls = r.choices[1].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "call_0");
    assert_eq!(calls[1].id, "call_1");
    assert_eq!(calls[0].input(), r#"{"a":1}"#);
    assert_eq!(calls[1].input(), "{}");
    assert!(r.choices[1].message.content.is_none());
    assert_eq!(r.choices[1].finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        (u.input, u.cache_read, u.output, u.reasoning),
        (40, 60, 25, 5)
    );
    let wu = r.usage.unwrap();
    assert_eq!(
        (wu.prompt_tokens, wu.completion_tokens, wu.total_tokens),
        (100, 25, 125)
    );
}

#[test]
fn finish_reasons_and_blocks() {
    for (g, c) in [
        ("MAX_TOKENS", FinishReason::Length),
        ("SAFETY", FinishReason::ContentFilter),
        ("RECITATION", FinishReason::ContentFilter),
        ("BLOCKLIST", FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
        ("SPII", FinishReason::ContentFilter),
        ("OTHER", FinishReason::Other("other".into())),
    ] {
        let w = resp(
            json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": g}]}),
        );
        assert_eq!(
            from_wire(w, "m", 0).unwrap().0.choices[0].finish_reason,
            Some(c)
        );
    }
    let e = from_wire(
        resp(json!({"promptFeedback": {"blockReason": "SAFETY"}})),
        "m",
        0,
    )
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::ContentPolicy);
    assert!(!e.retryable());
}
