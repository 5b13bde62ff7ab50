//! Azure OpenAI paths: `POST /openai/deployments/{deployment}/chat/completions` and
//! `…/embeddings`, both requiring an `api-key` header and an `api-version` query parameter,
//! answered like the OpenAI endpoints with `model` = the deployment.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use crate::server::SimState;

/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;

fn azure_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": status.as_u16().to_string(), "message": message}})),
    )
        .into_response()
}

/// Check auth and version, then rewrite the body's `model` to the deployment.
async fn rewrite(deployment: &str, req: Request) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    if parts.headers.get("api-key").is_none_or(|v| v.is_empty()) {
        return Err(azure_error(
            StatusCode::UNAUTHORIZED,
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid \
             key for an active subscription and use a correct regional API endpoint for your resource.",
        ));
    }
    let has_version = parts.uri.query().is_some_and(|q| {
        q.split('&').any(|kv| {
            kv.strip_prefix("api-version=")
                .is_some_and(|v| !v.is_empty())
        })
    });
    if !has_version {
        return Err(azure_error(StatusCode::NOT_FOUND, "Resource not found"));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        azure_error(
            StatusCode::BAD_REQUEST,
            &format!("Could not read the request body: {e}"),
        )
    })?;
    let bytes = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(mut o)) => {
            o.insert("model".to_owned(), Value::String(deployment.to_owned()));
            serde_json::to_vec(&o).unwrap_or_default()
        }
        // Let the OpenAI handler report the malformed body.
        _ => bytes.to_vec(),
    };
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// `POST /openai/deployments/{deployment}/chat/completions`.
pub(crate) async fn chat_completions(
    st: State<Arc<SimState>>,
    Path(deployment): Path<String>,
    req: Request,
) -> Response {
    match rewrite(&deployment, req).await {
        Ok(req) => crate::openai::chat_completions(st, req).await,
        Err(resp) => resp,
    }
}

/// `POST /openai/deployments/{deployment}/embeddings`.
pub(crate) async fn embeddings(
    st: State<Arc<SimState>>,
    Path(deployment): Path<String>,
    req: Request,
) -> Response {
    match rewrite(&deployment, req).await {
        Ok(req) => crate::embed::embeddings(st, req).await,
        Err(resp) => resp,
    }
}
