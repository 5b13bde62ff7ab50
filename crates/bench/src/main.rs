//! `switchyard-loadgen`: how much latency does the gateway add?
//!
//! In one process it starts the simulator (fixed time to first token) and the gateway in front
//! of it (an `openai-compatible` provider pointing at the simulator), then runs the same load
//! against (a) the simulator directly and (b) the gateway: open-loop at a fixed arrival rate and
//! closed-loop at a fixed concurrency, non-streaming and streaming. It prints a Markdown report:
//! latency percentiles, throughput and errors per run, the gateway − direct difference per
//! percentile, and the gateway's own `x-switchyard-overhead-us` header.
//!
//! Everything runs on loopback; every loop is bounded by a request count or a deadline.
//!
//! ```text
//! cargo run --release -p switchyard-bench -- --rate 500 --duration 10s --concurrency 32
//! ```

use std::{fmt::Write as _, io::Write as _, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use switchyard_server::{app, config, Gateway};
use switchyard_sim::{config::DefaultsConfig, Sim, SimConfig};
use tokio::{task::JoinSet, time::Instant};

/// Measure the gateway's latency overhead against the simulator, direct vs through the gateway.
#[derive(Debug, Parser)]
#[command(name = "switchyard-loadgen", version, about)]
struct Args {
    /// Open-loop arrival rate, requests per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Length of each measured run (`10s`, `1500ms`, `2m`, or plain seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Closed-loop concurrency (requests in flight, each worker sends back to back).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The simulator's time to first token, in milliseconds.
    #[arg(long, default_value_t = 20)]
    ttft_ms: u64,
    /// The simulator's typical answer length in tokens (varies deterministically by ±50%).
    #[arg(long, default_value_t = 40)]
    answer_tokens: u32,
    /// Requests sent to each target before measuring (connection pools, caches).
    #[arg(long, default_value_t = 300)]
    warmup: usize,
    /// Which load models to run.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    load: Which,
    /// Which response modes to run.
    #[arg(long, value_enum, default_value_t = Modes::Both)]
    mode: Modes,
    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Open,
    Closed,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Modes {
    Plain,
    Stream,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// Fixed arrival rate; latency measured from each request's scheduled start.
    Open { rate: u32 },
    /// Fixed number of workers sending back to back.
    Closed { concurrency: usize },
}

impl Load {
    fn label(self) -> String {
        match self {
            Load::Open { rate } => format!("open {rate}/s"),
            Load::Closed { concurrency } => format!("closed c={concurrency}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Direct,
    Gateway,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::Direct => "direct (sim)",
            Target::Gateway => "gateway → sim",
        }
    }
}

/// What one run measured.
struct Stats {
    load: Load,
    stream: bool,
    target: Target,
    /// End-to-end latency of successful requests, µs.
    latency: Histogram<u64>,
    /// The gateway's `x-switchyard-overhead-us` header, µs.
    overhead: Histogram<u64>,
    ok: u64,
    errors: u64,
    /// From the first scheduled request to the last completion.
    wall: Duration,
}

/// One request's outcome.
struct Sample {
    latency: Duration,
    result: Result<Option<u64>, String>,
}

/// What every request sends.
#[derive(Clone)]
struct Shot {
    client: reqwest::Client,
    url: Arc<str>,
    body: Arc<str>,
    stream: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    // The simulator: every model answers after a fixed time to first token, then all tokens at
    // once (unlimited tokens/s); requests are not recorded.
    let sim_cfg = SimConfig {
        record: false,
        defaults: DefaultsConfig {
            ttft: Duration::from_millis(args.ttft_ms),
            tokens_per_sec: 0.0,
            answer_tokens: args.answer_tokens,
            ..DefaultsConfig::default()
        },
        models: Vec::new(),
        ..SimConfig::instant()
    };
    let sim = Sim::start(sim_cfg).await.context("start the simulator")?;
    let sim_url = sim.base_url();

    // The gateway, in front of the simulator as an ordinary OpenAI-compatible provider.
    let toml = format!(
        r#"
        [server]
        listen = "127.0.0.1:0"

        [[providers]]
        name = "sim"
        kind = "openai-compatible"
        base_url = "{sim_url}"

        [[models]]
        name = "bench"
        provider = "sim"
        upstream = "bench"
        "#
    );
    let cfg = config::parse(&toml).map_err(|e| anyhow::anyhow!("gateway config: {e:?}"))?;
    let gw = Gateway::start(cfg, None, Arc::new(|_: &str| None))
        .await
        .map_err(|e| anyhow::anyhow!("start the gateway: {e:?}"))?;
    let listener = app::bind(([127, 0, 0, 1], 0).into())
        .await
        .context("bind the gateway")?;
    let gw_url = format!("http://{}/v1", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, gw.clone(), async {
        let _ = stop_rx.await;
    }));

    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(90))
        .http1_only()
        .timeout(args.timeout)
        .build()?;

    let mut loads = Vec::new();
    if args.load != Which::Closed {
        loads.push(Load::Open {
            rate: args.rate.max(1),
        });
    }
    if args.load != Which::Open {
        loads.push(Load::Closed {
            concurrency: args.concurrency.max(1),
        });
    }
    let mut modes = Vec::new();
    if args.mode != Modes::Stream {
        modes.push(false);
    }
    if args.mode != Modes::Plain {
        modes.push(true);
    }
    let shot = |target: Target, stream: bool| {
        let base = match target {
            Target::Direct => sim_url.as_str(),
            Target::Gateway => gw_url.as_str(),
        };
        let body = json!({
            "model": "bench",
            "messages": [
                {"role": "system", "content": "You are a helpful support assistant."},
                {"role": "user", "content": "How do I reset my password? Answer in two sentences."}
            ],
            "max_tokens": 128,
            "stream": stream,
        });
        Shot {
            client: client.clone(),
            url: format!("{base}/chat/completions").into(),
            body: body.to_string().into(),
            stream,
        }
    };

    let mut log = std::io::stderr().lock();
    writeln!(
        log,
        "switchyard-loadgen: simulator at {sim_url}, gateway at {gw_url}"
    )?;
    for target in [Target::Direct, Target::Gateway] {
        for &stream in &modes {
            warmup(&shot(target, stream), args.warmup).await;
        }
    }
    drop(log);

    let mut results = Vec::new();
    for &load in &loads {
        for &stream in &modes {
            // Direct and gateway back to back, so that both see the same machine state.
            for target in [Target::Direct, Target::Gateway] {
                let s = shot(target, stream);
                let samples = match load {
                    Load::Open { rate } => open_loop(&s, rate, args.duration).await,
                    Load::Closed { concurrency } => {
                        closed_loop(&s, concurrency, args.duration).await
                    }
                };
                let stats = summarize(load, stream, target, samples)?;
                writeln!(
                    std::io::stderr().lock(),
                    "  {:<16} {:<6} {:<14} ok={} errors={} p50={:.2}ms p99={:.2}ms",
                    load.label(),
                    if stream { "stream" } else { "plain" },
                    target.label(),
                    stats.ok,
                    stats.errors,
                    ms(stats.latency.value_at_quantile(0.5)),
                    ms(stats.latency.value_at_quantile(0.99)),
                )?;
                results.push(stats);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    let _ = stop_tx.send(());
    let _ = server.await;
    gw.shutdown().await;
    sim.shutdown().await;

    let report = render(&args, &results)?;
    std::io::stdout().lock().write_all(report.as_bytes())?;
    Ok(())
}

/// Send one request and read the whole answer. `Ok` carries the gateway's overhead header.
async fn send(shot: &Shot) -> Result<Option<u64>, String> {
    let resp = shot
        .client
        .post(&*shot.url)
        .header("content-type", "application/json")
        .body(shot.body.to_string())
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let overhead = resp
        .headers()
        .get("x-switchyard-overhead-us")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if !status.is_success() {
        return Err(format!("status {status}"));
    }
    if shot.stream {
        let mut body = resp.bytes_stream();
        let mut tail: Vec<u8> = Vec::with_capacity(64);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| format!("stream: {e}"))?;
            tail.extend_from_slice(&chunk);
            if tail.len() > 64 {
                tail.drain(..tail.len() - 64);
            }
        }
        if !tail.windows(6).any(|w| w == b"[DONE]") {
            return Err("stream ended without [DONE]".into());
        }
    } else {
        let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
        if !body.windows(9).any(|w| w == b"\"choices\"") {
            return Err("response without choices".into());
        }
    }
    Ok(overhead)
}

async fn warmup(shot: &Shot, n: usize) {
    futures::stream::iter(0..n)
        .map(|_| send(shot))
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
}

/// Fixed arrival rate for `duration`: request `i` is scheduled at `start + i / rate`, whatever
/// happened to the earlier ones, and its latency counts from that scheduled time (no
/// coordinated omission).
async fn open_loop(shot: &Shot, rate: u32, duration: Duration) -> (Vec<Sample>, Duration) {
    let n = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now() + Duration::from_millis(5);
    let mut set = JoinSet::new();
    for i in 0..n {
        let at = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(at).await;
        let shot = shot.clone();
        set.spawn(async move {
            let result = send(&shot).await;
            (
                Sample {
                    latency: at.elapsed(),
                    result,
                },
                Instant::now(),
            )
        });
    }
    let mut samples = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut last = start;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((sample, done)) => {
                last = last.max(done);
                samples.push(sample);
            }
            Err(e) => samples.push(Sample {
                latency: Duration::ZERO,
                result: Err(format!("task: {e}")),
            }),
        }
    }
    (samples, last.saturating_duration_since(start))
}

/// `concurrency` workers, each sending back to back until the deadline.
async fn closed_loop(
    shot: &Shot,
    concurrency: usize,
    duration: Duration,
) -> (Vec<Sample>, Duration) {
    let start = Instant::now();
    let deadline = start + duration;
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let shot = shot.clone();
        set.spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = send(&shot).await;
                samples.push(Sample {
                    latency: t.elapsed(),
                    result,
                });
            }
            samples
        });
    }
    let mut samples = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(mut s) => samples.append(&mut s),
            Err(e) => samples.push(Sample {
                latency: Duration::ZERO,
                result: Err(format!("task: {e}")),
            }),
        }
    }
    (samples, start.elapsed())
}

fn summarize(
    load: Load,
    stream: bool,
    target: Target,
    (samples, wall): (Vec<Sample>, Duration),
) -> anyhow::Result<Stats> {
    let hist = || {
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)
            .map_err(|e| anyhow::anyhow!("histogram: {e:?}"))
    };
    let mut stats = Stats {
        load,
        stream,
        target,
        latency: hist()?,
        overhead: hist()?,
        ok: 0,
        errors: 0,
        wall,
    };
    let mut first_error = None;
    for s in samples {
        match s.result {
            Ok(overhead) => {
                stats.ok += 1;
                stats.latency.saturating_record(
                    u64::try_from(s.latency.as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1),
                );
                if let Some(us) = overhead {
                    stats.overhead.saturating_record(us.max(1));
                }
            }
            Err(e) => {
                stats.errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        writeln!(
            std::io::stderr().lock(),
            "  first error ({} {}): {e}",
            load.label(),
            target.label()
        )?;
    }
    Ok(stats)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn render(args: &Args, results: &[Stats]) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(out, "## switchyard-loadgen\n")?;
    writeln!(
        out,
        "Upstream: the simulator, time to first token {} ms, unlimited tokens/s, ~{} answer tokens. \
         Client: HTTP/1.1 keep-alive, TCP_NODELAY. Each run lasts {:?}; open loop at {} req/s, closed loop with {} workers. \
         Latency is end to end (whole body read; open loop: from the scheduled send time).\n",
        args.ttft_ms,
        args.answer_tokens,
        args.duration,
        args.rate,
        args.concurrency
    )?;
    writeln!(out, "| load | response | target | ok | errors | throughput req/s | p50 ms | p90 ms | p99 ms | max ms |")?;
    writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for s in results {
        let secs = s.wall.as_secs_f64().max(1e-9);
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.load.label(),
            mode(s.stream),
            s.target.label(),
            s.ok,
            s.errors,
            s.ok as f64 / secs,
            ms(s.latency.value_at_quantile(0.50)),
            ms(s.latency.value_at_quantile(0.90)),
            ms(s.latency.value_at_quantile(0.99)),
            ms(s.latency.max()),
        )?;
    }
    writeln!(out, "\n### Gateway − direct\n")?;
    writeln!(
        out,
        "| load | response | Δp50 ms | Δp90 ms | Δp99 ms | Δthroughput req/s | `x-switchyard-overhead-us` p50 | p99 |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|")?;
    for d in results.iter().filter(|s| s.target == Target::Direct) {
        let Some(g) = results
            .iter()
            .find(|s| s.target == Target::Gateway && s.load == d.load && s.stream == d.stream)
        else {
            continue;
        };
        let delta =
            |q: f64| ms(g.latency.value_at_quantile(q)) - ms(d.latency.value_at_quantile(q));
        let tput = |s: &Stats| s.ok as f64 / s.wall.as_secs_f64().max(1e-9);
        writeln!(
            out,
            "| {} | {} | {:+.2} | {:+.2} | {:+.2} | {:+.0} | {} µs | {} µs |",
            d.load.label(),
            mode(d.stream),
            delta(0.50),
            delta(0.90),
            delta(0.99),
            tput(g) - tput(d),
            g.overhead.value_at_quantile(0.50),
            g.overhead.value_at_quantile(0.99),
        )?;
    }
    Ok(out)
}

fn mode(stream: bool) -> &'static str {
    if stream {
        "stream"
    } else {
        "non-stream"
    }
}

/// `10s`, `1500ms`, `2m`, `250us`, or plain seconds (`10`, `0.5`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("not a duration: `{s}` (try 10s, 500ms)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "m" | "min" => n * 60.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use s, ms, us, m)"
            ))
        }
    };
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration out of range: `{s}`"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
