//! `switchyard demo`: the embedded setup (simulator + gateway in-process) under a realistic
//! mixed workload, sent over real HTTP, then a summary of what happened.

use std::{collections::BTreeMap, io::Write, sync::Arc, time::Duration};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};
use switchyard_server::{Gateway, app, config};
use tokio::time::Instant;

/// One kind of request in the workload.
struct Kind {
    task: &'static str,
    prompt: &'static str,
    repeat: usize,
    stream: bool,
}

const WORKLOAD: &[Kind] = &[
    Kind { task: "classification", prompt: "Classify the sentiment of this review as positive, negative or neutral: 'The delivery was late but the product is great.'", repeat: 1, stream: false },
    Kind { task: "extraction", prompt: "Extract the invoice number, date and total from: 'Invoice INV-2291 dated 2026-03-04, total due EUR 1,240.50.'", repeat: 1, stream: false },
    Kind { task: "faq", prompt: "How do I reset my password?", repeat: 1, stream: true },
    Kind { task: "spam", prompt: "Is this message spam? 'You won a free cruise, click here to claim.'", repeat: 1, stream: false },
    Kind { task: "reasoning", prompt: "A customer was charged twice for an annual plan, then downgraded mid-cycle and asked for a partial refund in a different currency. Walk through the refund calculation step by step, state your assumptions, and draft a reply that explains it clearly.", repeat: 4, stream: true },
    Kind { task: "code", prompt: "Write a Rust function that merges overlapping intervals and explain its complexity.", repeat: 3, stream: false },
];

struct Outcome {
    task: &'static str,
    status: u16,
    model: String,
    latency: Duration,
    overhead_us: u64,
    input: u64,
    output: u64,
    stream: bool,
}

/// Run the demo.
pub async fn run(requests: usize) -> anyhow::Result<()> {
    let gw = Gateway::start(config::embedded(), None, Arc::new(|_: &str| None))
        .await
        .map_err(|e| anyhow::anyhow!("start the embedded gateway: {e:?}"))?;
    let listener = app::bind(([127, 0, 0, 1], 0).into()).await.context("bind the demo gateway")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, gw.clone(), async {
        let _ = stop_rx.await;
    }));
    let mut out = std::io::stdout().lock();
    writeln!(out, "switchyard demo: embedded simulator + gateway at {base} (no keys, no network)")?;
    writeln!(out, "sending {requests} requests (mixed tasks, some streaming) to model \"auto\"...\n")?;
    drop(out);

    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let plan: Vec<&Kind> = WORKLOAD.iter().flat_map(|k| std::iter::repeat_n(k, k.repeat)).cycle().take(requests).collect();
    let outcomes: Vec<Outcome> = futures::stream::iter(plan.into_iter().enumerate())
        .map(|(i, k)| send(&client, &base, k, i))
        .buffer_unordered(8)
        .filter_map(|r| async move { r.ok() })
        .collect()
        .await;

    let _ = stop_tx.send(());
    let _ = server.await;
    gw.shutdown().await;
    print_summary(&outcomes)
}

async fn send(client: &reqwest::Client, base: &str, k: &Kind, i: usize) -> anyhow::Result<Outcome> {
    let body = json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": format!("{} (ticket #{i})", k.prompt)}
        ],
        "stream": k.stream,
        "stream_options": if k.stream { json!({"include_usage": true}) } else { Value::Null },
    });
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .header("x-switchyard-task", k.task)
        .json(&body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let model = header("x-switchyard-model");
    let overhead_us = header("x-switchyard-overhead-us").parse().unwrap_or(0);
    let text = resp.text().await?;
    let usage = if k.stream {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find_map(|v| v.get("usage").filter(|u| !u.is_null()).cloned())
    } else {
        serde_json::from_str::<Value>(&text).ok().and_then(|v| v.get("usage").cloned())
    };
    let tok = |f: &str| usage.as_ref().and_then(|u| u.get(f)).and_then(Value::as_u64).unwrap_or(0);
    Ok(Outcome {
        task: k.task,
        status,
        model,
        latency: started.elapsed(),
        overhead_us,
        input: tok("prompt_tokens"),
        output: tok("completion_tokens"),
        stream: k.stream,
    })
}

fn print_summary(outcomes: &[Outcome]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let ok = outcomes.iter().filter(|o| o.status == 200).count();
    writeln!(out, "{:<16} {:>5} {:>7} {:<14} {:>9} {:>9} {:>9}", "task", "reqs", "stream", "answered by", "p50 ms", "in tok", "out tok")?;
    let mut by_task: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_task.entry(o.task).or_default().push(o);
    }
    for (task, os) in &by_task {
        let mut models: BTreeMap<&str, usize> = BTreeMap::new();
        for o in os {
            *models.entry(o.model.as_str()).or_default() += 1;
        }
        let model = models.iter().map(|(m, n)| format!("{m}×{n}")).collect::<Vec<_>>().join(",");
        let streamed = os.iter().filter(|o| o.stream).count();
        writeln!(
            out,
            "{:<16} {:>5} {:>7} {:<14} {:>9.1} {:>9} {:>9}",
            task,
            os.len(),
            streamed,
            model,
            percentile(os.iter().map(|o| o.latency), 50).as_secs_f64() * 1e3,
            os.iter().map(|o| o.input).sum::<u64>(),
            os.iter().map(|o| o.output).sum::<u64>(),
        )?;
    }
    let mut models: BTreeMap<&str, usize> = BTreeMap::new();
    for o in outcomes {
        *models.entry(o.model.as_str()).or_default() += 1;
    }
    writeln!(out, "\nrequests: {} sent, {} ok, {} failed", outcomes.len(), ok, outcomes.len() - ok)?;
    for (m, n) in &models {
        writeln!(out, "  answered by {m}: {n}")?;
    }
    writeln!(
        out,
        "latency: p50 {:.1} ms, p95 {:.1} ms; gateway overhead: p50 {} µs",
        percentile(outcomes.iter().map(|o| o.latency), 50).as_secs_f64() * 1e3,
        percentile(outcomes.iter().map(|o| o.latency), 95).as_secs_f64() * 1e3,
        percentile(outcomes.iter().map(|o| Duration::from_micros(o.overhead_us)), 50).as_micros(),
    )?;
    writeln!(
        out,
        "tokens: {} in, {} out",
        outcomes.iter().map(|o| o.input).sum::<u64>(),
        outcomes.iter().map(|o| o.output).sum::<u64>()
    )?;
    if ok != outcomes.len() {
        anyhow::bail!("{} demo request(s) failed", outcomes.len() - ok);
    }
    Ok(())
}

fn percentile(it: impl Iterator<Item = Duration>, p: usize) -> Duration {
    let mut v: Vec<Duration> = it.collect();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) * p) / 100]
}
