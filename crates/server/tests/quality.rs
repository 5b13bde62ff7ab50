//! Quality through the running gateway: a cascade escalates exactly when its evaluator fails
//! and bills both attempts (whole and streamed, the client seeing nothing of the rejected
//! answer); a refusal is answered by the next candidate only where the route opted in;
//! feedback moves a quality-floor route, and what it learned survives a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::{collections::BTreeMap, str::FromStr, sync::Arc, time::Duration};

use rust_decimal::Decimal;
use serde_json::{json, Value};
use switchyard_server::{app, config, Gateway};
use switchyard_sim::{ModelConfig, Sim, SimConfig};
use switchyard_store::{LedgerReader, LedgerRow};

/// A simulator whose `bad-json` model always breaks JSON, `good-json` never does, `refuser`
/// always refuses, and `premium` is always right.
async fn sim() -> Sim {
    let mut cfg = SimConfig::instant();
    let skill = |json: f64| BTreeMap::from([("json".to_owned(), json)]);
    cfg.models.extend([
        ModelConfig {
            name: "bad-json".into(),
            skill: skill(0.0),
            ..ModelConfig::default()
        },
        ModelConfig {
            name: "good-json".into(),
            skill: skill(1.0),
            ..ModelConfig::default()
        },
        ModelConfig {
            name: "refuser".into(),
            refuse_rate: Some(1.0),
            ..ModelConfig::default()
        },
        ModelConfig {
            name: "shaky".into(),
            skill: BTreeMap::from([("arithmetic".to_owned(), 0.5)]),
            ..ModelConfig::default()
        },
    ]);
    Sim::start(cfg).await.unwrap()
}

fn config(sim: &Sim, ledger: &str) -> String {
    format!(
        r#"
        [ledger]
        url = "{ledger}"
        flush_interval = "5ms"
        [routing]
        baseline = "premium"
        quality = {{ priors = [{{ model = "premium", mean = 0.95, weight = 40 }}] }}
        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{}"
        [[models]]
        name = "bad"
        provider = "sim"
        upstream = "bad-json"
        price = {{ input = 0.10, output = 0.40 }}
        [[models]]
        name = "good"
        provider = "sim"
        upstream = "good-json"
        price = {{ input = 0.10, output = 0.40 }}
        [[models]]
        name = "refuser"
        provider = "sim"
        upstream = "refuser"
        price = {{ input = 0.10, output = 0.40 }}
        [[models]]
        name = "premium"
        provider = "sim"
        upstream = "sim-premium"
        price = {{ input = 2.50, output = 10.00 }}
        [[models]]
        name = "shaky"
        provider = "sim"
        upstream = "shaky"
        price = {{ input = 0.10, output = 0.40 }}
        [[routes]]
        name = "judged"
        strategy = "priority"
        candidates = ["shaky"]
        evaluators = [{{ kind = "judge", model = "premium", sample = 1.0, min = 0.5 }}]
        [[routes]]
        name = "judged-by-a-refuser"
        strategy = "priority"
        candidates = ["shaky"]
        evaluators = [{{ kind = "judge", model = "refuser", sample = 1.0 }}]
        [[routes]]
        name = "confident"
        strategy = "cascade"
        candidates = ["shaky", "premium"]
        evaluators = [{{ kind = "logprob", min = 0.7 }}]
        [[routes]]
        name = "cascade-bad"
        strategy = "cascade"
        candidates = ["bad", "premium"]
        evaluators = [{{ kind = "json" }}]
        [[routes]]
        name = "cascade-good"
        strategy = "cascade"
        candidates = ["good", "premium"]
        evaluators = [{{ kind = "json" }}]
        [[routes]]
        name = "refusal-next"
        strategy = "priority"
        candidates = ["refuser", "premium"]
        escalate_on_refusal = true
        [[routes]]
        name = "refusal-kept"
        strategy = "priority"
        candidates = ["refuser", "premium"]
        evaluators = [{{ kind = "refusal" }}]
        [[routes]]
        name = "graded"
        strategy = "quality-floor"
        candidates = ["good", "premium"]
        quality = {{ target = 0.85, explore = 0.0 }}
        "#,
        sim.base_url()
    )
}

fn json_request(route: &str, stream: bool) -> Value {
    json!({"model": route, "stream": stream, "stream_options": {"include_usage": true},
        "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": "Extract the invoice number from INV-7."}]})
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_cascade_escalates_exactly_when_its_evaluator_fails_and_bills_both_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let (_gw, url) = common::start(&config(&sim, &ledger)).await;
    let http = reqwest::Client::new();

    // The cheap answer is broken JSON: escalated; the client gets the premium answer.
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&json_request("cascade-bad", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-model"), "premium");
    assert_eq!(header(&r, "x-switchyard-attempts"), "2");
    let id = header(&r, "x-switchyard-request-id");
    let told = Decimal::from_str(&header(&r, "x-switchyard-cost-usd")).unwrap();
    let body: Value = r.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    serde_json::from_str::<Value>(content).expect("the served answer is valid JSON");
    let row = common::ledger_row(&ledger, &id).await;
    assert_eq!(row.attempts.len(), 2);
    assert_eq!(row.attempts[0].model, "bad");
    assert!(row.attempts[0]
        .rejected
        .as_deref()
        .unwrap()
        .contains("json"));
    assert!(row.attempts[0].billed && row.attempts[0].cost().unwrap() > Decimal::ZERO);
    assert_eq!(row.attempts[1].rejected, None);
    let sum: Decimal = row.attempts.iter().map(|a| a.cost().unwrap()).sum();
    assert_eq!(row.cost().unwrap(), sum, "both attempts are in the cost");
    assert_eq!(told, sum, "the client is told the ledger's cost");
    // List price (the answer alone) next to the effective cost (both attempts).
    assert_eq!(row.answer_cost(), row.attempts[1].cost());
    assert!(row.cost().unwrap() > row.answer_cost().unwrap());
    let reader = LedgerReader::connect(&ledger).await.unwrap();
    let signals: Vec<_> = reader
        .signals(None, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.request_id == id && s.source == "verdict")
        .map(|s| (s.model.unwrap(), s.passed.unwrap()))
        .collect();
    assert_eq!(
        signals,
        [("bad".to_owned(), false), ("premium".to_owned(), true)]
    );

    // The cheap answer is valid: served, one attempt.
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&json_request("cascade-good", false))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "x-switchyard-model"), "good");
    assert_eq!(header(&r, "x-switchyard-attempts"), "1");

    // No JSON asked for: the evaluator does not apply and nothing escalates.
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "cascade-bad", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "x-switchyard-model"), "bad");
    assert_eq!(header(&r, "x-switchyard-attempts"), "1");
}

#[tokio::test]
async fn a_streamed_cascade_shows_nothing_of_the_rejected_answer_and_bills_both() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let (_gw, url) = common::start(&config(&sim, &ledger)).await;
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json_request("cascade-bad", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-model"), "premium");
    let id = header(&r, "x-switchyard-request-id");
    let text = r.text().await.unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    serde_json::from_str::<Value>(&content).expect("only the premium answer was streamed");
    let roles = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["role"].is_string())
        .count();
    assert_eq!(roles, 1, "one message");
    let last = chunks.last().unwrap();
    let told = Decimal::from_str(last["switchyard"]["cost_usd"].as_str().unwrap()).unwrap();
    let row = common::ledger_row(&ledger, &id).await;
    assert!(row.attempts[0].rejected.is_some());
    assert!(row.attempts[0].cost().unwrap() > Decimal::ZERO);
    assert_eq!(row.cost().unwrap(), told);
    let sum: Decimal = row.attempts.iter().map(|a| a.cost().unwrap()).sum();
    assert_eq!(told, sum);
    assert!(
        row.ttft_ms.is_some(),
        "a streamed answer records its time to first token"
    );
    assert_eq!(row.answer_cost(), row.attempts[1].cost());
}

#[tokio::test]
async fn a_refusal_goes_to_the_next_candidate_only_where_the_route_opted_in() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let (_gw, url) = common::start(&config(&sim, &ledger)).await;
    let http = reqwest::Client::new();
    for (route, stream) in [("refusal-next", false), ("refusal-next", true)] {
        let mut body = json!({"model": route, "stream": stream,
            "messages": [{"role": "user", "content": "Tell me a story."}]});
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        let r = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&r, "x-switchyard-model"),
            "premium",
            "{route} {stream}"
        );
        assert_eq!(header(&r, "x-switchyard-attempts"), "2");
        let text = r.text().await.unwrap();
        assert!(!text.contains("I'm sorry"), "{text}");
    }
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "refusal-kept",
            "messages": [{"role": "user", "content": "Tell me a story."}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "x-switchyard-model"), "refuser");
    assert_eq!(header(&r, "x-switchyard-attempts"), "1");
    let id = header(&r, "x-switchyard-request-id");
    let body: Value = r.json().await.unwrap();
    assert!(body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("I'm sorry"));
    // Not escalated, but judged: the refusal is a failed signal in the ledger.
    common::ledger_row(&ledger, &id).await;
    let reader = LedgerReader::connect(&ledger).await.unwrap();
    let refusal = reader
        .signals(None, None)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.request_id == id && s.name == "refusal")
        .unwrap();
    assert_eq!(refusal.passed, Some(false));
}

#[tokio::test]
async fn feedback_moves_a_quality_floor_route_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let text = config(&sim, &ledger);
    let (gw, url) = common::start(&text).await;
    let http = reqwest::Client::new();
    let ask = |model: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .header("x-switchyard-task", "invoices")
                .json(&json!({"model": model,
                    "messages": [{"role": "user", "content": "Which invoice?"}]}))
                .send()
                .await
                .unwrap();
            (
                header(&r, "x-switchyard-model"),
                header(&r, "x-switchyard-request-id"),
            )
        }
    };
    // Nothing known of `good` on this task: the trusted premium model answers.
    assert_eq!(ask("graded").await.0, "premium");

    // Bad input gets a clear 4xx.
    for (body, status) in [
        (json!({"request_id": "x", "score": 1.5}), 400),
        (json!({"request_id": "x"}), 400),
        (json!({"request_id": "x", "score": 1, "pass": true}), 400),
        (json!({"request_id": "no-such-request", "pass": true}), 404),
    ] {
        let r = http
            .post(format!("{url}/v1/feedback"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].is_string());
    }

    // Clients report that `good`'s answers on this task are right.
    for _ in 0..40 {
        let (model, id) = ask("good").await;
        assert_eq!(model, "good");
        let r = http
            .post(format!("{url}/v1/feedback"))
            .json(&json!({"request_id": id, "pass": true, "label": "correct"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let fb: Value = r.json().await.unwrap();
        assert_eq!(
            (fb["model"].as_str(), fb["task"].as_str()),
            (Some("good"), Some("invoices"))
        );
    }
    assert_eq!(
        ask("graded").await.0,
        "good",
        "the cheaper model now qualifies"
    );
    let health: Value = http
        .get(format!("{url}/admin/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = health["quality"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["task"] == "invoices" && q["model"] == "good")
        .unwrap()
        .clone();
    assert_eq!(entry["observations"], 40.0);
    assert!(entry["lower_95"].as_f64().unwrap() >= 0.85);
    gw.shutdown().await;

    // A new process on the same ledger knows it too.
    let (_gw, url) = common::start(&text).await;
    let mut answered = String::new();
    for _ in 0..100 {
        answered = reqwest::Client::new()
            .post(format!("{url}/v1/chat/completions"))
            .header("x-switchyard-task", "invoices")
            .json(&json!({"model": "graded", "messages": [{"role": "user", "content": "Which?"}]}))
            .send()
            .await
            .unwrap()
            .headers()["x-switchyard-model"]
            .to_str()
            .unwrap()
            .to_owned();
        if answered == "good" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // seeding runs in the background
    }
    assert_eq!(answered, "good");
}

#[tokio::test]
async fn a_confidence_cascade_escalates_exactly_the_answers_the_model_was_unsure_of() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let (gw, url) = common::start(&config(&sim, &ledger)).await;
    let http = reqwest::Client::new();
    let (mut escalated, mut kept) = (0, 0);
    for i in 0..30 {
        let body = |model: &str| {
            json!({"model": model, "logprobs": true,
                "messages": [{"role": "user", "content": format!("What is {} + {}?", 10 + i, 3 * i)}]})
        };
        // The same question straight to the shaky model: its answer and its confidence.
        let direct: Value = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&body("shaky"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let lps: Vec<f64> = direct["choices"][0]["logprobs"]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["logprob"].as_f64().unwrap())
            .collect();
        let confidence = (lps.iter().sum::<f64>() / lps.len() as f64).exp();
        let r = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&body("confident"))
            .send()
            .await
            .unwrap();
        let model = header(&r, "x-switchyard-model");
        if confidence < 0.7 {
            assert_eq!(model, "premium", "confidence {confidence}");
            escalated += 1;
        } else {
            assert_eq!(model, "shaky", "confidence {confidence}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(
                v["choices"][0]["message"]["content"],
                direct["choices"][0]["message"]["content"]
            );
            kept += 1;
        }
    }
    assert!(escalated > 0 && kept > 0, "{escalated} {kept}");
    // Confidence is a proxy the cascade acts on, not a judgement of the answer: it does not
    // teach the quality model.
    assert_eq!(gw.snapshot().quality.observed(None, "shaky").n, 0.0);
}

#[tokio::test]
async fn an_llm_judge_grades_through_the_gateway_and_its_cost_is_its_own_row() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let (_gw, url) = common::start(&config(&sim, &ledger)).await;
    let http = reqwest::Client::new();
    let mut truth = BTreeMap::new();
    for i in 0..20 {
        let (a, b) = (20 + i, 7 * i);
        let r = http
            .post(format!("{url}/v1/chat/completions"))
            .header("x-switchyard-task", "sums")
            .json(&json!({"model": "judged",
                "messages": [{"role": "user", "content": format!("What is {a} + {b}?")}]}))
            .send()
            .await
            .unwrap();
        let id = header(&r, "x-switchyard-request-id");
        let v: Value = r.json().await.unwrap();
        let right = v["choices"][0]["message"]["content"] == format!("The answer is {}.", a + b);
        truth.insert(id, right);
    }
    let reader = LedgerReader::connect(&ledger).await.unwrap();
    let mut judged = Vec::new();
    for _ in 0..300 {
        judged = reader
            .signals(None, None)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.source == "judge")
            .collect();
        if judged.len() == truth.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(judged.len(), truth.len(), "one grade per answer");
    for s in &judged {
        assert_eq!(s.model.as_deref(), Some("shaky"));
        assert_eq!(s.task.as_deref(), Some("sums"));
        assert_eq!(
            s.passed,
            Some(truth[&s.request_id]),
            "the grade matches the truth"
        );
    }
    assert!(truth.values().any(|r| *r) && truth.values().any(|r| !*r));
    // The judge's calls are requests of their own: priced, tagged, never judged themselves.
    let rows = reader.rows(None, None).await.unwrap();
    let judges: Vec<&LedgerRow> = rows.iter().filter(|r| r.ingress == "judge").collect();
    assert_eq!(judges.len(), truth.len());
    let judge_cost: Decimal = judges.iter().filter_map(|j| j.cost()).sum();
    for j in judges {
        assert_eq!(j.model.as_deref(), Some("premium"));
        assert_eq!(j.tags, ["judge"]);
        assert!(j.cost().unwrap() > Decimal::ZERO);
    }
    // Their spend is attributed to the route they judged (its effective cost).
    assert_eq!(
        reader.judge_spend(None, None).await.unwrap(),
        vec![(Some("judged".to_owned()), 20, judge_cost.normalize())]
    );
    // A judge call that yields no grade is still its route's spend, and grades nothing.
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "judged-by-a-refuser",
            "messages": [{"role": "user", "content": "What is 1 + 1?"}]}))
        .send()
        .await
        .unwrap();
    let id = header(&r, "x-switchyard-request-id");
    let mut spend = Vec::new();
    for _ in 0..300 {
        spend = reader.judge_spend(None, None).await.unwrap();
        if spend.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rows = reader.rows(None, None).await.unwrap();
    let refuser = rows
        .iter()
        .find(|r| r.ingress == "judge" && r.model.as_deref() == Some("refuser"))
        .expect("the refusing judge's call is in the ledger");
    assert_eq!(
        spend,
        vec![
            (Some("judged".to_owned()), 20, judge_cost.normalize()),
            (
                Some("judged-by-a-refuser".to_owned()),
                1,
                refuser.cost().unwrap().normalize()
            ),
        ]
    );
    let s = reader.signals_of(&id).await.unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!((s[0].passed, s[0].observed), (None, false));
    assert_eq!(
        s[0].detail.as_deref(),
        Some("the judge's reply holds no grade")
    );
}

/// A router that learned "proofs need the premium model; greetings do not".
fn tiny_router(premium_word: &str) -> switchyard_router::Model {
    let mut examples = Vec::new();
    for i in 0..200 {
        let hard = i % 2 == 0;
        let prompt = if hard {
            format!("Give a {premium_word} of lemma {i} with all steps")
        } else {
            format!("Say hello to customer {i} politely")
        };
        examples.push(switchyard_router::Example {
            prompt,
            task: None,
            premium_needed: if hard { 1.0 } else { 0.0 },
        });
    }
    let opts = switchyard_router::TrainOptions {
        premium_share: 0.5,
        ..switchyard_router::TrainOptions::default()
    };
    switchyard_router::train(&examples, &opts)
}

#[tokio::test]
async fn a_learned_route_decides_from_the_prompt_deterministically_and_reloads_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("router.json");
    tiny_router("proof").save(&model_path).unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let text = format!(
        "{}\n[[routes]]\nname = \"smart\"\nstrategy = \"learned\"\nrouter = \"{}\"\ncandidates = [\"good\", \"premium\"]\n",
        config(&sim, &ledger),
        model_path.display()
    );
    let config_path = dir.path().join("switchyard.toml");
    std::fs::write(&config_path, &text).unwrap();
    let gw = Gateway::start(
        config::load(&config_path).unwrap(),
        Some(config_path.clone()),
        Arc::new(|_: &str| None),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(app::serve(listener, gw.clone(), std::future::pending()));
    let http = reqwest::Client::new();
    let ask = |prompt: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .json(&json!({"model": "smart", "messages": [{"role": "user", "content": prompt}]}))
                .send()
                .await
                .unwrap();
            (
                header(&r, "x-switchyard-model"),
                header(&r, "x-switchyard-request-id"),
            )
        }
    };
    for _ in 0..5 {
        assert_eq!(
            ask("Give a proof of lemma 7 with all steps").await.0,
            "premium"
        );
        assert_eq!(ask("Say hello to customer 7 politely").await.0, "good");
    }
    let (_, id) = ask("Give a proof of lemma 9 with all steps").await;
    let decision = common::ledger_row(&ledger, &id).await.decision;
    let version = decision["router"]["version"].as_str().unwrap().to_owned();
    assert!(version.starts_with("fnv1a64:"), "{decision}");
    assert!(
        decision["router"]["score"].as_f64().unwrap()
            >= decision["router"]["threshold"].as_f64().unwrap()
    );

    // A new model file (the config unchanged) is picked up by a reload.
    tiny_router("derivation").save(&model_path).unwrap();
    assert!(matches!(
        gw.reload().await.unwrap(),
        switchyard_server::Reload::Applied
    ));
    assert_eq!(
        ask("Give a derivation of lemma 7 with all steps").await.0,
        "premium"
    );
    let (_, id) = ask("Give a derivation of lemma 8 with all steps").await;
    let decision = common::ledger_row(&ledger, &id).await.decision;
    assert_ne!(decision["router"]["version"].as_str().unwrap(), version);
}

#[tokio::test]
async fn client_model_names_map_through_aliases_and_the_decision_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}", dir.path().join("l.db").display());
    let sim = sim().await;
    let text = config(&sim, &ledger).replace(
        "[routing]\n",
        "[routing]\naliases = [{ match = \"claude-*-haiku-*\", to = \"cascade-good\" }, { match = \"gpt-4o\", to = \"premium\" }]\n",
    );
    let (_gw, url) = common::start(&text).await;
    let http = reqwest::Client::new();
    let send = |model: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(format!("{url}/v1/chat/completions"))
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
        }
    };
    let r = send("claude-3-5-haiku-20241022").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-route"), "cascade-good");
    assert_eq!(header(&r, "x-switchyard-model"), "good");
    let id = header(&r, "x-switchyard-request-id");
    let decision = common::ledger_row(&ledger, &id).await.decision;
    assert_eq!(decision["alias"]["requested"], "claude-3-5-haiku-20241022");
    assert_eq!(decision["alias"]["match"], "claude-*-haiku-*");
    assert_eq!(
        header(&send("gpt-4o").await, "x-switchyard-model"),
        "premium"
    );
    // A configured name is never shadowed by an alias; an unmatched one stays a clear 404.
    assert_eq!(header(&send("good").await, "x-switchyard-model"), "good");
    let r = send("claude-opus-4").await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("claude-opus-4"),
        "{body}"
    );
}
