//! Anthropic's Message Batches API for Anthropic clients (`client.messages.batches` of the
//! official SDKs): `POST /v1/messages/batches`, `GET /v1/messages/batches`,
//! `GET /v1/messages/batches/{id}`, `GET /v1/messages/batches/{id}/results`,
//! `POST /v1/messages/batches/{id}/cancel`.
//!
//! The same batch lane as OpenAI's Batch API: each request's `params` is read by the Anthropic
//! ingress into the canonical request, the requests are stored as the batch's input file and
//! accepted like any batch (planned, admitted, worked by the same worker, billed at batch
//! rates). Only the shapes differ: the batch object, the per-request results (`succeeded` with
//! an Anthropic message, `errored`, `canceled`, `expired`) and the errors are Anthropic's.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_providers::anthropic::ingress;
use switchyard_store::StoredBatch;
use switchyard_types::{ChatRequest, ChatResponse, OpenAiDialect, Usage};

use super::{accept_requests, load, reader, request_cancel, store_err, BatchState};
use crate::error::Shape;
use crate::{ApiError, GatewayHandle};

/// The client API these batches came through (kept in the batch's state).
const ENDPOINT: &str = "/v1/messages";

#[derive(Deserialize)]
struct Create {
    requests: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    custom_id: String,
    params: Value,
}

fn shaped(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(|e| e.shaped(Shape::Anthropic).into_response())
}

/// `POST /v1/messages/batches`; the body may be as large as a batch input file.
pub(crate) async fn create(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let mut limits = gw.config().server.clone();
        limits.max_body_bytes = super::MAX_FILE_BYTES;
        let bytes = crate::app::read_body(&headers, body, &limits).await?;
        create_(&gw, &headers, &bytes).await
    };
    shaped(r.await)
}

async fn create_(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let c: Create = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))?;
    if c.requests.is_empty() {
        return Err(ApiError::bad_request(
            "requests: at least one request is required",
        ));
    }
    if c.requests.len() > super::MAX_LINES {
        return Err(ApiError::bad_request(format!(
            "requests: at most {} requests in a batch",
            super::MAX_LINES
        )));
    }
    let mut requests: Vec<(String, ChatRequest)> = Vec::with_capacity(c.requests.len());
    let mut seen = std::collections::HashSet::new();
    for (i, e) in c.requests.into_iter().enumerate() {
        let valid = (1..=64).contains(&e.custom_id.len())
            && e.custom_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(ApiError::bad_request(format!(
                "requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$"
            )));
        }
        if !seen.insert(e.custom_id.clone()) {
            return Err(ApiError::bad_request(format!(
                "requests.{i}.custom_id: `{}` is not unique",
                e.custom_id
            )));
        }
        if e.params.get("stream").and_then(Value::as_bool) == Some(true) {
            return Err(ApiError::bad_request(format!(
                "requests.{i}.params.stream: a batched request cannot stream"
            )));
        }
        let bytes = serde_json::to_vec(&e.params).map_err(|e| ApiError::internal(e.to_string()))?;
        let req = ingress::parse_request(&bytes)
            .map_err(|m| ApiError::bad_request(format!("requests.{i}.params: {m}")))?;
        requests.push((e.custom_id, req));
    }
    let (b, s) = accept_requests(gw, headers, &requests, "message_batch.jsonl", ENDPOINT).await?;
    Ok(axum::Json(object(&b, &s)).into_response())
}

/// `GET /v1/messages/batches`: the tenant's Message Batches, newest first (`after_id`,
/// `limit` ≤ 100).
pub(crate) async fn list(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<AnthropicList>,
) -> Response {
    let r = async {
        let (tenant, _) = super::owner(&gw, &headers);
        let limit = q.limit.unwrap_or(20).clamp(1, 100);
        let mut data = Vec::new();
        let mut after = q.after_id.clone();
        let mut has_more = false;
        // Listed among all the tenant's batches; only the ones made through this API show.
        'pages: loop {
            let rows = reader(&gw)
                .await?
                .list_batches(&tenant, after.as_deref(), 100)
                .await
                .map_err(store_err)?;
            let end = rows.len() < 100;
            for b in &rows {
                after = Some(b.id.clone());
                let s: BatchState = serde_json::from_str(&b.state).unwrap_or_default();
                if s.endpoint != ENDPOINT {
                    continue;
                }
                if data.len() == limit as usize {
                    has_more = true;
                    break 'pages;
                }
                data.push(object(b, &s));
            }
            if end {
                break;
            }
        }
        Ok::<_, ApiError>(
            axum::Json(json!({"data": data, "has_more": has_more,
                              "first_id": data.first().map(|b| b["id"].clone()),
                              "last_id": data.last().map(|b| b["id"].clone())}))
            .into_response(),
        )
    };
    shaped(r.await)
}

/// The list's query (Anthropic's names).
#[derive(Deserialize)]
pub(crate) struct AnthropicList {
    after_id: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/messages/batches/{id}`.
pub(crate) async fn get(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    shaped(
        load(&gw, &headers, &id)
            .await
            .map(|(b, s)| axum::Json(object(&b, &s)).into_response()),
    )
}

/// `POST /v1/messages/batches/{id}/cancel`.
pub(crate) async fn cancel(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    shaped(
        request_cancel(&gw, &headers, &id)
            .await
            .map(|(b, s)| axum::Json(object(&b, &s)).into_response()),
    )
}

/// `GET /v1/messages/batches/{id}/results`: one JSON line per request, in input order, once the
/// batch has ended.
pub(crate) async fn results(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        let (b, s) = load(&gw, &headers, &id).await?;
        if !ended(&b) {
            return Err(ApiError::bad_request(format!(
                "message batch {id} has not ended yet; its results are not available"
            )));
        }
        let mut out = String::new();
        for cid in &s.custom_ids {
            let result = s.results.get(cid).map_or_else(
                || json!({"type": "canceled"}),
                |rec| result(rec, s.failed.contains(cid)),
            );
            out.push_str(&json!({"custom_id": cid, "result": result}).to_string());
            out.push('\n');
        }
        let mut resp = Response::new(Body::from(out));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-jsonl"),
        );
        Ok(resp)
    };
    shaped(r.await)
}

fn ended(b: &StoredBatch) -> bool {
    !matches!(b.status.as_str(), "in_progress" | "cancelling")
}

/// What became of one request, from its output-file record.
fn kind(rec: &Value, failed: bool) -> &'static str {
    if !failed {
        return "succeeded";
    }
    let why = rec["error"]["message"].as_str().unwrap_or_default();
    if why == "cancelled" {
        "canceled"
    } else if why.starts_with("expired") {
        "expired"
    } else {
        "errored"
    }
}

/// One request's `result`: the answer as an Anthropic message, or why there is none.
fn result(rec: &Value, failed: bool) -> Value {
    match kind(rec, failed) {
        "succeeded" => {
            let mut body = rec["response"]["body"].clone();
            let cost = body
                .as_object_mut()
                .and_then(|o| o.remove("switchyard"))
                .unwrap_or(Value::Null);
            let Ok(resp) = serde_json::from_value::<ChatResponse>(body) else {
                return errored("api_error", "the answer could not be read");
            };
            let usage = resp.usage.as_ref().map_or_else(Usage::default, |w| {
                Usage::from_openai(w, OpenAiDialect::Standard)
            });
            let mut extra = switchyard_types::JsonMap::new();
            // The cost the ledger recorded, as on the gateway's other batch answers.
            extra.insert("switchyard".into(), cost);
            json!({"type": "succeeded", "message": ingress::encode_response(&resp, &usage, extra)})
        }
        "canceled" => json!({"type": "canceled"}),
        "expired" => json!({"type": "expired"}),
        _ => {
            let status = rec["response"]["status_code"].as_u64().unwrap_or(500);
            let message = super::line_error(rec).unwrap_or("the request failed");
            let kind = if (400..500).contains(&status) && status != 429 {
                "invalid_request_error"
            } else {
                "api_error"
            };
            errored(kind, message)
        }
    }
}

fn errored(kind: &str, message: &str) -> Value {
    json!({"type": "errored", "error": {"type": "error", "error": {"type": kind, "message": message}}})
}

fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or_default());
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The Anthropic `message_batch` object.
fn object(b: &StoredBatch, s: &BatchState) -> Value {
    let mut counts = [0u64; 4];
    for cid in &s.custom_ids {
        if let Some(rec) = s.results.get(cid) {
            let i = match kind(rec, s.failed.contains(cid)) {
                "succeeded" => 0,
                "errored" => 1,
                "canceled" => 2,
                _ => 3,
            };
            counts[i] += 1;
        }
    }
    let processing = s.custom_ids.len() as u64 - counts.iter().sum::<u64>();
    let status = match b.status.as_str() {
        "in_progress" => "in_progress",
        "cancelling" => "canceling",
        _ => "ended",
    };
    let ended_at = s.completed_at.or(s.cancelled_at).map(rfc3339);
    json!({
        "id": b.id, "type": "message_batch", "processing_status": status,
        "request_counts": {"processing": if ended(b) { 0 } else { processing },
                           "succeeded": counts[0], "errored": counts[1],
                           "canceled": counts[2] + if ended(b) { processing } else { 0 },
                           "expired": counts[3]},
        "ended_at": ended_at, "created_at": rfc3339(b.created_ms),
        "expires_at": rfc3339(b.created_ms + 86_400_000), "archived_at": null,
        "cancel_initiated_at": s.cancel_requested_at.map(rfc3339),
        "results_url": ended(b).then(|| format!("/v1/messages/batches/{}/results", b.id)),
    })
}
