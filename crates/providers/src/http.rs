//! The shared HTTP client. Every upstream call goes through [`client`].

use std::time::Duration;

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
