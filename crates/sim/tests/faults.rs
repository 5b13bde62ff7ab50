//! Fault injection: name grammar, config faults, rate limits and outages.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

async fn error_of(sim: &Sim, model: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = post(sim, &chat(model, "hi")).await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

#[tokio::test]
async fn status_faults() {
    let sim = sim().await;
    let (s, h, v) = error_of(&sim, "sim-429").await;
    assert_eq!((s, &h["retry-after"]), (429, &"1".parse().unwrap()));
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["error"]["type"], "requests");
    let (s, h, _) = error_of(&sim, "sim-429noretry").await;
    assert_eq!(s, 429);
    assert!(h.get("retry-after").is_none());
    for (model, status, ty) in [
        ("sim-500", 500, "server_error"),
        ("gpt-4o-mini-503", 503, "server_error"),
        ("sim-529", 529, "overloaded_error"),
        ("sim-quota", 429, "insufficient_quota"),
        ("sim-policy", 400, "invalid_request_error"),
        ("sim-ctx", 400, "invalid_request_error"),
    ] {
        let (s, _, v) = error_of(&sim, model).await;
        assert_eq!(s, status, "{model}");
        assert_eq!(v["error"]["type"], ty, "{model}");
        assert!(v["error"]["message"].is_string());
    }
    assert_eq!(
        error_of(&sim, "sim-quota").await.2["error"]["code"],
        "insufficient_quota"
    );
    assert_eq!(
        error_of(&sim, "sim-policy").await.2["error"]["code"],
        "content_policy_violation"
    );
    assert_eq!(
        error_of(&sim, "sim-ctx").await.2["error"]["code"],
        "context_length_exceeded"
    );
}

#[tokio::test]
async fn once_and_first_n() {
    let sim = sim().await;
    assert_eq!(error_of(&sim, "sim-500-once").await.0, 500);
    assert_eq!(error_of(&sim, "sim-500-once").await.0, 200);
    assert_eq!(error_of(&sim, "sim-429-once").await.0, 429);
    assert_eq!(error_of(&sim, "sim-429-once").await.0, 200);
    let statuses: Vec<u16> = futures::future::join_all((0..4).map(|_| async {
        post(&sim, &chat("sim-503-first-2", "x"))
            .await
            .status()
            .as_u16()
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 2);
    assert_eq!(sim.calls("sim-503-first-2"), 4);
}

#[tokio::test]
async fn probability() {
    let sim = sim().await;
    let mut failed = 0;
    for _ in 0..100 {
        if post(&sim, &chat("sim-500-p30", "x")).await.status() == 500 {
            failed += 1;
        }
    }
    assert!((10..=50).contains(&failed), "{failed}");
}

#[tokio::test]
async fn reset_drops_the_connection() {
    let sim = sim().await;
    let err = post_err(&sim, &chat("sim-reset", "x")).await;
    assert!(!err.is_timeout(), "{err:?}");
    assert!(format!("{err:?}").contains("ConnectionReset"), "{err:?}");
    // The simulator keeps serving.
    assert_eq!(error_of(&sim, "sim-cheap").await.0, 200);
}

async fn post_err(sim: &Sim, body: &Value) -> reqwest::Error {
    client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .timeout(Duration::from_secs(5))
        .json(body)
        .send()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn silent_never_answers() {
    let sim = sim().await;
    let err = client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .timeout(Duration::from_millis(150))
        .json(&chat("sim-silent", "x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    sim.shutdown().await; // closes the held connection
}

#[tokio::test]
async fn slow_len_and_tps() {
    let sim = sim().await;
    let t = Instant::now();
    let (_, v) = post_json(&sim, &chat("sim-slow-120", "x")).await;
    assert!(t.elapsed() >= Duration::from_millis(120));
    assert!(v["choices"][0]["message"]["content"].is_string());

    let (_, v) = post_json(&sim, &chat("sim-len-7", "x")).await;
    assert_eq!(v["usage"]["completion_tokens"], 7);

    // 11 tokens at 100 tok/s: the last one is due 100 ms after the first.
    let t = Instant::now();
    let data = stream(&sim, chat("sim-len-11-tps-100", "x")).await;
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(streamed_text(&data).split_whitespace().count(), 11);
}

/// Read a stream until it ends, errors or stalls; returns (data payloads, ended cleanly).
async fn read_stream(sim: &Sim, model: &str) -> (Vec<String>, Result<(), String>) {
    let mut body = chat(model, "tell me more");
    body["stream"] = json!(true);
    let r = post(sim, &body).await;
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut buf = Vec::new();
    let outcome = loop {
        match tokio::time::timeout(Duration::from_millis(200), s.next()).await {
            Err(_) => break Err("stalled".to_string()),
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(format!("error: {e:?}")),
            Ok(Some(Ok(b))) => buf.extend_from_slice(&b),
        }
    };
    (sse_data(&String::from_utf8(buf).unwrap()), outcome)
}

fn content_chunks(data: &[String]) -> usize {
    data.iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count()
}

#[tokio::test]
async fn cut_stream() {
    let sim = sim().await;
    let (data, outcome) = read_stream(&sim, "sim-cut-3").await;
    assert!(outcome.unwrap_err().starts_with("error"));
    assert_eq!(content_chunks(&data), 3);
    assert!(!data
        .iter()
        .any(|d| d == "[DONE]" || d.contains("finish_reason\":\"stop")));
}

#[tokio::test]
async fn cut_non_stream() {
    let sim = sim().await;
    let r = post(&sim, &chat("sim-cut-3", "x")).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err());
}

#[tokio::test]
async fn stall_stream() {
    let sim = sim().await;
    let (data, outcome) = read_stream(&sim, "sim-stall-2").await;
    assert_eq!(outcome.unwrap_err(), "stalled");
    assert_eq!(content_chunks(&data), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_stream() {
    let sim = sim().await;
    let (data, outcome) = read_stream(&sim, "sim-malformed-2-len-6").await;
    outcome.unwrap();
    let bad: Vec<_> = data
        .iter()
        .enumerate()
        .filter(|(_, d)| *d != "[DONE]" && serde_json::from_str::<Value>(d).is_err())
        .collect();
    assert_eq!(bad.len(), 1);
    // role chunk, 2 tokens, then the broken one.
    assert_eq!(bad[0].0, 3);
    assert_eq!(content_chunks(&data), 6);
    assert_eq!(data.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn nodone_stream() {
    let sim = sim().await;
    let (data, outcome) = read_stream(&sim, "sim-nodone").await;
    outcome.unwrap();
    assert!(!data.iter().any(|d| d == "[DONE]"));
    assert!(data.last().unwrap().contains("\"finish_reason\":\"stop\""));
}

#[tokio::test]
async fn config_faults() {
    let cfg = SimConfig::from_toml(
        r#"
        [[models]]
        name = "flaky"
        fault = "500"
        fault_first = 2
        [[models]]
        name = "sometimes"
        fault = "503"
        fault_rate = 0.0
        "#,
    )
    .unwrap();
    let sim = Sim::start(cfg).await.unwrap();
    assert_eq!(error_of(&sim, "flaky").await.0, 500);
    assert_eq!(error_of(&sim, "flaky").await.0, 500);
    assert_eq!(error_of(&sim, "flaky").await.0, 200);
    assert_eq!(error_of(&sim, "sometimes").await.0, 200);
}

#[tokio::test]
async fn rate_limits() {
    let cfg = SimConfig::from_toml(
        "[[models]]\nname = \"limited\"\nrpm = 2\ntpm = 100000\n[[models]]\nname = \"tokens\"\ntpm = 50\n",
    )
    .unwrap();
    let sim = Sim::start(cfg).await.unwrap();
    let (s, h, _) = error_of(&sim, "limited").await;
    assert_eq!(s, 200);
    assert_eq!(h["x-ratelimit-limit-requests"], "2");
    assert_eq!(h["x-ratelimit-remaining-requests"], "1");
    assert_eq!(h["x-ratelimit-limit-tokens"], "100000");
    assert!(h["x-ratelimit-reset-requests"]
        .to_str()
        .unwrap()
        .ends_with('s'));
    assert!(h.contains_key("x-ratelimit-remaining-tokens"));
    assert!(h.contains_key("x-ratelimit-reset-tokens"));
    assert_eq!(error_of(&sim, "limited").await.0, 200);
    let (s, h, v) = error_of(&sim, "limited").await;
    assert_eq!(s, 429);
    assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["error"]["type"], "requests");
    // The token budget: each request reserves prompt + answer estimate (~4 + 20).
    let (s, _, _) = error_of(&sim, "tokens").await;
    assert_eq!(s, 200);
    let (s, _, _) = error_of(&sim, "tokens").await;
    assert_eq!(s, 200);
    let (s, _, v) = error_of(&sim, "tokens").await;
    assert_eq!(s, 429);
    assert_eq!(v["error"]["type"], "tokens");
    // Unlimited models carry no rate-limit headers.
    let (_, h, _) = error_of(&sim, "sim-cheap").await;
    assert!(h.get("x-ratelimit-limit-requests").is_none());
}

#[tokio::test]
async fn outages() {
    let cfg = SimConfig::from_toml(
        r#"
        [[models]]
        name = "down-first"
        outage = { first = "150ms" }
        [[models]]
        name = "windowed"
        outage = { windows = [["0ms", "150ms"], ["1h", "2h"]] }
        [[models]]
        name = "flapping"
        outage = { period = "1h", down = "150ms" }
        "#,
    )
    .unwrap();
    let sim = Sim::start(cfg).await.unwrap();
    for m in ["down-first", "windowed", "flapping"] {
        let (s, _, v) = error_of(&sim, m).await;
        assert_eq!(s, 503, "{m}");
        assert_eq!(v["error"]["type"], "server_error");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for m in ["down-first", "windowed", "flapping"] {
        assert_eq!(error_of(&sim, m).await.0, 200, "{m}");
    }
}

#[tokio::test]
async fn demo_profile_has_latency() {
    let sim = Sim::start(SimConfig::demo()).await.unwrap();
    let t = Instant::now();
    let (s, v) = post_json(&sim, &chat("sim-premium", "x")).await;
    assert_eq!(s, 200);
    assert!(t.elapsed() >= Duration::from_millis(60));
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 20);
}
