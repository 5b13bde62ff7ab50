//! The simulator's Gemini, embeddings and Azure endpoints over HTTP.

#![allow(clippy::expect_used, reason = "test helpers outside #[test] functions")]

use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

async fn post(url: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn generate_content_and_strict_validation() {
    let sim = Sim::start(SimConfig::instant()).await.expect("sim");
    let url = format!(
        "http://{}/v1beta/models/gemini-x:generateContent",
        sim.addr()
    );
    let (s, v) = post(
        &url,
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert!(v["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(v["usageMetadata"]["thoughtsTokenCount"], 0);
    for bad in [
        json!({"contents": []}),
        json!({"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}),
        json!({"contents": [{"role": "system", "parts": [{"text": "hi"}]}]}),
        json!({"contents": [{"role": "user", "parts": []}]}),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                            {"role": "model", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
               "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "additionalProperties": false}}]}]}),
    ] {
        let (s, v) = post(&url, bad.clone()).await;
        assert_eq!(s, 400, "{bad} → {v}");
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    }
    let (s, v) = post(
        &format!(
            "http://{}/v1beta/models/sim-503:generateContent",
            sim.addr()
        ),
        json!({"contents": [{"parts": [{"text": "hi"}]}]}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["status"].as_str()),
        (503, Some("UNAVAILABLE"))
    );
}

#[tokio::test]
async fn stream_generate_content_is_sse() {
    let sim = Sim::start(SimConfig::instant()).await.expect("sim");
    let url = format!(
        "http://{}/v1beta/models/sim-len-5:streamGenerateContent?alt=sse",
        sim.addr()
    );
    let text = reqwest::Client::new()
        .post(&url)
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let events: Vec<Value> = text
        .split("\r\n\r\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("JSON event"))
        .collect();
    assert_eq!(events.len(), 6, "{text}");
    assert_eq!(events[5]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(events[5]["usageMetadata"]["candidatesTokenCount"], 5);
}

#[tokio::test]
async fn embeddings_openai_gemini_azure() {
    let sim = Sim::start(SimConfig::instant()).await.expect("sim");
    let (s, v) = post(
        &format!("http://{}/v1/embeddings", sim.addr()),
        json!({"model": "emb", "input": ["a", "bb"], "dimensions": 8}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["data"][1]["embedding"].as_array().map(Vec::len), Some(8));
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    let (s, v) = post(&format!("http://{}/v1beta/models/text-embedding-004:batchEmbedContents", sim.addr()),
        json!({"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}}]})).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["embeddings"][0]["values"].as_array().map(Vec::len),
        Some(768)
    );
    let az = format!(
        "http://{}/openai/deployments/emb/embeddings?api-version=2024-10-21",
        sim.addr()
    );
    let r = reqwest::Client::new()
        .post(&az)
        .header("api-key", "k")
        .json(&json!({"input": "a"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .post(&az)
        .json(&json!({"input": "a"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
}
