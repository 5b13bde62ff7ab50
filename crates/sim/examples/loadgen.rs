//! Closed-loop load against an in-process simulator:
//! `cargo run -p switchyard-sim --release --example loadgen -- [concurrency] [seconds] [stream]`.
//! `raw` instead of `stream` uses a minimal keep-alive HTTP/1.1 client (non-streaming) that costs
//! far less CPU than reqwest. Client and server share the machine either way, so the figure is a
//! lower bound for the server alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_sim::{Sim, SimConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let mode = args.next().unwrap_or_default();
    let stream = mode == "stream";
    let sim = Sim::start(SimConfig {
        record: false,
        ..SimConfig::instant()
    })
    .await?;
    let url = format!("{}/chat/completions", sim.base_url());
    let body = serde_json::json!({"model": "sim-cheap", "stream": stream,
        "messages": [{"role": "user", "content": "Classify this support ticket please"}]});
    let body = Arc::new(serde_json::to_vec(&body)?);
    if mode == "raw" {
        return raw(&sim, concurrency, secs, &body).await;
    }
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), Arc::clone(&body));
            let (done, errors) = (Arc::clone(&done), Arc::clone(&errors));
            tokio::spawn(async move {
                while Instant::now() < until {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(Vec::clone(&body))
                        .send()
                        .await;
                    let ok = match r {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if ok { &done } else { &errors };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    eprintln!(
        "{n} requests in {elapsed:.2}s = {:.0} req/s (concurrency {concurrency}, stream {stream}, errors {})",
        n as f64 / elapsed,
        errors.load(Ordering::Relaxed)
    );
    sim.shutdown().await;
    Ok(())
}

/// Minimal HTTP/1.1 keep-alive client: write a request, read headers and `content-length` bytes.
async fn raw(
    sim: &Sim,
    concurrency: usize,
    secs: u64,
    body: &[u8],
) -> Result<(), Box<dyn std::error::Error>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: sim\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let req = Arc::new(req);
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut conn = tokio::net::TcpStream::connect(sim.addr()).await?;
        conn.set_nodelay(true)?;
        let (req, done) = (Arc::clone(&req), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while Instant::now() < until {
                if conn.write_all(&req).await.is_err() {
                    return;
                }
                let mut have = 0;
                loop {
                    let Ok(n) = conn.read(&mut buf[have..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    have += n;
                    let text = String::from_utf8_lossy(&buf[..have]);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if have >= end + 4 + len {
                            break;
                        }
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    eprintln!(
        "{n} requests in {elapsed:.2}s = {:.0} req/s (raw client, concurrency {concurrency})",
        n as f64 / elapsed
    );
    Ok(())
}
