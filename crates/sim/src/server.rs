//! The running server: accept loop, per-connection kill switch, shared state and recording.
//!
//! We run our own accept loop (hyper-util, HTTP/1 and h2c) rather than `axum::serve` so that a
//! handler can abort its own TCP connection: the `reset` fault must reach the client as a real
//! connection reset before any response byte, which no HTTP response can express.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::SimConfig;
use crate::model::Registry;

/// One request as the simulator received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The `model` field (empty when absent).
    pub model: String,
    /// All request headers, in order (including `authorization`).
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// When it arrived.
    pub time: SystemTime,
}

/// Recorded requests, bounded by count and by bytes.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// The requests and their approximate total size.
    buf: Mutex<(VecDeque<RecordedRequest>, usize)>,
    capacity: usize,
    max_bytes: usize,
}

impl RecordedRequest {
    /// Roughly what the request holds in memory: path, model, headers and the JSON body.
    fn approx_bytes(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        let body = serde_json::to_vec(&self.body).map_or(0, |b| b.len());
        self.path.len() + self.model.len() + headers + body
    }
}

/// State shared by all handlers.
#[derive(Debug)]
pub struct SimState {
    pub(crate) registry: Registry,
    /// Start of the simulator's clock (outages, rate-limit windows).
    pub(crate) start: Instant,
    pub(crate) created: u64,
    record: Option<Recorder>,
    /// Hashes of (model, first message) seen with a cacheable prompt.
    cache_seen: Mutex<HashSet<u64>>,
    /// Files and batches (the Batch API).
    pub(crate) batches: crate::batch::Batches,
    /// How long a batch takes to complete.
    pub(crate) batch_delay: std::time::Duration,
}

impl SimState {
    /// Fresh state for a config.
    pub fn new(cfg: &SimConfig) -> Arc<SimState> {
        let created = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Arc::new(SimState {
            registry: Registry::new(cfg),
            start: Instant::now(),
            created,
            record: cfg.record.then(|| Recorder {
                buf: Mutex::new((VecDeque::new(), 0)),
                capacity: cfg.record_capacity.max(1),
                max_bytes: cfg.record_max_bytes,
            }),
            cache_seen: Mutex::new(HashSet::new()),
            batches: crate::batch::Batches::default(),
            batch_delay: cfg.batch_delay,
        })
    }

    pub(crate) fn recording(&self) -> bool {
        self.record.is_some()
    }

    pub(crate) fn record(&self, req: RecordedRequest) {
        let Some(r) = &self.record else { return };
        let size = req.approx_bytes();
        let mut guard = r.buf.lock().unwrap_or_else(|p| p.into_inner());
        let (buf, bytes) = &mut *guard;
        buf.push_back(req);
        *bytes += size;
        while buf.len() > r.capacity || (*bytes > r.max_bytes && buf.len() > 1) {
            match buf.pop_front() {
                Some(old) => *bytes = bytes.saturating_sub(old.approx_bytes()),
                None => break,
            }
        }
    }

    /// Whether this prefix key was seen before; remembers it.
    pub(crate) fn cache_hit(&self, key: u64) -> bool {
        let mut seen = self.cache_seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 100_000 {
            seen.clear();
        }
        !seen.insert(key)
    }

    fn requests(&self) -> Vec<RecordedRequest> {
        match &self.record {
            Some(r) => r
                .buf
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .0
                .iter()
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Per-connection control, found in request extensions by handlers.
#[derive(Debug, Default)]
pub(crate) struct ConnCtl {
    kill: Notify,
    reset: AtomicBool,
}

impl ConnCtl {
    /// Reset the connection (RST) as soon as the handler yields.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }
}

/// A TCP stream that sends RST instead of FIN when dropped after [`ConnCtl::reset`].
struct SimIo {
    inner: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl Drop for SimIo {
    fn drop(&mut self) {
        if self.ctl.reset.load(Ordering::Relaxed) {
            // Zero linger: close() sends RST.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for SimIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A running simulator. Dropping it (or [`Sim::shutdown`]) stops the server and closes every
/// connection, including ones held open by `silent` or `stall` faults.
#[derive(Debug)]
pub struct Sim {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sim {
    /// Bind `cfg.listen` (or `127.0.0.1:0`) and serve.
    pub async fn start(cfg: SimConfig) -> io::Result<Sim> {
        let addr = cfg
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(addr).await?;
        Sim::start_on(cfg, listener).await
    }

    /// Serve on an already bound listener.
    pub async fn start_on(cfg: SimConfig, listener: TcpListener) -> io::Result<Sim> {
        let addr = listener.local_addr()?;
        let state = SimState::new(&cfg);
        let app = crate::router(Arc::clone(&state));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, app, stop_rx));
        tracing::info!(%addr, models = ?state.registry.configured, "simulator listening");
        Ok(Sim {
            addr,
            state,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// OpenAI base URL: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Recorded requests, oldest first (the last `record_capacity`; empty if `record = false`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// How many requests named this model.
    pub fn calls(&self, model: &str) -> u64 {
        self.state.registry.calls(model)
    }

    /// Stop accepting, close all connections, and wait for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_conn(stream, app.clone(), stop.clone()));
    }
}

async fn serve_conn(stream: TcpStream, app: Router, mut stop: watch::Receiver<bool>) {
    let ctl = Arc::new(ConnCtl::default());
    let io = SimIo {
        inner: stream,
        ctl: Arc::clone(&ctl),
    };
    let svc_ctl = Arc::clone(&ctl);
    let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(Arc::clone(&svc_ctl));
        app.clone().oneshot(req)
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        r = conn => if let Err(e) = r { tracing::trace!(error = %e, "connection ended") },
        _ = ctl.kill.notified() => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}
