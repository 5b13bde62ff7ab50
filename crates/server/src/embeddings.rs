//! `POST /v1/embeddings`: phase 1 (decode) and phase 6 (encode) for OpenAI-shaped embeddings.
//!
//! The `model` field names a model (that deployment, then its configured fallbacks) or a route
//! (its candidates, in their configured order; `auto` is the default route). Everything
//! between — name resolution, plan, the attempt loop with its timeouts, retry policy, circuit
//! breakers and deadline, and settle — is the driver's, as for chat.

use axum::{body::Body, extract::State, http::HeaderMap, response::Response};
use switchyard_core::{driver, driver::RunToCompletion};
use switchyard_types::EmbeddingsRequest;

use crate::{error::Shape, respond, ApiError, GatewayHandle};

/// The handler.
pub(crate) async fn embeddings(
    State(gw): State<GatewayHandle>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cx = crate::keys::request_cx(&gw, "openai-embeddings", &headers);
    let req = match parse(&headers, body, &gw.config().server).await {
        Ok(r) => r,
        Err(e) => return respond::error(cx, e, Shape::OpenAi),
    };
    match RunToCompletion::new(driver::embed(cx, req, headers)).await {
        Ok((resp, cx)) => match serde_json::to_vec(&resp) {
            Ok(body) => respond::json(cx, body),
            Err(e) => respond::error(
                cx,
                ApiError::internal(format!("encode response: {e}")),
                Shape::OpenAi,
            ),
        },
        Err((e, cx)) => respond::error(cx, e.into(), Shape::OpenAi),
    }
}

async fn parse(
    headers: &HeaderMap,
    body: Body,
    server: &crate::config::ServerConfig,
) -> Result<EmbeddingsRequest, ApiError> {
    let bytes = crate::app::read_body(headers, body, server).await?;
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
    if req.input.len() > server.max_embedding_inputs {
        return Err(ApiError::bad_request(format!(
            "`input` has {} items; at most {} are accepted",
            req.input.len(),
            server.max_embedding_inputs
        ))
        .param("input"));
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
