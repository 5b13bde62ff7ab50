//! `POST /v1/chat/completions` and `POST /v1/messages`: phase 1 (ingress: read and decode the
//! body) and phase 6 (respond: encode the outcome). Everything between runs in
//! [`switchyard_core::driver`].
//!
//! The driver runs to completion even if the client disconnects ([`RunToCompletion`]): an
//! upstream call already under way is not cancelled, so what was spent is still recorded (as
//! `client_cancelled`).

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use switchyard_core::{
    driver,
    driver::{Outcome, RunToCompletion},
};
use switchyard_providers::anthropic::ingress as anthropic;
use switchyard_types::ChatRequest;

use crate::{
    error::Shape,
    respond,
    sse::{encode, Out},
    ApiError, GatewayHandle,
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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Ingress::OpenAi => "openai",
            Ingress::Anthropic => "anthropic",
        }
    }

    pub(crate) fn shape(self) -> Shape {
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

/// Decode, drive, encode, for a client speaking `ingress`.
pub(crate) async fn serve(
    gw: GatewayHandle,
    mut headers: HeaderMap,
    body: Body,
    ingress: Ingress,
) -> Response {
    let cx = crate::keys::request_cx(&gw, ingress.as_str(), &headers);
    let mut req = match parse(&headers, body, &gw.config().server, ingress).await {
        Ok(r) => r,
        Err(e) => return respond::error(cx, e, ingress.shape()),
    };
    // The batch lane: the request is answered later, through a provider's batch API, at
    // batch prices; the client gets a job id now and the answer by it.
    if ingress == Ingress::OpenAi && crate::batches::lane_is_batch(&headers, &req) {
        cx.discard();
        return crate::batches::enqueue_one(&gw, &headers, req)
            .await
            .unwrap_or_else(|e| e.shaped(Shape::OpenAi).into_response());
    }
    let native = native_betas(&mut req, &headers);
    session_from_user(&req, &mut headers);
    let include_usage = req.wants_stream_usage();
    let snap = cx.snapshot().clone();
    let outcome = RunToCompletion::new(driver::chat(cx, req, headers)).await;
    let mut resp = encode_outcome(outcome, ingress, include_usage);
    note_dropped(&mut resp, &snap, &native);
    resp
}

/// Take an Anthropic client's `anthropic-beta` values into the request's native part (for an
/// Anthropic upstream); the names of everything native, for [`note_dropped`].
pub(crate) fn native_betas(req: &mut ChatRequest, headers: &HeaderMap) -> Vec<String> {
    let betas: Vec<String> = headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    if !betas.is_empty() {
        req.native.get_or_insert_with(Default::default).betas = betas;
    }
    let Some(n) = &req.native else {
        return Vec::new();
    };
    let mut names: Vec<String> = n.fields.keys().take(16).cloned().collect();
    if !n.betas.is_empty() {
        names.push("anthropic-beta".into());
    }
    names
}

/// Claude Code names its session in `metadata.user_id` (a JSON object with `session_id`, or
/// the older `user_…_account_…_session_<id>`): a session hint for conversation affinity,
/// unless the client sent one.
fn session_from_user(req: &ChatRequest, headers: &mut HeaderMap) {
    if headers.contains_key("x-switchyard-session") || req.metadata_str("session").is_some() {
        return;
    }
    let Some(user) = req.user.as_deref() else {
        return;
    };
    let session = match serde_json::from_str::<serde_json::Value>(user) {
        Ok(v) => v
            .get("session_id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        Err(_) => user.rsplit_once("_session_").map(|(_, s)| s.to_owned()),
    };
    if let Some(v) = session
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .and_then(|s| HeaderValue::from_str(&s).ok())
    {
        headers.insert("x-switchyard-session", v);
    }
}

/// When the answer came from an upstream of another API, say which of the client's own
/// fields were left behind (`x-switchyard-dropped`), rather than failing the request.
fn note_dropped(resp: &mut Response, snap: &switchyard_core::Snapshot, native: &[String]) {
    if native.is_empty() {
        return;
    }
    let answered = resp
        .headers()
        .get("x-switchyard-model")
        .and_then(|v| v.to_str().ok())
        .and_then(|m| snap.models.get(m))
        .map(|&id| snap.deployment(id).provider_kind);
    if answered.is_some_and(|k| k != switchyard_providers::ProviderKind::Anthropic) {
        if let Ok(v) = HeaderValue::from_str(&native.join(", ")) {
            resp.headers_mut().insert("x-switchyard-dropped", v);
        }
    }
}

fn encode_outcome(outcome: Outcome, ingress: Ingress, include_usage: bool) -> Response {
    match outcome {
        Outcome::Answer(resp, cx) => {
            let encoded = match ingress {
                Ingress::OpenAi => serde_json::to_vec(&resp),
                Ingress::Anthropic => serde_json::to_vec(&anthropic::encode_response(
                    &resp,
                    cx.usage(),
                    Default::default(),
                )),
            };
            match encoded {
                Ok(body) => respond::json(cx, body),
                Err(e) => respond::error(
                    cx,
                    ApiError::internal(format!("encode response: {e}")),
                    ingress.shape(),
                ),
            }
        }
        Outcome::Failed(e, cx) => respond::error(cx, e.into(), ingress.shape()),
        Outcome::Stream(s) => {
            let out = match ingress {
                Ingress::OpenAi => Out::OpenAi { include_usage },
                Ingress::Anthropic => Out::Anthropic(Box::new(
                    anthropic::SseEncoder::with_input_tokens(s.facts.input_tokens),
                )),
            };
            let mut resp = Response::new(Body::from_stream(crate::sse::coalesce(encode(
                s.events, out,
            ))));
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

/// Read and parse the body, with errors that name the problem.
async fn parse(
    headers: &HeaderMap,
    body: Body,
    server: &crate::config::ServerConfig,
    ingress: Ingress,
) -> Result<ChatRequest, ApiError> {
    let bytes = crate::app::read_body(headers, body, server).await?;
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
