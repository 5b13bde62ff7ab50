//! The batch lane, OpenAI's Files and Batch APIs for clients: `POST /v1/files`,
//! `GET /v1/files/{id}`, `GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches`,
//! `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`; and one chat request on the batch
//! lane (`enqueue_one`, `lane_result`).
//!
//! A batch is stored in the ledger's database before it is accepted, so a restart loses
//! nothing. The worker (one per replica; a lease in the batch's row keeps two from working on
//! the same batch) takes each stored batch through the request driver's phases: every line is
//! planned like any request (`driver::plan_batch_line`: the route's rules and filters, then the
//! cheapest deployment at batch prices whose provider has a batch API), the lines are grouped
//! by deployment and submitted to that provider's Batch API (a client's batch may be split
//! across providers), the provider batches are polled, and each answered line is settled like
//! any request (`driver::settle_batch_line`: one ledger row, billed at batch rates). When every
//! line is answered or failed, the output and error files are assembled in input order. A line
//! the provider failed, expired or cancelled is in the error file, never lost.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchyard_providers::batch::{LineOutcome, Poll};
use switchyard_store::{BatchFile, LedgerReader, StoredBatch};
use switchyard_types::{ChatRequest, ChatResponse, ServiceTier, Usage};

use switchyard_core::Features;

use crate::{ApiError, GatewayHandle};

pub(crate) mod anthropic;

/// A line's plan.
type Plan = std::sync::Arc<switchyard_core::plan::Plan>;

/// Largest file a client may upload.
pub(crate) const MAX_FILE_BYTES: usize = 50 << 20;
/// Most lines in one batch.
const MAX_LINES: usize = 50_000;
/// How often the worker looks at open batches.
const TICK: Duration = Duration::from_millis(500);
/// How long a replica's claim on a batch lasts without being renewed.
const LEASE_MS: i64 = 5_000;
/// How often a line whose provider batch expired is sent again before it is failed.
const MAX_RESUBMITS: u32 = 1;

/// A batch's state, kept as JSON in its row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct BatchState {
    input_file_id: String,
    endpoint: String,
    completion_window: String,
    created_at: i64,
    #[serde(default)]
    metadata: Value,
    key_id: Option<String>,
    /// Lines (custom ids in input order).
    custom_ids: Vec<String>,
    /// The model (route) each line named, by custom id.
    #[serde(default)]
    models: BTreeMap<String, String>,
    /// Submitted provider batches.
    #[serde(default)]
    jobs: Vec<Job>,
    /// Lines not yet submitted (planned but their provider batch not created).
    #[serde(default)]
    planned: bool,
    /// Each answered or failed line's output-file record, by custom id.
    #[serde(default)]
    results: BTreeMap<String, Value>,
    /// Which lines failed (their records go to the error file).
    #[serde(default)]
    failed: BTreeSet<String>,
    #[serde(default)]
    cancel_requested: bool,
    /// When the client asked to cancel (unix ms).
    #[serde(default)]
    cancel_requested_at: Option<i64>,
    /// How often each line whose provider batch expired was sent again.
    #[serde(default)]
    resubmits: BTreeMap<String, u32>,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    completed_at: Option<i64>,
    cancelled_at: Option<i64>,
    #[serde(default)]
    errors: Vec<Value>,
    /// The replica working on it, and until when (unix ms).
    #[serde(default)]
    lease: Option<(String, i64)>,
}

/// One provider batch: a deployment, the lines sent to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    deployment: String,
    provider_batch_id: String,
    custom_ids: Vec<String>,
    submitted_ms: i64,
    done: bool,
    /// What reading the answers needs (from the provider's batch API), by wire line id.
    #[serde(default)]
    hints: BTreeMap<String, String>,
}

/// A line's id on the wire to a provider: its position in the input (a client's `custom_id`
/// never leaves the gateway, and providers restrict theirs).
fn wire_id(index: usize) -> String {
    format!("l{index}")
}

/// The client's `custom_id` of a wire line id.
fn client_id<'s>(s: &'s BatchState, wire: &str) -> Option<&'s String> {
    s.custom_ids
        .get(wire.strip_prefix('l')?.parse::<usize>().ok()?)
}

fn now_ms() -> i64 {
    switchyard_store::now_ms()
}

fn secs(ms: i64) -> i64 {
    ms / 1000
}

/// Who owns what a request creates or reads: its key's tenant, else `x-switchyard-tenant`,
/// else `default`; and its key.
fn owner(gw: &GatewayHandle, headers: &HeaderMap) -> (String, Option<String>) {
    let cx = crate::keys::request_cx(gw, "batch", headers);
    let key = cx.key_id().map(str::to_owned);
    let tenant = if key.is_some() {
        cx.tenant().to_owned()
    } else {
        headers
            .get("x-switchyard-tenant")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .unwrap_or("default")
            .to_owned()
    };
    cx.discard();
    (tenant, key)
}

async fn reader(gw: &GatewayHandle) -> Result<&LedgerReader, ApiError> {
    gw.ledger_for("files and batches live in the ledger's database")
        .await
}

fn store_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        format!("the ledger's database is unavailable: {e}"),
    )
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("No such {what}: {id}"),
    )
}

fn file_object(f: &BatchFile) -> Value {
    json!({"id": f.id, "object": "file", "bytes": f.content.len(), "created_at": secs(f.created_ms),
           "filename": f.filename, "purpose": f.purpose, "status": "processed",
           "expires_at": null, "status_details": null})
}

/// `POST /v1/files`: a multipart upload (`purpose=batch`, `file`): JSONL, each line a request
/// for `/v1/chat/completions`.
pub(crate) async fn upload(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    upload_(&gw, &headers, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn upload_(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let boundary = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| ApiError::bad_request("expected a multipart/form-data body"))?;
    let limits = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MAX_FILE_BYTES as u64 + 64 * 1024));
    let stream = req.into_body().into_data_stream();
    let mut form = multer::Multipart::with_constraints(stream, boundary, limits);
    let read = gw.config().server.body_read_timeout;
    let (mut purpose, mut file) = (None, None);
    let fields = async {
        while let Some(f) = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("unreadable multipart body: {e}")))?
        {
            let name = f.name().unwrap_or_default().to_owned();
            let filename = f.file_name().unwrap_or("batch.jsonl").to_owned();
            let data = f
                .bytes()
                .await
                .map_err(|e| ApiError::bad_request(format!("unreadable field `{name}`: {e}")))?;
            match name.as_str() {
                "purpose" => purpose = Some(String::from_utf8_lossy(&data).into_owned()),
                "file" => file = Some((filename, data)),
                _ => {}
            }
        }
        Ok::<_, ApiError>(())
    };
    tokio::time::timeout(read, fields).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "the upload was not read in time",
        )
    })??;
    let purpose = purpose.ok_or_else(|| ApiError::bad_request("`purpose` is required"))?;
    if purpose != "batch" {
        return Err(ApiError::bad_request(format!(
            "purpose `{purpose}` is not supported; this gateway takes files for `batch`"
        )));
    }
    let (filename, data) = file.ok_or_else(|| ApiError::bad_request("`file` is required"))?;
    let content = String::from_utf8(data.to_vec())
        .map_err(|_| ApiError::bad_request("the file is not UTF-8 JSONL"))?;
    let (tenant, _) = owner(gw, headers);
    let f = BatchFile {
        id: format!("file-{}", uuid::Uuid::now_v7().simple()),
        tenant,
        purpose,
        filename,
        created_ms: now_ms(),
        content,
    };
    reader(gw).await?.put_file(&f).await.map_err(store_err)?;
    Ok(axum::Json(file_object(&f)).into_response())
}

/// The file `id` of the requester's tenant.
async fn load_file(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    id: &str,
) -> Result<BatchFile, ApiError> {
    let (tenant, _) = owner(gw, headers);
    reader(gw)
        .await?
        .get_file(id, &tenant)
        .await
        .map_err(store_err)?
        .ok_or_else(|| not_found("File object", id))
}

/// `GET /v1/files/{id}`.
pub(crate) async fn file(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match load_file(&gw, &headers, &id).await {
        Ok(f) => axum::Json(file_object(&f)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/files/{id}/content`.
pub(crate) async fn content(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        let f = load_file(&gw, &headers, &id).await?;
        let mut resp = Response::new(Body::from(f.content));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        );
        Ok::<_, ApiError>(resp)
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

/// Whether a chat request asks for the batch lane (`x-switchyard-lane: batch`, or `lane` in
/// its metadata).
pub(crate) fn lane_is_batch(headers: &HeaderMap, req: &ChatRequest) -> bool {
    headers
        .get("x-switchyard-lane")
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.metadata_str("lane"))
        == Some("batch")
}

/// One chat request on the batch lane: a batch of one line, accepted like any batch; the
/// client gets `202` with its id and reads the answer at `GET /v1/chat/completions/{id}`.
pub(crate) async fn enqueue_one(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    req: ChatRequest,
) -> Result<Response, ApiError> {
    if req.stream {
        return Err(ApiError::bad_request(
            "a request on the batch lane cannot stream; its answer is read later by its id",
        ));
    }
    let (b, s) = accept_requests(
        gw,
        headers,
        &[("request".to_owned(), req)],
        "lane.jsonl",
        OPENAI_ENDPOINT,
    )
    .await?;
    let mut resp = (
        StatusCode::ACCEPTED,
        axum::Json(
            json!({"id": b.id, "object": "chat.completion.job", "status": b.status,
                          "created_at": secs(s.created_at),
                          "result_url": format!("/v1/chat/completions/{}", b.id)}),
        ),
    )
        .into_response();
    if let Ok(v) = http::HeaderValue::from_str(&format!("/v1/chat/completions/{}", b.id)) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /v1/chat/completions/{id}`: the answer of a request sent on the batch lane — `200`
/// with the completion (and its cost in `x-switchyard-cost-usd`) once answered, `202` while it
/// waits, the line's error if it failed.
pub(crate) async fn lane_result(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        let (b, s) = load(&gw, &headers, &id).await?;
        let Some(rec) = s.results.get("request") else {
            if matches!(
                b.status.as_str(),
                "in_progress" | "validating" | "cancelling"
            ) {
                return Ok((
                    StatusCode::ACCEPTED,
                    axum::Json(
                        json!({"id": b.id, "object": "chat.completion.job", "status": b.status}),
                    ),
                )
                    .into_response());
            }
            return Err(not_found("answered request", &id));
        };
        let body = &rec["response"]["body"];
        if rec["response"]["status_code"] != 200 {
            let message = line_error(rec).unwrap_or("the request failed on the batch lane");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                message,
            ));
        }
        let mut resp = axum::Json(body.clone()).into_response();
        let h = resp.headers_mut();
        for (name, value) in [
            (
                "x-switchyard-request-id",
                rec["response"]["request_id"].as_str(),
            ),
            ("x-switchyard-model", body["model"].as_str()),
            (
                "x-switchyard-cost-usd",
                body["switchyard"]["cost_usd"].as_str(),
            ),
            (
                "x-switchyard-baseline-cost-usd",
                body["switchyard"]["baseline_cost_usd"].as_str(),
            ),
        ] {
            if let Some(v) = value.and_then(|v| http::HeaderValue::from_str(v).ok()) {
                h.insert(name, v);
            }
        }
        Ok::<_, ApiError>(resp)
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct CreateBatch {
    input_file_id: String,
    endpoint: String,
    completion_window: String,
    #[serde(default)]
    metadata: Value,
}

/// A line of an input file.
#[derive(Deserialize)]
struct Line {
    custom_id: String,
    #[serde(default)]
    method: Option<String>,
    url: String,
    body: Value,
}

/// Plan one line on behalf of the batch's key (or tenant, without one): the driver's phases
/// 2–4. The context only plans; it is discarded.
fn plan_line(
    gw: &GatewayHandle,
    key_id: Option<&str>,
    tenant: &str,
    req: &ChatRequest,
) -> Result<(Plan, Features), switchyard_core::CoreError> {
    let mut cx = crate::keys::key_cx(gw, "batch", key_id);
    let planned = switchyard_core::driver::plan_batch_line(&mut cx, &with_tenant(req, tenant));
    let features = cx.features().cloned().unwrap_or_default();
    cx.discard();
    planned.map(|p| (p, features))
}

/// The request with the batch's tenant as its tenant hint (a key's tenant wins anyway).
fn with_tenant(req: &ChatRequest, tenant: &str) -> ChatRequest {
    let mut r = req.clone();
    r.metadata
        .get_or_insert_with(Default::default)
        .insert("tenant".into(), json!(tenant));
    r
}

/// Parse and check an input file: every line a chat completion with a unique custom id.
fn lines(content: &str) -> Result<Vec<(String, ChatRequest)>, String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, l) in content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line: Line =
            serde_json::from_str(l).map_err(|e| format!("line {}: not a request: {e}", i + 1))?;
        if line.method.as_deref().is_some_and(|m| m != "POST") || line.url != "/v1/chat/completions"
        {
            return Err(format!(
                "line {}: only POST /v1/chat/completions is supported, got `{}`",
                i + 1,
                line.url
            ));
        }
        if !seen.insert(line.custom_id.clone()) {
            return Err(format!(
                "line {}: duplicate custom_id `{}`",
                i + 1,
                line.custom_id
            ));
        }
        let req: ChatRequest =
            serde_json::from_value(line.body).map_err(|e| format!("line {}: body: {e}", i + 1))?;
        if req.stream {
            return Err(format!("line {}: a batch line cannot stream", i + 1));
        }
        out.push((line.custom_id, req));
        if out.len() > MAX_LINES {
            return Err(format!("more than {MAX_LINES} lines"));
        }
    }
    if out.is_empty() {
        return Err("the file has no lines".into());
    }
    Ok(out)
}

/// `POST /v1/batches`.
pub(crate) async fn create(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    create_(&gw, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn create_(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let c: CreateBatch =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if c.endpoint != "/v1/chat/completions" {
        return Err(ApiError::bad_request(format!(
            "endpoint `{}` is not supported; use /v1/chat/completions",
            c.endpoint
        )));
    }
    if c.completion_window != "24h" {
        return Err(ApiError::bad_request("completion_window must be `24h`"));
    }
    let (tenant, key_id) = owner(gw, headers);
    let f = reader(gw)
        .await?
        .get_file(&c.input_file_id, &tenant)
        .await
        .map_err(store_err)?
        .ok_or_else(|| not_found("File object", &c.input_file_id))?;
    let (b, s) = accept(gw, tenant, key_id, &f, c.metadata, OPENAI_ENDPOINT).await?;
    Ok(axum::Json(batch_object(&b, &s)).into_response())
}

/// The client API a batch was created through: OpenAI's Batch API.
const OPENAI_ENDPOINT: &str = "/v1/chat/completions";

/// A batch of requests that did not come as a file (one request on the batch lane, an
/// Anthropic client's Message Batch): stored as the input file a client would have uploaded,
/// then accepted like any batch.
async fn accept_requests(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    requests: &[(String, ChatRequest)],
    filename: &str,
    endpoint: &str,
) -> Result<(StoredBatch, BatchState), ApiError> {
    let (tenant, key_id) = owner(gw, headers);
    let mut content = String::new();
    for (id, req) in requests {
        let body = serde_json::to_value(req).map_err(|e| ApiError::internal(e.to_string()))?;
        let line = json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
                          "body": body});
        content.push_str(&line.to_string());
        content.push('\n');
    }
    let f = BatchFile {
        id: format!("file-{}", uuid::Uuid::now_v7().simple()),
        tenant: tenant.clone(),
        purpose: "batch".into(),
        filename: filename.into(),
        created_ms: now_ms(),
        content,
    };
    reader(gw).await?.put_file(&f).await.map_err(store_err)?;
    accept(gw, tenant, key_id, &f, Value::Null, endpoint).await
}

/// Check a batch's input file, plan every line, admit it against its key, store it.
/// `endpoint` names the client API it came through (OpenAI's Batch API, or Anthropic's
/// Message Batches: `/v1/messages`), which decides how it is shown.
async fn accept(
    gw: &GatewayHandle,
    tenant: String,
    key_id: Option<String>,
    f: &BatchFile,
    metadata: Value,
    endpoint: &str,
) -> Result<(StoredBatch, BatchState), ApiError> {
    let parsed = lines(&f.content).map_err(ApiError::bad_request)?;
    // Every line must be routable now (a bad model name is the client's error, at once).
    let mut plans = Vec::with_capacity(parsed.len());
    for (id, req) in &parsed {
        match plan_line(gw, key_id.as_deref(), &tenant, req) {
            Ok(p) => plans.push(p),
            Err(e) => return Err(ApiError::bad_request(format!("line `{id}`: {e}"))),
        }
    }
    let batch_id = format!("batch_{}", uuid::Uuid::now_v7().simple());
    admit(gw, key_id.as_deref(), &batch_id, &plans).await?;
    let created = now_ms();
    let state = BatchState {
        input_file_id: f.id.clone(),
        endpoint: endpoint.into(),
        completion_window: "24h".into(),
        created_at: created,
        metadata,
        key_id,
        models: parsed
            .iter()
            .map(|(id, r)| (id.clone(), r.model.clone()))
            .collect(),
        custom_ids: parsed.into_iter().map(|(id, _)| id).collect(),
        ..BatchState::default()
    };
    let b = StoredBatch {
        id: batch_id,
        tenant,
        status: "in_progress".into(),
        created_ms: created,
        state: serde_json::to_string(&state).unwrap_or_default(),
    };
    reader(gw).await?.put_batch(&b).await.map_err(store_err)?;
    Ok((b, state))
}

/// A keyed batch is admitted as a whole against its key's limits and budgets: one request,
/// its worst case the sum of its lines' (each priced on its planned deployment for its input
/// and the most output it may produce). Refused, the batch is not accepted; admitted, the
/// reservation is released at once and each answered line's cost is counted against the
/// budgets as it settles (`RequestCx::charge_to_key`).
async fn admit(
    gw: &GatewayHandle,
    key_id: Option<&str>,
    batch_id: &str,
    plans: &[(Plan, Features)],
) -> Result<(), ApiError> {
    use switchyard_core::admission;
    let Some(key) = key_id.and_then(|id| crate::keys::key_grant(gw, id)) else {
        return Ok(());
    };
    if !admission::limited(&key) {
        return Ok(());
    }
    let snap = gw.snapshot();
    let mut worst = Some(0i64);
    for (plan, f) in plans {
        let t = admission::ticket(&snap, plan, f, batch_id, key.clone());
        worst = worst.zip(t.worst_nanos).map(|(a, b)| a.saturating_add(b));
    }
    let ticket = admission::Ticket {
        request_id: batch_id.to_owned(),
        key,
        worst_nanos: worst,
        tokens: 0,
    };
    let adm = gw.admission();
    match adm.reserve(ticket).await {
        Ok(a) => {
            adm.settle(a, 0);
            Ok(())
        }
        Err(r) => Err(admission::refused(r).into()),
    }
}

fn batch_object(b: &StoredBatch, s: &BatchState) -> Value {
    let failed = s.failed.len();
    json!({
        "id": b.id, "object": "batch", "endpoint": s.endpoint, "errors": if s.errors.is_empty() { Value::Null } else { json!({"object": "list", "data": s.errors}) },
        "input_file_id": s.input_file_id, "completion_window": s.completion_window,
        "status": b.status, "output_file_id": s.output_file_id, "error_file_id": s.error_file_id,
        "created_at": secs(b.created_ms), "in_progress_at": secs(b.created_ms),
        "expires_at": secs(b.created_ms) + 86_400, "finalizing_at": null,
        "completed_at": s.completed_at.map(secs), "failed_at": null, "expired_at": null,
        "cancelling_at": null, "cancelled_at": s.cancelled_at.map(secs),
        "request_counts": {"total": s.custom_ids.len(), "completed": s.results.len() - failed, "failed": failed},
        "metadata": s.metadata,
    })
}

async fn load(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    id: &str,
) -> Result<(StoredBatch, BatchState), ApiError> {
    let (tenant, _) = owner(gw, headers);
    let b = reader(gw)
        .await?
        .get_batch(id, Some(&tenant))
        .await
        .map_err(store_err)?
        .ok_or_else(|| not_found("Batch object", id))?;
    let s = serde_json::from_str(&b.state).unwrap_or_default();
    Ok((b, s))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/batches`: the tenant's batches, newest first (`after`, `limit` ≤ 100).
pub(crate) async fn list(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
) -> Response {
    let r = async {
        let (tenant, _) = owner(&gw, &headers);
        let limit = q.limit.unwrap_or(20).clamp(1, 100);
        let rows = reader(&gw)
            .await?
            .list_batches(&tenant, q.after.as_deref(), limit + 1)
            .await
            .map_err(store_err)?;
        let has_more = rows.len() > limit as usize;
        let data: Vec<Value> = rows
            .iter()
            .take(limit as usize)
            .map(|b| batch_object(b, &serde_json::from_str(&b.state).unwrap_or_default()))
            .collect();
        Ok::<_, ApiError>(
            axum::Json(
                json!({"object": "list", "first_id": data.first().map(|b| b["id"].clone()),
                              "last_id": data.last().map(|b| b["id"].clone()),
                              "has_more": has_more, "data": data}),
            )
            .into_response(),
        )
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /v1/batches/{id}`.
pub(crate) async fn get(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match load(&gw, &headers, &id).await {
        Ok((b, s)) => axum::Json(batch_object(&b, &s)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/batches/{id}/cancel`: the worker cancels what was submitted; lines not answered
/// by then are failed as cancelled.
pub(crate) async fn cancel(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match request_cancel(&gw, &headers, &id).await {
        Ok((b, s)) => axum::Json(batch_object(&b, &s)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Mark a batch for cancelling (the worker does the rest); the batch as it is then.
async fn request_cancel(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    id: &str,
) -> Result<(StoredBatch, BatchState), ApiError> {
    // Written only over the state read (the worker may be saving progress meanwhile).
    for _ in 0..5 {
        let (mut b, mut s) = load(gw, headers, id).await?;
        if b.status != "in_progress" {
            return Ok((b, s));
        }
        s.cancel_requested = true;
        s.cancel_requested_at = Some(now_ms());
        b.status = "cancelling".into();
        let read = std::mem::take(&mut b.state);
        b.state = serde_json::to_string(&s).unwrap_or_default();
        if reader(gw)
            .await?
            .swap_batch(&b, &read)
            .await
            .map_err(store_err)?
        {
            return Ok((b, s));
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "invalid_request_error",
        "the batch is changing; retry the cancel",
    ))
}

// === the worker ===

/// Work on open batches every [`TICK`] while the gateway lives (with a ledger).
pub(crate) fn spawn_worker(gw: &GatewayHandle) {
    if gw.ledger_url().is_none() {
        return;
    }
    let me = format!("replica-{}", uuid::Uuid::now_v7().simple());
    let weak = std::sync::Arc::downgrade(gw);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            let Some(gw) = weak.upgrade() else { break };
            if gw.stopping() {
                break;
            }
            if let Err(e) = tick(&gw, &me).await {
                tracing::warn!(error = %e, "batch worker: a pass failed; retrying");
            }
        }
    });
}

async fn tick(gw: &GatewayHandle, me: &str) -> Result<(), String> {
    let store = gw.reader().await?;
    for b in store.open_batches().await.map_err(|e| e.to_string())? {
        let mut s: BatchState = serde_json::from_str(&b.state).map_err(|e| e.to_string())?;
        let now = now_ms();
        // Another replica's unexpired claim: leave it.
        if s.lease
            .as_ref()
            .is_some_and(|(who, until)| who != me && *until > now)
        {
            continue;
        }
        // Claim it: only if nobody changed it since it was read (one replica wins a race).
        s.lease = Some((me.to_owned(), now + LEASE_MS));
        let mut b = b;
        let read = std::mem::take(&mut b.state);
        b.state = serde_json::to_string(&s).map_err(|e| e.to_string())?;
        if !store
            .swap_batch(&b, &read)
            .await
            .map_err(|e| e.to_string())?
        {
            continue;
        }
        advance(gw, store, &mut b, &mut s).await?;
    }
    Ok(())
}

/// Store the batch's progress, renewing this replica's claim. `b.state` is what is stored
/// now; the write succeeds only over it. What else may change a claimed batch is a client's
/// cancel: it is taken in, and the write tried again.
async fn save(store: &LedgerReader, b: &mut StoredBatch, s: &mut BatchState) -> Result<(), String> {
    for _ in 0..5 {
        if let Some((_, until)) = &mut s.lease {
            *until = now_ms() + LEASE_MS;
        }
        let expected = std::mem::take(&mut b.state);
        b.state = serde_json::to_string(s).map_err(|e| e.to_string())?;
        if store
            .swap_batch(b, &expected)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(());
        }
        let fresh = store
            .get_batch(&b.id, None)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the batch is gone")?;
        let theirs: BatchState = serde_json::from_str(&fresh.state).unwrap_or_default();
        if theirs.cancel_requested && !s.cancel_requested {
            s.cancel_requested = true;
            if b.status == "in_progress" {
                b.status = "cancelling".into();
            }
        }
        b.state = fresh.state;
    }
    Err("the batch kept changing under its worker".into())
}

/// One step of a batch: submit it, poll its provider batches, collect, finish.
async fn advance(
    gw: &GatewayHandle,
    store: &LedgerReader,
    b: &mut StoredBatch,
    s: &mut BatchState,
) -> Result<(), String> {
    if !s.planned {
        if s.cancel_requested {
            // Cancelled before it was sent: nothing goes to a provider.
            s.planned = true;
        } else {
            submit(gw, store, b, s).await?;
        }
    }
    let snap = gw.snapshot();
    for i in 0..s.jobs.len() {
        if s.jobs[i].done {
            continue;
        }
        let job = s.jobs[i].clone();
        let Some(d) = snap.deployments.iter().find(|d| d.name == job.deployment) else {
            fail_lines(s, &job.custom_ids, "the deployment is no longer configured");
            s.jobs[i].done = true;
            continue;
        };
        let Some(api) = d.provider.batch_api() else {
            fail_lines(s, &job.custom_ids, "the provider has no batch API");
            s.jobs[i].done = true;
            continue;
        };
        if s.cancel_requested {
            let _ = api.cancel(&job.provider_batch_id).await;
        }
        let (status, lines) = match api.poll(&job.provider_batch_id, &job.hints).await {
            Ok(Poll::Running) => continue,
            Ok(Poll::Ended { status, lines }) => (status, lines),
            // The provider no longer knows it: its lines are expired, never waited on forever.
            Err(e) if e.class == switchyard_providers::ErrorClass::NotFound => {
                ("expired".to_owned(), Vec::new())
            }
            Err(e) => {
                tracing::debug!(error = %e, batch = %b.id, "provider batch status unavailable");
                continue;
            }
        };
        let latency =
            Duration::from_millis(u64::try_from(now_ms() - job.submitted_ms).unwrap_or(0));
        let mut expired = BTreeSet::new();
        for line in lines {
            let Some(id) = client_id(s, &line.id).cloned() else {
                continue;
            };
            match line.outcome {
                LineOutcome::Answered(resp, usage) => {
                    collect(gw, &b.tenant, s, d, &id, Ok((*resp, usage)), latency);
                }
                LineOutcome::Failed { status, body } => {
                    collect(gw, &b.tenant, s, d, &id, Err((status, body)), latency);
                }
                LineOutcome::Expired => {
                    expired.insert(id);
                }
                LineOutcome::Cancelled => fail_lines(s, &[id], "cancelled"),
            }
        }
        // A line the provider did not report: expired with its batch, or failed.
        let missing: Vec<String> = job
            .custom_ids
            .iter()
            .filter(|id| !s.results.contains_key(*id) && !expired.contains(*id))
            .cloned()
            .collect();
        if status == "expired" {
            expired.extend(missing);
        } else if s.cancel_requested || matches!(status.as_str(), "cancelled" | "canceled") {
            fail_lines(s, &missing, "cancelled");
        } else {
            fail_lines(
                s,
                &missing,
                &format!("the provider's batch ended `{status}` without it"),
            );
        }
        // An expired line is sent again (a new provider batch at the next pass), up to
        // MAX_RESUBMITS times; after that, or once the client cancelled, it is failed.
        for id in expired {
            let n = s.resubmits.entry(id.clone()).or_default();
            if *n < MAX_RESUBMITS && !s.cancel_requested {
                *n += 1;
                s.planned = false;
            } else {
                let why = format!(
                    "expired: the provider's batch window ran out (sent {} times)",
                    *n + 1
                );
                fail_lines(s, &[id], &why);
            }
        }
        s.jobs[i].done = true;
        save(store, b, s).await?;
    }
    if s.planned && s.jobs.iter().all(|j| j.done) {
        finish(store, b, s).await?;
    }
    save(store, b, s).await
}

/// Plan every line and submit one provider batch per chosen deployment.
async fn submit(
    gw: &GatewayHandle,
    store: &LedgerReader,
    b: &mut StoredBatch,
    s: &mut BatchState,
) -> Result<(), String> {
    let input = store
        .get_file(&s.input_file_id, &b.tenant)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the input file is gone")?;
    let parsed = lines(&input.content)?;
    let snap = gw.snapshot();
    let mut groups: HashMap<usize, Vec<(usize, String, ChatRequest)>> = HashMap::new();
    let in_flight: HashSet<String> = s
        .jobs
        .iter()
        .filter(|j| !j.done)
        .flat_map(|j| j.custom_ids.iter().cloned())
        .collect();
    for (index, (id, req)) in parsed.into_iter().enumerate() {
        // Answered, failed, or in a provider batch still running: not sent (again).
        if s.results.contains_key(&id) || in_flight.contains(&id) {
            continue;
        }
        match plan_line(gw, s.key_id.as_deref(), &b.tenant, &req) {
            Ok((p, _)) => groups
                .entry(p.targets[0])
                .or_default()
                .push((index, id, req)),
            Err(e) => fail_lines(s, &[id], &e.to_string()),
        }
    }
    for (dep, lines) in groups {
        let d = snap.deployment(dep);
        let Some(api) = d.provider.batch_api() else {
            continue;
        };
        let adjusted: Vec<(String, std::borrow::Cow<'_, ChatRequest>)> = lines
            .iter()
            .map(|(index, _, req)| {
                let req =
                    switchyard_core::adjust::for_deployment(d, req, ServiceTier::Standard, false);
                (wire_id(*index), req)
            })
            .collect();
        let wire: Vec<(String, &ChatRequest)> =
            adjusted.iter().map(|(w, r)| (w.clone(), &**r)).collect();
        let created = api
            .submit(&wire, switchyard_core::attempt::call_cx(d))
            .await;
        let ids: Vec<String> = lines.into_iter().map(|(_, id, _)| id).collect();
        // A provider that is down or busy now is asked again at the next pass; a refusal
        // fails the lines.
        if created
            .as_ref()
            .is_err_and(switchyard_core::batch_submit_again)
        {
            save(store, b, s).await?;
            return Ok(());
        }
        match created {
            Ok(created) => s.jobs.push(Job {
                deployment: d.name.clone(),
                provider_batch_id: created.id,
                custom_ids: ids,
                submitted_ms: now_ms(),
                done: false,
                hints: created.hints,
            }),
            Err(e) => fail_lines(s, &ids, &format!("the provider refused the batch: {e}")),
        }
        save(store, b, s).await?;
    }
    s.planned = true;
    save(store, b, s).await
}

/// An answered (or failed) line: one ledger row, billed at batch rates; its output record.
fn collect(
    gw: &GatewayHandle,
    tenant: &str,
    s: &mut BatchState,
    d: &switchyard_core::Deployment,
    id: &str,
    outcome: Result<(ChatResponse, Usage), (u16, Value)>,
    latency: Duration,
) {
    if s.results.contains_key(id) {
        return;
    }
    let snap = gw.snapshot();
    let Some(dep) = snap.deployments.iter().position(|x| x.name == d.name) else {
        return;
    };
    let started = tokio::time::Instant::now()
        .checked_sub(latency)
        .unwrap_or_else(tokio::time::Instant::now);
    let mut cx = crate::keys::key_cx(gw, "batch", s.key_id.as_deref())
        .started_at(started)
        .charge_to_key(gw.admission());
    let request_id = cx.id().to_owned();
    // Planned again (no IO) so the row carries the route, the rule and the decision.
    let named = ChatRequest {
        model: s.models.get(id).cloned().unwrap_or_else(|| d.name.clone()),
        ..ChatRequest::default()
    };
    let _ = switchyard_core::driver::plan_batch_line(&mut cx, &with_tenant(&named, tenant));
    let out = match outcome {
        Ok((mut resp, usage)) => {
            resp.model.clone_from(&d.name);
            let bill = switchyard_core::driver::settle_batch_line(cx, dep, Ok(usage), latency);
            let mut body = serde_json::to_value(&resp).unwrap_or_default();
            // The cost the ledger recorded, as a streamed answer's final chunk carries it.
            body["switchyard"] = json!({
                "cost_usd": bill.cost.to_string(),
                "baseline_cost_usd": bill.baseline.map(|b| b.to_string()),
            });
            json!({"id": format!("batch_req_{request_id}"), "custom_id": id,
                   "response": {"status_code": 200, "request_id": request_id, "body": body},
                   "error": null})
        }
        Err((status, body)) => {
            switchyard_core::driver::settle_batch_line(
                cx,
                dep,
                Err((status, "batch_line_failed".into())),
                latency,
            );
            s.failed.insert(id.to_owned());
            json!({"id": format!("batch_req_{request_id}"), "custom_id": id,
                   "response": {"status_code": status, "request_id": request_id, "body": body},
                   "error": null})
        }
    };
    s.results.insert(id.to_owned(), out);
}

/// Why a failed line's output record failed: the gateway's reason, else the provider's error.
fn line_error(rec: &Value) -> Option<&str> {
    rec["error"]["message"]
        .as_str()
        .or_else(|| rec["response"]["body"]["error"]["message"].as_str())
}

fn fail_lines(s: &mut BatchState, ids: &[String], why: &str) {
    for id in ids {
        if s.results.contains_key(id) {
            continue;
        }
        s.failed.insert(id.clone());
        s.results.insert(
            id.clone(),
            json!({"id": null, "custom_id": id, "response": null,
                   "error": {"code": "batch_line_failed", "message": why}}),
        );
    }
}

/// Every line is answered or failed: the output and error files, in input order.
async fn finish(
    store: &LedgerReader,
    b: &mut StoredBatch,
    s: &mut BatchState,
) -> Result<(), String> {
    let cancelled = s.cancel_requested;
    if cancelled {
        let missing: Vec<String> = s
            .custom_ids
            .iter()
            .filter(|id| !s.results.contains_key(*id))
            .cloned()
            .collect();
        fail_lines(s, &missing, "cancelled");
    }
    let (mut out, mut err) = (String::new(), String::new());
    for id in &s.custom_ids {
        let Some(r) = s.results.get(id) else { continue };
        let target = if s.failed.contains(id) {
            &mut err
        } else {
            &mut out
        };
        target.push_str(&r.to_string());
        target.push('\n');
    }
    let now = now_ms();
    for (content, slot, name) in [
        (out, &mut s.output_file_id, "batch_output.jsonl"),
        (err, &mut s.error_file_id, "batch_errors.jsonl"),
    ] {
        if content.is_empty() {
            continue;
        }
        let f = BatchFile {
            id: format!("file-{}", uuid::Uuid::now_v7().simple()),
            tenant: b.tenant.clone(),
            purpose: "batch_output".into(),
            filename: name.into(),
            created_ms: now,
            content,
        };
        store.put_file(&f).await.map_err(|e| e.to_string())?;
        *slot = Some(f.id);
    }
    if cancelled {
        s.cancelled_at = Some(now);
        b.status = "cancelled".into();
    } else {
        s.completed_at = Some(now);
        b.status = "completed".into();
    }
    s.lease = None;
    Ok(())
}
