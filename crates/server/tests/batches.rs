//! The batch lane through the OpenAI-compatible Files and Batch APIs: a client batch is planned
//! line by line, sent to the provider's Batch API, and comes back complete at batch prices (one
//! ledger row per line), failed lines in the error file; a gateway restart mid-batch loses
//! nothing; a batch can be cancelled; tenants see only their own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use switchyard_sim::{Sim, SimConfig};

fn config(sim: &str, ledger: &str) -> String {
    format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "sim"
        kind = "sim"
        base_url = "{sim}"
        [[models]]
        name = "cheap"
        provider = "sim"
        upstream = "sim-cheap"
        price = {{ input = 1, output = 4, batch_input = 0.5, batch_output = 2 }}
        [[models]]
        name = "premium"
        provider = "sim"
        upstream = "sim-premium"
        price = {{ input = 10, output = 40, batch_input = 5, batch_output = 20 }}
        [[models]]
        name = "broken"
        provider = "sim"
        upstream = "sim-500"
        price = {{ input = 1, output = 4, batch_input = 0.5, batch_output = 2 }}
        [routing]
        default = "auto"
        baseline = "premium"
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["premium", "cheap"]
        "#
    )
}

async fn sim(delay_ms: u64) -> Sim {
    let mut cfg = SimConfig::instant();
    cfg.batch_delay = Duration::from_millis(delay_ms);
    Sim::start(cfg).await.unwrap()
}

fn line(id: &str, model: &str) -> String {
    json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
           "body": {"model": model, "max_tokens": 16,
                    "messages": [{"role": "user", "content": format!("Summarise ticket {id}.")}]}})
    .to_string()
}

async fn upload(url: &str, tenant: &str, jsonl: &str) -> String {
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--XyZ\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
         Content-Type: application/jsonl\r\n\r\n{jsonl}\r\n--XyZ--\r\n"
    );
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/files"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .header("x-switchyard-tenant", tenant)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["purpose"], "batch");
    f["id"].as_str().unwrap().to_owned()
}

async fn create(url: &str, tenant: &str, file: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/batches"))
        .header("x-switchyard-tenant", tenant)
        .json(
            &json!({"input_file_id": file, "endpoint": "/v1/chat/completions",
                      "completion_window": "24h"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn get(url: &str, tenant: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{url}{path}"))
        .header("x-switchyard-tenant", tenant)
        .send()
        .await
        .unwrap()
}

async fn wait(url: &str, tenant: &str, id: &str, until: &[&str]) -> Value {
    for _ in 0..200 {
        let b: Value = get(url, tenant, &format!("/v1/batches/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if until.contains(&b["status"].as_str().unwrap()) {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("batch {id} never reached {until:?}");
}

async fn file_lines(url: &str, tenant: &str, id: &Value) -> Vec<Value> {
    let text = get(
        url,
        tenant,
        &format!("/v1/files/{}/content", id.as_str().unwrap()),
    )
    .await
    .text()
    .await
    .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_batch_comes_back_complete_at_batch_prices_with_failures_in_the_error_file() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim(200).await;
    let url = common::serve(&config(&sim.base_url(), &ledger)).await;
    let jsonl = [
        line("r1", "auto"),
        line("r2", "auto"),
        line("r3", "broken"),
        line("r4", "premium"),
    ]
    .join("\n");
    let file = upload(&url, "acme", &jsonl).await;
    let batch = create(&url, "acme", &file).await;
    assert_eq!(batch["status"], "in_progress");
    assert_eq!(batch["request_counts"]["total"], 4);
    let id = batch["id"].as_str().unwrap();
    // Another tenant sees neither the batch nor the file.
    assert_eq!(
        get(&url, "globex", &format!("/v1/batches/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&url, "globex", &format!("/v1/files/{file}"))
            .await
            .status(),
        404
    );

    let done = wait(&url, "acme", id, &["completed"]).await;
    assert_eq!(
        done["request_counts"],
        json!({"total": 4, "completed": 3, "failed": 1})
    );
    // Listed for its tenant only.
    let listed: Value = get(&url, "acme", "/v1/batches?limit=5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["data"][0]["id"], id);
    assert_eq!(listed["has_more"], false);
    let other: Value = get(&url, "globex", "/v1/batches")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["data"], json!([]));
    let out = file_lines(&url, "acme", &done["output_file_id"]).await;
    let ids: Vec<&str> = out
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r1", "r2", "r4"], "input order");
    // The lines went to two provider batches (split by deployment), at batch prices.
    let reader = switchyard_store::LedgerReader::connect(&ledger)
        .await
        .unwrap();
    for l in &out {
        let body = &l["response"]["body"];
        let u = &body["usage"];
        let (rate_in, rate_out) = match body["model"].as_str().unwrap() {
            "cheap" => (Decimal::new(5, 1), Decimal::from(2)),
            "premium" => (Decimal::from(5), Decimal::from(20)),
            m => panic!("answered by {m}"),
        };
        let expected = ((Decimal::from(u["prompt_tokens"].as_u64().unwrap()) * rate_in
            + Decimal::from(u["completion_tokens"].as_u64().unwrap()) * rate_out)
            / Decimal::from(1_000_000))
        .normalize();
        let told: Decimal = body["switchyard"]["cost_usd"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(told, expected);
        let row = common::ledger_row(&ledger, l["response"]["request_id"].as_str().unwrap()).await;
        assert_eq!(
            row.cost(),
            Some(expected),
            "the ledger's cost is the one told"
        );
        assert_eq!(row.ingress, "batch");
        assert!(row.baseline_cost().unwrap() > expected);
        assert_eq!(row.tenant, "acme");
    }
    assert_eq!(
        out[0]["response"]["body"]["model"], "cheap",
        "cheapest at batch prices"
    );
    let errors = file_lines(&url, "acme", &done["error_file_id"]).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["custom_id"], "r3");
    assert_eq!(errors[0]["response"]["status_code"], 500);
    let batch_rows = reader
        .rows(None, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.ingress == "batch")
        .count();
    assert_eq!(batch_rows, 4, "one ledger row per line, the failed one too");
}

#[tokio::test]
async fn a_gateway_restart_mid_batch_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim(1500).await;
    let cfg = config(&sim.base_url(), &ledger);
    let (first, url) = common::start(&cfg).await;
    let jsonl = (1..=5)
        .map(|i| line(&format!("q{i}"), "auto"))
        .collect::<Vec<_>>()
        .join("\n");
    let file = upload(&url, "acme", &jsonl).await;
    let id = create(&url, "acme", &file).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first gateway submits the batch to the provider, then stops before it completes.
    tokio::time::sleep(Duration::from_millis(800)).await;
    first.shutdown().await;
    // A new gateway on the same ledger picks the batch up where it was.
    let (_second, url) = common::start(&cfg).await;
    let done = wait(&url, "acme", &id, &["completed"]).await;
    assert_eq!(done["request_counts"]["completed"], 5);
    let out = file_lines(&url, "acme", &done["output_file_id"]).await;
    assert_eq!(out.len(), 5);
    let reader = switchyard_store::LedgerReader::connect(&ledger)
        .await
        .unwrap();
    let mut rows = 0;
    for _ in 0..100 {
        rows = reader
            .rows(None, None)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.ingress == "batch")
            .count();
        if rows >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows, 5, "each line billed exactly once");
}

#[tokio::test]
async fn a_cancelled_batch_fails_what_was_not_answered() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim(2000).await;
    let url = common::serve(&config(&sim.base_url(), &ledger)).await;
    let file = upload(
        &url,
        "t",
        &[line("c1", "auto"), line("c2", "auto")].join("\n"),
    )
    .await;
    let id = create(&url, "t", &file).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r: Value = reqwest::Client::new()
        .post(format!("{url}/v1/batches/{id}/cancel"))
        .header("x-switchyard-tenant", "t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "cancelling");
    let done = wait(&url, "t", &id, &["cancelled"]).await;
    assert_eq!(done["request_counts"]["failed"], 2);
    let errors = file_lines(&url, "t", &done["error_file_id"]).await;
    assert_eq!(errors.len(), 2);
}

#[tokio::test]
async fn a_bad_batch_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim(100).await;
    let url = common::serve(&config(&sim.base_url(), &ledger)).await;
    for bad in [
        "not json".to_owned(),
        line("x", "no-such-model"),
        [line("d", "auto"), line("d", "auto")].join("\n"),
    ] {
        let file = upload(&url, "t", &bad).await;
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/batches"))
            .header("x-switchyard-tenant", "t")
            .json(
                &json!({"input_file_id": file, "endpoint": "/v1/chat/completions",
                          "completion_window": "24h"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].as_str().is_some());
    }
}

#[tokio::test]
async fn a_keys_budget_admits_a_batch_by_its_worst_case_and_counts_what_its_lines_spent() {
    use switchyard_server::keys;
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim(100).await;
    // The key exists before the gateway starts (so it is loaded at once).
    let l = switchyard_store::Ledger::open(switchyard_store::LedgerConfig::new(
        &ledger,
        dir.path().join("spill.jsonl"),
    ))
    .await
    .unwrap();
    l.shutdown().await.unwrap();
    let reader = switchyard_store::LedgerReader::connect(&ledger)
        .await
        .unwrap();
    // $0.0002 a day. A line's worst case on `cheap` is 16 output tokens at $4/M plus its
    // input at $1/M, about $0.00008: two lines fit, three do not.
    let (_, key) = keys::create(
        &reader,
        "frugal",
        &keys::KeySpec {
            daily_usd: Some(Decimal::new(2, 4)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let url = common::serve(&config(&sim.base_url(), &ledger)).await;
    let http = reqwest::Client::new();
    let submit = |n: usize, tag: &'static str| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        async move {
            let jsonl = (0..n)
                .map(|i| line(&format!("{tag}{i}"), "cheap"))
                .collect::<Vec<_>>()
                .join("\n");
            let body = format!(
                "--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--B\r\n\
                 Content-Disposition: form-data; name=\"file\"; filename=\"f.jsonl\"\r\n\r\n\
                 {jsonl}\r\n--B--\r\n"
            );
            let f: Value = http
                .post(format!("{url}/v1/files"))
                .bearer_auth(&key)
                .header("content-type", "multipart/form-data; boundary=B")
                .body(body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            http.post(format!("{url}/v1/batches"))
                .bearer_auth(&key)
                .json(
                    &json!({"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                              "completion_window": "24h"}),
                )
                .send()
                .await
                .unwrap()
        }
    };
    let r = submit(3, "big").await;
    assert_eq!(r.status(), 429);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily budget"),
        "{e}"
    );
    let r = submit(2, "ok").await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    let id = b["id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        let b: Value = http
            .get(format!("{url}/v1/batches/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if b["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What the two lines spent counts: another two-line batch no longer fits.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = submit(2, "again").await;
    assert_eq!(r.status(), 429, "the lines' spend was not counted");
}

#[tokio::test]
async fn a_request_on_the_batch_lane_gets_a_job_id_then_its_answer_at_batch_prices() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim(200).await;
    let url = common::serve(&config(&sim.base_url(), &ledger)).await;
    let http = reqwest::Client::new();
    let body = json!({"model": "auto", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "Classify this overnight."}]});
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .header("x-switchyard-lane", "batch")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let job: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/chat/completions/{}", job["id"].as_str().unwrap())
    );
    let mut answer = None;
    for _ in 0..200 {
        let r = http.get(format!("{url}{location}")).send().await.unwrap();
        if r.status() == 200 {
            answer = Some(r);
            break;
        }
        assert_eq!(r.status(), 202);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = answer.expect("never answered");
    let cost: Decimal = r.headers()["x-switchyard-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let id = r.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["model"], "cheap");
    let u = &c["usage"];
    let expected = ((Decimal::from(u["prompt_tokens"].as_u64().unwrap()) * Decimal::new(5, 1)
        + Decimal::from(u["completion_tokens"].as_u64().unwrap()) * Decimal::from(2))
        / Decimal::from(1_000_000))
    .normalize();
    assert_eq!(cost, expected);
    assert_eq!(
        common::ledger_row(&ledger, &id).await.cost(),
        Some(expected)
    );
    // The lane from metadata; a stream cannot wait.
    let mut meta = body.clone();
    meta["metadata"] = json!({"lane": "batch"});
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .header("x-switchyard-lane", "batch")
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn anthropic_upstreams_answer_through_message_batches_and_expired_lines_are_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let mut cfg = SimConfig::instant();
    cfg.batch_delay = Duration::from_millis(150);
    cfg.record = true;
    let sim = Sim::start(cfg).await.unwrap();
    let url = common::serve(&format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [[providers]]
        name = "oa"
        kind = "sim"
        base_url = "{base}"
        [[providers]]
        name = "anthropic"
        kind = "anthropic"
        base_url = "{base}"
        [[models]]
        name = "cheap"
        provider = "oa"
        upstream = "sim-cheap"
        price = {{ input = 1, output = 4, batch_input = 0.5, batch_output = 2 }}
        [[models]]
        name = "claude"
        provider = "anthropic"
        upstream = "sim-claude"
        price = {{ input = 0.8, output = 4, batch_input = 0.4, batch_output = 2 }}
        [[models]]
        name = "claude-expiring"
        provider = "anthropic"
        upstream = "sim-batchexpire"
        price = {{ input = 0.8, output = 4, batch_input = 0.4, batch_output = 2 }}
        [[models]]
        name = "oa-expiring"
        provider = "oa"
        upstream = "sim-batchexpire"
        price = {{ input = 1, output = 4, batch_input = 0.5, batch_output = 2 }}
        [routing]
        default = "auto"
        baseline = "cheap"
        [[routes]]
        name = "auto"
        strategy = "cheapest"
        candidates = ["cheap", "claude"]
        "#,
        base = sim.base_url()
    ))
    .await;
    let json_line = json!({"custom_id": "as json", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "auto", "max_tokens": 32, "response_format": {"type": "json_object"},
                 "messages": [{"role": "user", "content": "Reply in JSON."}]}})
    .to_string();
    // Client ids a provider would refuse (Anthropic allows [A-Za-z0-9_-]): they never leave.
    let jsonl = [
        line("ticket #1/a", "auto"),
        line("ticket #2/b", "cheap"),
        line("late anthropic", "claude-expiring"),
        line("late openai", "oa-expiring"),
        json_line,
    ]
    .join("\n");
    let file = upload(&url, "acme", &jsonl).await;
    let id = create(&url, "acme", &file).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait(&url, "acme", &id, &["completed"]).await;
    assert_eq!(
        done["request_counts"],
        json!({"total": 5, "completed": 5, "failed": 0}),
        "the expired lines were sent again and answered: {done}"
    );
    let out = file_lines(&url, "acme", &done["output_file_id"]).await;
    let by_id = |cid: &str| {
        out.iter()
            .find(|l| l["custom_id"] == cid)
            .unwrap_or_else(|| panic!("{cid} missing"))["response"]["body"]
            .clone()
    };
    assert_eq!(
        by_id("ticket #1/a")["model"],
        "claude",
        "cheapest at batch prices"
    );
    assert_eq!(
        by_id("ticket #2/b")["model"],
        "cheap",
        "split across providers"
    );
    assert_eq!(by_id("late anthropic")["model"], "claude-expiring");
    assert_eq!(by_id("late openai")["model"], "oa-expiring");
    // JSON mode over Message Batches: the forced tool's input comes back as the answer text.
    let json_answer = by_id("as json");
    assert_eq!(json_answer["choices"][0]["finish_reason"], "stop");
    let text = json_answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    assert!(
        serde_json::from_str::<Value>(text).is_ok(),
        "JSON text: {text}"
    );
    // Billed at the Anthropic deployment's batch rates, the ledger agreeing with the answer.
    for cid in ["ticket #1/a", "late anthropic"] {
        let l = out.iter().find(|l| l["custom_id"] == cid).unwrap();
        let body = &l["response"]["body"];
        let u = &body["usage"];
        let expected = ((Decimal::from(u["prompt_tokens"].as_u64().unwrap()) * Decimal::new(4, 1)
            + Decimal::from(u["completion_tokens"].as_u64().unwrap()) * Decimal::from(2))
            / Decimal::from(1_000_000))
        .normalize();
        let told: Decimal = body["switchyard"]["cost_usd"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(told, expected, "{cid}");
        let row = common::ledger_row(&ledger, l["response"]["request_id"].as_str().unwrap()).await;
        assert_eq!(
            row.cost(),
            Some(expected),
            "{cid}: the ledger's cost is the one told"
        );
        assert_eq!(row.model.as_deref(), body["model"].as_str());
    }
    // What the providers were sent, one batch per deployment: Message Batches for `claude` and
    // `claude-expiring`, then the expired line again, alone; the same for OpenAI batches. Line
    // ids are the gateway's own, never a client's.
    let sent = sim.requests();
    let message_batches: Vec<&Value> = sent
        .iter()
        .filter(|r| r.path == "/v1/messages/batches")
        .map(|r| &r.body)
        .collect();
    assert_eq!(message_batches.len(), 3, "sent again after it expired");
    assert_eq!(message_batches[2]["requests"].as_array().unwrap().len(), 1);
    for b in &message_batches {
        for r in b["requests"].as_array().unwrap() {
            let cid = r["custom_id"].as_str().unwrap();
            assert!(cid.starts_with('l'), "{cid}");
            assert!(r["params"]["model"].as_str().unwrap().starts_with("sim-"));
        }
    }
    assert_eq!(sent.iter().filter(|r| r.path == "/v1/batches").count(), 3);
    // One row per line: an expired attempt bills nothing.
    let reader = switchyard_store::LedgerReader::connect(&ledger)
        .await
        .unwrap();
    let rows = reader
        .rows(None, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.ingress == "batch")
        .count();
    assert_eq!(rows, 5);
}

#[tokio::test]
async fn an_anthropic_clients_message_batch_can_be_cancelled_and_reads_canceled_results() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim(2000).await;
    let url = common::serve(&config(&sim.base_url(), &ledger)).await;
    let client = reqwest::Client::new();
    let params = |i: u32| {
        json!({"model": "auto", "max_tokens": 16,
               "messages": [{"role": "user", "content": format!("Tag ticket {i}.")}]})
    };
    let created: Value = client
        .post(format!("{url}/v1/messages/batches"))
        .header("x-switchyard-tenant", "acme")
        .json(
            &json!({"requests": [{"custom_id": "a", "params": params(1)},
                                   {"custom_id": "b", "params": params(2)}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["type"], "message_batch");
    assert_eq!(created["processing_status"], "in_progress");
    let id = created["id"].as_str().unwrap();
    // Results before the batch ended: an Anthropic-shaped error.
    let early = get(&url, "acme", &format!("/v1/messages/batches/{id}/results")).await;
    assert_eq!(early.status(), 400);
    let e: Value = early.json().await.unwrap();
    assert_eq!(e["type"], "error");
    // Another tenant does not see it.
    let other = get(&url, "globex", &format!("/v1/messages/batches/{id}")).await;
    assert_eq!(other.status(), 404);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cancelling: Value = client
        .post(format!("{url}/v1/messages/batches/{id}/cancel"))
        .header("x-switchyard-tenant", "acme")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelling["processing_status"], "canceling");
    assert!(cancelling["cancel_initiated_at"].is_string());
    let mut ended = Value::Null;
    for _ in 0..200 {
        ended = get(&url, "acme", &format!("/v1/messages/batches/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if ended["processing_status"] == "ended" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ended["processing_status"], "ended", "{ended}");
    assert_eq!(ended["request_counts"]["canceled"], 2, "{ended}");
    assert_eq!(ended["request_counts"]["processing"], 0);
    let text = get(&url, "acme", ended["results_url"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    let results: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 2);
    for (r, cid) in results.iter().zip(["a", "b"]) {
        assert_eq!(r["custom_id"], cid);
        assert_eq!(r["result"]["type"], "canceled");
    }
    // Listed among the tenant's Message Batches.
    let listed: Value = get(&url, "acme", "/v1/messages/batches")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], id);
}
