//! Gemini's API: `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`
//! (`?alt=sse`), `:countTokens`, `:embedContent` and `:batchEmbedContents`, so the
//! `google-genai` SDK works with switchyard as its base URL.
//!
//! Phase 1 (ingress) and phase 6 (respond) only, like `chat.rs`: the body becomes the
//! canonical request (`switchyard_providers::gemini::ingress`) and the same driver routes,
//! translates, fails over and settles it. The model is the URL's: a route, a model or `auto`.
//! Errors are Google-shaped (`{"error":{"code","message","status"}}`). The client's key
//! (`x-goog-api-key` or `?key=`) is not checked while no gateway keys exist, and never logged.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use futures::StreamExt;
use serde_json::json;
use switchyard_core::{
    driver::{self, Outcome, RunToCompletion},
    relay::Event,
};
use switchyard_providers::gemini::ingress::{self, Action, SseEncoder};

use crate::{error::Shape, respond, ApiError, GatewayHandle};

const SHAPE: Shape = Shape::Gemini;

/// `POST /v1beta/models/{model}:{action}`.
pub(crate) async fn models(
    State(gw): State<GatewayHandle>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (model, action) = match ingress::route(&call) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found_error", e)
                .shaped(SHAPE)
                .into_response()
        }
    };
    match action {
        Action::Generate | Action::Stream => {
            generate(gw, headers, body, model, action == Action::Stream).await
        }
        Action::CountTokens => count_tokens(gw, headers, body, model).await,
        Action::Embed | Action::BatchEmbed => {
            embed(gw, headers, body, model, action == Action::BatchEmbed).await
        }
    }
}

async fn generate(
    gw: GatewayHandle,
    headers: HeaderMap,
    body: Body,
    model: &str,
    stream: bool,
) -> Response {
    let cx = crate::keys::request_cx(&gw, "gemini", &headers);
    let parsed = async {
        let bytes = crate::app::read_body(&headers, body, &gw.config().server).await?;
        ingress::parse_request(&bytes, model, stream).map_err(ApiError::bad_request)
    }
    .await;
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return respond::error(cx, e, SHAPE),
    };
    match RunToCompletion::new(driver::chat(cx, req, headers)).await {
        Outcome::Answer(resp, cx) => {
            let body = ingress::encode_response(&resp, cx.usage());
            respond::json(cx, serde_json::to_vec(&body).unwrap_or_default())
        }
        Outcome::Failed(e, cx) => respond::error(cx, e.into(), SHAPE),
        Outcome::Stream(s) => {
            let mut enc = SseEncoder::default();
            let events = s.events.filter_map(move |event| {
                let bytes = match event {
                    Event::Chunk(c) => enc.chunk(&c),
                    Event::Usage(c, usage, bill) => {
                        let head = enc.chunk(&c);
                        let bill = crate::sse::annotate(&bill);
                        let tail = enc.finish(Some(&usage), Some(("switchyard", bill)));
                        match (head, tail) {
                            (Some(h), Some(t)) => Some([h, t].concat().into()),
                            (h, t) => h.or(t),
                        }
                    }
                    Event::Done => enc.finish(None, None),
                    Event::Failed(e) => Some(enc.error(&crate::sse::incomplete(&e))),
                };
                std::future::ready(bytes.map(Ok::<_, std::convert::Infallible>))
            });
            let mut resp = Response::new(Body::from_stream(crate::sse::coalesce(events)));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            respond::apply(h, &s.facts);
            resp
        }
    }
}

/// `:countTokens`: counted by the gateway with the `o200k_base` tokenizer (an estimate of the
/// upstream's own count: `x-switchyard-token-count` says so). No upstream call, nothing billed.
async fn count_tokens(gw: GatewayHandle, headers: HeaderMap, body: Body, model: &str) -> Response {
    let counted = async {
        let bytes = crate::app::read_body(&headers, body, &gw.config().server).await?;
        let req = ingress::parse_count(&bytes, model).map_err(ApiError::bad_request)?;
        crate::messages::count_locally(&req)
    }
    .await;
    match counted {
        Ok(n) => {
            let mut r = Json(json!({"totalTokens": n})).into_response();
            r.headers_mut().insert(
                "x-switchyard-token-count",
                HeaderValue::from_static("estimated; o200k_base"),
            );
            r
        }
        Err(e) => e.shaped(SHAPE).into_response(),
    }
}

async fn embed(
    gw: GatewayHandle,
    headers: HeaderMap,
    body: Body,
    model: &str,
    batch: bool,
) -> Response {
    let cx = crate::keys::request_cx(&gw, "gemini-embeddings", &headers);
    let parsed = async {
        let config = gw.config();
        let bytes = crate::app::read_body(&headers, body, &config.server).await?;
        let req = ingress::parse_embed(&bytes, model, batch).map_err(ApiError::bad_request)?;
        if req.input.len() > config.server.max_embedding_inputs {
            return Err(ApiError::bad_request(format!(
                "{} contents to embed; at most {} are accepted",
                req.input.len(),
                config.server.max_embedding_inputs
            )));
        }
        Ok(req)
    }
    .await;
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return respond::error(cx, e, SHAPE),
    };
    match RunToCompletion::new(driver::embed(cx, req, headers)).await {
        Ok((resp, cx)) => {
            let body = ingress::encode_embed(&resp, batch);
            respond::json(cx, serde_json::to_vec(&body).unwrap_or_default())
        }
        Err((e, cx)) => respond::error(cx, e.into(), SHAPE),
    }
}
