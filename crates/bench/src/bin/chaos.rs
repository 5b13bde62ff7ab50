//! `switchyard-chaos`: does failover ever lie?
//!
//! In one process it starts the simulator and the gateway in front of it, with a flapping
//! primary deployment, secondaries that inject random faults (stream cuts, 500s, stalls) and a
//! prefill-capable fallback for half of the routes, then sends a fixed number of requests at a
//! steady rate (open loop, bounded in-flight), half of them streaming, and classifies every
//! answer precisely:
//!
//! - **complete**: non-stream: 2xx, a `finish_reason` and content or tool calls; stream: 2xx,
//!   `data: [DONE]` last, a `finish_reason`, content, no error event;
//! - **explicit error**: non-2xx with an `{"error": …}` body, or a stream whose last event is an
//!   error event and that has no `[DONE]`;
//! - **truncated success**: anything else that started like a success (must be zero);
//! - **no response**: the connection failed before any response;
//!
//! and, independently, **past deadline**: client-measured latency above the route's total
//! deadline plus a small slack (must be zero). It prints a Markdown report and exits non-zero if
//! there were truncated successes or past-deadline requests.
//!
//! ```text
//! cargo run --release -p switchyard-bench --bin switchyard-chaos -- --requests 10000 --rate 400
//! ```

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::Write as _,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use switchyard_server::{app, config, Gateway};
use switchyard_sim::{config::DefaultsConfig, ModelConfig, OutageConfig, Sim, SimConfig};
use tokio::{sync::Semaphore, task::JoinSet, time::Instant};

/// The route timeouts (tight on purpose).
const FIRST_TOKEN: &str = "1s";
const IDLE: &str = "1s";
const RESPONSE: &str = "2s";
const TOTAL: Duration = Duration::from_secs(8);

/// The secondaries: (gateway model, sim model, fault spec, fault rate, ttft ms, tokens/s).
const SECONDARIES: &[(&str, &str, &str, f64, u64, f64)] = &[
    ("secondary-cut", "sec-cut", "cut-15", 0.08, 35, 350.0),
    ("secondary-500", "sec-500", "500", 0.05, 40, 350.0),
    ("secondary-stall", "sec-stall", "stall-10", 0.03, 45, 320.0),
];

/// Send a fixed number of requests through a gateway in front of a faulty simulator and check
/// that every failure is explicit and every request ends within its deadline.
#[derive(Debug, Parser)]
#[command(name = "switchyard-chaos", version, about)]
struct Args {
    /// Total number of requests (half streaming).
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Open-loop arrival rate, requests per second.
    #[arg(long, default_value_t = 400)]
    rate: u32,
    /// Most requests in flight; further sends wait (and the wait is reported).
    #[arg(long, default_value_t = 512)]
    max_inflight: usize,
    /// Tolerance above the 8 s total deadline before a request counts as past deadline.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    slack: Duration,
    /// Seed of the simulator's fault PRNG.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also hedge every route after this delay (e.g. `150ms`); off by default.
    #[arg(long, value_parser = parse_duration)]
    hedge: Option<Duration>,
    /// The primary's flapping cycle.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    period: Duration,
    /// How long the primary is down at the start of every cycle.
    #[arg(long, default_value = "600ms", value_parser = parse_duration)]
    down: Duration,
    /// Print up to this many examples of each violation to stderr.
    #[arg(long, default_value_t = 5)]
    examples: usize,
}

/// What a request turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Complete,
    /// The error code as the client saw it (`503 no_candidate`, `stream stream_cut`, …).
    Explicit(String),
    /// Why it is not complete (and not an explicit error).
    Truncated(String),
    /// The connection failed before a response (or the client gave up waiting for one).
    NoResponse(String),
}

/// One request's outcome.
#[derive(Debug)]
struct Outcome {
    route: &'static str,
    stream: bool,
    class: Class,
    status: u16,
    /// From the actual send to the last body byte.
    latency: Duration,
    /// From the actual send to the first body byte.
    ttfb: Option<Duration>,
    /// How late the send was against the schedule (in-flight bound, scheduler).
    lag: Duration,
    attempts: Option<u32>,
    model: Option<String>,
    /// Cost in femto-USD (10⁻¹⁵), when reported and priced.
    cost: Option<u128>,
    cost_reported: bool,
    /// The body's tail, for examples.
    tail: String,
}

/// Route names: every secondary behind the primary, with (`guarded-*`) and without (`bare-*`)
/// the prefill-capable fallback.
fn routes() -> Vec<(&'static str, &'static str, bool)> {
    let mut out = Vec::new();
    for &(model, ..) in SECONDARIES {
        let suffix = model.trim_start_matches("secondary-");
        let guarded: &'static str = match suffix {
            "cut" => "guarded-cut",
            "500" => "guarded-500",
            _ => "guarded-stall",
        };
        let bare: &'static str = match suffix {
            "cut" => "bare-cut",
            "500" => "bare-500",
            _ => "bare-stall",
        };
        out.push((guarded, model, true));
        out.push((bare, model, false));
    }
    out
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let failed = rt.block_on(run(args))?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn sim_config(args: &Args) -> SimConfig {
    let model = |name: &str, ttft_ms: u64, tps: f64| ModelConfig {
        name: name.to_string(),
        ttft: Some(Duration::from_millis(ttft_ms)),
        tokens_per_sec: Some(tps),
        answer_tokens: Some(40),
        ..ModelConfig::default()
    };
    let mut models = vec![ModelConfig {
        outage: Some(OutageConfig {
            period: Some(args.period),
            down: Some(args.down),
            ..OutageConfig::default()
        }),
        ..model("flappy", 25, 400.0)
    }];
    for &(_, sim_name, fault, rate, ttft, tps) in SECONDARIES {
        models.push(ModelConfig {
            fault: Some(fault.to_string()),
            fault_rate: Some(rate),
            ..model(sim_name, ttft, tps)
        });
    }
    models.push(model("steady", 50, 300.0));
    SimConfig {
        record: false,
        seed: args.seed,
        defaults: DefaultsConfig {
            ttft: Duration::from_millis(30),
            tokens_per_sec: 300.0,
            answer_tokens: 40,
            ..DefaultsConfig::default()
        },
        models,
        ..SimConfig::instant()
    }
}

fn gateway_toml(sim_url: &str, hedge: Option<Duration>) -> String {
    let price = r#"price = { input = 0.15, output = 0.60, unit = "per_million" }"#;
    let mut t = format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        [ledger]
        enabled = false
        [[providers]]
        name = "vendor-a"
        kind = "openai-compatible"
        base_url = "{sim_url}"
        [[providers]]
        name = "vendor-b"
        kind = "openai-compatible"
        base_url = "{sim_url}"
        [[providers]]
        name = "vendor-c"
        kind = "openai-compatible"
        base_url = "{sim_url}"
        [[models]]
        name = "primary"
        provider = "vendor-a"
        upstream = "flappy"
        {price}
        [[models]]
        name = "fallback"
        provider = "vendor-c"
        upstream = "steady"
        capabilities = {{ prefill = true }}
        price = {{ input = 0.50, output = 1.50, unit = "per_million" }}
        "#
    );
    for &(model, sim_name, ..) in SECONDARIES {
        let _ = write!(
            t,
            r#"
        [[models]]
        name = "{model}"
        provider = "vendor-b"
        upstream = "{sim_name}"
        price = {{ input = 0.20, output = 0.80, unit = "per_million" }}
        "#
        );
    }
    let hedge = hedge
        .map(|d| format!("hedge = {{ after = \"{}ms\" }}", d.as_millis()))
        .unwrap_or_default();
    for (route, secondary, guarded) in routes() {
        let candidates = if guarded {
            format!(r#"["primary", "{secondary}", "fallback"]"#)
        } else {
            format!(r#"["primary", "{secondary}"]"#)
        };
        let _ = write!(
            t,
            r#"
        [[routes]]
        name = "{route}"
        candidates = {candidates}
        timeouts = {{ first_token = "{FIRST_TOKEN}", idle = "{IDLE}", response = "{RESPONSE}", total = "{}s" }}
        {hedge}
        "#,
            TOTAL.as_secs()
        );
    }
    t
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let sim = Sim::start(sim_config(&args))
        .await
        .context("start the simulator")?;
    let sim_url = sim.base_url();
    let cfg = config::parse(&gateway_toml(&sim_url, args.hedge))
        .map_err(|e| anyhow::anyhow!("gateway config: {e:?}"))?;
    let gw = Gateway::start(cfg, None, Arc::new(|_: &str| None))
        .await
        .map_err(|e| anyhow::anyhow!("start the gateway: {e:?}"))?;
    let listener = app::bind(([127, 0, 0, 1], 0).into())
        .await
        .context("bind the gateway")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, gw.clone(), async {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(90))
        .http1_only()
        // Far beyond the gateway's deadline: a request the client has to abandon is past it.
        .timeout(TOTAL + Duration::from_secs(5))
        .build()?;
    writeln!(
        std::io::stderr().lock(),
        "switchyard-chaos: simulator at {sim_url}, gateway at {base}; {} requests at {}/s",
        args.requests,
        args.rate
    )?;

    // Circuit states, sampled while the load runs.
    let seen: Arc<Mutex<BTreeMap<(String, String), u64>>> = Arc::default();
    let polling = Arc::new(AtomicBool::new(true));
    let poller = {
        let (client, base, seen, polling) =
            (client.clone(), base.clone(), seen.clone(), polling.clone());
        tokio::spawn(async move {
            while polling.load(Ordering::Relaxed) {
                if let Ok(states) = circuits(&client, &base).await {
                    if let Ok(mut seen) = seen.lock() {
                        for s in states {
                            *seen.entry(s).or_default() += 1;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let (outcomes, load) = drive(&args, &client, &base).await;
    polling.store(false, Ordering::Relaxed);
    let _ = poller.await;
    let final_states = circuits(&client, &base).await.unwrap_or_default();
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();

    let _ = stop_tx.send(());
    let _ = server.await;
    gw.shutdown().await;
    sim.shutdown().await;

    let report = Report {
        args: &args,
        outcomes: &outcomes,
        load: &load,
        final_states: &final_states,
        seen: &seen,
    };
    let (text, failed) = report.render()?;
    examples(&args, &outcomes)?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(failed)
}

/// `(model, circuit)` for every deployment at `/admin/health`.
async fn circuits(client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<(String, String)>> {
    let v: Value = client
        .get(format!("{base}/admin/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["deployments"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .map(|d| {
                    (
                        d["model"].as_str().unwrap_or("?").to_owned(),
                        d["circuit"].as_str().unwrap_or("?").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The open loop: request `i` is due at `start + i / rate`; a send waits for an in-flight slot.
/// Returns the outcomes and what the load looked like.
async fn drive(args: &Args, client: &reqwest::Client, base: &str) -> (Vec<Outcome>, Load) {
    let routes = routes();
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let sem = Arc::new(Semaphore::new(args.max_inflight.max(1)));
    let inflight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let url: Arc<str> = format!("{base}/v1/chat/completions").into();
    let start = Instant::now() + Duration::from_millis(5);
    let mut set = JoinSet::new();
    for i in 0..args.requests {
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        let stream = i % 2 == 1;
        let (route, ..) = routes[((i / 2) % routes.len() as u64) as usize];
        let body = request_body(route, stream, i);
        let (client, url, inflight, peak) =
            (client.clone(), url.clone(), inflight.clone(), peak.clone());
        set.spawn(async move {
            let now = inflight.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now, Ordering::Relaxed);
            let lag = due.elapsed();
            let out = send(&client, &url, body, route, stream, lag).await;
            inflight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            out
        });
    }
    let sending = start.elapsed();
    // Bounded: whatever has not finished by the deadline plus a grace period is abandoned.
    let hard_stop = Instant::now() + TOTAL + Duration::from_secs(10);
    let mut outcomes = Vec::with_capacity(usize::try_from(args.requests).unwrap_or(0));
    let mut last = start;
    loop {
        match tokio::time::timeout_at(hard_stop, set.join_next()).await {
            Ok(Some(Ok(o))) => {
                last = Instant::now();
                outcomes.push(o);
            }
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => break,
        }
    }
    let abandoned = set.len() as u64;
    set.abort_all();
    let load = Load {
        sending,
        wall: last.saturating_duration_since(start),
        abandoned,
        peak_inflight: peak.load(Ordering::Relaxed),
    };
    (outcomes, load)
}

/// What the load looked like.
struct Load {
    /// From the first scheduled send to the last actual send.
    sending: Duration,
    /// From the first scheduled send to the last completion.
    wall: Duration,
    /// Requests still running at the hard stop.
    abandoned: u64,
    peak_inflight: usize,
}

fn request_body(route: &str, stream: bool, i: u64) -> String {
    let mut body = json!({
        "model": route,
        "messages": [
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": format!("My order #{i} never arrived. What can I do? Answer briefly.")}
        ],
        "max_tokens": 256,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body.to_string()
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    body: String,
    route: &'static str,
    stream: bool,
    lag: Duration,
) -> Outcome {
    let sent = Instant::now();
    let mut out = Outcome {
        route,
        stream,
        class: Class::NoResponse(String::new()),
        status: 0,
        latency: Duration::ZERO,
        ttfb: None,
        lag,
        attempts: None,
        model: None,
        cost: None,
        cost_reported: false,
        tail: String::new(),
    };
    let resp = match client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            out.latency = sent.elapsed();
            out.class = Class::NoResponse(if e.is_timeout() {
                "client timeout".into()
            } else {
                "connection failed".into()
            });
            return out;
        }
    };
    out.status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    out.attempts = header("x-switchyard-attempts").and_then(|v| v.parse().ok());
    out.model = header("x-switchyard-model");
    let cost_header = header("x-switchyard-cost-usd");
    let mut bytes = Vec::new();
    let mut body_error = None;
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(c) => {
                if out.ttfb.is_none() && !c.is_empty() {
                    out.ttfb = Some(sent.elapsed());
                }
                bytes.extend_from_slice(&c);
            }
            Err(e) => {
                body_error = Some(if e.is_timeout() {
                    "client timeout mid-body"
                } else {
                    "connection dropped mid-body"
                });
                break;
            }
        }
    }
    out.latency = sent.elapsed();
    let text = String::from_utf8_lossy(&bytes);
    out.tail = tail(&text, 600);
    let verdict = if stream && (200..300).contains(&out.status) {
        classify_stream(&text, body_error)
    } else {
        classify_json(out.status, &text, body_error)
    };
    out.class = verdict.class;
    // Cost: the header (non-streaming) or the usage chunk's `switchyard.cost_usd` (streams).
    let cost = cost_header.or(verdict.stream_cost);
    if let Some(c) = cost {
        out.cost_reported = true;
        out.cost = parse_usd(&c);
    }
    out
}

struct Verdict {
    class: Class,
    stream_cost: Option<String>,
}

/// A JSON answer (any non-streaming request, and streaming requests refused before streaming).
fn classify_json(status: u16, text: &str, body_error: Option<&str>) -> Verdict {
    let v: Option<Value> = serde_json::from_str(text).ok();
    let class = if (200..300).contains(&status) {
        match (body_error, &v) {
            (Some(e), _) => Class::Truncated(format!("non-stream: {e}")),
            (None, None) => Class::Truncated("non-stream: body is not JSON".into()),
            (None, Some(v)) => {
                let choice = &v["choices"][0];
                let finish = choice["finish_reason"].as_str().is_some();
                let content = choice["message"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
                    || choice["message"]["tool_calls"]
                        .as_array()
                        .is_some_and(|t| !t.is_empty());
                match (finish, content) {
                    (true, true) => Class::Complete,
                    (false, _) => Class::Truncated("non-stream: no finish_reason".into()),
                    (true, false) => Class::Truncated("non-stream: no content".into()),
                }
            }
        }
    } else {
        match v.as_ref().map(|v| &v["error"]) {
            Some(e) if e.is_object() => {
                let code = e["code"]
                    .as_str()
                    .or_else(|| e["type"].as_str())
                    .unwrap_or("(no code)");
                Class::Explicit(format!("{status} {code}"))
            }
            _ => Class::NoResponse(format!("{status} without an error body")),
        }
    };
    Verdict {
        class,
        stream_cost: None,
    }
}

/// A 2xx server-sent event stream.
fn classify_stream(text: &str, body_error: Option<&str>) -> Verdict {
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .collect();
    let mut finish = false;
    let mut content = false;
    let mut errors = 0usize;
    let mut stream_cost = None;
    let mut last_is_error = false;
    let mut last_code = String::new();
    for e in &events {
        last_is_error = false;
        if *e == "[DONE]" {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(e) else {
            continue;
        };
        if v.get("error").is_some_and(|e| !e.is_null()) {
            errors += 1;
            last_is_error = true;
            last_code = v["error"]["code"]
                .as_str()
                .or_else(|| v["error"]["type"].as_str())
                .unwrap_or("(no code)")
                .to_owned();
            continue;
        }
        for c in v["choices"].as_array().into_iter().flatten() {
            finish |= c["finish_reason"].as_str().is_some();
            content |= c["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
                || c["delta"]["tool_calls"]
                    .as_array()
                    .is_some_and(|t| !t.is_empty());
        }
        if v.get("usage").is_some_and(|u| !u.is_null()) {
            if let Some(c) = v["switchyard"]["cost_usd"].as_str() {
                stream_cost = Some(c.to_owned());
            }
        }
    }
    let has_done = events.contains(&"[DONE]");
    let done_last = events.last() == Some(&"[DONE]");
    let class = if done_last && finish && content && errors == 0 && body_error.is_none() {
        Class::Complete
    } else if last_is_error && !has_done {
        Class::Explicit(format!("stream {last_code}"))
    } else {
        let why = if let Some(e) = body_error {
            format!("stream: {e} after {} events, no error event", events.len())
        } else if errors > 0 && has_done {
            "stream: error event and [DONE]".to_owned()
        } else if !has_done {
            format!(
                "stream: ended after {} events without [DONE] or an error event",
                events.len()
            )
        } else if !done_last {
            "stream: events after [DONE]".to_owned()
        } else if !finish {
            "stream: [DONE] without a finish_reason".to_owned()
        } else {
            "stream: [DONE] without content".to_owned()
        };
        Class::Truncated(why)
    };
    Verdict { class, stream_cost }
}

/// `"0.000012"` → femto-USD. `None` for anything that is not a plain non-negative decimal.
fn parse_usd(s: &str) -> Option<u128> {
    let (int, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if !ok(int) || !ok(frac) {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f = frac.to_owned();
    f.truncate(15);
    while f.len() < 15 {
        f.push('0');
    }
    Some(int * 1_000_000_000_000_000 + f.parse::<u128>().ok()?)
}

fn tail(s: &str, n: usize) -> String {
    let skip = s.chars().count().saturating_sub(n);
    s.chars().skip(skip).collect()
}

/// Picks one latency series' value from an outcome.
type Pick<'a> = &'a dyn Fn(&Outcome) -> Option<Duration>;

struct Report<'a> {
    args: &'a Args,
    outcomes: &'a [Outcome],
    load: &'a Load,
    final_states: &'a [(String, String)],
    seen: &'a BTreeMap<(String, String), u64>,
}

fn hist() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| anyhow::anyhow!("{e:?}"))
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn pct(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

impl Report<'_> {
    fn past_deadline(&self, o: &Outcome) -> bool {
        o.latency > TOTAL + self.args.slack
    }

    fn render(&self) -> anyhow::Result<(String, bool)> {
        let os = self.outcomes;
        let n = os.len() as u64 + self.load.abandoned;
        let count = |f: &dyn Fn(&Outcome) -> bool| os.iter().filter(|o| f(o)).count() as u64;
        let complete = count(&|o| o.class == Class::Complete);
        let explicit = count(&|o| matches!(o.class, Class::Explicit(_)));
        let truncated = count(&|o| matches!(o.class, Class::Truncated(_)));
        let no_response = count(&|o| matches!(o.class, Class::NoResponse(_)));
        // An abandoned request outlived the deadline by seconds.
        let past = count(&|o| self.past_deadline(o)) + self.load.abandoned;
        let failed = truncated > 0 || past > 0;

        let mut out = String::new();
        let a = self.args;
        writeln!(out, "## switchyard-chaos\n")?;
        writeln!(
            out,
            "{} requests ({} streaming) at {} req/s open loop, at most {} in flight; \
             primary down {:?} of every {:?}; secondaries: {}; prefill fallback on the `guarded-*` routes; \
             route timeouts first_token {FIRST_TOKEN}, idle {IDLE}, response {RESPONSE}, total {:?}{}; \
             past deadline = latency > {:?} + {:?}; sim seed {}.\n",
            a.requests,
            a.requests / 2,
            a.rate,
            a.max_inflight,
            a.down,
            a.period,
            SECONDARIES
                .iter()
                .map(|s| format!("`{}` {:.0}%", s.2, s.3 * 100.0))
                .collect::<Vec<_>>()
                .join(", "),
            TOTAL,
            a.hedge
                .map(|h| format!(", hedge after {h:?}"))
                .unwrap_or_default(),
            TOTAL,
            a.slack,
            a.seed,
        )?;
        let max_lag = os.iter().map(|o| o.lag).max().unwrap_or_default();
        let late = count(&|o| o.lag > Duration::from_millis(50));
        writeln!(
            out,
            "Load: {n} sent in {:.2} s ({:.0} req/s achieved), last answer after {:.2} s, peak {} in flight, {} sends more than 50 ms late (max {:.0} ms), {} abandoned at the hard stop.\n",
            self.load.sending.as_secs_f64(),
            n as f64 / self.load.sending.as_secs_f64().max(1e-9),
            self.load.wall.as_secs_f64(),
            self.load.peak_inflight,
            late,
            max_lag.as_secs_f64() * 1e3,
            self.load.abandoned,
        )?;

        writeln!(out, "### Outcomes\n")?;
        writeln!(out, "| outcome | requests | share | must be |")?;
        writeln!(out, "|---|---:|---:|---|")?;
        for (label, k, must) in [
            ("complete success", complete, ""),
            ("explicit error", explicit, ""),
            ("truncated success", truncated, "0"),
            ("no response (connection failed)", no_response, ""),
            ("past deadline (any outcome)", past, "0"),
        ] {
            writeln!(out, "| {label} | {k} | {:.2}% | {must} |", pct(k, n))?;
        }
        writeln!(
            out,
            "\nSuccess rate: **{:.2}%** ({complete}/{n}); non-stream {:.2}%, stream {:.2}%.\n",
            pct(complete, n),
            pct(
                count(&|o| !o.stream && o.class == Class::Complete),
                count(&|o| !o.stream)
            ),
            pct(
                count(&|o| o.stream && o.class == Class::Complete),
                count(&|o| o.stream)
            ),
        )?;

        let mut by_code: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for o in os {
            let key = match &o.class {
                Class::Explicit(c) => format!("explicit: {c}"),
                Class::Truncated(c) => format!("TRUNCATED: {c}"),
                Class::NoResponse(c) => format!("no response: {c}"),
                Class::Complete => continue,
            };
            let e = by_code.entry(key).or_default();
            if o.stream {
                e.1 += 1;
            } else {
                e.0 += 1;
            }
        }
        if !by_code.is_empty() {
            writeln!(out, "| failure | non-stream | stream |")?;
            writeln!(out, "|---|---:|---:|")?;
            for (k, (p, s)) in &by_code {
                writeln!(out, "| {k} | {p} | {s} |")?;
            }
            writeln!(out)?;
        }

        writeln!(out, "### By route\n")?;
        writeln!(
            out,
            "| route | candidates | requests | complete | explicit | truncated | past deadline | attempts mean |"
        )?;
        writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|")?;
        for (route, secondary, guarded) in routes() {
            let rs: Vec<&Outcome> = os.iter().filter(|o| o.route == route).collect();
            let c = |f: &dyn Fn(&Outcome) -> bool| rs.iter().filter(|o| f(o)).count();
            let att: Vec<u32> = rs.iter().filter_map(|o| o.attempts).collect();
            writeln!(
                out,
                "| `{route}` | primary → {secondary}{} | {} | {} | {} | {} | {} | {:.2} |",
                if guarded {
                    " → fallback (prefill)"
                } else {
                    ""
                },
                rs.len(),
                c(&|o| o.class == Class::Complete),
                c(&|o| matches!(o.class, Class::Explicit(_))),
                c(&|o| matches!(o.class, Class::Truncated(_))),
                c(&|o| self.past_deadline(o)),
                att.iter().map(|&a| f64::from(a)).sum::<f64>() / att.len().max(1) as f64,
            )?;
        }

        writeln!(
            out,
            "\n### Latency (client-measured, from the actual send)\n"
        )?;
        writeln!(out, "| series | n | p50 ms | p90 ms | p99 ms | max ms |")?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
        let series: [(&str, Pick<'_>); 5] = [
            ("non-stream, all", &|o| (!o.stream).then_some(o.latency)),
            ("non-stream, complete", &|o| {
                (!o.stream && o.class == Class::Complete).then_some(o.latency)
            }),
            ("stream, full duration, all", &|o| {
                o.stream.then_some(o.latency)
            }),
            ("stream, full duration, complete", &|o| {
                (o.stream && o.class == Class::Complete).then_some(o.latency)
            }),
            ("stream, time to first byte", &|o| {
                if o.stream {
                    o.ttfb
                } else {
                    None
                }
            }),
        ];
        for (label, pick) in series {
            let mut h = hist()?;
            for o in os {
                if let Some(d) = pick(o) {
                    h.saturating_record(us(d));
                }
            }
            writeln!(
                out,
                "| {label} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                h.len(),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.9)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
            )?;
        }

        let att: Vec<u32> = os.iter().filter_map(|o| o.attempts).collect();
        let mut buckets: BTreeMap<u32, u64> = BTreeMap::new();
        for &x in &att {
            *buckets.entry(x).or_default() += 1;
        }
        writeln!(
            out,
            "\n### Attempts per request (`x-switchyard-attempts`)\n\nMean {:.3} over {} requests with the header ({} without).\n",
            att.iter().map(|&a| f64::from(a)).sum::<f64>() / att.len().max(1) as f64,
            att.len(),
            os.len() - att.len(),
        )?;
        writeln!(out, "| attempts | requests | share |")?;
        writeln!(out, "|---:|---:|---:|")?;
        for (k, v) in &buckets {
            writeln!(out, "| {k} | {v} | {:.2}% |", pct(*v, att.len() as u64))?;
        }

        let mut by_model: BTreeMap<&str, u64> = BTreeMap::new();
        for o in os.iter().filter(|o| o.class == Class::Complete) {
            *by_model
                .entry(o.model.as_deref().unwrap_or("(no header)"))
                .or_default() += 1;
        }
        writeln!(
            out,
            "\nComplete answers by deployment (`x-switchyard-model`): {}.",
            by_model
                .iter()
                .map(|(m, k)| format!("{m} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;

        let total: u128 = os.iter().filter_map(|o| o.cost).sum();
        let stream_cost: u128 = os.iter().filter(|o| o.stream).filter_map(|o| o.cost).sum();
        let reported = count(&|o| o.cost_reported);
        let unpriced = count(&|o| o.cost_reported && o.cost.is_none());
        let complete_without = count(&|o| o.class == Class::Complete && !o.cost_reported);
        writeln!(
            out,
            "\n### Cost\n\nTotal **${}** (non-stream headers ${}, stream usage chunks ${}); reported on {reported} requests, {unpriced} unpriced, {complete_without} complete answers without a cost.\n",
            usd(total),
            usd(total - stream_cost),
            usd(stream_cost),
        )?;

        writeln!(out, "### Circuits (`/admin/health`)\n")?;
        writeln!(
            out,
            "| deployment | at the end | samples during the run (every 250 ms) |"
        )?;
        writeln!(out, "|---|---|---|")?;
        for (model, state) in self.final_states {
            let during: Vec<String> = self
                .seen
                .iter()
                .filter(|((m, _), _)| m == model)
                .map(|((_, s), k)| format!("{s} {k}"))
                .collect();
            writeln!(out, "| {model} | {state} | {} |", during.join(", "))?;
        }
        writeln!(
            out,
            "\n**Verdict:** {} truncated successes, {} past deadline → {}.",
            truncated,
            past,
            if failed { "FAIL" } else { "pass" }
        )?;
        Ok((out, failed))
    }
}

fn usd(femto: u128) -> String {
    let int = femto / 1_000_000_000_000_000;
    let frac = femto % 1_000_000_000_000_000;
    // Six decimals for display (rounded down); exact values are in the per-request headers.
    format!("{int}.{:06}", frac / 1_000_000_000)
}

/// Examples of every violation, to stderr.
fn examples(args: &Args, os: &[Outcome]) -> anyhow::Result<()> {
    let mut log = std::io::stderr().lock();
    let bad: Vec<&Outcome> = os
        .iter()
        .filter(|o| matches!(o.class, Class::Truncated(_)) || o.latency > TOTAL + args.slack)
        .collect();
    for o in bad.iter().take(args.examples.max(1) * 4) {
        writeln!(
            log,
            "--- {:?} route={} stream={} status={} attempts={:?} model={:?} latency={:?} ttfb={:?}\n{}",
            o.class, o.route, o.stream, o.status, o.attempts, o.model, o.latency, o.ttfb, o.tail
        )?;
    }
    Ok(())
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

    fn sse(events: &[&str]) -> String {
        events.iter().map(|e| format!("data: {e}\n\n")).collect()
    }

    const DELTA: &str =
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#;
    const FINISH: &str = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    const USAGE: &str =
        r#"{"choices":[],"usage":{"prompt_tokens":3},"switchyard":{"cost_usd":"0.0000125"}}"#;
    const ERROR: &str =
        r#"{"error":{"message":"cut","type":"upstream_error","code":"stream_cut"}}"#;

    #[test]
    fn streams_are_classified() {
        let v = classify_stream(&sse(&[DELTA, FINISH, USAGE, "[DONE]"]), None);
        assert_eq!(v.class, Class::Complete);
        assert_eq!(v.stream_cost.as_deref(), Some("0.0000125"));
        assert_eq!(
            classify_stream(&sse(&[DELTA, ERROR]), None).class,
            Class::Explicit("stream stream_cut".into())
        );
        for bad in [
            sse(&[DELTA]),
            sse(&[DELTA, "[DONE]"]),
            sse(&[DELTA, ERROR, "[DONE]"]),
            sse(&[FINISH, "[DONE]"]),
            sse(&[DELTA, FINISH, "[DONE]", DELTA]),
        ] {
            assert!(
                matches!(classify_stream(&bad, None).class, Class::Truncated(_)),
                "{bad}"
            );
        }
        assert!(matches!(
            classify_stream(&sse(&[DELTA, FINISH, "[DONE]"]), Some("dropped")).class,
            Class::Truncated(_)
        ));
    }

    #[test]
    fn json_answers_are_classified() {
        let ok = r#"{"choices":[{"message":{"content":"Hi"},"finish_reason":"stop"}]}"#;
        assert_eq!(classify_json(200, ok, None).class, Class::Complete);
        let tools = r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"1"}]},"finish_reason":"tool_calls"}]}"#;
        assert_eq!(classify_json(200, tools, None).class, Class::Complete);
        assert!(matches!(
            classify_json(200, r#"{"choices":[{"message":{"content":"Hi"}"#, None).class,
            Class::Truncated(_)
        ));
        assert!(matches!(
            classify_json(200, ok, Some("dropped")).class,
            Class::Truncated(_)
        ));
        let err =
            r#"{"error":{"message":"down","type":"service_unavailable","code":"no_candidate"}}"#;
        assert_eq!(
            classify_json(503, err, None).class,
            Class::Explicit("503 no_candidate".into())
        );
        assert!(matches!(
            classify_json(502, "bad gateway", None).class,
            Class::NoResponse(_)
        ));
    }

    #[test]
    fn usd_parses_exactly() {
        assert_eq!(parse_usd("0.0000125"), Some(12_500_000_000));
        assert_eq!(parse_usd("1"), Some(1_000_000_000_000_000));
        assert_eq!(parse_usd("unpriced"), None);
        assert_eq!(usd(12_500_000_000 * 1000), "0.012500");
    }

    #[test]
    fn config_parses_and_routes_alternate() {
        assert!(config::parse(&gateway_toml(
            "http://127.0.0.1:1/v1",
            Some(Duration::from_millis(150))
        ))
        .is_ok());
        assert_eq!(routes().len(), 6);
        let args = Args::parse_from(["switchyard-chaos"]);
        assert!(sim_config(&args).validate().is_ok());
    }
}
