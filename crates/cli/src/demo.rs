//! `switchyard demo`: the embedded setup (simulator + gateway in-process) under a realistic
//! mixed workload, sent over real HTTP, with a provider outage injected halfway; then what
//! happened: who answered what, the failover, latency, and the savings against the baseline.

use std::{collections::BTreeMap, io::Write, sync::Arc, time::Duration};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{json, Value};
use switchyard_server::{app, config, Gateway};
use switchyard_sim::{config::WindowBound, ModelConfig, OutageConfig, Sim, SimConfig};
use switchyard_types::JsonMap;
use tokio::time::Instant;

mod quality;

/// One kind of request in the workload.
struct Kind {
    task: &'static str,
    prompt: &'static str,
    weight: usize,
    stream: bool,
    /// The same question every time, asked with temperature 0 (the response cache answers
    /// repeats); otherwise each request is a new ticket.
    repeat: bool,
    /// The latency lane (`flex`: the provider's cheaper, slower tier).
    lane: Option<&'static str>,
}

const WORKLOAD: &[Kind] = &[
    Kind { task: "classification", prompt: "Classify the sentiment of this review as positive, negative or neutral: 'The delivery was late but the product is great.'", weight: 4, stream: false, repeat: false, lane: None },
    Kind { task: "extraction", prompt: "Extract the invoice number, date and total from: 'Invoice INV-2291 dated 2026-03-04, total due EUR 1,240.50.'", weight: 3, stream: false, repeat: false, lane: None },
    Kind { task: "faq", prompt: "How do I reset my password?", weight: 3, stream: true, repeat: false, lane: None },
    Kind { task: "spam", prompt: "Is this message spam? 'You won a free cruise, click here to claim.'", weight: 2, stream: false, repeat: false, lane: None },
    Kind { task: "reasoning", prompt: "A customer was charged twice for an annual plan, then downgraded mid-cycle and asked for a partial refund in a different currency. Walk through the refund calculation step by step, state your assumptions, and draft a reply that explains it clearly.", weight: 2, stream: true, repeat: false, lane: None },
    Kind { task: "code", prompt: "Write a Rust function that merges overlapping intervals and explain its complexity.", weight: 1, stream: false, repeat: false, lane: None },
    Kind { task: "faq-repeat", prompt: "What are your opening hours?", weight: 3, stream: false, repeat: true, lane: None },
    Kind { task: "enrichment", prompt: "Tag this product description with three categories: 'Waterproof hiking boots with ankle support.'", weight: 2, stream: false, repeat: false, lane: Some("flex") },
];

/// When the cheap provider is down, relative to the start of the workload.
const OUTAGE: (Duration, Duration) = (Duration::from_millis(1000), Duration::from_millis(2000));

struct Outcome {
    task: &'static str,
    status: u16,
    model: String,
    rule: String,
    attempts: u32,
    latency: Duration,
    overhead_us: u64,
    input: u64,
    output: u64,
    cost: Option<f64>,
    baseline: Option<f64>,
    unpriced: bool,
    cache_hit: bool,
}

/// Run the demo.
pub async fn run(requests: usize) -> anyhow::Result<()> {
    let demo_started = std::time::Instant::now();
    let sim = Sim::start(demo_sim())
        .await
        .context("start the simulator")?;
    let mut cfg = config::embedded();
    for p in &mut cfg.providers {
        p.base_url = Some(sim.base_url());
    }
    cfg.ledger.url = None;
    let gw = Gateway::start(cfg, None, Arc::new(|_: &str| None))
        .await
        .map_err(|e| anyhow::anyhow!("start the embedded gateway: {e:?}"))?;
    let listener = app::bind(([127, 0, 0, 1], 0).into())
        .await
        .context("bind the demo gateway")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, gw.clone(), async {
        let _ = stop_rx.await;
    }));
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "switchyard demo — simulator + gateway in-process at {base}; no keys, no network"
        )?;
        writeln!(
            out,
            "route \"auto\": cheapest of sim-cheap / sim-cheap-b (backup vendor) / sim-premium;"
        )?;
        writeln!(out, "  rule hard-tasks: reasoning and code go to sim-premium. Baseline: everything on sim-premium.")?;
        writeln!(
            out,
            "sending {requests} requests over ~4 s; provider `sim` (sim-cheap) is DOWN from {:.1}s to {:.1}s\n",
            OUTAGE.0.as_secs_f64(),
            OUTAGE.1.as_secs_f64()
        )?;
    }
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let mix: Vec<&Kind> = WORKLOAD
        .iter()
        .flat_map(|k| std::iter::repeat_n(k, k.weight))
        .collect();
    let start = Instant::now();
    let gap = Duration::from_secs(4) / requests.max(1) as u32;
    let outcomes: Vec<Outcome> = futures::stream::iter(0..requests)
        .map(|i| {
            let (client, base, k) = (&client, &base, mix[i % mix.len()]);
            async move {
                tokio::time::sleep_until(start + gap * i as u32).await;
                send(client, base, k, i).await
            }
        })
        .buffer_unordered(64)
        .filter_map(|r| async move { r.ok() })
        .collect()
        .await;
    let summary = print_summary(&outcomes);
    let batch = batch_lane(&client, &base).await;
    let quality = quality::run(&client, &base).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    gw.shutdown().await; // flushes the ledger
    sim.shutdown().await;
    summary?;
    batch?;
    quality?.print()?;
    // The same run, as `switchyard report` reads it back from the ledger.
    let window = Duration::from_secs(demo_started.elapsed().as_secs() + 1);
    writeln!(
        std::io::stdout().lock(),
        "\n$ switchyard report --since {}s --by route",
        window.as_secs()
    )?;
    crate::report::run(crate::report::ReportArgs::recent(
        "sqlite://.switchyard/ledger.db".into(),
        window,
    ))
    .await?;
    writeln!(
        std::io::stdout().lock(),
        "\n$ switchyard audit --since {}s (the embedded setup)",
        window.as_secs()
    )?;
    crate::audit::embedded(window).await
}

/// The demo's simulator: the embedded models, with sim-cheap down during [`OUTAGE`].
fn demo_sim() -> SimConfig {
    let mut cfg = SimConfig::demo();
    cfg.record = false;
    for m in &mut cfg.models {
        if m.name == "sim-cheap" {
            m.outage = Some(OutageConfig {
                windows: Some(vec![[WindowBound(OUTAGE.0), WindowBound(OUTAGE.1)]]),
                ..OutageConfig::default()
            });
        }
    }
    let cheap_skill = cfg
        .models
        .iter()
        .find(|m| m.name == "sim-cheap")
        .map(|m| m.skill.clone())
        .unwrap_or_default();
    cfg.models.push(ModelConfig {
        name: "sim-cheap-b".into(),
        ttft: Some(Duration::from_millis(30)),
        tokens_per_sec: Some(350.0),
        answer_tokens: Some(26),
        skill: cheap_skill,
        ..ModelConfig::default()
    });
    cfg
}

async fn send(client: &reqwest::Client, base: &str, k: &Kind, i: usize) -> anyhow::Result<Outcome> {
    let question = if k.repeat {
        k.prompt.to_owned()
    } else {
        format!("{} (ticket #{i})", k.prompt)
    };
    let mut body = json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": question}
        ],
        "stream": k.stream,
    });
    if k.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if k.repeat {
        body["temperature"] = json!(0);
    }
    let started = Instant::now();
    let mut rb = client
        .post(format!("{base}/v1/chat/completions"))
        .header("x-switchyard-task", k.task);
    if let Some(lane) = k.lane {
        rb = rb.header("x-switchyard-lane", lane);
    }
    let resp = rb.json(&body).send().await?;
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let (model, rule) = (header("x-switchyard-model"), header("x-switchyard-rule"));
    let cache_hit = header("x-switchyard-cache") == "hit";
    let attempts = header("x-switchyard-attempts").parse().unwrap_or(0);
    let overhead_us = header("x-switchyard-overhead-us").parse().unwrap_or(0);
    let (mut cost, mut baseline) = (
        header("x-switchyard-cost-usd"),
        header("x-switchyard-baseline-cost-usd"),
    );
    let text = resp.text().await?;
    let usage: Option<Value> = if k.stream {
        let last = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<JsonMap>(d).ok())
            .find(|v| v.get("usage").is_some_and(|u| !u.is_null()));
        if let Some(sy) = last.as_ref().and_then(|v| v.get("switchyard")) {
            cost = sy["cost_usd"].as_str().unwrap_or("unpriced").to_owned();
            baseline = sy["baseline_cost_usd"]
                .as_str()
                .unwrap_or("unpriced")
                .to_owned();
        }
        last.and_then(|v| v.get("usage").cloned())
    } else {
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("usage").cloned())
    };
    let tok = |f: &str| {
        usage
            .as_ref()
            .and_then(|u| u.get(f))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Outcome {
        task: k.task,
        status,
        model,
        rule,
        attempts,
        latency: started.elapsed(),
        overhead_us,
        input: tok("prompt_tokens"),
        output: tok("completion_tokens"),
        unpriced: cost == "unpriced",
        cost: cost.parse().ok(),
        baseline: baseline.parse().ok(),
        cache_hit,
    })
}

fn print_summary(os: &[Outcome]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let ok = os.iter().filter(|o| o.status == 200).count();
    writeln!(
        out,
        "{:<15} {:>5} {:<13} {:<30} {:>8} {:>11} {:>11}",
        "task", "reqs", "rule", "answered by", "p50 ms", "cost $", "baseline $"
    )?;
    let mut by_task: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in os {
        by_task.entry(o.task).or_default().push(o);
    }
    for (task, group) in &by_task {
        writeln!(
            out,
            "{:<15} {:>5} {:<13} {:<30} {:>8.1} {:>11.6} {:>11.6}",
            task,
            group.len(),
            group[0].rule,
            counts(group.iter().map(|o| o.model.as_str())),
            percentile(group.iter().map(|o| o.latency), 50).as_secs_f64() * 1e3,
            group.iter().filter_map(|o| o.cost).sum::<f64>(),
            group.iter().filter_map(|o| o.baseline).sum::<f64>(),
        )?;
    }
    let failovers = os.iter().filter(|o| o.attempts > 1).count();
    let cost: f64 = os.iter().filter_map(|o| o.cost).sum();
    let baseline: f64 = os.iter().filter_map(|o| o.baseline).sum();
    writeln!(
        out,
        "\nrequests: {} sent, {} answered, {} failed",
        os.len(),
        ok,
        os.len() - ok
    )?;
    writeln!(
        out,
        "answered by: {}",
        counts(os.iter().map(|o| o.model.as_str()))
    )?;
    writeln!(out, "outage: {failovers} request(s) failed over to another deployment (x-switchyard-attempts > 1); none lost")?;
    let hits: Vec<&Outcome> = os.iter().filter(|o| o.cache_hit).collect();
    writeln!(
        out,
        "response cache: {} repeated question(s) answered from the cache at $0 (x-switchyard-cache: hit); their baseline ${:.6}",
        hits.len(),
        hits.iter().filter_map(|o| o.baseline).sum::<f64>()
    )?;
    let flex: Vec<&Outcome> = os.iter().filter(|o| o.task == "enrichment").collect();
    writeln!(
        out,
        "flex lane: {} enrichment request(s) on {} at the flex tier's half price, ${:.6}",
        flex.len(),
        counts(flex.iter().map(|o| o.model.as_str())),
        flex.iter().filter_map(|o| o.cost).sum::<f64>()
    )?;
    writeln!(
        out,
        "latency: p50 {:.1} ms, p95 {:.1} ms; gateway overhead p50 {} µs, p99 {} µs",
        percentile(os.iter().map(|o| o.latency), 50).as_secs_f64() * 1e3,
        percentile(os.iter().map(|o| o.latency), 95).as_secs_f64() * 1e3,
        percentile(os.iter().map(|o| Duration::from_micros(o.overhead_us)), 50).as_micros(),
        percentile(os.iter().map(|o| Duration::from_micros(o.overhead_us)), 99).as_micros(),
    )?;
    writeln!(
        out,
        "tokens: {} in, {} out",
        os.iter().map(|o| o.input).sum::<u64>(),
        os.iter().map(|o| o.output).sum::<u64>()
    )?;
    let unpriced = os.iter().filter(|o| o.unpriced).count();
    writeln!(
        out,
        "spend: ${cost:.6} vs baseline ${baseline:.6} (all on sim-premium) → saved ${:.6} ({:.1}%){}",
        baseline - cost,
        if baseline > 0.0 { 100.0 * (baseline - cost) / baseline } else { 0.0 },
        if unpriced > 0 { format!("; {unpriced} request(s) UNPRICED, not counted") } else { String::new() }
    )?;
    writeln!(
        out,
        "(display sums are rounded; exact per-request decimals are in the headers and the ledger)"
    )?;
    if ok != os.len() {
        anyhow::bail!("{} demo request(s) failed", os.len() - ok);
    }
    Ok(())
}

/// The batch lane: a client batch of overnight enrichment through the OpenAI Files and Batch
/// APIs, answered by the provider's batch API at batch prices.
async fn batch_lane(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    const LINES: usize = 20;
    let jsonl: String = (0..LINES)
        .map(|i| {
            json!({"custom_id": format!("item-{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "auto", "max_tokens": 40, "messages": [
                       {"role": "user", "content": format!("Write a one-line product blurb for catalogue item {i}.")}]}})
            .to_string()
                + "\n"
        })
        .collect();
    let form = format!(
        "--demo\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--demo\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"items.jsonl\"\r\n\r\n{jsonl}\r\n--demo--\r\n"
    );
    let file: Value = client
        .post(format!("{base}/v1/files"))
        .header("content-type", "multipart/form-data; boundary=demo")
        .body(form)
        .send()
        .await?
        .json()
        .await?;
    let mut batch: Value = client
        .post(format!("{base}/v1/batches"))
        .json(
            &json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
                      "completion_window": "24h"}),
        )
        .send()
        .await?
        .json()
        .await?;
    let id = batch["id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..100 {
        if batch["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        batch = client
            .get(format!("{base}/v1/batches/{id}"))
            .send()
            .await?
            .json()
            .await?;
    }
    let output = client
        .get(format!(
            "{base}/v1/files/{}/content",
            batch["output_file_id"].as_str().unwrap_or_default()
        ))
        .send()
        .await?
        .text()
        .await?;
    let (mut cost, mut baseline) = (0.0, 0.0);
    let mut models = Vec::new();
    for l in output.lines() {
        let v: Value = serde_json::from_str(l)?;
        let body = &v["response"]["body"];
        let num = |k: &str| {
            body["switchyard"][k]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        cost += num("cost_usd");
        baseline += num("baseline_cost_usd");
        models.push(body["model"].as_str().unwrap_or("-").to_owned());
    }
    writeln!(
        std::io::stdout().lock(),
        "\nbatch lane: {} of {LINES} catalogue blurbs sent as one client batch (POST /v1/files, /v1/batches) came back {} on {} through the provider's batch API: ${cost:.6} at batch prices vs ${baseline:.6} realtime on the baseline",
        output.lines().count(),
        batch["status"].as_str().unwrap_or("?"),
        counts(models.iter().map(String::as_str)),
    )?;
    if batch["status"] != "completed" {
        anyhow::bail!("the demo batch did not complete");
    }
    Ok(())
}

fn counts<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    for s in it {
        *m.entry(s).or_default() += 1;
    }
    m.iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(it: impl Iterator<Item = Duration>, p: usize) -> Duration {
    let mut v: Vec<Duration> = it.collect();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) * p) / 100]
}
