//! Gemini (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:batchEmbedContents`): strict request validation, the handler, and the encoders.
//!
//! Validation is as strict as the real API where gateways get it wrong: a role other than
//! `user` / `model` in `contents`, empty `contents` or `parts`, a `functionResponse` outside a
//! `user` turn, a `functionCall` outside a `model` turn, or a schema key outside Gemini's
//! OpenAPI subset (`additionalProperties`, `$schema`, `$ref`, `$defs`) is a 400
//! `INVALID_ARGUMENT`. The key (`x-goog-api-key`) is recorded, never required. Implicit
//! caching: a prompt of at least [`CACHE_MIN_TOKENS`] whose first turn (with the system
//! instruction) was seen before reports its prefix (all turns but the last, rounded down to
//! 128) as `cachedContentTokenCount`. `thoughtsTokenCount` is always 0.

mod decode;
mod encode;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use serde_json::{json, Value};

use self::encode::{error_response, invalid, Meta};
use crate::engine;
use crate::faults::Fault;
use crate::model::Failure;
use crate::server::{ConnCtl, RecordedRequest, SimState};

/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;
/// Shortest cacheable prompt, in tokens.
const CACHE_MIN_TOKENS: u64 = 1024;

/// The thought signature this simulator gives a function call (base64, like Gemini's).
pub(crate) fn thought_signature(name: &str) -> String {
    let h = crate::engine::Hasher::default()
        .bytes(b"switchyard-sim-thought")
        .bytes(name.as_bytes())
        .finish();
    format!("CiQB{h:016x}+/A=")
}

fn record(st: &SimState, parts: &http::request::Parts, model: &str, body: &Value) {
    if !st.recording() {
        return;
    }
    st.record(RecordedRequest {
        path: parts.uri.path().to_string(),
        model: model.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        time: SystemTime::now(),
    });
}

/// `POST /v1beta/models/{model}:{method}`.
pub(crate) async fn models(
    State(st): State<Arc<SimState>>,
    Path(rest): Path<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let Some((model, method)) = rest.rsplit_once(':') else {
        return error_response(
            &Failure::NotFound(format!("models/{rest} is not found for API version v1beta")),
            &[],
        );
    };
    let json: Value = match axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| serde_json::from_slice(&b))
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return error_response(&invalid(format!("Invalid JSON payload received. {e}")), &[])
        }
        Err(e) => {
            return error_response(
                &invalid(format!("Could not read the request body: {e}")),
                &[],
            )
        }
    };
    record(&st, &parts, model, &json);
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "batchEmbedContents" => return embed(&json, model),
        _ => {
            let f = Failure::NotFound(format!("Method {method} is not found for models/{model}."));
            return error_response(&f, &[]);
        }
    };
    generate(&st, &parts, model, &json, stream).await
}

async fn generate(
    st: &SimState,
    parts: &http::request::Parts,
    model_name: &str,
    json: &Value,
    stream: bool,
) -> Response {
    let mut call = match decode::decode(model_name, json) {
        Ok(c) => c,
        Err(f) => return error_response(&f, &[]),
    };
    let model = st.registry.get(model_name);
    let index = model.calls.fetch_add(1, Ordering::Relaxed);
    let profile = &model.profile;
    if profile
        .outage
        .as_ref()
        .is_some_and(|o| o.is_down(st.start.elapsed()))
    {
        return error_response(&Failure::Unavailable, &[]);
    }
    let prompt = call.gen.prompt_tokens;
    let completion = u64::from(call.gen.max_tokens.unwrap_or(0));
    let mut headers = Vec::new();
    if let Err(rej) = model
        .limits
        .admit(st.start.elapsed(), prompt + completion, &mut headers)
    {
        return error_response(&Failure::RateLimited(rej), &[]);
    }
    // Gemini sends no rate-limit headers.
    headers.clear();
    let fault = model.fault_for(index);
    let failure = match fault {
        Some(Fault::Reset) => {
            match parts.extensions.get::<Arc<ConnCtl>>() {
                Some(ctl) => ctl.reset(),
                None => return crate::playback::broken_body(b"", false),
            }
            return std::future::pending().await;
        }
        Some(Fault::Silent) => return std::future::pending().await,
        Some(Fault::RateLimited { retry_after }) => Some(Failure::RateFault { retry_after }),
        Some(Fault::ServerError) => Some(Failure::Server),
        Some(Fault::Unavailable | Fault::Overloaded) => Some(Failure::Unavailable),
        Some(Fault::Quota) => Some(Failure::Quota),
        Some(Fault::TierBusy)
            if json
                .get("serviceTier")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.eq_ignore_ascii_case("standard")) =>
        {
            Some(Failure::TierBusy)
        }
        Some(Fault::ContextLength) => Some(Failure::ContextLength {
            limit: profile.max_context,
            prompt: prompt.max(profile.max_context + 1),
            completion,
        }),
        _ => None,
    };
    if let Some(f) = failure {
        return error_response(&f, &headers);
    }
    if prompt > profile.max_context {
        let f = Failure::ContextLength {
            limit: profile.max_context,
            prompt,
            completion,
        };
        return error_response(&f, &headers);
    }
    let cached = match call.cache {
        Some((key, tokens)) if prompt >= CACHE_MIN_TOKENS && st.cache_hit(key) => {
            (tokens / 128 * 128).min(prompt)
        }
        _ => 0,
    };
    call.gen.answer_tokens = profile.answer_tokens;
    call.gen.skill = profile.skill;
    call.gen.jitter = profile.jitter;
    call.gen.cached_tokens = cached;
    let answer = engine::generate(&call.gen);
    // The tier asked for (`serviceTier`), served where the model sells it.
    let tier = json
        .get("serviceTier")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .filter(|t| profile.tiers.iter().any(|x| x == t));
    let meta = Meta {
        id: engine::base62(&mut engine::Rng::new(call.gen.seed ^ index), 22),
        model: model_name,
        prompt,
        cached,
        tier,
    };
    if !profile.ttft.is_zero() {
        tokio::time::sleep(profile.ttft).await;
    }
    if fault == Some(Fault::Policy) {
        let body = encode::blocked(&meta);
        return if stream {
            sse(vec![frame_of(&body)].into_iter())
        } else {
            crate::playback::json_response(body)
        };
    }
    if stream {
        let mut frames = encode::frames(&meta, &answer);
        crate::playback::apply_fault(&mut frames, fault, encode::malformed());
        let body = crate::playback::play(frames, profile, fault);
        let mut r = Response::new(Body::from_stream(body));
        set_sse_headers(&mut r);
        return r;
    }
    let last = answer.choices.iter().map(|c| c.tokens()).max().unwrap_or(0);
    let gen_time = profile.token_offset(last.saturating_sub(1));
    if !gen_time.is_zero() {
        tokio::time::sleep(gen_time).await;
    }
    let body = encode::body(&meta, &answer);
    match fault {
        Some(Fault::Cut(_)) => crate::playback::broken_body(&body[..body.len() / 2], false),
        Some(Fault::Stall(_)) => crate::playback::broken_body(&body[..body.len() / 2], true),
        Some(Fault::Malformed(_)) => {
            crate::playback::json_response(body[..body.len() / 2].to_vec())
        }
        _ => crate::playback::json_response(body),
    }
}

fn frame_of(body: &[u8]) -> bytes::Bytes {
    let mut v = b"data: ".to_vec();
    v.extend_from_slice(body);
    v.extend_from_slice(b"\r\n\r\n");
    bytes::Bytes::from(v)
}

fn sse(frames: impl Iterator<Item = bytes::Bytes> + Send + 'static) -> Response {
    let mut r = Response::new(Body::from_stream(futures::stream::iter(
        frames.map(Ok::<_, std::io::Error>),
    )));
    set_sse_headers(&mut r);
    r
}

fn set_sse_headers(r: &mut Response) {
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// `:batchEmbedContents`: one deterministic unit vector per request.
fn embed(json: &Value, model: &str) -> Response {
    let Some(requests) = json
        .get("requests")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
    else {
        return error_response(
            &invalid("* BatchEmbedContentsRequest.requests: requests is not specified"),
            &[],
        );
    };
    let mut embeddings = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let text: String = r
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if text.is_empty() {
            return error_response(
                &invalid(format!(
                    "* BatchEmbedContentsRequest.requests[{i}].content: contains an empty Part."
                )),
                &[],
            );
        }
        let dims = r
            .get("outputDimensionality")
            .and_then(Value::as_u64)
            .map_or(768, |d| d.clamp(1, 3072)) as usize;
        embeddings.push(json!({ "values": crate::embed::vector(model, &text, dims) }));
    }
    axum::Json(json!({ "embeddings": embeddings })).into_response()
}
