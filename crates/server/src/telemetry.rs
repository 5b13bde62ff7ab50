//! OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when `[telemetry] otlp_endpoint`
//! is set; off otherwise.
//!
//! Spans are built from the settled ledger row — the one record of what happened — so a trace
//! says exactly what the ledger says: one server span per request and one client span per
//! upstream attempt, with the OpenTelemetry GenAI semantic-convention attributes
//! (`gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
//! `gen_ai.response.model`, `gen_ai.usage.*`, `error.type`) and switchyard's route, rule and
//! cost. A client's W3C `traceparent` is continued. No prompt or answer text is ever put on a
//! span. Export is batched on one task (at most 512 spans a POST, every second) behind a
//! bounded queue: when the collector is slow the newest spans are dropped and counted, never
//! the request delayed.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue},
    resource::v1::Resource,
    trace::v1::{span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status},
};
use prost::Message;
use rand::RngCore;
use switchyard_store::LedgerRow;
use tokio::sync::{mpsc, oneshot};

use crate::config::TelemetrySection;

/// Spans per POST.
const BATCH: usize = 512;
/// Longest a span waits for its batch.
const INTERVAL: Duration = Duration::from_secs(1);
/// Requests' span groups queued for export.
const QUEUE: usize = 8192;

enum Msg {
    Spans(Vec<Span>),
    Flush(oneshot::Sender<()>),
}

/// The trace exporter: [`Exporter::record`] never blocks.
pub(crate) struct Exporter {
    tx: mpsc::Sender<Msg>,
    dropped: AtomicU64,
}

impl Exporter {
    /// Start exporting to the configured endpoint; `None` when tracing is off.
    pub(crate) fn start(cfg: &TelemetrySection) -> Option<Arc<Exporter>> {
        let endpoint = cfg.otlp_endpoint.clone().filter(|e| !e.is_empty())?;
        let client = switchyard_providers::http::client(Duration::from_secs(2)).ok()?;
        let service = cfg
            .service_name
            .clone()
            .unwrap_or_else(|| "switchyard".into());
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, client, endpoint, service));
        Some(Arc::new(Exporter {
            tx,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queue the spans of one settled request.
    pub(crate) fn record(&self, row: &LedgerRow) {
        if self.tx.try_send(Msg::Spans(spans(row))).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "trace export queue full: spans dropped");
            }
        }
    }

    /// Export everything queued so far (at shutdown).
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Msg>,
    client: reqwest::Client,
    endpoint: String,
    service: String,
) {
    let mut batch: Vec<Span> = Vec::new();
    loop {
        let msg = tokio::time::timeout(INTERVAL, rx.recv()).await;
        let flush = match msg {
            Ok(Some(Msg::Spans(s))) => {
                batch.extend(s);
                if batch.len() < BATCH {
                    continue;
                }
                None
            }
            Ok(Some(Msg::Flush(done))) => Some(done),
            Ok(None) => {
                post(&client, &endpoint, &service, std::mem::take(&mut batch)).await;
                return;
            }
            Err(_) => None, // the interval passed
        };
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(BATCH));
            post(
                &client,
                &endpoint,
                &service,
                std::mem::replace(&mut batch, rest),
            )
            .await;
        }
        if let Some(done) = flush {
            let _ = done.send(());
        }
    }
}

async fn post(client: &reqwest::Client, endpoint: &str, service: &str, spans: Vec<Span>) {
    if spans.is_empty() {
        return;
    }
    let n = spans.len();
    let body = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s(service))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "switchyard".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec();
    let sent = client
        .post(endpoint)
        .header("content-type", "application/x-protobuf")
        .timeout(Duration::from_secs(5))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(
            status = r.status().as_u16(),
            spans = n,
            "trace export refused"
        ),
        Err(e) => tracing::warn!(error = %e, spans = n, "trace export failed"),
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_owned())
}

fn i(v: u64) -> any_value::Value {
    any_value::Value::IntValue(i64::try_from(v).unwrap_or(i64::MAX))
}

fn hex_bytes(h: &str) -> Option<Vec<u8>> {
    (0..h.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(h.get(k..k + 2)?, 16).ok())
        .collect()
}

fn random_id(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// The GenAI usage attributes: all input tokens (cache reads and writes included), output,
/// and the cache parts.
fn usage(u: &switchyard_types::Usage) -> [KeyValue; 4] {
    [
        kv("gen_ai.usage.input_tokens", i(u.total_input())),
        kv("gen_ai.usage.output_tokens", i(u.output)),
        kv("gen_ai.usage.cache_read.input_tokens", i(u.cache_read)),
        kv(
            "gen_ai.usage.cache_creation.input_tokens",
            i(u.cache_write_5m + u.cache_write_1h),
        ),
    ]
}

/// The spans of one request: the server span and a client span per upstream attempt.
fn spans(row: &LedgerRow) -> Vec<Span> {
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let start = end.saturating_sub(row.latency_ms.saturating_mul(1_000_000));
    let parent = row.trace_parent.as_deref().and_then(|tp| {
        let mut p = tp.split('-').skip(1);
        Some((hex_bytes(p.next()?)?, hex_bytes(p.next()?)?))
    });
    let (trace_id, parent_span_id) = parent.unwrap_or_else(|| (random_id(16), Vec::new()));
    let server_id = random_id(8);
    let op = if row.ingress.contains("embeddings") {
        "embeddings"
    } else {
        "chat"
    };
    let requested = row
        .decision
        .get("alias")
        .and_then(|a| a.get("requested"))
        .and_then(serde_json::Value::as_str)
        .or(row.route.as_deref())
        .unwrap_or("");
    let mut attrs = vec![
        kv("gen_ai.operation.name", s(op)),
        kv("gen_ai.request.model", s(requested)),
        kv("switchyard.request_id", s(&row.id)),
        kv("switchyard.ingress", s(&row.ingress)),
        kv("switchyard.tenant", s(&row.tenant)),
        kv("http.response.status_code", i(u64::from(row.http_status))),
    ];
    attrs.extend(usage(&row.usage));
    for (k, v) in [
        ("gen_ai.response.model", &row.model),
        ("gen_ai.provider.name", &row.provider),
        ("switchyard.route", &row.route),
        ("switchyard.rule", &row.rule),
        ("switchyard.task", &row.task),
    ] {
        if let Some(v) = v {
            attrs.push(kv(k, s(v)));
        }
    }
    match row.cost() {
        Some(c) => attrs.push(kv("switchyard.cost_usd", s(&c.normalize().to_string()))),
        None => attrs.push(kv("switchyard.cost_usd", s("unpriced"))),
    }
    let error = |class: Option<&String>| {
        class.map(|c| Status {
            message: c.clone(),
            code: StatusCode::Error as i32,
        })
    };
    if let Some(c) = &row.error_class {
        attrs.push(kv("error.type", s(c)));
    }
    let mut out = Vec::with_capacity(1 + row.attempts.len());
    out.push(Span {
        trace_id: trace_id.clone(),
        span_id: server_id.clone(),
        parent_span_id,
        name: format!("{op} {requested}"),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        status: error(row.error_class.as_ref()),
        ..Span::default()
    });
    for a in &row.attempts {
        let a_start = start + a.offset_us.saturating_mul(1_000);
        let mut attrs = vec![
            kv("gen_ai.operation.name", s(op)),
            kv("gen_ai.provider.name", s(&a.provider)),
            kv("gen_ai.request.model", s(&a.model)),
            kv("http.response.status_code", i(u64::from(a.status))),
        ];
        attrs.extend(usage(&a.usage));
        if a.error_class.is_none() {
            attrs.push(kv("gen_ai.response.model", s(&a.model)));
        }
        if let Some(c) = &a.error_class {
            attrs.push(kv("error.type", s(c)));
        }
        if let Some(r) = &a.rejected {
            attrs.push(kv("switchyard.rejected", s(r)));
        }
        if let Some(c) = a.cost() {
            attrs.push(kv("switchyard.cost_usd", s(&c.normalize().to_string())));
        }
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: random_id(8),
            parent_span_id: server_id.clone(),
            name: format!("{op} {}", a.model),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: a_start,
            end_time_unix_nano: a_start + a.latency_ms.saturating_mul(1_000_000),
            attributes: attrs,
            status: error(a.error_class.as_ref()),
            ..Span::default()
        });
    }
    out
}
