//! Wire-format tests: the simulator must look exactly like OpenAI Chat Completions.

mod common;

use common::*;
use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

#[tokio::test]
async fn non_stream_shape_and_usage() {
    let sim = sim().await;
    let (status, v) = post_json(&sim, &chat("sim-cheap", "Hello there")).await;
    assert_eq!(status, 200);
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "sim-cheap");
    assert_eq!(v["system_fingerprint"], "fp_sim");
    let c = &v["choices"][0];
    assert_eq!(c["index"], 0);
    assert_eq!(c["message"]["role"], "assistant");
    assert_eq!(c["message"]["refusal"], Value::Null);
    assert_eq!(c["message"]["annotations"], json!([]));
    assert!(c["message"].get("tool_calls").is_none());
    assert_eq!(c["logprobs"], Value::Null);
    assert_eq!(c["finish_reason"], "stop");
    let text = c["message"]["content"].as_str().unwrap();
    let u = &v["usage"];
    assert_eq!(u["completion_tokens"], text.split_whitespace().count());
    // "Hello there" = 11 chars → 3 tokens + 3 per message.
    assert_eq!(u["prompt_tokens"], 6);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[tokio::test]
async fn records_requests_and_counts_calls() {
    let sim = sim().await;
    post_json(&sim, &chat("sim-cheap", "one")).await;
    post_json(&sim, &chat("sim-cheap", "two")).await;
    post_json(&sim, &chat("other-model", "three")).await;
    assert_eq!(sim.calls("sim-cheap"), 2);
    assert_eq!(sim.calls("other-model"), 1);
    assert_eq!(sim.calls("never"), 0);
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[2].model, "other-model");
    assert_eq!(reqs[1].body["messages"][0]["content"], "two");
    assert!(reqs[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer sk-test"));
}

#[tokio::test]
async fn recording_can_be_disabled() {
    let cfg = SimConfig {
        record: false,
        ..SimConfig::instant()
    };
    let sim = Sim::start(cfg).await.unwrap();
    post_json(&sim, &chat("sim-cheap", "one")).await;
    assert!(sim.requests().is_empty());
    assert_eq!(sim.calls("sim-cheap"), 1);
}

/// Issue 17: the simulator recorded by default and bounded its record by count only (1,000
/// large bodies took RSS from 164 MB to 1 GB in the embedded demo). Now recording is off unless
/// asked for, and bounded by bytes as well.
#[tokio::test]
async fn recording_is_off_by_default_and_bounded_by_bytes() {
    assert!(!SimConfig::from_toml("").unwrap().record);
    assert!(!SimConfig::demo().record);
    let cfg = SimConfig {
        record_max_bytes: 20_000,
        ..SimConfig::instant()
    };
    let sim = Sim::start(cfg).await.unwrap();
    let big = "x".repeat(2_000);
    for _ in 0..30 {
        post_json(&sim, &chat("sim-cheap", &big)).await;
    }
    let kept = sim.requests();
    assert!(!kept.is_empty() && kept.len() <= 10, "{}", kept.len());
    assert_eq!(sim.calls("sim-cheap"), 30);
}

#[tokio::test]
async fn deterministic_answers() {
    let sim = sim().await;
    let content = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = content(post_json(&sim, &chat("sim-cheap", "same")).await.1);
    let b = content(post_json(&sim, &chat("sim-cheap", "same")).await.1);
    assert_eq!(a, b);
    // A second simulator gives the same answer too.
    let other = common::sim().await;
    assert_eq!(
        a,
        content(post_json(&other, &chat("sim-cheap", "same")).await.1)
    );
    let mut seeded = chat("sim-cheap", "same");
    seeded["seed"] = json!(7);
    assert_ne!(a, content(post_json(&sim, &seeded).await.1));
    assert_ne!(
        a,
        content(post_json(&sim, &chat("sim-premium", "same")).await.1)
    );
}

#[tokio::test]
async fn n_max_tokens_and_stop() {
    let sim = sim().await;
    let mut body = chat("sim-premium", "Tell me a story");
    body["n"] = json!(3);
    let (_, v) = post_json(&sim, &body).await;
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    let words: usize = choices
        .iter()
        .map(|c| {
            c["message"]["content"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .count()
        })
        .sum();
    assert_eq!(v["usage"]["completion_tokens"], words);

    let mut body = chat("sim-premium", "Tell me a story");
    body["max_completion_tokens"] = json!(5);
    let (_, v) = post_json(&sim, &body).await;
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    let five = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(five.split_whitespace().count(), 5);

    let fourth = five.split_whitespace().nth(3).unwrap();
    let mut body = chat("sim-premium", "Tell me a story");
    body["stop"] = json!([format!(" {fourth}")]);
    let (_, v) = post_json(&sim, &body).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        five.starts_with(text) && text.split_whitespace().count() <= 3,
        "{text}"
    );
    assert_eq!(
        v["usage"]["completion_tokens"],
        text.split_whitespace().count()
    );
}

#[tokio::test]
async fn stream_shape() {
    let sim = sim().await;
    let data = stream(&sim, chat("sim-cheap", "Hello")).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let first = &chunks[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["model"], "sim-cheap");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(first["choices"][0]["delta"]["content"], "");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(chunks.iter().all(|c| c["id"] == first["id"]));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"], json!({}));
    // One chunk per token, and the same text as the non-streaming answer.
    let (_, v) = post_json(&sim, &chat("sim-cheap", "Hello")).await;
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(streamed_text(&data), text);
    assert_eq!(chunks.len(), 2 + text.split_whitespace().count());
}

#[tokio::test]
async fn stream_include_usage() {
    let sim = sim().await;
    let mut body = chat("sim-cheap", "Hello");
    body["stream_options"] = json!({"include_usage": true});
    let data = stream(&sim, body).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert!(rest
        .iter()
        .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    assert_eq!(usage_chunk["choices"], json!([]));
    let (_, v) = post_json(&sim, &chat("sim-cheap", "Hello")).await;
    assert_eq!(usage_chunk["usage"], v["usage"]);
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {
            "type": "object", "properties": {"tz": {"type": "string"}}}}}
    ])
}

#[tokio::test]
async fn tool_calls() {
    let sim = sim().await;
    let mut body = chat("sim-cheap", "What's the weather in Paris?");
    body["tools"] = weather_tools();
    let (_, v) = post_json(&sim, &body).await;
    let c = &v["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert_eq!(c["message"]["content"], Value::Null);
    let calls = c["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string());
    assert_eq!(args["days"], 42);
    assert_eq!(args["unit"], "celsius");

    // Named choice.
    body["tool_choice"] = json!({"type": "function", "function": {"name": "get_time"}});
    let (_, v) = post_json(&sim, &body).await;
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_time"
    );

    // tool_choice none → text.
    body["tool_choice"] = json!("none");
    let (_, v) = post_json(&sim, &body).await;
    assert!(v["choices"][0]["message"]["content"].is_string());
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn parallel_tool_calls() {
    let sim = sim().await;
    let mut body = chat("sim-cheap", "Do both in parallel please");
    body["tools"] = weather_tools();
    let (_, v) = post_json(&sim, &body).await;
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1]["function"]["name"], "get_time");
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    body["parallel_tool_calls"] = json!(false);
    let (_, v) = post_json(&sim, &body).await;
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn streamed_tool_calls_match_non_streamed() {
    let sim = sim().await;
    let mut body = chat("sim-cheap", "Weather and time, in parallel");
    body["tools"] = weather_tools();
    let (_, v) = post_json(&sim, &body).await;
    let want = v["choices"][0]["message"]["tool_calls"].clone();
    let data = stream(&sim, body).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut fragments = 0;
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if let Some(id) = tc["id"].as_str() {
                assert_eq!(i, calls.len());
                assert_eq!(tc["type"], "function");
                assert_eq!(tc["function"]["arguments"], "");
                calls.push((
                    id.into(),
                    tc["function"]["name"].as_str().unwrap().into(),
                    String::new(),
                ));
            } else {
                fragments += 1;
                calls[i]
                    .2
                    .push_str(tc["function"]["arguments"].as_str().unwrap());
            }
        }
    }
    assert!(fragments > 2, "arguments are split into several fragments");
    assert_eq!(calls.len(), 2);
    for (i, (id, name, args)) in calls.iter().enumerate() {
        assert_eq!(want[i]["id"], *id);
        assert_eq!(want[i]["function"]["name"], *name);
        assert_eq!(want[i]["function"]["arguments"], *args);
    }
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn tool_results_are_mentioned() {
    let sim = sim().await;
    let body = json!({"model": "sim-cheap", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}
    ]});
    let (_, v) = post_json(&sim, &body).await;
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        text.starts_with("Based on the tool result: 18C and sunny"),
        "{text}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"]["completion_tokens"],
        text.split_whitespace().count()
    );
}

#[tokio::test]
async fn json_modes() {
    let sim = sim().await;
    let mut body = chat("sim-cheap", "Answer in JSON");
    body["response_format"] = json!({"type": "json_object"});
    let (_, v) = post_json(&sim, &body).await;
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content["answer"].is_string());

    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
        "ok": {"type": "boolean"}}, "required": ["name", "age", "ok"]}}});
    let (_, v) = post_json(&sim, &body).await;
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content["name"].is_string());
    assert_eq!(content["age"], 42);
    assert_eq!(content["ok"], true);
    // Streamed JSON reassembles to the same document.
    let data = stream(&sim, body).await;
    let streamed: Value = serde_json::from_str(&streamed_text(&data)).unwrap();
    assert_eq!(streamed, content);
}

#[tokio::test]
async fn validation_errors() {
    let sim = sim().await;
    let r = client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some());

    for (body, param) in [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            Value::Null,
        ),
        (json!({"model": "sim-cheap"}), json!("messages")),
        (
            json!({"model": "sim-cheap", "messages": []}),
            json!("messages"),
        ),
        (
            json!({"model": "sim-cheap", "messages": [{"role": "robot", "content": "x"}]}),
            json!("messages[0].role"),
        ),
    ] {
        let (status, v) = post_json(&sim, &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].is_string());
        assert_eq!(v["error"]["param"], param);
    }
}

#[tokio::test]
async fn models_health_and_404() {
    let sim = sim().await;
    let root = format!("http://{}", sim.addr());
    let v: Value = client()
        .get(format!("{}/models", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sim-cheap", "sim-premium"]);
    assert_eq!(v["data"][0]["object"], "model");
    let r = client()
        .get(format!("{root}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .get(format!("{root}/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn prompt_caching() {
    let sim = sim().await;
    let system = "You are a helpful assistant. ".repeat(200); // ~5600 chars → ~1400 tokens
    let body = |q: &str| {
        json!({"model": "sim-cheap", "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": q}]})
    };
    let (_, first) = post_json(&sim, &body("first question")).await;
    assert!(first["usage"]["prompt_tokens"].as_u64().unwrap() >= 1024);
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let (_, second) = post_json(&sim, &body("second question")).await;
    let cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(cached >= 1024 && cached % 128 == 0, "{cached}");
    assert!(cached <= second["usage"]["prompt_tokens"].as_u64().unwrap());
    // Short prompts are never cached.
    post_json(&sim, &chat("sim-cheap", "short")).await;
    let (_, v) = post_json(&sim, &chat("sim-cheap", "short")).await;
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

#[tokio::test]
async fn context_window() {
    let cfg = SimConfig::from_toml("[[models]]\nname = \"tiny\"\nmax_context = 100\n").unwrap();
    let sim = Sim::start(cfg).await.unwrap();
    let (status, _) = post_json(&sim, &chat("tiny", "short")).await;
    assert_eq!(status, 200);
    let mut body = chat("tiny", &"word ".repeat(100));
    body["max_tokens"] = json!(10);
    let (status, v) = post_json(&sim, &body).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("maximum context length is 100"));
}

#[tokio::test]
async fn stream_with_several_choices() {
    let sim = sim().await;
    let mut body = chat("sim-cheap", "Hello");
    body["n"] = json!(2);
    let data = stream(&sim, body).await;
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    for i in 0..2 {
        let mine: Vec<&Value> = chunks
            .iter()
            .filter(|c| c["choices"][0]["index"] == i)
            .collect();
        assert_eq!(mine[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(mine.last().unwrap()["choices"][0]["finish_reason"], "stop");
    }
}

#[tokio::test]
async fn stream_is_paced_not_buffered() {
    use futures::StreamExt;
    let sim = sim().await;
    let mut body = chat("sim-len-5-tps-20", "Hello");
    body["stream"] = json!(true);
    let t = std::time::Instant::now();
    let r = post(&sim, &body).await;
    let mut s = r.bytes_stream();
    s.next().await.unwrap().unwrap();
    let first = t.elapsed();
    while let Some(b) = s.next().await {
        b.unwrap();
    }
    let total = t.elapsed();
    assert!(first < std::time::Duration::from_millis(100), "{first:?}");
    assert!(total >= std::time::Duration::from_millis(200), "{total:?}");
}
