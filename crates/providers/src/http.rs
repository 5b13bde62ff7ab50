//! The shared HTTP client. Every upstream call goes through [`client`].

use std::{future::Future, time::Duration};

use bytes::Bytes;
use serde::Serialize;

use crate::ProviderError;

/// Build the HTTP client for one provider: pooled, keep-alive, `TCP_NODELAY`.
///
/// `TCP_NODELAY` matters: without it Nagle's algorithm and the peer's delayed ACK add tens
/// of milliseconds per request on keep-alive connections.
pub fn client(connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build()
}

/// An upstream URL called on every request, parsed once: given a string, `reqwest` parses it
/// on every call (about 7 K instructions). One that does not parse is kept as text, so its
/// requests fail as they always did.
#[derive(Debug, Clone)]
pub(crate) enum FixedUrl {
    Parsed(reqwest::Url),
    Text(String),
}

impl FixedUrl {
    pub(crate) fn new(url: String) -> Self {
        match reqwest::Url::parse(&url) {
            Ok(u) => FixedUrl::Parsed(u),
            Err(_) => FixedUrl::Text(url),
        }
    }

    /// `POST` to it.
    pub(crate) fn post(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        match self {
            FixedUrl::Parsed(u) => client.post(u.clone()),
            FixedUrl::Text(s) => client.post(s.as_str()),
        }
    }
}

impl std::fmt::Display for FixedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FixedUrl::Parsed(u) => f.write_str(u.as_str()),
            FixedUrl::Text(s) => f.write_str(s),
        }
    }
}

/// Largest upstream answer read whole (non-streaming completions, embeddings): a bigger one is
/// refused as malformed instead of exhausting memory.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Largest upstream error body read (the rest is ignored: an error message is short).
pub const MAX_ERROR_BYTES: usize = 64 << 10;

/// Read an upstream answer whole, up to [`MAX_RESPONSE_BYTES`]. A connection that drops
/// mid-body is a cut; a body past the limit is malformed.
pub(crate) async fn read_answer(resp: reqwest::Response) -> Result<Bytes, ProviderError> {
    read_limited(resp, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| match e {
            Limited::Transport(e) => ProviderError::new(
                crate::ErrorClass::StreamCut,
                format!("upstream connection dropped before the response was complete: {e}"),
            ),
            Limited::TooLarge => ProviderError::new(
                crate::ErrorClass::Malformed,
                format!("upstream response is larger than {MAX_RESPONSE_BYTES} bytes"),
            ),
        })
}

/// Decode an answer read by [`read_answer`]; a body that does not parse is malformed, and the
/// error says `what` was being read.
pub(crate) fn decode_answer<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ProviderError::new(crate::ErrorClass::Malformed, format!("{what}: {e}")))
}

/// Read an upstream error body, at most [`MAX_ERROR_BYTES`] of it (empty if unreadable).
pub(crate) async fn read_error(mut resp: reqwest::Response) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ERROR_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= MAX_ERROR_BYTES {
            break;
        }
    }
    buf.freeze()
}

enum Limited {
    Transport(reqwest::Error),
    TooLarge,
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Bytes, Limited> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Limited::TooLarge);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(Limited::Transport)? {
        if buf.len() + chunk.len() > limit {
            return Err(Limited::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A request body as JSON bytes.
pub(crate) fn json_body(body: &impl Serialize) -> Result<Bytes, ProviderError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| ProviderError::internal(format!("encode request: {e}")))
}

/// Send a prepared request. A transport failure is classified here; a non-2xx answer is handed
/// to the adapter's own `classify`, which knows its API's error bodies.
pub(crate) async fn send<F, Fut>(
    rb: reqwest::RequestBuilder,
    classify: F,
) -> Result<reqwest::Response, ProviderError>
where
    F: FnOnce(reqwest::Response) -> Fut,
    Fut: Future<Output = ProviderError>,
{
    let resp = rb
        .send()
        .await
        .map_err(|e| ProviderError::from_transport(&e))?;
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(classify(resp).await)
    }
}

/// Unix seconds now, for the `created` field of answers an adapter builds itself.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
