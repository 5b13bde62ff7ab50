//! Shared helpers for the simulator's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

pub async fn sim() -> Sim {
    Sim::start(SimConfig::instant()).await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

pub fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

pub async fn post(sim: &Sim, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .header("authorization", "Bearer sk-test")
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn post_json(sim: &Sim, body: &Value) -> (u16, Value) {
    let r = post(sim, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|ev| ev.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

/// Stream a request and return its data payloads (the body must complete).
pub async fn stream(sim: &Sim, mut body: Value) -> Vec<String> {
    body["stream"] = json!(true);
    let r = post(sim, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    sse_data(&r.text().await.unwrap())
}

/// Concatenated `delta.content` of chunks for choice 0.
pub fn streamed_text(data: &[String]) -> String {
    data.iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}
