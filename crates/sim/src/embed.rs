//! Embeddings: deterministic vectors and the OpenAI `POST /v1/embeddings` handler.
//!
//! A vector is a function of (model, text, dimensions) only: components drawn from a PRNG
//! seeded by a hash of the model and the text, then normalised to unit length, so equal texts
//! embed equally and cosine similarity is well defined. Usage counts one token per four
//! characters (rounded up) per input. Model-name faults `silent`, `429`, `500`, `503` and
//! `529` apply, as for chat.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::engine::{Hasher, Rng};
use crate::faults::Fault;
use crate::model::Failure;
use crate::server::SimState;

/// Default dimensions of OpenAI-style embeddings.
const DEFAULT_DIMS: usize = 256;
/// Largest accepted request body.
const MAX_BODY: usize = 64 << 20;

/// A unit vector of `dims` components for `text` under `model`.
pub(crate) fn vector(model: &str, text: &str, dims: usize) -> Vec<f32> {
    let mut rng = Rng::new(
        Hasher::default()
            .bytes(model.as_bytes())
            .bytes(b"\0")
            .bytes(text.as_bytes())
            .finish(),
    );
    let raw: Vec<f64> = (0..dims.max(1)).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    raw.iter().map(|x| (x / norm) as f32).collect()
}

fn bad(message: impl Into<String>) -> Response {
    let f = Failure::BadRequest {
        message: message.into(),
        param: Some("input".into()),
        code: None,
    };
    crate::openai::error::response(&f, &[])
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let json: Value = match axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| serde_json::from_slice(&b))
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return crate::openai::error::invalid_json(&e),
        Err(e) => return bad(format!("Could not read the request body: {e}")),
    };
    crate::openai::record(&st, &parts, &json);
    let Some(model) = json
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    else {
        return bad("you must provide a model parameter");
    };
    let state = st.registry.get(model);
    let index = state
        .calls
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The model-name faults that make sense for embeddings: silence, 429, 5xx.
    let failure = match state.fault_for(index) {
        Some(Fault::Silent) => return std::future::pending().await,
        Some(Fault::RateLimited { retry_after }) => Some(Failure::RateFault { retry_after }),
        Some(Fault::ServerError) => Some(Failure::Server),
        Some(Fault::Unavailable) => Some(Failure::Unavailable),
        Some(Fault::Overloaded) => Some(Failure::Overloaded),
        _ => None,
    };
    if let Some(f) = failure {
        return crate::openai::error::response(&f, &[]);
    }
    let texts: Vec<String> = match json.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => {
            return bad(
                "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            );
        }
    };
    // Token-array input: one array of numbers is one input.
    let texts = if json
        .get("input")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().all(Value::is_number))
    {
        vec![texts.join(" ")]
    } else {
        texts
    };
    if texts.iter().any(String::is_empty) {
        return bad("'$.input' is invalid: empty string.");
    }
    let dims = json
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_DIMS, |d| d.clamp(1, 3072) as usize);
    let base64 = json.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut tokens = 0u64;
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            tokens += (t.chars().count() as u64).div_ceil(4);
            let v = vector(model, t, dims);
            let embedding = if base64 {
                json!(base64_f32(&v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    axum::Json(json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
    .into_response()
}

fn base64_f32(values: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[((n >> shift) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector("m", "hello", 64);
        assert_eq!(a, vector("m", "hello", 64));
        assert_ne!(a, vector("m", "hello!", 64));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
    }
}
