//! `POST /v1/chat/completions`: the request path, phase by phase.
//!
//! parse → features → plan → attempt → respond → settle (cost, ledger, stats, log). For
//! streams, settle runs when the stream ends, whether completed, failed or abandoned.
//!
//! The Anthropic-compatible `POST /v1/messages` (`messages.rs`) runs the same phases through
//! [`serve`]; [`Ingress`] decides only how the body is parsed and how the answer and errors
//! are encoded.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use switchyard_core::{attempt, attempt::Attempts, plan, plan::Plan, Features, Snapshot};
use switchyard_pricing::Cost;
use switchyard_providers::anthropic::ingress as anthropic;
use switchyard_types::{ChatRequest, Usage};
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    error::Shape,
    headers::{apply, RoutingFacts},
    settle::{baseline, bill, row, Bill, Record},
    sse::{relay, Out, Resume, StreamEnd},
    ApiError, Gateway, GatewayHandle,
};

/// The API the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ingress {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

impl Ingress {
    /// The ledger's `ingress` label.
    fn as_str(self) -> &'static str {
        match self {
            Ingress::OpenAi => "openai",
            Ingress::Anthropic => "anthropic",
        }
    }

    fn shape(self) -> Shape {
        match self {
            Ingress::OpenAi => Shape::OpenAi,
            Ingress::Anthropic => Shape::Anthropic,
        }
    }
}

/// The handler.
pub(crate) async fn completions(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    serve(gw, headers, body, Ingress::OpenAi).await
}

/// Every phase, for a client speaking `ingress`.
pub(crate) async fn serve(
    gw: GatewayHandle,
    headers: HeaderMap,
    body: Body,
    ingress: Ingress,
) -> Response {
    let started = Instant::now();
    let snap = gw.snapshot();
    let mut cx = Cx {
        gw: &gw,
        snap: &snap,
        request_id: Uuid::now_v7().to_string(),
        started,
        features: None,
        stream: false,
        ingress,
    };
    let req = match parse(body, gw.config().server.max_body_bytes, ingress).await {
        Ok(r) => r,
        Err(e) => return cx.fail(e, None, &Attempts::default()),
    };
    cx.stream = req.stream;
    let features = Features::extract(&req, &headers);
    let planned = plan::plan(&snap, &req, &features);
    cx.features = Some(features);
    let plan = match planned {
        Ok(p) => p,
        Err(e) => return cx.fail(e.into(), None, &Attempts::default()),
    };
    if req.stream {
        cx.stream(&req, plan).await
    } else {
        cx.once(&req, &plan).await
    }
}

/// Per-request context.
struct Cx<'a> {
    gw: &'a Gateway,
    snap: &'a Arc<Snapshot>,
    request_id: String,
    started: Instant,
    features: Option<Features>,
    stream: bool,
    ingress: Ingress,
}

impl Cx<'_> {
    async fn once(&self, req: &ChatRequest, plan: &Plan) -> Response {
        let (result, attempts) = attempt::chat(self.snap, plan, req).await;
        let (id, reply) = match result {
            Ok(ok) => ok,
            Err(e) => return self.fail(e.into(), Some(plan), &attempts),
        };
        let usage = reply.usage;
        let task = self.features.as_ref().and_then(|f| f.task.as_deref());
        self.snap
            .deployment(id)
            .stats
            .observe_output(usage.output, task);
        let bill = bill(self.snap, &attempts.records, &usage);
        let encoded = match self.ingress {
            Ingress::OpenAi => serde_json::to_vec(&reply.response),
            Ingress::Anthropic => serde_json::to_vec(&anthropic::encode_response(
                &reply.response,
                &usage,
                Default::default(),
            )),
        };
        let body = match encoded {
            Ok(b) => b,
            Err(e) => {
                let err = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    format!("encode response: {e}"),
                );
                return self.fail(err, Some(plan), &attempts);
            }
        };
        let overhead = self.overhead(&attempts);
        let mut resp = Response::new(Body::from(body));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.headers(
            &mut resp,
            Some(plan),
            Some(id),
            &attempts,
            overhead,
            Some(&bill),
        );
        self.settle(
            Some(plan),
            &attempts,
            Some(id),
            usage,
            &bill,
            "ok",
            200,
            None,
            overhead,
        );
        resp
    }

    async fn stream(&self, req: &ChatRequest, plan: Plan) -> Response {
        let (result, attempts) = attempt::chat_stream(self.snap, &plan, req).await;
        let (id, start) = match result {
            Ok(ok) => ok,
            Err(e) => return self.fail(e.into(), Some(&plan), &attempts),
        };
        let overhead = self.overhead(&attempts);
        let mut resp = Response::new(Body::empty());
        self.headers(&mut resp, Some(&plan), Some(id), &attempts, overhead, None);
        let snap = self.snap.clone();
        let annotate_snap = self.snap.clone();
        let ledger = self.gw.ledger().cloned();
        let features = self.features.clone();
        let request_id = self.request_id.clone();
        let started = self.started;
        let ingress = self.ingress;
        let mut attempts = attempts;
        let annotate = move |answered: usize, usage: &Usage| {
            let base = baseline(&annotate_snap, usage);
            let cost = Cost::of(
                annotate_snap.deployment(answered).price.as_ref(),
                usage,
                &Default::default(),
            );
            serde_json::json!({"cost_usd": cost, "baseline_cost_usd": base, "unpriced": !cost.is_priced()})
        };
        let plan = Arc::new(plan);
        let resume = resumer(self.snap, &plan, id, req);
        let out = match ingress {
            Ingress::OpenAi => Out::OpenAi {
                include_usage: req.wants_stream_usage(),
            },
            Ingress::Anthropic => Out::Anthropic(Box::default()),
        };
        let body = relay(start, out, Box::new(annotate), resume, move |outcome| {
            if let Some(first) = attempts.records.last_mut() {
                first.latency = started.elapsed();
                match &outcome.broke {
                    Some(e) => first.error = Some(e.clone()),
                    None => first.usage = outcome.usage,
                }
            }
            attempts.records.extend(outcome.resumed.iter().cloned());
            if outcome.broke.is_some() {
                if let Some(last) = attempts
                    .records
                    .iter_mut()
                    .rev()
                    .find(|a| a.deployment == outcome.answered && a.error.is_none())
                {
                    last.usage = outcome.usage;
                }
            }
            let task = features.as_ref().and_then(|f| f.task.as_deref());
            snap.deployment(outcome.answered)
                .stats
                .observe_output(outcome.usage.output, task);
            let (status, class) = match &outcome.end {
                StreamEnd::Completed => ("ok", None),
                StreamEnd::Failed(e) => ("error", Some(e.class.as_str())),
                StreamEnd::Cancelled => ("client_cancelled", None),
            };
            let bill = bill(&snap, &attempts.records, &outcome.usage);
            let rec = Record {
                snap: &snap,
                request_id: &request_id,
                ingress: ingress.as_str(),
                stream: true,
                plan: Some(&plan),
                features: features.as_ref(),
                attempts: &attempts.records,
                answered: Some(outcome.answered),
                usage: outcome.usage,
                bill: &bill,
                status,
                http_status: 200,
                error_class: class,
                overhead_us: overhead,
                latency_ms: started.elapsed().as_millis() as u64,
            };
            finish(ledger.as_ref(), row(rec), &bill);
        });
        *resp.body_mut() = Body::from_stream(crate::sse::coalesce(body));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }

    /// An error response, settled and recorded.
    fn fail(&self, e: ApiError, plan: Option<&Plan>, attempts: &Attempts) -> Response {
        let overhead = self.overhead(attempts);
        let bill = bill(self.snap, &attempts.records, &Usage::default());
        let mut resp = e.clone().shaped(self.ingress.shape()).into_response();
        self.headers(&mut resp, plan, None, attempts, overhead, Some(&bill));
        let class = e.code.as_deref().unwrap_or(e.kind);
        self.settle(
            plan,
            attempts,
            None,
            Usage::default(),
            &bill,
            "error",
            e.status.as_u16(),
            Some(class),
            overhead,
        );
        resp
    }

    fn overhead(&self, attempts: &Attempts) -> u64 {
        self.started
            .elapsed()
            .saturating_sub(attempts.upstream_time)
            .as_micros() as u64
    }

    fn headers(
        &self,
        resp: &mut Response,
        plan: Option<&Plan>,
        answered: Option<usize>,
        attempts: &Attempts,
        overhead: u64,
        bill: Option<&Bill>,
    ) {
        let facts = RoutingFacts {
            request_id: &self.request_id,
            plan,
            answered_by: answered,
            attempts: Some(attempts),
            overhead_us: Some(overhead),
            bill,
        };
        apply(resp.headers_mut(), self.snap, &facts);
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per outcome; a struct would only rename them"
    )]
    fn settle(
        &self,
        plan: Option<&Plan>,
        attempts: &Attempts,
        answered: Option<usize>,
        usage: Usage,
        bill: &Bill,
        status: &str,
        http: u16,
        class: Option<&str>,
        overhead: u64,
    ) {
        let rec = Record {
            snap: self.snap,
            request_id: &self.request_id,
            ingress: self.ingress.as_str(),
            stream: self.stream,
            plan,
            features: self.features.as_ref(),
            attempts: &attempts.records,
            answered,
            usage,
            bill,
            status,
            http_status: http,
            error_class: class,
            overhead_us: overhead,
            latency_ms: self.started.elapsed().as_millis() as u64,
        };
        finish(self.gw.ledger(), row(rec), bill);
    }
}

/// A continuation starter, when the plan has a deployment after `answering` that can
/// continue a cut answer (prefill). Only then is the request kept for the stream's lifetime.
fn resumer(
    snap: &Arc<Snapshot>,
    plan: &Arc<Plan>,
    answering: usize,
    req: &ChatRequest,
) -> Option<Resume> {
    let pos = plan.targets.iter().position(|&t| t == answering)?;
    if !plan.targets[pos + 1..]
        .iter()
        .any(|&t| snap.deployment(t).caps.prefill)
    {
        return None;
    }
    let (snap, plan, req) = (snap.clone(), plan.clone(), Arc::new(req.clone()));
    Some(Box::new(move |failed, text, deadline| {
        let (snap, plan, req) = (snap.clone(), plan.clone(), req.clone());
        Box::pin(async move {
            attempt::resume_stream(&snap, &plan, &req, failed, &text, deadline).await
        })
    }))
}

/// Log, count and record one finished request.
fn finish(
    ledger: Option<&switchyard_store::Ledger>,
    row: switchyard_store::LedgerRow,
    bill: &Bill,
) {
    tracing::info!(
        request_id = %row.id,
        route = row.route.as_deref().unwrap_or("-"),
        model = row.model.as_deref().unwrap_or("-"),
        attempts = row.attempts.len(),
        status = %row.status,
        http_status = row.http_status,
        cost_usd = %bill.cost,
        overhead_us = row.overhead_us,
        latency_ms = row.latency_ms,
        "request"
    );
    crate::metrics::request(&row, bill);
    if let Some(l) = ledger {
        l.record(row);
    }
}

/// Read and parse the body, with errors that name the problem.
async fn parse(body: Body, limit: usize, ingress: Ingress) -> Result<ChatRequest, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("request body is larger than the gateway's limit of {limit} bytes"),
        )
        .code("request_too_large")
    })?;
    if ingress == Ingress::Anthropic {
        return anthropic::parse_request(&bytes).map_err(ApiError::bad_request);
    }
    let req: ChatRequest = serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "request body is not valid JSON"
        } else {
            "invalid request"
        };
        ApiError::bad_request(format!("{what}: {e}"))
    })?;
    if req.messages.is_empty() {
        return Err(
            ApiError::bad_request("`messages` must contain at least one message").param("messages"),
        );
    }
    if req.model.is_empty() {
        return Err(ApiError::bad_request("`model` must not be empty").param("model"));
    }
    Ok(req)
}
