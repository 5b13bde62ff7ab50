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
