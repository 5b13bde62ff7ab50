//! The handler body every OpenAI-shaped endpoint shares (Chat Completions, Responses): model
//! lookup and call counting, outage, rate-limit admission, service tier, fault selection, the
//! context check, prompt caching, generation, time to first token, and the response headers.
//! Only decoding (before [`serve`]) and encoding (a [`Shape`]) differ per endpoint.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue};
use serde_json::Value;

use super::encode::Meta;
use super::{bad, error, record};
use crate::engine::{self, Answer, GenRequest, Hasher};
use crate::faults::Fault;
use crate::model::{Failure, ModelState, Profile};
use crate::playback::{self, Frame};
use crate::server::{ConnCtl, SimState};

/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;
/// Prompts at least this long are eligible for prompt caching (as at OpenAI).
const CACHE_MIN_TOKENS: u64 = 1024;

/// A decoded OpenAI-shaped request: what the shared handler needs from it.
pub(crate) struct Call<'a> {
    /// The `model` field.
    pub model: &'a str,
    /// `stream: true`.
    pub stream: bool,
    /// The engine's request (the handler fills in the profile's fields).
    pub gen: GenRequest<'a>,
    /// What prompt caching keys on.
    pub cache: CachePrefix<'a>,
}

/// The cacheable part of a prompt: the cache is keyed on the model, `head` and the first
/// message; the cached prefix is `head` and every message but the last.
pub(crate) struct CachePrefix<'a> {
    /// Text before the messages (Responses `instructions`); `None` for Chat Completions.
    pub head: Option<&'a Value>,
    /// The messages (or input items).
    pub items: &'a [Value],
}

/// How one endpoint writes its answer.
pub(crate) trait Shape {
    /// Prefix of the response id (`chatcmpl-`); `x-request-id` is `req_` and the rest.
    const ID_PREFIX: &'static str;
    /// Length of the random part of the id.
    const ID_LEN: usize;
    /// The whole non-streamed JSON body.
    fn body(&self, meta: &Meta<'_>, answer: &Answer) -> Vec<u8>;
    /// The SSE frames of a streamed answer, with the stream `fault` applied.
    fn frames(&self, meta: &Meta<'_>, answer: &Answer, fault: Option<Fault>) -> Vec<Frame>;
}

/// Read, parse and record the request body; `Err` is the error response to send.
pub(crate) async fn read_json(
    st: &SimState,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Value, Response> {
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let f = bad(format!("Could not read the request body: {e}"), None, None);
            return Err(error::response(&f, &[]));
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => {
            record(st, parts, &v);
            Ok(v)
        }
        Err(e) => {
            record(st, parts, &Value::Null);
            Err(error::invalid_json(&e))
        }
    }
}

/// Answer a decoded request: everything after decoding, with `shape` writing the answer.
pub(crate) async fn serve<S: Shape + Sync>(
    st: &SimState,
    parts: &http::request::Parts,
    json: &Value,
    mut call: Call<'_>,
    shape: &S,
) -> Response {
    let model = st.registry.get(call.model);
    let index = model.calls.fetch_add(1, Ordering::Relaxed);
    let profile = &model.profile;
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    if let Err(f) = admit(st, &model, &call.gen, &mut headers) {
        return error::response(&f, &headers);
    }
    let (asked_tier, served_tier) = tiers(json, profile);
    let fault = model.fault_for(index);
    if matches!(fault, Some(Fault::Reset | Fault::Silent)) {
        return hang(parts, fault).await;
    }
    if let Some(f) = check(fault, asked_tier, profile, &call.gen) {
        return error::response(&f, &headers);
    }
    call.gen.answer_tokens = profile.answer_tokens;
    call.gen.skill = profile.skill;
    call.gen.jitter = profile.jitter;
    call.gen.cached_tokens = if profile.prompt_cache {
        cached_tokens(st, call.model, &call.cache, call.gen.prompt_tokens)
    } else {
        0
    };
    let answer = engine::generate(&call.gen);
    let meta = Meta {
        id: format!(
            "{}{}",
            S::ID_PREFIX,
            engine::base62(&mut engine::Rng::new(call.gen.seed ^ index), S::ID_LEN)
        ),
        created: st.created + st.start.elapsed().as_secs(),
        model: profile.serves.as_deref().unwrap_or(call.model),
        service_tier: served_tier,
    };
    if !profile.ttft.is_zero() {
        tokio::time::sleep(profile.ttft).await;
    }
    let mut resp = if call.stream {
        sse(shape.frames(&meta, &answer, fault), profile, fault)
    } else {
        whole(shape.body(&meta, &answer), &answer, profile, fault).await
    };
    let request_id = format!("req_{}", meta.id.trim_start_matches(S::ID_PREFIX));
    headers.push(("x-request-id", request_id));
    set_headers(&mut resp, &headers);
    resp
}

/// Outage, then rate-limit admission (which adds the `x-ratelimit-*` headers).
fn admit(
    st: &SimState,
    model: &ModelState,
    gen: &GenRequest<'_>,
    headers: &mut Vec<(&'static str, String)>,
) -> Result<(), Failure> {
    let profile = &model.profile;
    if profile
        .outage
        .as_ref()
        .is_some_and(|o| o.is_down(st.start.elapsed()))
    {
        return Err(Failure::Unavailable);
    }
    let reserve = gen.prompt_tokens + u64::from(gen.max_tokens.unwrap_or(profile.answer_tokens));
    model
        .limits
        .admit(st.start.elapsed(), reserve, headers)
        .map_err(Failure::RateLimited)
}

/// The service tier asked for, and the one served: the asked one where the model sells it.
fn tiers<'a>(json: &'a Value, profile: &Profile) -> (&'a str, &'a str) {
    let asked = json
        .get("service_tier")
        .and_then(Value::as_str)
        .filter(|t| matches!(*t, "flex" | "priority"))
        .unwrap_or("default");
    let served = if profile.tiers.iter().any(|t| t == asked) {
        asked
    } else {
        "default"
    };
    (asked, served)
}

/// The `reset` and `silent` faults: the connection is reset, or nothing is ever sent.
async fn hang(parts: &http::request::Parts, fault: Option<Fault>) -> Response {
    if fault == Some(Fault::Reset) {
        match parts.extensions.get::<Arc<ConnCtl>>() {
            Some(ctl) => ctl.reset(),
            None => return playback::broken_body(b"", false),
        }
    }
    std::future::pending().await
}

/// A status fault, or a prompt and output cap too long for the model.
fn check(
    fault: Option<Fault>,
    asked_tier: &str,
    profile: &Profile,
    gen: &GenRequest<'_>,
) -> Option<Failure> {
    let prompt = gen.prompt_tokens;
    let completion = u64::from(gen.max_tokens.unwrap_or(0));
    let failure = match fault {
        Some(Fault::RateLimited { retry_after }) => Some(Failure::RateFault { retry_after }),
        Some(Fault::ServerError) => Some(Failure::Server),
        Some(Fault::Unavailable) => Some(Failure::Unavailable),
        Some(Fault::Overloaded) => Some(Failure::Overloaded),
        Some(Fault::Policy) => Some(Failure::Policy),
        Some(Fault::Quota) => Some(Failure::Quota),
        Some(Fault::TierBusy) if asked_tier != "default" => Some(Failure::TierBusy),
        Some(Fault::ContextLength) => Some(Failure::ContextLength {
            limit: profile.max_context,
            prompt: prompt.max(profile.max_context + 1),
            completion,
        }),
        _ => None,
    };
    failure.or_else(|| {
        (prompt + completion > profile.max_context).then_some(Failure::ContextLength {
            limit: profile.max_context,
            prompt,
            completion,
        })
    })
}

/// Cached prompt tokens: the prefix rounded down to 128, when the prompt is long enough and
/// this model has seen the same head and first message before.
fn cached_tokens(st: &SimState, model: &str, cache: &CachePrefix<'_>, prompt_tokens: u64) -> u64 {
    if prompt_tokens < CACHE_MIN_TOKENS || cache.items.is_empty() {
        return 0;
    }
    let mut key = Hasher::default().bytes(model.as_bytes());
    if let Some(head) = cache.head {
        key = key.value(head);
    }
    let key = key
        .value(cache.items.first().unwrap_or(&Value::Null))
        .finish();
    if !st.cache_hit(key) {
        return 0;
    }
    let head = cache
        .head
        .map_or(0, |h| engine::estimate_chars(h).0.div_ceil(4));
    let last = cache.items.len().saturating_sub(1);
    let prefix = head + engine::estimate_tokens(cache.items.iter().take(last));
    (prefix / 128 * 128).min(prompt_tokens)
}

/// The streamed response: the frames played at the model's speed.
fn sse(frames: Vec<Frame>, profile: &Profile, fault: Option<Fault>) -> Response {
    let mut r = Response::new(Body::from_stream(playback::play(frames, profile, fault)));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The non-streamed response, after the answer's generation time, with the body faults.
async fn whole(
    body: Vec<u8>,
    answer: &Answer,
    profile: &Profile,
    fault: Option<Fault>,
) -> Response {
    let last = answer.choices.iter().map(|c| c.tokens()).max().unwrap_or(0);
    let gen_time = profile.token_offset(last.saturating_sub(1));
    if !gen_time.is_zero() {
        tokio::time::sleep(gen_time).await;
    }
    let half = &body[..body.len() / 2];
    match fault {
        Some(Fault::Cut(_)) => playback::broken_body(half, false),
        Some(Fault::Stall(_)) => playback::broken_body(half, true),
        Some(Fault::Malformed(_)) => playback::json_response(half.to_vec()),
        _ => playback::json_response(body),
    }
}

fn set_headers(resp: &mut Response, headers: &[(&'static str, String)]) {
    let h = resp.headers_mut();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(*name, v);
        }
    }
}
