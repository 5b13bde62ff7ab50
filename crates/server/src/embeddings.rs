//! `POST /v1/embeddings`: OpenAI-shaped embeddings through any configured deployment that
//! serves them.
//!
//! The `model` field names a model (that deployment, then its configured fallbacks) or a route
//! (its candidates in order; `auto` is the default route). Candidates are tried in order while
//! the failure is one another candidate may not have (rate limit, 5xx, quota, unknown model,
//! an adapter without embeddings); the first answer wins. There are no routing rules or
//! cost strategies here: embeddings are priced by input tokens only, and the order is the
//! operator's. Cost comes from usage and the deployment's input price, like chat.

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use switchyard_core::{
    attempt::{AttemptRecord, Attempts},
    CoreError, DeploymentId, Snapshot,
};
use switchyard_providers::ProviderError;
use switchyard_types::{EmbeddingsRequest, Usage};
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    headers::{apply, RoutingFacts},
    settle::{bill, row, Bill, Record},
    ApiError, GatewayHandle,
};

/// The handler.
pub(crate) async fn embeddings(State(gw): State<GatewayHandle>, body: Body) -> Response {
    let started = Instant::now();
    let snap = gw.snapshot();
    let request_id = Uuid::now_v7().to_string();
    let mut attempts = Attempts::default();
    let outcome = run(&gw, &snap, body, &mut attempts).await;
    let overhead = started
        .elapsed()
        .saturating_sub(attempts.upstream_time)
        .as_micros() as u64;
    let (mut resp, answered, usage, route, status, class) = match outcome {
        Ok((route, id, reply_body, usage)) => {
            let mut r = Response::new(Body::from(reply_body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (r, Some(id), usage, Some(route), "ok", None)
        }
        Err((route, e)) => {
            let class = e.code.clone().unwrap_or_else(|| e.kind.to_owned());
            (
                e.into_response(),
                None,
                Usage::default(),
                route,
                "error",
                Some(class),
            )
        }
    };
    let bill = bill(&snap, &attempts.records, &usage);
    let facts = RoutingFacts {
        request_id: &request_id,
        plan: None,
        answered_by: answered,
        attempts: Some(&attempts),
        overhead_us: Some(overhead),
        bill: Some(&bill),
    };
    apply(resp.headers_mut(), &snap, &facts);
    if let Some(route) = route.as_deref().and_then(|r| HeaderValue::from_str(r).ok()) {
        resp.headers_mut().insert("x-switchyard-route", route);
    }
    let http_status = resp.status().as_u16();
    let rec = Record {
        snap: &snap,
        request_id: &request_id,
        ingress: "openai-embeddings",
        stream: false,
        plan: None,
        features: None,
        attempts: &attempts.records,
        answered,
        usage,
        bill: &bill,
        status,
        http_status,
        error_class: class.as_deref(),
        overhead_us: overhead,
        latency_ms: started.elapsed().as_millis() as u64,
    };
    record(gw.ledger(), row(rec), &bill);
    resp
}

type Failure = (Option<String>, ApiError);

/// Parse, resolve, call; returns the route name, the deployment, the body and the usage.
async fn run(
    gw: &GatewayHandle,
    snap: &Snapshot,
    body: Body,
    attempts: &mut Attempts,
) -> Result<(String, DeploymentId, Vec<u8>, Usage), Failure> {
    let req = parse(body, gw.config().server.max_body_bytes)
        .await
        .map_err(|e| (None, e))?;
    let (route, candidates) = resolve(snap, &req.model).map_err(|e| (None, e.into()))?;
    let mut last: Option<ProviderError> = None;
    for id in candidates {
        let d = snap.deployment(id);
        let t = Instant::now();
        let result = d.provider.embed(&req, &d.upstream).await;
        let latency = t.elapsed();
        attempts.upstream_time += latency;
        match result {
            Ok(mut reply) => {
                attempts.records.push(AttemptRecord {
                    deployment: id,
                    status: reply.meta.status,
                    error: None,
                    latency,
                    ttft: None,
                    usage: reply.usage,
                });
                reply.response.model.clone_from(&d.name);
                let bytes = serde_json::to_vec(&reply.response).map_err(|e| {
                    let msg = format!("encode response: {e}");
                    (
                        Some(route.clone()),
                        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", msg),
                    )
                })?;
                return Ok((route, id, bytes, reply.usage));
            }
            Err(e) => {
                attempts.records.push(AttemptRecord {
                    deployment: id,
                    status: e.status.unwrap_or(0),
                    error: Some(e.clone()),
                    latency,
                    ttft: None,
                    usage: Usage::default(),
                });
                let next = e.class.try_next_candidate()
                    || (e.class == switchyard_providers::ErrorClass::BadRequest
                        && e.status.is_none());
                last = Some(e);
                if !next {
                    break;
                }
            }
        }
    }
    let e = match last {
        Some(e) => CoreError::Upstream(e).into(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "no deployment to try",
        )
        .code("no_candidate"),
    };
    Err((Some(route), e))
}

/// A model name → it and its fallbacks; a route name (or `auto`) → its candidates.
fn resolve(snap: &Snapshot, name: &str) -> Result<(String, Vec<DeploymentId>), CoreError> {
    let route_name = if name == "auto" {
        snap.default_route.as_deref().unwrap_or(name)
    } else {
        name
    };
    if let Some(route) = snap.routes.get(route_name) {
        return Ok((route.name.clone(), route.candidates.clone()));
    }
    match snap.models.get(name) {
        Some(&id) => {
            let mut ids = vec![id];
            ids.extend(
                snap.deployment(id)
                    .fallbacks
                    .iter()
                    .copied()
                    .filter(|f| *f != id),
            );
            Ok((name.to_owned(), ids))
        }
        None => Err(CoreError::UnknownModel(name.to_owned())),
    }
}

async fn parse(body: Body, limit: usize) -> Result<EmbeddingsRequest, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("request body is larger than the gateway's limit of {limit} bytes"),
        )
        .code("request_too_large")
    })?;
    let req: EmbeddingsRequest = serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "request body is not valid JSON"
        } else {
            "invalid request"
        };
        ApiError::bad_request(format!("{what}: {e}"))
    })?;
    if req.model.is_empty() {
        return Err(ApiError::bad_request("`model` must not be empty").param("model"));
    }
    if req.input.is_empty() {
        return Err(ApiError::bad_request("`input` must not be empty").param("input"));
    }
    if req
        .input
        .texts()
        .is_some_and(|t| t.iter().any(|s| s.is_empty()))
    {
        return Err(ApiError::bad_request("`input` must not contain empty strings").param("input"));
    }
    Ok(req)
}

/// Log, count and record one finished request (as chat does).
fn record(
    ledger: Option<&switchyard_store::Ledger>,
    row: switchyard_store::LedgerRow,
    bill: &Bill,
) {
    tracing::info!(
        request_id = %row.id,
        model = row.model.as_deref().unwrap_or("-"),
        attempts = row.attempts.len(),
        status = %row.status,
        http_status = row.http_status,
        cost_usd = %bill.cost,
        "embeddings request"
    );
    crate::metrics::request(&row, bill);
    if let Some(l) = ledger {
        l.record(row);
    }
}
