//! The dashboard's data and the scheduled audit, over a gateway with a known workload: the
//! figures the dashboard shows are the ledger's exactly, and the audit's findings reach the
//! dashboard and `/metrics`.

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
use switchyard_sim::{ModelConfig, Sim, SimConfig};

fn config_text(sim: &str, ledger: &str) -> String {
    format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [audit]
        interval = "100ms"
        [routing]
        default = "auto"
        baseline = "premium"
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{sim}"
        [[providers]]
        name = "eu"
        kind = "openai-compatible"
        base_url = "{sim}"
        tags = ["eu"]
        [[models]]
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 0.10, output = 0.40 }}
        [[models]]
        name = "premium"
        provider = "sim"
        upstream = "sim-premium"
        price = {{ input = 2.50, output = 10.00 }}
        [[models]]
        name = "swapped"
        provider = "sim"
        upstream = "sim-swapped"
        price = {{ input = 2.50, output = 10.00 }}
        [[models]]
        name = "mystery"
        provider = "sim"
        upstream = "sim-cheap-unlisted"
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["cheap", "premium"]
        [[routes]]
        name = "gdpr"
        candidates = ["cheap"]
        require_tags = ["gdpr"]
        "#
    )
}

fn usd(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .unwrap()
}

#[tokio::test]
async fn the_dashboard_shows_the_ledger_exactly_and_the_audit_runs_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    // `sim-swapped` answers as another model: a provider serving something else.
    let mut sc = SimConfig::instant();
    sc.models.push(ModelConfig {
        name: "sim-swapped".into(),
        serves: Some("gpt-3.5-turbo-0125".into()),
        ..ModelConfig::default()
    });
    let sim = Sim::start(sc).await.unwrap();
    let (gw, url) = common::start(&config_text(&sim.base_url(), &ledger)).await;
    let audits = switchyard_server::spawn_audits(&gw);
    let http = reqwest::Client::new();
    let mut sent = Vec::new();
    for i in 0..5 {
        let r = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&json!({"model": "auto", "messages": [{"role": "user", "content": format!("q{i}")}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let h = |n: &str| r.headers()[n].to_str().unwrap().to_owned();
        sent.push((
            h("x-switchyard-request-id"),
            Decimal::from_str(&h("x-switchyard-cost-usd")).unwrap(),
            Decimal::from_str(&h("x-switchyard-baseline-cost-usd")).unwrap(),
        ));
    }
    for (id, _, _) in &sent {
        common::ledger_row(&ledger, id).await;
    }
    let swapped = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "swapped", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(swapped.status(), 200);
    let swapped_id = swapped.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let row = common::ledger_row(&ledger, &swapped_id).await;
    assert_eq!(
        row.attempts[0].served_model.as_deref(),
        Some("gpt-3.5-turbo-0125"),
        "the attempt records the model the upstream named"
    );
    let spent: Decimal = sent.iter().map(|s| s.1).sum();
    let baseline: Decimal = sent.iter().map(|s| s.2).sum();

    let o: Value = http
        .get(format!("{url}/dashboard/api/overview?window=1h"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auto = o["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "auto")
        .unwrap();
    assert_eq!(auto["requests"], 5);
    assert_eq!(usd(&auto["cost_usd"]), spent);
    assert_eq!(usd(&auto["baseline_usd"]), baseline);
    assert_eq!(usd(&auto["savings_usd"]), baseline - spent);
    assert_eq!(o["totals"]["requests"], 6);
    let series: Decimal = o["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| usd(&p["cost_usd"]))
        .sum();
    assert_eq!(
        series,
        usd(&o["totals"]["cost_usd"]),
        "the spend chart adds up to the total"
    );
    assert_eq!(o["providers"][0]["key"], "sim");

    let recent: Value = http
        .get(format!("{url}/dashboard/api/requests?limit=3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recent = recent["requests"].as_array().unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0]["id"], swapped_id.as_str(), "newest first");
    assert_eq!(recent[1]["id"], sent[4].0);
    let one: Value = http
        .get(format!("{url}/dashboard/api/requests/{}", sent[0].0))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usd(&one["cost_usd"]), sent[0].1);
    assert_eq!(one["decision"]["route"], "auto");
    assert_eq!(one["attempts"][0]["model"], "cheap");
    assert_eq!(usd(&one["attempts"][0]["cost_usd"]), sent[0].1);
    let missing = http
        .get(format!("{url}/dashboard/api/requests/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = http
        .get(format!("{url}/dashboard/api/overview?window=forever"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // The scheduled audit: the unpriced model, the route no provider can serve, the provider
    // serving another model. Wait for a run that saw the last request.
    let done = switchyard_store::now_ms();
    for _ in 0..100 {
        if gw.last_audit().is_some_and(|a| a.at_ms > done) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let audit = gw.last_audit().expect("the audit ran");
    let other = audit
        .findings
        .iter()
        .find(|f| f.kind == "served_other_model")
        .unwrap_or_else(|| panic!("{:?}", audit.findings));
    assert_eq!(other.subject, "swapped");
    assert!(
        other.message.contains("gpt-3.5-turbo-0125 ×1"),
        "{}",
        other.message
    );
    let kinds: Vec<&str> = audit.findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&"missing_price"), "{kinds:?}");
    let gdpr = audit
        .findings
        .iter()
        .find(|f| f.kind == "constraints_exclude_all")
        .expect("the gdpr route's constraint excludes every candidate");
    assert_eq!(gdpr.subject, "route gdpr");
    assert!(o["audit"]["findings"].as_array().unwrap().len() >= 2);
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"switchyard_audit_findings{kind="constraints_exclude_all"} 1"#),
        "{metrics}"
    );
    // It runs again on schedule: the latest audit moves on.
    let first = audit.at_ms;
    for _ in 0..100 {
        if gw.last_audit().unwrap().at_ms > first {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        gw.last_audit().unwrap().at_ms > first,
        "the audit ran again"
    );
    audits.abort();
}

/// Prompt and answer capture, opted in per route: shown on the request page while it is
/// kept, cut at `max_bytes`, never stored for a route without it, gone once expired.
#[tokio::test]
async fn a_route_that_opts_in_captures_prompt_and_answer_for_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = Sim::start(SimConfig::instant()).await.unwrap();
    let config = format!(
        r#"{}
        [[routes]]
        name = "support"
        candidates = ["cheap"]
        capture = {{ retention = "1h", max_bytes = 40 }}
        [[routes]]
        name = "fleeting"
        candidates = ["cheap"]
        capture = {{ retention = "1ms" }}
        "#,
        config_text(&sim.base_url(), &ledger)
    );
    let (_gw, url) = common::start(&config).await;
    let http = reqwest::Client::new();
    let ask = |model: &'static str, stream: bool| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .json(&json!({"model": model, "stream": stream, "messages": [
                    {"role": "system", "content": "Be kind."},
                    {"role": "user", "content": "Where is my parcel? Order 123456789, shipped last week."}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let id = r.headers()["x-switchyard-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            (id, r.text().await.unwrap())
        }
    };
    let (support, body) = ask("support", false).await;
    let (streamed, _) = ask("support", true).await;
    let (plain, _) = ask("auto", false).await;
    let (fleeting, _) = ask("fleeting", false).await;
    for id in [&support, &streamed, &plain, &fleeting] {
        common::ledger_row(&ledger, id).await;
    }
    let page = |id: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.get(format!("{url}/dashboard/api/requests/{id}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let answer: Value = serde_json::from_str(&body).unwrap();
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let c = &page(support.clone()).await["capture"];
    assert_eq!(c["prompt"], "[system]\nBe kind.\n\n[user]\nWhere is my pa");
    assert_eq!(c["truncated"], true, "cut at max_bytes = 40");
    let kept = c["answer"].as_str().unwrap();
    assert!(
        !kept.is_empty() && text.starts_with(kept),
        "{kept:?} / {text:?}"
    );
    assert_eq!(
        c["expires_ms"].as_i64().unwrap() - c["captured_ms"].as_i64().unwrap(),
        3_600_000
    );
    let s = &page(streamed).await["capture"];
    assert!(
        !s["answer"].as_str().unwrap().is_empty(),
        "a stream's answer is captured as sent: {s}"
    );
    assert_eq!(page(plain.clone()).await["capture"], Value::Null);
    assert_eq!(
        page(fleeting.clone()).await["capture"],
        Value::Null,
        "expired"
    );

    // In the database: nothing for the route without capture; the expired one is deleted.
    let reader = switchyard_store::LedgerReader::connect(&ledger)
        .await
        .unwrap();
    let far = switchyard_store::now_ms() + 86_400_000;
    assert!(reader.capture(&plain, 0).await.unwrap().is_none());
    assert!(reader.capture(&fleeting, 0).await.unwrap().is_some());
    assert_eq!(
        reader
            .purge_expired(switchyard_store::now_ms())
            .await
            .unwrap(),
        1
    );
    assert!(reader.capture(&fleeting, 0).await.unwrap().is_none());
    assert!(reader.capture(&support, 0).await.unwrap().is_some());
    assert_eq!(reader.purge_expired(far).await.unwrap(), 2);
}
