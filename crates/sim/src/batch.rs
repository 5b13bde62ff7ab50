//! The batch APIs. OpenAI's Files and Batch APIs: `POST /v1/files` (multipart,
//! `purpose=batch`), `GET /v1/files/{id}`, `GET /v1/files/{id}/content`, `POST /v1/batches`,
//! `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`. Anthropic's Message Batches:
//! `POST /v1/messages/batches`, `GET /v1/messages/batches/{id}`,
//! `GET /v1/messages/batches/{id}/results`, `POST /v1/messages/batches/{id}/cancel`.
//!
//! A batch ends `batch_delay` after it is created (config; default 500 ms): each line is
//! answered by the same handler as `/v1/chat/completions` or `/v1/messages` (so model-name
//! faults make failed lines). OpenAI: successes go to the output file and failures to the
//! error file. Anthropic: one results record per request (`succeeded`, `errored`, `canceled`,
//! `expired`). A line whose model name has the `batchexpire` token expires the first time its
//! request is seen in a batch (the batch's window ran out before it was run; OpenAI's batch then
//! ends `expired`); sent again, it is answered. State is in memory, bounded (at most
//! [`MAX_FILES`] files of [`MAX_FILE_BYTES`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use crate::server::SimState;

/// Largest file accepted.
pub(crate) const MAX_FILE_BYTES: usize = 50 << 20;
/// Most files kept (the oldest are dropped).
const MAX_FILES: usize = 1000;

/// Files and batches.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    files: Mutex<HashMap<String, (Value, bytes::Bytes)>>,
    batches: Mutex<HashMap<String, Value>>,
    /// Anthropic batches' results (JSONL), once ended.
    results: Mutex<HashMap<String, bytes::Bytes>>,
    /// Requests (by hash) of `batchexpire` models that already expired once.
    expired: Mutex<std::collections::HashSet<u64>>,
    next: std::sync::atomic::AtomicU64,
}

impl Batches {
    fn id(&self, prefix: &str) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{prefix}-sim{n:08}")
    }

    fn add_file(&self, purpose: &str, filename: &str, content: bytes::Bytes, now: u64) -> Value {
        let id = self.id("file");
        let meta = json!({"id": id, "object": "file", "bytes": content.len(), "created_at": now,
                          "filename": filename, "purpose": purpose, "status": "processed"});
        let mut files = lock(&self.files);
        if files.len() >= MAX_FILES {
            files.clear();
        }
        files.insert(id, (meta.clone(), content));
        meta
    }
}

impl Batches {
    /// Whether this line expires: its model has the `batchexpire` token and the same request
    /// has not expired before.
    fn expires(&self, body: &Value) -> bool {
        let model = body["model"].as_str().unwrap_or_default();
        if !model.split('-').any(|t| t == "batchexpire") {
            return false;
        }
        let mut h = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&body.to_string(), &mut h);
        let mut seen = lock(&self.expired);
        if seen.len() >= 100_000 {
            seen.clear();
        }
        seen.insert(std::hash::Hasher::finish(&h))
    }
}

/// A batch creation, for [`crate::Sim::requests`] (the body, no headers).
fn record(st: &SimState, path: &str, body: &Value) {
    if st.recording() {
        st.record(crate::server::RecordedRequest {
            path: path.to_owned(),
            model: String::new(),
            headers: Vec::new(),
            body: body.clone(),
            time: std::time::SystemTime::now(),
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": "invalid_request_error",
                                    "param": null, "code": null}}),
        ),
    )
        .into_response()
}

fn now(st: &SimState) -> u64 {
    st.created + st.start.elapsed().as_secs()
}

/// `POST /v1/files`: a multipart upload with `purpose` and `file`.
pub(crate) async fn upload(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let boundary = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok());
    let Some(boundary) = boundary else {
        return error(StatusCode::BAD_REQUEST, "expected multipart/form-data");
    };
    let body = req.into_body().into_data_stream();
    let mut form = multer::Multipart::with_constraints(
        body,
        boundary,
        multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().whole_stream(MAX_FILE_BYTES as u64 + 64 * 1024)),
    );
    let (mut purpose, mut file) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or_default().to_owned();
                let filename = f.file_name().unwrap_or("upload.jsonl").to_owned();
                let Ok(data) = f.bytes().await else {
                    return error(StatusCode::BAD_REQUEST, "unreadable multipart field");
                };
                match name.as_str() {
                    "purpose" => purpose = Some(String::from_utf8_lossy(&data).into_owned()),
                    "file" => file = Some((filename, data)),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad multipart body: {e}")),
        }
    }
    let (Some(purpose), Some((filename, data))) = (purpose, file) else {
        return error(StatusCode::BAD_REQUEST, "`purpose` and `file` are required");
    };
    axum::Json(st.batches.add_file(&purpose, &filename, data, now(&st))).into_response()
}

/// `GET /v1/files/{id}`.
pub(crate) async fn file(State(st): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    match lock(&st.batches.files).get(&id) {
        Some((meta, _)) => axum::Json(meta.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("No such File object: {id}")),
    }
}

/// `GET /v1/files/{id}/content`.
pub(crate) async fn content(State(st): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    match lock(&st.batches.files).get(&id) {
        Some((_, data)) => Response::new(Body::from(data.clone())),
        None => error(StatusCode::NOT_FOUND, &format!("No such File object: {id}")),
    }
}

/// `POST /v1/batches`.
pub(crate) async fn create(State(st): State<Arc<SimState>>, body: bytes::Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let Some(input) = req["input_file_id"].as_str() else {
        return error(StatusCode::BAD_REQUEST, "input_file_id is required");
    };
    let Some(content) = lock(&st.batches.files).get(input).map(|(_, d)| d.clone()) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("No such File object: {input}"),
        );
    };
    record(&st, "/v1/batches", &req);
    let id = st.batches.id("batch");
    let total = content
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let batch = json!({
        "id": id, "object": "batch", "endpoint": req["endpoint"], "errors": null,
        "input_file_id": input, "completion_window": req["completion_window"],
        "status": "in_progress", "output_file_id": null, "error_file_id": null,
        "created_at": now(&st), "in_progress_at": now(&st), "completed_at": null,
        "cancelled_at": null, "expires_at": now(&st) + 86_400,
        "request_counts": {"total": total, "completed": 0, "failed": 0},
        "metadata": req.get("metadata").cloned().unwrap_or(Value::Null),
    });
    lock(&st.batches.batches).insert(id.clone(), batch.clone());
    tokio::spawn(run(st.clone(), id, content));
    axum::Json(batch).into_response()
}

/// Answer every line after the configured delay, unless the batch was cancelled.
async fn run(st: Arc<SimState>, id: String, content: bytes::Bytes) {
    tokio::time::sleep(st.batch_delay).await;
    let (mut out, mut err) = (String::new(), String::new());
    let (mut done, mut failed) = (0u64, 0u64);
    let mut expired = false;
    for (i, line) in content
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if lock(&st.batches.batches)
            .get(&id)
            .is_some_and(|b| b["status"] != "in_progress")
        {
            return;
        }
        let parsed: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        let custom_id = parsed["custom_id"].clone();
        if st.batches.expires(&parsed["body"]) {
            expired = true;
            let rec = json!({"id": format!("batch_req_{id}_{i}"), "custom_id": custom_id,
                "response": null, "error": {"code": "batch_expired",
                "message": "This request could not be executed before the completion window expired."}});
            err.push_str(&rec.to_string());
            err.push('\n');
            continue;
        }
        let body = serde_json::to_vec(&parsed["body"]).unwrap_or_default();
        let req = Request::builder()
            .method("POST")
            .uri("/v1/chat/completions")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap_or_default();
        let resp = crate::openai::chat_completions(State(st.clone()), req).await;
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_FILE_BYTES)
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let rec = json!({"id": format!("batch_req_{id}_{i}"), "custom_id": custom_id,
            "response": {"status_code": status, "request_id": format!("req_{id}_{i}"), "body": body},
            "error": null});
        let target = if status == 200 {
            done += 1;
            &mut out
        } else {
            failed += 1;
            &mut err
        };
        target.push_str(&rec.to_string());
        target.push('\n');
    }
    let t = now(&st);
    let output = (!out.is_empty()).then(|| {
        st.batches
            .add_file("batch_output", "output.jsonl", out.into(), t)["id"]
            .clone()
    });
    let errors = (!err.is_empty()).then(|| {
        st.batches
            .add_file("batch_output", "errors.jsonl", err.into(), t)["id"]
            .clone()
    });
    if let Some(b) = lock(&st.batches.batches).get_mut(&id) {
        if b["status"] != "in_progress" {
            return;
        }
        if expired {
            b["status"] = json!("expired");
            b["expired_at"] = json!(t);
        } else {
            b["status"] = json!("completed");
            b["completed_at"] = json!(t);
        }
        b["output_file_id"] = output.unwrap_or(Value::Null);
        b["error_file_id"] = errors.unwrap_or(Value::Null);
        b["request_counts"]["completed"] = json!(done);
        b["request_counts"]["failed"] = json!(failed);
    }
}

/// `GET /v1/batches/{id}`.
pub(crate) async fn get(State(st): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    match lock(&st.batches.batches).get(&id) {
        Some(b) => axum::Json(b.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("No such Batch object: {id}"),
        ),
    }
}

/// `POST /v1/batches/{id}/cancel`.
pub(crate) async fn cancel(State(st): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    let t = now(&st);
    match lock(&st.batches.batches).get_mut(&id) {
        Some(b) => {
            if b["status"] == "in_progress" {
                b["status"] = json!("cancelled");
                b["cancelled_at"] = json!(t);
            }
            axum::Json(b.clone()).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            &format!("No such Batch object: {id}"),
        ),
    }
}

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"type": "error", "error": {"type": kind, "message": message}})),
    )
        .into_response()
}

fn rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime_serde::re::humantime::format_rfc3339_seconds(t).to_string()
}

/// `POST /v1/messages/batches`: `{"requests": [{"custom_id", "params"}]}`.
pub(crate) async fn messages_create(
    State(st): State<Arc<SimState>>,
    body: bytes::Bytes,
) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "the body is not JSON",
        );
    };
    let Some(requests) = req["requests"].as_array().filter(|r| !r.is_empty()) else {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "requests: at least one request is required",
        );
    };
    for r in requests {
        let ok = r["custom_id"].as_str().is_some_and(|c| {
            (1..=64).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if !ok {
            return anthropic_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "requests: custom_id must match ^[a-zA-Z0-9_-]{1,64}$",
            );
        }
    }
    record(&st, "/v1/messages/batches", &req);
    let id = st.batches.id("msgbatch");
    let now = now(&st);
    let batch = json!({
        "id": id, "type": "message_batch", "processing_status": "in_progress",
        "request_counts": {"processing": requests.len(), "succeeded": 0, "errored": 0,
                           "canceled": 0, "expired": 0},
        "ended_at": null, "created_at": rfc3339(now),
        "expires_at": rfc3339(now + 86_400), "archived_at": null,
        "cancel_initiated_at": null, "results_url": null,
    });
    lock(&st.batches.batches).insert(id.clone(), batch.clone());
    tokio::spawn(run_messages(st.clone(), id, requests.clone()));
    axum::Json(batch).into_response()
}

/// Answer every request after the configured delay; a cancelled batch cancels what is left.
async fn run_messages(st: Arc<SimState>, id: String, requests: Vec<Value>) {
    tokio::time::sleep(st.batch_delay).await;
    let mut out = String::new();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for r in &requests {
        let cancelled = lock(&st.batches.batches)
            .get(&id)
            .is_some_and(|b| b["processing_status"] != "in_progress");
        let result = if cancelled {
            json!({"type": "canceled"})
        } else if st.batches.expires(&r["params"]) {
            json!({"type": "expired"})
        } else {
            let body = serde_json::to_vec(&r["params"]).unwrap_or_default();
            let req = Request::builder()
                .method("POST")
                .uri("/v1/messages")
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap_or_default();
            let resp = crate::anthropic::messages(State(st.clone()), req).await;
            let ok = resp.status() == StatusCode::OK;
            let bytes = axum::body::to_bytes(resp.into_body(), MAX_FILE_BYTES)
                .await
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if ok {
                json!({"type": "succeeded", "message": body})
            } else {
                json!({"type": "errored", "error": body})
            }
        };
        let kind = match result["type"].as_str() {
            Some("succeeded") => "succeeded",
            Some("canceled") => "canceled",
            Some("expired") => "expired",
            _ => "errored",
        };
        *counts.entry(kind).or_default() += 1;
        out.push_str(&json!({"custom_id": r["custom_id"], "result": result}).to_string());
        out.push('\n');
    }
    let t = now(&st);
    lock(&st.batches.results).insert(id.clone(), out.into());
    if let Some(b) = lock(&st.batches.batches).get_mut(&id) {
        b["processing_status"] = json!("ended");
        b["ended_at"] = json!(rfc3339(t));
        b["results_url"] = json!(format!("/v1/messages/batches/{id}/results"));
        for k in ["succeeded", "errored", "canceled", "expired"] {
            b["request_counts"][k] = json!(counts.get(k).copied().unwrap_or(0));
        }
        b["request_counts"]["processing"] = json!(0);
    }
}

/// `GET /v1/messages/batches/{id}`.
pub(crate) async fn messages_get(
    State(st): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Response {
    match lock(&st.batches.batches).get(&id) {
        Some(b) if b["type"] == "message_batch" => axum::Json(b.clone()).into_response(),
        _ => anthropic_error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("message batch {id} not found"),
        ),
    }
}

/// `GET /v1/messages/batches/{id}/results`: JSONL, once the batch ended.
pub(crate) async fn messages_results(
    State(st): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Response {
    match lock(&st.batches.results).get(&id) {
        Some(r) => Response::new(Body::from(r.clone())),
        None if lock(&st.batches.batches).contains_key(&id) => anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "the batch has not ended yet",
        ),
        None => anthropic_error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("message batch {id} not found"),
        ),
    }
}

/// `POST /v1/messages/batches/{id}/cancel`.
pub(crate) async fn messages_cancel(
    State(st): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Response {
    let t = now(&st);
    match lock(&st.batches.batches).get_mut(&id) {
        Some(b) if b["type"] == "message_batch" => {
            if b["processing_status"] == "in_progress" {
                b["processing_status"] = json!("canceling");
                b["cancel_initiated_at"] = json!(rfc3339(t));
            }
            axum::Json(b.clone()).into_response()
        }
        _ => anthropic_error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("message batch {id} not found"),
        ),
    }
}
