//! The OpenAI Responses API (`POST /v1/responses`) over HTTP: shapes, tools, provider-bound
//! reasoning state, streaming events and faults.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::time::Duration;

use common::{client, sim};
use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_sim::{reasoning_encrypted_content, Sim};

async fn send(sim: &Sim, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/responses", sim.base_url()))
        .header("authorization", "Bearer sk-test")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn respond(sim: &Sim, body: &Value) -> (u16, Value) {
    let r = send(sim, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The events of a stream that completes: (the `event:` name, the data object).
async fn events(sim: &Sim, mut body: Value) -> Vec<(String, Value)> {
    body["stream"] = json!(true);
    let r = send(sim, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    parse_events(&r.text().await.unwrap())
}

fn parse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_string();
            let data = data.strip_prefix("data: ").unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect()
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "input": text})
}

fn output_text(v: &Value) -> String {
    let msg = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "message")
        .unwrap();
    msg["content"][0]["text"].as_str().unwrap().to_string()
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "name": "get_weather", "description": "Weather", "strict": true,
         "parameters": {"type": "object", "properties": {"city": {"type": "string"},
            "days": {"type": "integer"}}, "required": ["city", "days"]}},
        {"type": "function", "name": "get_time",
         "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}
    ])
}

fn with_reasoning(mut body: Value, include: bool) -> Value {
    body["reasoning"] = json!({"effort": "low", "summary": "auto"});
    if include {
        body["include"] = json!(["reasoning.encrypted_content"]);
    }
    body
}

#[tokio::test]
async fn plain_answer_shape_and_usage() {
    let sim = sim().await;
    let r = send(&sim, &ask("sim-cheap", "Hello there")).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with("resp_") && id.len() > 20, "{id}");
    assert_eq!(request_id, format!("req_{}", &id[5..]));
    assert_eq!(v["object"], "response");
    assert!(v["created_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(v["model"], "sim-cheap");
    assert_eq!(v["service_tier"], "default");
    assert_eq!(v["store"], true);
    assert_eq!(v["tools"], json!([]));
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["parallel_tool_calls"], true);
    assert_eq!(v["text"]["format"], json!({"type": "text"}));
    assert_eq!(v["reasoning"], json!({"effort": null, "summary": null}));
    let output = v["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    let msg = &output[0];
    assert_eq!(msg["type"], "message");
    assert!(msg["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(msg["status"], "completed");
    assert_eq!(msg["role"], "assistant");
    let part = &msg["content"][0];
    assert_eq!(part["type"], "output_text");
    assert_eq!(part["annotations"], json!([]));
    assert_eq!(part["logprobs"], json!([]));
    let words = part["text"].as_str().unwrap().split_whitespace().count();
    let u = &v["usage"];
    // "Hello there" = 11 chars → 3 tokens + 3 per message.
    assert_eq!(u["input_tokens"], 6);
    assert_eq!(u["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["output_tokens"], words);
    assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(u["total_tokens"], 6 + words);
    assert_eq!(sim.requests()[0].path, "/v1/responses");
}

#[tokio::test]
async fn answers_are_deterministic_and_served_without_v1() {
    let sim = sim().await;
    let body = json!({"model": "sim-cheap", "instructions": "Be brief.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]});
    let a = output_text(&respond(&sim, &body).await.1);
    let r = client()
        .post(format!("http://{}/responses", sim.addr()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(a, output_text(&r.json().await.unwrap()));
    let mut other = body.clone();
    other["instructions"] = json!("Be thorough.");
    assert_ne!(a, output_text(&respond(&sim, &other).await.1));
}

#[tokio::test]
async fn tool_calls_and_tool_results() {
    let sim = sim().await;
    let mut body = ask("sim-cheap", "What's the weather in Paris?");
    body["tools"] = weather_tools();
    let (s, v) = respond(&sim, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tools"], weather_tools());
    let call = &v["output"][0];
    assert_eq!(v["output"].as_array().unwrap().len(), 1);
    assert_eq!(call["type"], "function_call");
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    assert!(call["call_id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["status"], "completed");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["days"], 42);

    body["tool_choice"] = json!({"type": "function", "name": "get_time"});
    assert_eq!(
        respond(&sim, &body).await.1["output"][0]["name"],
        "get_time"
    );
    body["tool_choice"] = json!("none");
    assert_eq!(respond(&sim, &body).await.1["output"][0]["type"], "message");

    // The call and its output sent back: the answer uses the result.
    let turn = json!({"model": "sim-cheap", "tools": weather_tools(), "input": [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": "{\"city\":\"Paris\",\"days\":1}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C and sunny"}]});
    let (s, v) = respond(&sim, &turn).await;
    assert_eq!(s, 200, "{v}");
    let text = output_text(&v);
    assert!(
        text.starts_with("Based on the tool result: 18C and sunny"),
        "{text}"
    );
}

#[tokio::test]
async fn requests_openai_refuses_are_refused() {
    let sim = sim().await;
    let cases = [
        (
            json!({"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]}),
            "input[0].type",
            json!("invalid_value"),
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function",
                "function": {"name": "f", "parameters": {}}}]}),
            "tools[0].name",
            json!("missing_required_parameter"),
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
            Value::Null,
        ),
        (
            json!({"model": "m", "input": [{"role": "assistant",
                "content": [{"type": "input_text", "text": "x"}]}]}),
            "input[0].content[0]",
            json!("invalid_value"),
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output",
                "call_id": "call_9", "output": "x"}]}),
            "input",
            Value::Null,
        ),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema",
                "json_schema": {"name": "x", "schema": {}}}}}),
            "text.format.name",
            json!("missing_required_parameter"),
        ),
        (
            json!({"model": "m", "input": "x", "max_output_tokens": 5}),
            "max_output_tokens",
            json!("integer_below_min_value"),
        ),
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
            json!("previous_response_not_found"),
        ),
    ];
    for (body, param, code) in cases {
        let (s, v) = respond(&sim, &body).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(v["error"]["param"], param, "{body}: {v}");
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
    }
    let unknown = json!({"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]});
    let (_, v) = respond(&sim, &unknown).await;
    assert_eq!(
        v["error"]["message"],
        "Invalid value: 'web_search_call'. Supported values are: 'message', 'function_call', \
         'function_call_output', and 'reasoning'."
    );
}

#[tokio::test]
async fn reasoning_item_without_and_with_encrypted_content() {
    let sim = sim().await;
    let (_, v) = respond(
        &sim,
        &with_reasoning(ask("sim-cheap", "Why is the sky blue?"), false),
    )
    .await;
    assert_eq!(v["reasoning"], json!({"effort": "low", "summary": "auto"}));
    let output = v["output"].as_array().unwrap();
    assert_eq!(output.len(), 2);
    let rs = &output[0];
    assert_eq!(rs["type"], "reasoning");
    assert!(rs["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(rs["summary"][0]["type"], "summary_text");
    let summary = rs["summary"][0]["text"].as_str().unwrap();
    assert!(summary.starts_with("**"), "{summary}");
    assert!(rs.get("encrypted_content").is_none());
    let words = output_text(&v).split_whitespace().count() as u64;
    let reasoning = v["usage"]["output_tokens_details"]["reasoning_tokens"]
        .as_u64()
        .unwrap();
    assert!(reasoning > 16, "{reasoning}");
    assert_eq!(v["usage"]["output_tokens"], words + reasoning);

    let (_, v) = respond(
        &sim,
        &with_reasoning(ask("sim-cheap", "Why is the sky blue?"), true),
    )
    .await;
    let rs = &v["output"][0];
    let summary = rs["summary"][0]["text"].as_str().unwrap();
    assert_eq!(
        rs["encrypted_content"],
        reasoning_encrypted_content("sim-cheap", summary)
    );
    // effort "none" asks for no reasoning.
    let mut none = ask("sim-cheap", "x");
    none["reasoning"] = json!({"effort": "none"});
    assert_eq!(respond(&sim, &none).await.1["output"][0]["type"], "message");
}

/// The whole first turn's output (reasoning, message) sent back as the next turn's history.
fn second_turn(model: &str, first: &Value) -> Value {
    let mut input = vec![json!({"role": "user", "content": "Why is the sky blue?"})];
    input.extend(first["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"role": "user", "content": "And at sunset?"}));
    with_reasoning(
        json!({"model": model, "store": false, "input": input}),
        true,
    )
}

#[tokio::test]
async fn encrypted_reasoning_is_bound_to_the_model() {
    let sim = sim().await;
    let first = with_reasoning(ask("sim-cheap", "Why is the sky blue?"), true);
    let (_, first) = respond(&sim, &first).await;
    let (s, v) = respond(&sim, &second_turn("sim-cheap", &first)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["store"], false);

    let rs_id = first["output"][0]["id"].as_str().unwrap().to_string();
    let refused = json!({"error": {
        "message": format!("The encrypted content for item {rs_id} could not be verified."),
        "type": "invalid_request_error", "param": null, "code": "invalid_encrypted_content"}});
    // Another model (a failover target) cannot read it.
    assert_eq!(
        respond(&sim, &second_turn("sim-premium", &first)).await,
        (400, refused.clone())
    );
    // Nor can anyone forge or edit it.
    let mut forged = first.clone();
    forged["output"][0]["encrypted_content"] = json!("gAAAAABforged");
    assert_eq!(
        respond(&sim, &second_turn("sim-cheap", &forged)).await,
        (400, refused.clone())
    );
    let valid = reasoning_encrypted_content("sim-cheap", "a different summary");
    forged["output"][0]["encrypted_content"] = json!(valid.replacen("sim-enc.", "sim-enc.0", 1));
    assert_eq!(
        respond(&sim, &second_turn("sim-cheap", &forged)).await,
        (400, refused)
    );
    forged["output"][0]["encrypted_content"] = json!(valid);
    assert_eq!(
        respond(&sim, &second_turn("sim-cheap", &forged)).await.0,
        200
    );
}

#[tokio::test]
async fn a_reasoning_item_without_encrypted_content_is_not_found() {
    let sim = sim().await;
    let body = json!({"model": "sim-cheap", "input": [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_abc", "summary": [{"type": "summary_text", "text": "x"}]},
        {"role": "user", "content": "again"}]});
    let (s, v) = respond(&sim, &body).await;
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"error": {
            "message": "Item with id 'rs_abc' not found. Items are not persisted when `store` is \
                        set to false. Try again with `store` set to true, or remove this item \
                        from your input.",
            "type": "invalid_request_error", "param": "input", "code": null}})
    );
}

#[tokio::test]
async fn streamed_events_in_order() {
    let sim = sim().await;
    let body = with_reasoning(ask("sim-cheap", "Why is the sky blue?"), true);
    let evs = events(&sim, body.clone()).await;
    for (i, (name, data)) in evs.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i);
    }
    let t = types(&evs);
    let deltas = t
        .iter()
        .filter(|t| **t == "response.output_text.delta")
        .count();
    let summary_deltas = t
        .iter()
        .filter(|t| **t == "response.reasoning_summary_text.delta")
        .count();
    assert!(deltas > 3 && summary_deltas >= 1);
    let mut want = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
    ];
    want.extend(std::iter::repeat_n(
        "response.reasoning_summary_text.delta",
        summary_deltas,
    ));
    want.extend([
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
    ]);
    want.extend(std::iter::repeat_n("response.output_text.delta", deltas));
    want.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(t, want);

    let created = &evs[0].1["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["output"], json!([]));
    assert_eq!(created["usage"], Value::Null);
    assert_eq!(
        evs[2].1["item"],
        json!({"type": "reasoning", "id": evs[2].1["item"]["id"], "summary": []})
    );

    let (_, whole) = respond(&sim, &body).await;
    let streamed: String = evs
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, output_text(&whole));
    let summary: String = evs
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(summary, whole["output"][0]["summary"][0]["text"]);
    let done = &evs.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["usage"], whole["usage"]);
    assert_eq!(
        done["output"][0]["encrypted_content"],
        whole["output"][0]["encrypted_content"]
    );
    assert_eq!(done["output"][1]["content"][0]["text"], streamed.as_str());
}

#[tokio::test]
async fn streamed_function_calls() {
    let sim = sim().await;
    let mut body = ask("sim-cheap", "Weather and time, in parallel");
    body["tools"] = weather_tools();
    let (_, whole) = respond(&sim, &body).await;
    let evs = events(&sim, body).await;
    let t = types(&evs);
    assert_eq!(
        t[..3],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added"
        ]
    );
    assert_eq!(t.last(), Some(&"response.completed"));
    for (o, want) in whole["output"].as_array().unwrap().iter().enumerate() {
        let of = |name: &str| -> Vec<&Value> {
            evs.iter()
                .filter(|(n, d)| n == name && d["output_index"] == o)
                .map(|(_, d)| d)
                .collect()
        };
        let added = of("response.output_item.added");
        assert_eq!(added[0]["item"]["arguments"], "");
        assert_eq!(added[0]["item"]["status"], "in_progress");
        let args: String = of("response.function_call_arguments.delta")
            .iter()
            .map(|d| d["delta"].as_str().unwrap())
            .collect();
        assert_eq!(args, want["arguments"].as_str().unwrap());
        assert_eq!(
            of("response.function_call_arguments.done")[0]["arguments"],
            want["arguments"]
        );
        // The same item but for its id (every response has its own ids).
        let mut done = of("response.output_item.done")[0]["item"].clone();
        assert!(done["id"].as_str().unwrap().starts_with("fc_"));
        done["id"] = want["id"].clone();
        assert_eq!(done, *want);
    }
    assert_eq!(whole["output"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn cut_at_max_output_tokens_is_incomplete() {
    let sim = sim().await;
    let mut body = ask("sim-premium", "Tell me a story");
    body["max_output_tokens"] = json!(16);
    let (_, v) = respond(&sim, &body).await;
    assert_eq!(v["status"], "incomplete");
    assert_eq!(
        v["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(v["max_output_tokens"], 16);
    assert_eq!(v["output"][0]["status"], "incomplete");
    assert_eq!(v["usage"]["output_tokens"], 16);
    assert_eq!(output_text(&v).split_whitespace().count(), 16);
    let evs = events(&sim, body).await;
    let (name, last) = evs.last().unwrap();
    assert_eq!(name, "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );

    // Reasoning spends the cap first.
    let mut body = with_reasoning(ask("sim-premium", "Tell me a story"), false);
    body["max_output_tokens"] = json!(30);
    let (_, v) = respond(&sim, &body).await;
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["usage"]["output_tokens"], 30);
    assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 30);
    let types: Vec<&Value> = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["type"])
        .collect();
    assert_eq!(types, [&json!("reasoning")]);
}

#[tokio::test]
async fn json_schema_format() {
    let sim = sim().await;
    let mut body = ask("sim-cheap", "Answer in JSON");
    let format = json!({"type": "json_schema", "name": "person", "strict": true, "schema": {
        "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"], "additionalProperties": false}});
    body["text"] = json!({"format": format});
    let (_, v) = respond(&sim, &body).await;
    assert_eq!(v["text"]["format"], format);
    let doc: Value = serde_json::from_str(&output_text(&v)).unwrap();
    assert_eq!(doc["age"], 42);
}

#[tokio::test]
async fn status_faults_keep_openai_error_shape() {
    let sim = sim().await;
    let (s, v) = respond(&sim, &ask("sim-500-once", "hi")).await;
    assert_eq!(s, 500);
    assert_eq!(v["error"]["type"], "server_error");
    assert!(v["error"]["message"].is_string());
    assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some());
    assert_eq!(respond(&sim, &ask("sim-500-once", "hi")).await.0, 200);
    let r = send(&sim, &ask("sim-429", "hi")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(sim.calls("sim-500-once"), 2);
}

/// Read a stream until it ends, errors or stalls: (the body, ended cleanly).
async fn read_stream(sim: &Sim, model: &str) -> (String, bool) {
    let mut body = ask(model, "tell me more");
    body["stream"] = json!(true);
    let r = send(sim, &body).await;
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut buf = Vec::new();
    let clean = loop {
        match tokio::time::timeout(Duration::from_millis(500), s.next()).await {
            Ok(None) => break true,
            Err(_) | Ok(Some(Err(_))) => break false,
            Ok(Some(Ok(b))) => buf.extend_from_slice(&b),
        }
    };
    (String::from_utf8(buf).unwrap(), clean)
}

#[tokio::test]
async fn stream_faults() {
    let sim = sim().await;
    let (text, clean) = read_stream(&sim, "sim-nodone").await;
    assert!(clean);
    let evs = parse_events(&text);
    assert_eq!(evs.last().unwrap().0, "response.output_item.done");
    assert!(!text.contains("response.completed"));

    let (text, clean) = read_stream(&sim, "sim-cut-3").await;
    assert!(!clean);
    assert_eq!(text.matches("event: response.output_text.delta").count(), 3);
    assert!(!text.contains("response.completed"));

    let (text, clean) = read_stream(&sim, "sim-malformed-2").await;
    assert!(clean);
    let bad: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.split_once("\ndata: "))
        .map(|(_, d)| d)
        .filter(|d| serde_json::from_str::<Value>(d).is_err())
        .collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(text.contains("response.completed"));
}

#[tokio::test]
async fn prompt_cache_reads_a_repeated_prefix() {
    let sim = sim().await;
    let body = json!({"model": "sim-cheap", "instructions": "word ".repeat(1200), "input": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"role": "user", "content": "and then?"}]});
    let (_, first) = respond(&sim, &body).await;
    assert_eq!(first["usage"]["input_tokens_details"]["cached_tokens"], 0);
    let (_, second) = respond(&sim, &body).await;
    let cached = second["usage"]["input_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    let input = second["usage"]["input_tokens"].as_u64().unwrap();
    assert!(
        cached >= 1024 && cached % 128 == 0 && cached < input,
        "{cached} of {input}"
    );
}
