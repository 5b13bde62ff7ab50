//! `POST /v1/feedback`: a client's judgement of an answer, by request id. It lands in the
//! ledger's `signals` table beside the request, attributed to the model that answered and
//! the request's task label, and updates the quality model at once.
//!
//! The request is looked up in the ledger; a row still in the writer's queue (the first
//! flush interval after the answer) is waited for briefly.

use std::time::Duration;

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::json;
use switchyard_store::{RequestFacts, SignalRow};

use crate::{ApiError, GatewayHandle};

/// Longest label, bytes.
const MAX_LABEL: usize = 256;
/// Longest comment, bytes.
const MAX_COMMENT: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Feedback {
    request_id: String,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default, alias = "passed")]
    pass: Option<bool>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// The handler.
pub(crate) async fn feedback(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&gw, &headers, body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    gw: &GatewayHandle,
    headers: &HeaderMap,
    body: Body,
) -> Result<serde_json::Value, ApiError> {
    let bytes = crate::app::read_body(headers, body, &gw.config().server).await?;
    let f: Feedback = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid feedback: {e}")))?;
    let score = match (f.score, f.pass) {
        (Some(s), None) if (0.0..=1.0).contains(&s) => s,
        (Some(_), None) => {
            return Err(ApiError::bad_request("`score` must be in [0, 1]").param("score"))
        }
        (None, Some(p)) => f64::from(u8::from(p)),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `score` (0 to 1) or `pass` (true/false)",
            ))
        }
    };
    if f.request_id.is_empty() || f.request_id.len() > 64 {
        return Err(ApiError::bad_request("`request_id` is not a request id").param("request_id"));
    }
    if f.label.as_ref().is_some_and(|l| l.len() > MAX_LABEL) {
        return Err(
            ApiError::bad_request(format!("`label` is longer than {MAX_LABEL} bytes"))
                .param("label"),
        );
    }
    if f.comment.as_ref().is_some_and(|c| c.len() > MAX_COMMENT) {
        return Err(
            ApiError::bad_request(format!("`comment` is longer than {MAX_COMMENT} bytes"))
                .param("comment"),
        );
    }
    let reader = gw.reader().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!("feedback needs the ledger: {e}"),
        )
    })?;
    let facts = find(reader, &f.request_id).await?;
    let Some(model) = facts.model else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            "that request has no answer to judge (it failed)",
        ));
    };
    let row = SignalRow {
        id: switchyard_store::new_id(),
        request_id: f.request_id.clone(),
        ts: switchyard_store::now_ms(),
        source: "feedback".into(),
        name: "feedback".into(),
        model: Some(model.clone()),
        task: facts.task.clone(),
        route: facts.route.clone(),
        score,
        passed: f.pass,
        observed: true,
        label: f.label,
        detail: f.comment,
    };
    reader
        .insert_signals(std::slice::from_ref(&row))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!("feedback was not stored: {e}"),
            )
        })?;
    gw.snapshot()
        .quality
        .observe(facts.task.as_deref(), &model, score);
    crate::metrics::feedback(&model, score);
    Ok(json!({
        "object": "feedback", "id": row.id, "request_id": row.request_id,
        "model": model, "task": facts.task, "route": facts.route, "score": score,
    }))
}

/// The request's facts, waiting up to about a second for a row still being written.
async fn find(reader: &switchyard_store::LedgerReader, id: &str) -> Result<RequestFacts, ApiError> {
    for wait in [0u64, 100, 200, 300, 400] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let found = reader
            .request_facts(id)
            .await
            .map_err(|e| ApiError::internal(format!("ledger lookup failed: {e}")))?;
        if let Some(f) = found {
            return Ok(f);
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found_error",
        format!("no request `{id}` in the ledger"),
    )
    .param("request_id"))
}
