//! Failover that never lies: one test per simulator fault, gateway and simulator over TCP.
//!
//! Each test routes a faulty deployment first and a healthy one second, then checks who
//! answered, how many attempts it took, and that a broken stream is either completed or ends
//! with an explicit error event — never as a clean, truncated answer.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::{sync::Arc, time::Duration};

use serde_json::{json, Value};
use switchyard_server::{app, config, Gateway, GatewayHandle};
use switchyard_sim::{Sim, SimConfig};

struct Env {
    sim: Sim,
    base: String,
    _gw: GatewayHandle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A gateway whose providers `a` and `b` both point at one simulator; `body` adds models,
/// routes and anything else.
async fn start(body: &str) -> Env {
    start_with(SimConfig::instant(), body).await
}

async fn start_with(sim_cfg: SimConfig, body: &str) -> Env {
    let sim = Sim::start(sim_cfg).await.unwrap();
    let url = sim.base_url();
    let toml = format!(
        r#"
        [ledger]
        enabled = false
        [[providers]]
        name = "a"
        kind = "openai-compatible"
        base_url = "{url}"
        timeouts = {{ first_token = "400ms", idle = "400ms", response = "400ms", total = "10s" }}
        [[providers]]
        name = "b"
        kind = "openai-compatible"
        base_url = "{url}"
        {body}
        "#
    );
    let cfg = config::parse(&toml).unwrap();
    let gw = Gateway::start(cfg, None, Arc::new(|_: &str| None))
        .await
        .unwrap();
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app::serve(listener, gw.clone(), async {
        let _ = rx.await;
    }));
    Env {
        sim,
        base,
        _gw: gw,
        _stop: tx,
    }
}

/// A route `r` trying `primary` (upstream `faulty` at provider a) then `backup` (sim-cheap at b).
fn pair(faulty: &str, backup_caps: &str) -> String {
    format!(
        r#"
        [[models]]
        name = "primary"
        provider = "a"
        upstream = "{faulty}"
        [[models]]
        name = "backup"
        provider = "b"
        upstream = "sim-cheap"
        {backup_caps}
        [[routes]]
        name = "r"
        candidates = ["primary", "backup"]
        "#
    )
}

struct Answer {
    status: u16,
    model: String,
    attempts: u32,
    body: String,
}

async fn ask(env: &Env, model: &str, stream: bool) -> Answer {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", env.base))
        .json(&json!({
            "model": model,
            "stream": stream,
            "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
            "messages": [{"role": "user", "content": "Tell me about failover."}],
        }))
        .send()
        .await
        .unwrap();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (model, attempts) = (
        h("x-switchyard-model"),
        h("x-switchyard-attempts").parse().unwrap_or(0),
    );
    let status = resp.status().as_u16();
    Answer {
        status,
        model,
        attempts,
        body: resp.text().await.unwrap(),
    }
}

/// The SSE data payloads of a stream body.
fn events(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// A stream that ended cleanly: `[DONE]` last, a finish reason, no error event.
fn assert_complete(body: &str) {
    let ev = events(body);
    assert_eq!(ev.last().map(String::as_str), Some("[DONE]"), "{body}");
    assert!(!ev.iter().any(|e| e.contains("\"error\"")), "{body}");
    assert!(
        ev.iter().any(|e| e.contains("\"finish_reason\":\"")),
        "{body}"
    );
}

/// A stream that failed honestly: an error event last, no `[DONE]`, no finish reason.
fn assert_explicit_error(body: &str, code: &str) {
    let ev = events(body);
    let last = ev.last().expect("some events");
    assert!(last.contains("\"error\"") && last.contains(code), "{body}");
    assert!(!ev.iter().any(|e| e == "[DONE]"), "{body}");
    assert!(
        !ev.iter().any(|e| e.contains("\"finish_reason\":\"stop\"")),
        "{body}"
    );
}

#[tokio::test]
async fn rate_limited_once_with_retry_after_is_retried_on_the_same_deployment() {
    let env = start(&pair("sim-429-once", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!(
        (a.status, a.model.as_str(), a.attempts),
        (200, "primary", 2)
    );
    assert_eq!(env.sim.calls("sim-cheap"), 0);
}

#[tokio::test]
async fn persistent_rate_limit_without_retry_after_moves_on() {
    let env = start(&pair("sim-429noretry", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 2));
}

#[tokio::test]
async fn server_error_once_is_retried_once() {
    let env = start(&pair("sim-500-once", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!(
        (a.status, a.model.as_str(), a.attempts),
        (200, "primary", 2)
    );
}

#[tokio::test]
async fn persistent_503_falls_over_without_retrying() {
    let env = start(&pair("sim-503", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 2));
    assert_eq!(env.sim.calls("sim-503"), 1);
}

#[tokio::test]
async fn connection_reset_is_retried_once_then_falls_over() {
    let env = start(&pair("sim-reset", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 3));
}

#[tokio::test]
async fn silent_provider_is_abandoned_at_the_timeout_and_not_retried() {
    let env = start(&pair("sim-silent", "")).await;
    let started = std::time::Instant::now();
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 2));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_first_token_falls_over_invisibly() {
    let env = start(&pair("sim-slow-3000", "")).await;
    let a = ask(&env, "r", true).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 2));
    assert_complete(&a.body);
}

#[tokio::test]
async fn stream_cut_is_completed_by_a_fallback_that_can_continue() {
    let env = start(&pair("sim-cut-5", "capabilities = { prefill = true }")).await;
    let a = ask(&env, "r", true).await;
    assert_eq!(a.status, 200);
    assert_complete(&a.body);
    let ids: std::collections::HashSet<String> = events(&a.body)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "the continuation presents itself as the same message"
    );
    assert_eq!(env.sim.calls("sim-cheap"), 1);
}

#[tokio::test]
async fn stream_cut_without_a_continuing_fallback_ends_with_the_real_error() {
    let env = start(&pair("sim-cut-5", "")).await;
    let a = ask(&env, "r", true).await;
    assert_eq!((a.status, a.model.as_str()), (200, "primary"));
    assert_explicit_error(&a.body, "stream_cut");
}

#[tokio::test]
async fn stalled_stream_ends_with_an_explicit_error_at_the_idle_timeout() {
    let env = start(&pair("sim-stall-3", "")).await;
    let started = std::time::Instant::now();
    let a = ask(&env, "r", true).await;
    assert_explicit_error(&a.body, "idle_timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn stalled_stream_is_completed_when_a_fallback_can_continue() {
    let env = start(&pair("sim-stall-3", "capabilities = { prefill = true }")).await;
    let a = ask(&env, "r", true).await;
    assert_complete(&a.body);
}

#[tokio::test]
async fn malformed_chunk_is_skipped() {
    let env = start(&pair("sim-malformed-3", "")).await;
    let a = ask(&env, "r", true).await;
    assert_eq!(
        (a.status, a.model.as_str(), a.attempts),
        (200, "primary", 1)
    );
    assert_complete(&a.body);
}

#[tokio::test]
async fn stream_without_done_is_finalised_promptly_with_usage() {
    let env = start(&pair("sim-nodone", "")).await;
    let started = std::time::Instant::now();
    let a = ask(&env, "r", true).await;
    assert_complete(&a.body);
    assert!(
        events(&a.body).iter().any(|e| e.contains("\"usage\":{")),
        "{}",
        a.body
    );
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "finalised before the idle timeout"
    );
}

#[tokio::test]
async fn context_length_moves_to_a_larger_context_candidate() {
    let env = start(
        r#"
        [[models]]
        name = "small"
        provider = "a"
        upstream = "sim-ctx"
        context_window = 8000
        [[models]]
        name = "same-size"
        provider = "b"
        upstream = "sim-premium"
        context_window = 8000
        [[models]]
        name = "large"
        provider = "b"
        upstream = "sim-cheap"
        context_window = 128000
        [[routes]]
        name = "r"
        candidates = ["small", "same-size", "large"]
        "#,
    )
    .await;
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "large", 2));
    assert_eq!(
        env.sim.calls("sim-premium"),
        0,
        "a candidate no larger is skipped"
    );
}

#[tokio::test]
async fn content_policy_rejection_is_returned_with_the_providers_reason() {
    let env = start(&pair("sim-policy", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.attempts), (400, 1));
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["error"]["code"], "content_policy_violation", "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(env.sim.calls("sim-cheap"), 0);
}

#[tokio::test]
async fn quota_error_takes_the_provider_key_out_of_rotation() {
    let env = start(&pair("sim-quota", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 2));
    let b = ask(&env, "r", false).await;
    assert_eq!(
        (b.model.as_str(), b.attempts),
        ("backup", 1),
        "the exhausted key is not tried again"
    );
    assert_eq!(env.sim.calls("sim-quota"), 1);
}

#[tokio::test]
async fn primary_down_for_a_window_is_served_by_the_fallback_then_gets_its_traffic_back() {
    let mut sim = SimConfig::instant();
    sim.models.push(
        toml::from_str::<switchyard_sim::ModelConfig>(
            "name = \"flaky\"\noutage = { first = \"600ms\" }",
        )
        .unwrap(),
    );
    let env = start_with(sim, &pair("flaky", "")).await;
    let mut during = Vec::new();
    for _ in 0..8 {
        during.push(ask(&env, "r", false).await);
    }
    assert!(during
        .iter()
        .all(|a| a.status == 200 && a.model == "backup"));
    assert!(
        during.iter().filter(|a| a.attempts > 1).count() <= 5,
        "the circuit opens after 5 failures"
    );
    let health: Value = reqwest::get(format!("{}/admin/health", env.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["deployments"][0]["circuit"], "open", "{health}");
    tokio::time::sleep(Duration::from_millis(3100)).await; // the circuit's longest cooldown
    let after = ask(&env, "r", false).await;
    assert_eq!(
        (after.status, after.model.as_str(), after.attempts),
        (200, "primary", 1)
    );
    let health: Value = reqwest::get(format!("{}/admin/health", env.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["deployments"][0]["circuit"], "closed");
}

#[tokio::test]
async fn failed_attempts_are_recorded_and_cost_nothing() {
    let dir = std::env::temp_dir().join(format!("sy-faults-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("ledger.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let toml = format!(
        r#"
        [ledger]
        url = "{url}"
        flush_interval = "10ms"
        [[providers]]
        name = "a"
        kind = "sim"
        base_url = "{}"
        {}
        "#,
        sim.base_url(),
        pair("sim-503", "").replace("provider = \"b\"", "provider = \"a\"")
    );
    let gw = Gateway::start(
        config::parse(&toml).unwrap(),
        None,
        Arc::new(|_: &str| None),
    )
    .await
    .unwrap();
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, gw.clone(), async {
        let _ = rx.await;
    }));
    let env = Env {
        sim,
        base,
        _gw: gw.clone(),
        _stop: tokio::sync::oneshot::channel().0,
    };
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 2));
    let _ = tx.send(());
    server.await.unwrap().unwrap();
    gw.shutdown().await;
    let rows = switchyard_store::query_rows(&url, None, None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(r.attempts[0].error_class.as_deref(), Some("overloaded"));
    assert_eq!(
        r.attempts[0].cost_nanos,
        Some(0),
        "a failed attempt that used no tokens costs exactly 0"
    );
    assert!(!r.attempts[0].billed);
    assert_eq!(
        r.cost_nanos, r.attempts[1].cost_nanos,
        "the request costs what its attempts cost"
    );
    assert!(r.cost_nanos.unwrap() > 0);
    assert_eq!(r.model.as_deref(), Some("backup"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn hedged_route_answers_from_the_second_candidate_when_the_first_is_slow() {
    let env = start(
        r#"
        [[models]]
        name = "slow"
        provider = "a"
        upstream = "sim-slow-1500"
        [[models]]
        name = "fast"
        provider = "b"
        upstream = "sim-cheap"
        [[routes]]
        name = "r"
        candidates = ["slow", "fast"]
        hedge = { after = "100ms" }
        timeouts = { first_token = "5s", response = "5s", total = "10s" }
        "#,
    )
    .await;
    let started = std::time::Instant::now();
    for stream in [false, true] {
        let a = ask(&env, "r", stream).await;
        assert_eq!(
            (a.status, a.model.as_str(), a.attempts),
            (200, "fast", 2),
            "stream={stream}"
        );
        if stream {
            assert_complete(&a.body);
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    let health: Value = reqwest::get(format!("{}/admin/health", env.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["deployments"][0]["circuit"], "closed",
        "losing a hedge is not a failure"
    );
}

#[tokio::test]
async fn non_streamed_answer_cut_mid_body_is_retried_then_falls_over() {
    let env = start(&pair("sim-cut-5", "")).await;
    let a = ask(&env, "r", false).await;
    assert_eq!((a.status, a.model.as_str(), a.attempts), (200, "backup", 3));
}

#[tokio::test]
async fn when_every_circuit_is_open_the_gateway_tries_anyway_rather_than_fail_for_certain() {
    let mut sim = SimConfig::instant();
    sim.models.push(
        toml::from_str::<switchyard_sim::ModelConfig>(
            "name = \"flaky\"\noutage = { first = \"300ms\" }",
        )
        .unwrap(),
    );
    let env = start_with(
        sim,
        r#"
        [[models]]
        name = "only"
        provider = "a"
        upstream = "flaky"
        [[routes]]
        name = "r"
        candidates = ["only"]
        "#,
    )
    .await;
    for _ in 0..6 {
        assert_eq!(ask(&env, "r", false).await.status, 502);
    }
    let health: Value = reqwest::get(format!("{}/admin/health", env.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["deployments"][0]["circuit"], "open", "{health}");
    tokio::time::sleep(Duration::from_millis(350)).await; // the outage is over, the cooldown is not
    let a = ask(&env, "r", false).await;
    assert_eq!(
        (a.status, a.model.as_str(), a.attempts),
        (200, "only", 1),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn past_max_in_flight_requests_are_shed_at_once_and_health_stays_up() {
    let env = Arc::new(
        start(
            r#"
            [[models]]
            name = "slow"
            provider = "a"
            upstream = "sim-slow-300"
            [server]
            max_in_flight = 1
            "#,
        )
        .await,
    );
    let first = {
        let env = env.clone();
        tokio::spawn(async move { ask(&env, "slow", false).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let shed = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", env.base))
        .json(&json!({"model": "slow", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_overloaded", "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "shed at once, not queued"
    );
    assert_eq!(
        reqwest::get(format!("{}/healthz", env.base))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(first.await.unwrap().status, 200);
}
