//! Phase 5, attempt: call the plan's deployments until one answers.
//!
//! Non-streaming requests return when an answer is in. Streaming requests return once the
//! first token has arrived (the *head* of the stream), so a failure before it falls over to
//! the next candidate invisibly; the caller pumps the rest.

use std::time::Duration;

use futures::{StreamExt, stream::BoxStream};
use switchyard_providers::{
    ErrorClass, Provider, ProviderError, Reply, StreamItem, Timeouts, UpstreamMeta,
};
use switchyard_types::{ChatRequest, Usage};
use tokio::time::Instant;

use crate::{
    CoreError, DeploymentId, Snapshot,
    plan::Plan,
    retry::{Decision, decide},
};

/// One upstream attempt, for the ledger and the `x-switchyard-attempts` header.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// Which deployment.
    pub deployment: DeploymentId,
    /// Upstream HTTP status (0 if none was received).
    pub status: u16,
    /// Why it failed, if it did.
    pub error: Option<ProviderError>,
    /// Time spent on it.
    pub latency: Duration,
    /// Time to first token (streams).
    pub ttft: Option<Duration>,
    /// Usage the provider reported for it.
    pub usage: Usage,
}

/// All attempts of a request, and the time spent waiting on upstreams (backoff included).
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    /// In order.
    pub records: Vec<AttemptRecord>,
    /// Time not attributable to the gateway: upstream calls and retry pauses.
    pub upstream_time: Duration,
}

/// A stream whose first token has arrived.
pub struct StreamStart {
    /// The deployment that is answering.
    pub deployment: DeploymentId,
    /// Items received up to and including the first token.
    pub head: Vec<StreamItem>,
    /// The rest of the stream.
    pub rest: BoxStream<'static, Result<StreamItem, ProviderError>>,
    /// Response header facts.
    pub meta: UpstreamMeta,
    /// Idle timeout to apply to `rest`.
    pub idle: Duration,
    /// When the whole request must be over.
    pub deadline: Instant,
}

impl std::fmt::Debug for StreamStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamStart").field("deployment", &self.deployment).finish()
    }
}

/// Serve a non-streaming request along the plan.
pub async fn chat(
    snap: &Snapshot,
    plan: &Plan,
    req: &ChatRequest,
) -> (Result<(DeploymentId, Reply), CoreError>, Attempts) {
    run(snap, plan, |id, t, remaining| async move {
        let d = snap.deployment(id);
        let _ = t;
        match tokio::time::timeout(remaining, d.provider.chat(req, &d.upstream)).await {
            Ok(Ok(reply)) => Ok((reply.meta.status, reply.usage, None, reply)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ProviderError::new(ErrorClass::FirstTokenTimeout, "upstream did not answer before the request deadline")),
        }
    })
    .await
}

/// Start a streaming request along the plan: returns once a deployment has produced its
/// first token.
pub async fn chat_stream(
    snap: &Snapshot,
    plan: &Plan,
    req: &ChatRequest,
) -> (Result<(DeploymentId, StreamStart), CoreError>, Attempts) {
    let deadline = Instant::now() + total(snap, plan);
    run(snap, plan, |id, t, remaining| async move {
        let d = snap.deployment(id);
        let started = Instant::now();
        let limit = t.first_token.min(remaining);
        let head = tokio::time::timeout(limit, async {
            let reply = d.provider.chat_stream(req, &d.upstream).await?;
            let mut stream = reply.stream;
            let mut head = Vec::new();
            loop {
                match stream.next().await {
                    Some(Ok(StreamItem::Chunk(c, u))) => {
                        let first = c.has_output();
                        head.push(StreamItem::Chunk(c, u));
                        if first {
                            return Ok((head, stream, reply.meta));
                        }
                    }
                    Some(Ok(StreamItem::Done)) => {
                        head.push(StreamItem::Done);
                        return Ok((head, stream, reply.meta));
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        return Err(ProviderError::new(
                            ErrorClass::StreamCut,
                            "upstream stream ended before the first token",
                        ));
                    }
                }
            }
        })
        .await;
        match head {
            Ok(Ok((head, rest, meta))) => {
                let ttft = started.elapsed();
                let start = StreamStart { deployment: id, head, rest, meta: meta.clone(), idle: t.idle, deadline };
                Ok((meta.status, Usage::default(), Some(ttft), start))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ProviderError::new(
                ErrorClass::FirstTokenTimeout,
                format!("no first token within {limit:?}"),
            )),
        }
    })
    .await
}

fn timeouts(snap: &Snapshot, plan: &Plan, id: DeploymentId) -> Timeouts {
    plan.timeouts.unwrap_or(snap.deployment(id).timeouts)
}

fn total(snap: &Snapshot, plan: &Plan) -> Duration {
    plan.timeouts
        .or_else(|| plan.targets.first().map(|&id| snap.deployment(id).timeouts))
        .unwrap_or_default()
        .total
}

/// The loop shared by both modes: one attempt at a time, the retry decision from
/// [`decide`], everything bounded by the request deadline and `max_attempts`.
async fn run<T, F, Fut>(
    snap: &Snapshot,
    plan: &Plan,
    mut call: F,
) -> (Result<(DeploymentId, T), CoreError>, Attempts)
where
    F: FnMut(DeploymentId, Timeouts, Duration) -> Fut,
    Fut: std::future::Future<Output = Result<(u16, Usage, Option<Duration>, T), ProviderError>>,
{
    let total = total(snap, plan);
    let deadline = Instant::now() + total;
    let mut attempts = Attempts::default();
    let mut last: Option<ProviderError> = None;
    let mut idx = 0;
    let mut tries_here = 0u32;
    while idx < plan.targets.len() && (attempts.records.len() as u32) < plan.max_attempts {
        let id = plan.targets[idx];
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return (Err(CoreError::Deadline(total)), attempts);
        }
        let started = Instant::now();
        let result = call(id, timeouts(snap, plan, id), remaining).await;
        let latency = started.elapsed();
        attempts.upstream_time += latency;
        match result {
            Ok((status, usage, ttft, value)) => {
                attempts.records.push(AttemptRecord { deployment: id, status, error: None, latency, ttft, usage });
                return (Ok((id, value)), attempts);
            }
            Err(e) => {
                tracing::debug!(model = %snap.deployment(id).name, class = e.class.as_str(), "attempt failed");
                attempts.records.push(AttemptRecord {
                    deployment: id,
                    status: e.status.unwrap_or(0),
                    error: Some(e.clone()),
                    latency,
                    ttft: None,
                    usage: Usage::default(),
                });
                let remaining = deadline.saturating_duration_since(Instant::now());
                match decide(&e, tries_here, remaining) {
                    Decision::RetrySame(wait) => {
                        tokio::time::sleep(wait).await;
                        attempts.upstream_time += wait;
                        tries_here += 1;
                    }
                    Decision::Next => {
                        idx += 1;
                        tries_here = 0;
                    }
                    Decision::Stop => return (Err(CoreError::Upstream(e)), attempts),
                }
                last = Some(e);
            }
        }
    }
    let err = match last {
        Some(e) => CoreError::Upstream(e),
        None => CoreError::NoCandidate(format!("route `{}` has no candidate left to try", plan.route)),
    };
    (Err(err), attempts)
}
