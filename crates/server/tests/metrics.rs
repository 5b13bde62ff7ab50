//! `/metrics` after a known workload: the counters equal what the responses said, request by
//! request (its own test binary: the Prometheus recorder is process-wide).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

/// The value of the series `name{labels}` (labels as rendered, in order), 0 if absent.
fn series(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn counters_equal_what_the_responses_said() {
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let text = format!(
        r#"
        [ledger]
        enabled = false
        [routing]
        default = "auto"
        baseline = "premium"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{}"
        [[models]]
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.15, output = 0.60 }}
        [[models]]
        name = "premium"
        provider = "sim"
        upstream = "sim-premium"
        price = {{ input = 2.50, output = 10.00 }}
        [[models]]
        name = "broken"
        provider = "sim"
        upstream = "sim-503"
        price = {{ input = 1, output = 1 }}
        [[routes]]
        name = "auto"
        strategy = "priority"
        candidates = ["broken", "cheap"]
        "#,
        sim.base_url()
    );
    let url = common::serve(&text).await;
    let http = reqwest::Client::new();

    let (mut input, mut output, mut cost, mut baseline) =
        (0u64, 0u64, Decimal::ZERO, Decimal::ZERO);
    for i in 0..5 {
        let r = http
            .post(format!("{url}/v1/chat/completions"))
            .header("x-switchyard-tenant", "acme")
            .json(&json!({"model": "auto",
                "messages": [{"role": "user", "content": format!("question {i}")}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let header = |name: &str| Decimal::from_str(r.headers()[name].to_str().unwrap()).unwrap();
        cost += header("x-switchyard-cost-usd");
        baseline += header("x-switchyard-baseline-cost-usd");
        let body: Value = r.json().await.unwrap();
        input += body["usage"]["prompt_tokens"].as_u64().unwrap();
        output += body["usage"]["completion_tokens"].as_u64().unwrap();
    }

    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let nanos = |d: Decimal| (d * Decimal::from(1_000_000_000)).trunc().to_string();
    assert_eq!(
        series(
            &text,
            r#"switchyard_requests_total{route="auto",model="cheap",status="ok"}"#
        ),
        5.0,
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            r#"switchyard_tokens_total{model="cheap",type="input"}"#
        ),
        input as f64
    );
    assert_eq!(
        series(
            &text,
            r#"switchyard_tokens_total{model="cheap",type="output"}"#
        ),
        output as f64
    );
    assert_eq!(
        series(
            &text,
            r#"switchyard_cost_nanousd_total{route="auto",model="cheap"}"#
        )
        .to_string(),
        nanos(cost),
        "the spend counter is the sum of the costs the client was told"
    );
    assert_eq!(
        series(
            &text,
            r#"switchyard_baseline_cost_nanousd_total{route="auto"}"#
        )
        .to_string(),
        nanos(baseline)
    );
    // Beside each nano-USD counter, the same spend in USD, exactly.
    let usd_line = text
        .lines()
        .find(|l| l.starts_with(r#"switchyard_cost_usd_total{route="auto",model="cheap"} "#))
        .unwrap_or_else(|| panic!("no USD cost counter in {text}"));
    assert_eq!(
        rust_decimal::Decimal::from_str(usd_line.rsplit_once(' ').unwrap().1).unwrap(),
        cost,
        "the USD counter is the exact sum the clients were told"
    );
    assert!(text.contains("# TYPE switchyard_baseline_cost_usd_total counter"));
    assert_eq!(
        series(&text, r#"switchyard_tenant_requests_total{tenant="acme"}"#),
        5.0
    );
    assert_eq!(
        series(&text, r#"switchyard_fallbacks_total{route="auto"}"#),
        5.0,
        "each request fell over from `broken` to `cheap`"
    );
    assert_eq!(
        series(
            &text,
            r#"switchyard_upstream_attempts_total{provider="sim",model="broken",outcome="overloaded"}"#
        ),
        5.0
    );
    assert_eq!(
        series(&text, "switchyard_request_duration_seconds_count"),
        5.0
    );
    assert!(
        text.contains("switchyard_overhead_us_bucket{le=\"10\"}"),
        "{text}"
    );
}
