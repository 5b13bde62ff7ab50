//! `switchyard-streams`: the gateway's memory with many streams open at once.
//!
//! Starts the simulator in this process and `switchyard serve` (a release build, a SQLite
//! ledger, metrics on) as a child process in front of it, then opens `--streams` streaming chat
//! completions at once through the gateway. Each upstream answer is slow (`--tokens` tokens at
//! `--tps` tokens per second), so every stream stays open while the rest are being opened. The
//! gateway's resident memory (`/proc/<pid>/status`) is sampled every 100 ms: idle, when every
//! stream has its first chunk (all open at once), its peak, and after they finished; every
//! stream must end with `data: [DONE]`.
//!
//! Clients reach the gateway over HTTP/2 (`--conns` connections, each multiplexing its share of
//! streams), so the gateway's file descriptors are its upstream connections (one per stream,
//! HTTP/1.1) plus a few: 10,000 streams fit a 20,000 descriptor limit.
//!
//! ```text
//! cargo build --release -p switchyard -p switchyard-bench
//! target/release/switchyard-streams --streams 10000
//! ```

use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use std::{fmt::Write as _, io::Write as _};

use anyhow::{bail, Context};
use clap::Parser;
use futures::StreamExt;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-streams",
    about = "Gateway memory with many concurrent streams"
)]
struct Args {
    /// Streams open at once.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// HTTP/2 connections from the client to the gateway (streams are spread over them).
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// Tokens per answer.
    #[arg(long, default_value_t = 60)]
    tokens: u32,
    /// Upstream tokens per second per stream.
    #[arg(long, default_value_t = 2)]
    tps: u32,
    /// Reach the gateway over HTTP/1.1 (one connection per stream) instead of HTTP/2.
    #[arg(long)]
    http1: bool,
    /// The `switchyard` binary to run as the gateway.
    #[arg(long, default_value = "target/release/switchyard")]
    gateway: String,
}

struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

async fn start_gateway(args: &Args, sim: &str, dir: &std::path::Path) -> anyhow::Result<Gateway> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
metrics_public = true
max_connections = 20000
[ledger]
url = "sqlite://{ledger}"
[[providers]]
name = "sim"
kind = "openai-compatible"
base_url = "{sim}"
[[models]]
name = "slow"
provider = "sim"
upstream = "sim-cheap-tps-{tps}-len-{len}"
price = {{ input = 0.15, output = 0.6 }}
"#,
            ledger = dir.join("ledger.db").display(),
            tps = args.tps,
            len = args.tokens,
        ),
    )?;
    let log = std::fs::File::create(dir.join("gateway.log"))?;
    let child = Command::new(&args.gateway)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", args.gateway))?;
    let gw = Gateway {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let probe = reqwest::Client::new();
    for _ in 0..100 {
        if probe
            .get(format!("{}/healthz", gw.base))
            .send()
            .await
            .is_ok()
        {
            return Ok(gw);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "the gateway did not come up (see {})",
        dir.join("gateway.log").display()
    )
}

/// One stream: `true` once it ended with `[DONE]`; `opened` counts it at its first chunk.
async fn one(client: reqwest::Client, url: String, opened: Arc<AtomicUsize>) -> bool {
    let body = serde_json::json!({"model": "slow", "stream": true,
        "messages": [{"role": "user", "content": "Tell me a long story."}]});
    let Ok(resp) = client.post(url).json(&body).send().await else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    let mut chunks = resp.bytes_stream();
    let mut first = true;
    let mut tail = Vec::new();
    while let Some(Ok(chunk)) = chunks.next().await {
        if first {
            opened.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        tail.extend_from_slice(&chunk);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
    }
    String::from_utf8_lossy(&tail).contains("data: [DONE]")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = switchyard_sim::Sim::start(switchyard_sim::SimConfig::instant()).await?;
    let dir = std::env::temp_dir().join(format!("switchyard-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let gw = start_gateway(&args, &sim.base_url(), &dir).await?;
    let pid = gw.child.id();
    let url = format!("{}/v1/chat/completions", gw.base);
    let clients: Vec<reqwest::Client> = (0..args.conns.max(1))
        .map(|_| {
            let b = reqwest::Client::builder().timeout(Duration::from_secs(600));
            if args.http1 {
                b.http1_only()
            } else {
                b.http2_prior_knowledge()
            }
            .build()
        })
        .collect::<Result<_, _>>()?;
    let idle = rss_mb(pid);

    let opened = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.streams)
        .map(|i| {
            tokio::spawn(one(
                clients[i % clients.len()].clone(),
                url.clone(),
                opened.clone(),
            ))
        })
        .collect();
    let mut peak = idle;
    let mut all_open: Option<(Duration, f64, usize)> = None;
    let mut most_open = 0;
    let mut waiting = futures::future::join_all(tasks);
    let results = loop {
        tokio::select! {
            r = &mut waiting => break r,
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                let rss = rss_mb(pid);
                peak = peak.max(rss);
                let n = opened.load(Ordering::Relaxed);
                most_open = most_open.max(n);
                if all_open.is_none() && n == args.streams {
                    all_open = Some((started.elapsed(), rss, fds(pid)));
                }
            }
        }
    };
    let done = results.iter().filter(|r| matches!(r, Ok(true))).count();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mb(pid);
    let mut out = String::new();
    writeln!(out, "streams                 {}", args.streams)?;
    writeln!(
        out,
        "each                    {} tokens at {} tokens/s",
        args.tokens, args.tps
    )?;
    if args.http1 {
        writeln!(out, "client connections      one per stream (HTTP/1.1)")?;
    } else {
        writeln!(out, "client connections      {} (HTTP/2)", clients.len())?;
    }
    writeln!(out, "opened (first chunk)    {most_open}")?;
    writeln!(out, "completed with [DONE]   {done}")?;
    match all_open {
        Some((t, rss, n)) => writeln!(
            out,
            "all open after          {:.1} s: gateway RSS {rss:.1} MB, {n} file descriptors",
            t.as_secs_f64()
        ),
        None => writeln!(out, "all open                never at once"),
    }?;
    writeln!(out, "gateway RSS idle        {idle:.1} MB")?;
    writeln!(out, "gateway RSS peak        {peak:.1} MB")?;
    writeln!(out, "gateway RSS after       {after:.1} MB")?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
    if done != args.streams {
        bail!(
            "{} of {} streams did not complete",
            args.streams - done,
            args.streams
        );
    }
    Ok(())
}
