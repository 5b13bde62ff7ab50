//! `POST /v1/chat/completions`: the request path from parse to response.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use switchyard_core::{Features, Snapshot, attempt, plan};
use switchyard_types::ChatRequest;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    ApiError, GatewayHandle,
    headers::{RoutingFacts, apply},
    sse::{StreamEnd, relay},
};

/// The handler.
pub(crate) async fn completions(State(gw): State<GatewayHandle>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let snap = gw.snapshot();
    let facts = RoutingFacts { request_id: Uuid::now_v7().to_string(), ..Default::default() };
    let req = match parse(body, gw.config().server.max_body_bytes).await {
        Ok(r) => r,
        Err(e) => return respond_error(e, &snap, &facts),
    };
    let features = Features::extract(&req, &headers);
    let plan = match plan::plan(&snap, &req, &features) {
        Ok(p) => p,
        Err(e) => return respond_error(e.into(), &snap, &facts),
    };
    let facts = RoutingFacts { plan: Some(&plan), ..facts };
    if req.stream {
        stream(&snap, &req, facts, started).await
    } else {
        once(&snap, &req, facts, started).await
    }
}

async fn once(snap: &Snapshot, req: &ChatRequest, facts: RoutingFacts<'_>, started: Instant) -> Response {
    let (result, attempts) = attempt::chat(snap, facts.plan.expect("plan is set"), req).await;
    let overhead = started.elapsed().saturating_sub(attempts.upstream_time);
    let mut facts = RoutingFacts { attempts: Some(&attempts), overhead_us: Some(overhead.as_micros()), ..facts };
    match result {
        Ok((id, reply)) => {
            facts.answered_by = Some(id);
            log(snap, &facts, "ok", started);
            let body = match serde_json::to_vec(&reply.response) {
                Ok(b) => b,
                Err(e) => return respond_error(ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "server_error", format!("encode response: {e}")), snap, &facts),
            };
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            apply(resp.headers_mut(), snap, &facts);
            resp
        }
        Err(e) => {
            log(snap, &facts, e.kind(), started);
            respond_error(e.into(), snap, &facts)
        }
    }
}

async fn stream(snap: &Snapshot, req: &ChatRequest, facts: RoutingFacts<'_>, started: Instant) -> Response {
    let plan = facts.plan.expect("plan is set");
    let (result, attempts) = attempt::chat_stream(snap, plan, req).await;
    let overhead = started.elapsed().saturating_sub(attempts.upstream_time);
    let mut facts = RoutingFacts { attempts: Some(&attempts), overhead_us: Some(overhead.as_micros()), ..facts };
    let (id, start) = match result {
        Ok(ok) => ok,
        Err(e) => {
            log(snap, &facts, e.kind(), started);
            return respond_error(e.into(), snap, &facts);
        }
    };
    facts.answered_by = Some(id);
    let request_id = facts.request_id.clone();
    let model = snap.deployment(id).name.clone();
    let route = plan.route.clone();
    let body = relay(start, req.wants_stream_usage(), move |outcome| {
        let status = match &outcome.end {
            StreamEnd::Completed => "ok",
            StreamEnd::Failed(e) => e.class.as_str(),
            StreamEnd::Cancelled => "client_cancelled",
        };
        tracing::info!(
            request_id = %request_id, route = %route, model = %model, status,
            input_tokens = outcome.usage.total_input(), output_tokens = outcome.usage.output,
            duration_ms = (started.elapsed().as_millis()), "stream finished"
        );
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    apply(h, snap, &facts);
    resp
}

/// Read and parse the body, with errors that name the problem.
async fn parse(body: Body, limit: usize) -> Result<ChatRequest, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("request body is larger than the gateway's limit of {limit} bytes"),
        )
        .code("request_too_large")
    })?;
    let req: ChatRequest = serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() { "request body is not valid JSON" } else { "invalid request" };
        ApiError::bad_request(format!("{what}: {e}"))
    })?;
    if req.messages.is_empty() {
        return Err(ApiError::bad_request("`messages` must contain at least one message").param("messages"));
    }
    if req.model.is_empty() {
        return Err(ApiError::bad_request("`model` must not be empty").param("model"));
    }
    Ok(req)
}

fn respond_error(e: ApiError, snap: &Snapshot, facts: &RoutingFacts<'_>) -> Response {
    let mut resp = e.into_response();
    apply(resp.headers_mut(), snap, facts);
    resp
}

fn log(snap: &Snapshot, facts: &RoutingFacts<'_>, status: &str, started: Instant) {
    tracing::info!(
        request_id = %facts.request_id,
        route = facts.plan.map(|p| p.route.as_str()).unwrap_or("-"),
        model = facts.answered_by.map(|id| snap.deployment(id).name.as_str()).unwrap_or("-"),
        attempts = facts.attempts.map(|a| a.records.len()).unwrap_or(0),
        overhead_us = facts.overhead_us.unwrap_or(0) as u64,
        latency_ms = started.elapsed().as_millis() as u64,
        status,
        "request"
    );
}
