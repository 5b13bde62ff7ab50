//! The response cache (opt-in per route, `cache = { ttl = "10m" }`): phase 5 answers a request
//! from it when an earlier request asked exactly the same thing.
//!
//! * **Key**: SHA-256 of the tenant, the route, whether the answer is streamed, and the
//!   canonical request with what does not change the answer left out (`stream`,
//!   `stream_options`, `user`, `metadata`, the service tier) — plus the fields only an
//!   Anthropic upstream takes. A tenant never sees another's answers.
//! * **What is cached**: the answer as the client received it — a whole response, or a stream's
//!   chunks (a streamed hit replays as a stream) — its usage, who produced it, what it cost,
//!   and the request it came from. Only complete answers are cached (a failed or cut stream is
//!   not), and only requests with `temperature = 0` unless the route says `sampled = true`.
//! * **A hit** costs $0, names the request it came from in the ledger (`cached_from`), keeps what
//!   the answer cost as its `answer_cost` (the saving), and says `x-switchyard-cache: hit`.
//! * **Where**: in the process ([`Memory`], bounded), or in Redis when `[state] url` is set (shared
//!   by every replica; the server implements [`AnswerCache`] for it).

use std::{fmt::Debug, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_types::{ChatChunk, ChatRequest, ChatResponse, Usage};

use crate::admission::Pending;

/// A cache key: SHA-256 of the normalised request.
pub type Key = [u8; 32];

/// Most bytes of one cached answer (a larger answer is served, not cached).
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// A cached answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The answer as the client received it.
    pub answer: Answer,
    /// Its usage, as the provider reported it.
    pub usage: Usage,
    /// The request it came from (the ledger row that paid for it).
    pub from: String,
    /// Provider that produced it.
    pub provider: String,
    /// Deployment (model) that produced it.
    pub model: String,
    /// What the answer cost, exact decimal string; `None` when unpriced.
    pub cost: Option<String>,
}

/// A whole answer, or a stream's chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// A non-streamed answer.
    Whole(Box<ChatResponse>),
    /// A streamed answer: its chunks, and which one carried the usage.
    Stream {
        /// The chunks, in order.
        chunks: Vec<ChatChunk>,
        /// The index of the usage chunk.
        usage_at: Option<usize>,
    },
}

impl Entry {
    /// The entry as stored (JSON), or `None` when it is larger than [`MAX_ENTRY_BYTES`] (such
    /// an answer is served, not kept).
    pub fn encode(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(self)
            .ok()
            .filter(|v| v.len() <= MAX_ENTRY_BYTES)
    }
}

/// Where answers are kept.
pub trait AnswerCache: Send + Sync + Debug {
    /// The entry under `key`, if present and not expired. A failing store answers `None`
    /// (a miss): the cache never fails a request.
    fn get(&self, key: Key) -> Pending<Option<Entry>>;
    /// Keep `entry` under `key` for `ttl` (in the background; a failing store loses it).
    fn put(&self, key: Key, entry: Entry, ttl: Duration);
}

/// The in-process cache: at most `max_bytes` of answers, each kept for its route's TTL.
#[derive(Debug, Clone)]
pub struct Memory {
    inner: moka::sync::Cache<Key, Stored>,
}

/// An entry, its TTL and its size.
#[derive(Debug, Clone)]
struct Stored {
    entry: Arc<Entry>,
    ttl: Duration,
    bytes: u32,
}

impl Memory {
    /// A cache of at most `max_bytes` (answers' JSON size).
    pub fn new(max_bytes: u64) -> Memory {
        Memory {
            inner: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, s: &Stored| s.bytes)
                .expire_after(PerEntry)
                .build(),
        }
    }
}

/// Each entry expires after its own TTL.
struct PerEntry;

impl moka::Expiry<Key, Stored> for PerEntry {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Stored,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl AnswerCache for Memory {
    fn get(&self, key: Key) -> Pending<Option<Entry>> {
        let hit = self.inner.get(&key).map(|s| Entry::clone(&s.entry));
        Box::pin(std::future::ready(hit))
    }

    fn put(&self, key: Key, entry: Entry, ttl: Duration) {
        let Some(bytes) = entry.encode().map(|v| v.len() as u32) else {
            return;
        };
        let entry = Arc::new(entry);
        self.inner.insert(key, Stored { entry, ttl, bytes });
    }
}

/// The key of `req` on `route` for `tenant`, or `None` when the request may not be cached
/// (sampled, `n` > 1 answers are fine; a sampled request only on a route that allows it).
pub fn key(
    tenant: &str,
    route: &str,
    req: &ChatRequest,
    spec: &crate::config::CacheConfig,
) -> Option<Key> {
    let greedy = req.temperature == Some(0.0);
    if !greedy && !spec.sampled {
        return None;
    }
    let mut canonical = req.clone();
    canonical.stream = false;
    canonical.stream_options = None;
    canonical.user = None;
    canonical.metadata = None;
    canonical.service_tier = None;
    let body = serde_json::to_vec(&canonical).ok()?;
    let mut h = Sha256::new();
    for part in [tenant.as_bytes(), route.as_bytes(), &[u8::from(req.stream)]] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(&body);
    if let Some(n) = &req.native {
        h.update([n.api as u8]);
        h.update(serde_json::to_vec(&n.fields).ok()?);
        for b in &n.betas {
            h.update(b.as_bytes());
            h.update([0]);
        }
    }
    Some(h.finalize().into())
}

/// The size of a chunk as JSON, for [`MAX_ENTRY_BYTES`].
pub(crate) fn chunk_bytes(c: &ChatChunk) -> usize {
    serde_json::to_vec(c).map_or(usize::MAX, |v| v.len())
}
