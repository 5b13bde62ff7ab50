//! The per-request context, and phase 7, settle: one bill per request, whatever its ending,
//! from which the headers, the final stream chunk, the ledger row and the metrics are all
//! written.
//!
//! A [`RequestCx`] travels through every phase and ends inside the response body: it settles
//! exactly once, when the body has been handed to the client ([`RequestCx::finish`]) or, if
//! the client went away first, when it is dropped (recorded as `client_cancelled`, with the
//! usage the provider reported, or the gateway's estimate). Settling therefore happens after
//! the answer is on its way, off the client's critical path, and no ending goes unrecorded.

use std::sync::Arc;

use serde_json::json;
use switchyard_pricing::{Cost, CostContext};
use switchyard_store::{AttemptRow, LedgerRow, SignalRow};
use switchyard_types::{ServiceTier, Usage};
use tokio::time::Instant;

use crate::{attempt::Attempts, evaluate::Signal, plan::Plan, DeploymentId, Features, Snapshot};

/// Where settled requests go: the server logs, counts and queues the ledger row.
pub trait Sink: Send + Sync + 'static {
    /// Record one finished request. Must not block.
    fn record(&self, row: LedgerRow);
}

/// The money side of a request: every attempt priced, and the baseline.
#[derive(Debug, Clone)]
pub struct Bill {
    /// All attempts together.
    pub cost: Cost,
    /// The baseline model for the same tokens; `None` when no baseline is configured.
    pub baseline: Option<Cost>,
    /// Per attempt, aligned with the attempt records.
    pub attempts: Vec<Cost>,
    /// What prompt caching saved over all attempts (their usage billed as plain input minus
    /// what was billed); `None` when no attempt read or wrote the cache, or one is unpriced.
    pub cache_saved: Option<switchyard_pricing::Decimal>,
}

/// What the response headers report.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The ledger row's id.
    pub request_id: String,
    /// The route (or model) that decided.
    pub route: Option<String>,
    /// The rule that matched (`None`: no rule; only meaningful with a route).
    pub rule: Option<String>,
    /// Provider that answered.
    pub provider: Option<String>,
    /// Deployment that answered.
    pub model: Option<String>,
    /// Upstream attempts made so far.
    pub attempts: usize,
    /// Time inside the gateway so far, upstream time excluded.
    pub overhead_us: u64,
    /// The bill, once known (streams: in the final chunk instead).
    pub bill: Option<Bill>,
    /// The gateway's count of the prompt's tokens (for a stream's opening event; the
    /// provider's own count comes with the usage at the end).
    pub input_tokens: u64,
    /// The answer came from the response cache.
    pub cache_hit: bool,
}

/// What a gateway key grants: whose requests these are, and what they may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key's public id (the ledger's `key_id`).
    pub id: String,
    /// The tenant its requests are recorded under (the key's name).
    pub tenant: String,
    /// Routes it may use (empty: any).
    pub routes: Vec<String>,
    /// Models it may name directly (empty with `routes` empty: any).
    pub models: Vec<String>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute (estimated input plus the output cap, at admission).
    pub tpm: Option<u64>,
    /// Spend per UTC day, nano-dollars.
    pub daily_nanos: Option<i64>,
    /// Spend per UTC calendar month, nano-dollars.
    pub monthly_nanos: Option<i64>,
    /// Every request goes to this route, whatever it names (e.g. a user who must always get
    /// the premium route).
    pub pin_route: Option<String>,
    /// A region constraint for every request (hard, like `x-switchyard-region`).
    pub region: Option<String>,
    /// Tags added to every request (ledger, rules).
    pub tags: Vec<String>,
    /// The key's team and the team's budgets (nano-dollars per UTC day and month), which bound
    /// all the team's keys together.
    pub team: Option<TeamBudget>,
}

/// A team's budgets, shared by its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamBudget {
    /// The team.
    pub name: String,
    /// Spend per UTC day, nano-dollars.
    pub daily_nanos: Option<i64>,
    /// Spend per UTC month, nano-dollars.
    pub monthly_nanos: Option<i64>,
}

impl KeyGrant {
    /// Whether a request naming `name` (a route, a model or `auto`, already resolved to the
    /// route's name for `auto`) is allowed.
    pub fn allows(&self, name: &str) -> bool {
        (self.routes.is_empty() && self.models.is_empty())
            || self.routes.iter().any(|r| r == name)
            || self.models.iter().any(|m| m == name)
    }
}

/// Everything one request accumulates on its way through the phases.
pub struct RequestCx {
    pub(crate) snap: Arc<Snapshot>,
    pub(crate) sink: Arc<dyn Sink>,
    id: String,
    started: Instant,
    ingress: &'static str,
    pub(crate) stream: bool,
    pub(crate) features: Option<Features>,
    pub(crate) plan: Option<Arc<Plan>>,
    pub(crate) attempts: Attempts,
    pub(crate) answered: Option<DeploymentId>,
    pub(crate) usage: Usage,
    pub(crate) usage_estimated: bool,
    /// Judged answers: who answered, the evaluators' signals, and the verdict.
    pub(crate) judged: Vec<Judged>,
    /// Signals about another request that travel in this one's row (an LLM judge's grade).
    attached: Vec<SignalRow>,
    /// The client's W3C `traceparent`, when it sent one.
    pub(crate) trace_parent: Option<String>,
    /// Prompt and answer, on a route that captures them.
    pub(crate) capture: Option<crate::capture::Capture>,
    /// The gateway key the request came with, when keys are in use.
    pub(crate) key: Option<Arc<KeyGrant>>,
    /// The limiter its key's limits and budgets are checked with.
    pub(crate) admission: Option<Arc<dyn crate::admission::Admission>>,
    /// Its reservation, settled with the bill.
    pub(crate) admitted: Option<crate::admission::Admitted>,
    /// The response cache.
    pub(crate) cache: Option<Arc<dyn crate::cache::AnswerCache>>,
    /// Where this request's answer is kept, and for how long, on a route that caches (a miss).
    pub(crate) cache_key: Option<(crate::cache::Key, std::time::Duration)>,
    /// The cached answer served (a hit).
    pub(crate) hit: Option<Hit>,
    /// Served through a provider's batch API: billed at batch rates.
    pub(crate) batch: bool,
    bill: Option<Bill>,
    overhead_us: Option<u64>,
    error: Option<(u16, String)>,
    settled: bool,
}

/// A request answered from the response cache: who produced the answer, for which request,
/// with what usage and at what cost.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub(crate) from: String,
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) usage: Usage,
    pub(crate) cost: Option<switchyard_pricing::Decimal>,
}

/// One answer the route's evaluators judged.
#[derive(Debug, Clone)]
pub(crate) struct Judged {
    pub(crate) deployment: DeploymentId,
    pub(crate) signals: Vec<Signal>,
    /// The verdict: of the quality signals when there are any, else of all.
    pub(crate) passed: bool,
    /// Whether the verdict teaches the quality model (there were quality signals).
    pub(crate) observed: bool,
}

/// How a request ended, as the ledger's `status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The answer reached the client (`ok`, or `error` if [`RequestCx::fail`] was called).
    Delivered,
    /// The client went away first (`client_cancelled`).
    Abandoned,
}

impl std::fmt::Debug for RequestCx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCx").field("id", &self.id).finish()
    }
}

// === impl RequestCx ===

impl RequestCx {
    /// A new request on `snap`, started at `started` (when the gateway first saw it), for a
    /// client speaking `ingress` (the ledger's label: `openai`, `anthropic`, …).
    pub fn new(
        snap: Arc<Snapshot>,
        sink: Arc<dyn Sink>,
        ingress: &'static str,
        started: Instant,
    ) -> Self {
        RequestCx {
            snap,
            sink,
            id: uuid::Uuid::now_v7().to_string(),
            started,
            ingress,
            stream: false,
            features: None,
            plan: None,
            attempts: Attempts::default(),
            answered: None,
            usage: Usage::default(),
            usage_estimated: false,
            judged: Vec::new(),
            attached: Vec::new(),
            trace_parent: None,
            capture: None,
            key: None,
            admission: None,
            admitted: None,
            cache: None,
            cache_key: None,
            hit: None,
            batch: false,
            bill: None,
            overhead_us: None,
            error: None,
            settled: false,
        }
    }

    /// The request came with this gateway key: its tenant applies, and its limits and budgets
    /// through `admission`.
    pub fn with_key(
        mut self,
        key: Option<Arc<KeyGrant>>,
        admission: Option<Arc<dyn crate::admission::Admission>>,
    ) -> Self {
        self.key = key;
        self.admission = admission;
        self
    }

    /// The request began at `started` (work the gateway did earlier on its behalf: a batch
    /// line's time at its provider counts in its latency).
    pub fn started_at(mut self, started: Instant) -> Self {
        self.started = started;
        self
    }

    /// Answers may be kept in, and served from, `cache` (on routes that ask for it).
    pub fn with_cache(mut self, cache: Arc<dyn crate::cache::AnswerCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The request id (the ledger row's id, `x-switchyard-request-id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client API's ledger label (`openai`, `anthropic`, `judge`, …).
    pub fn ingress(&self) -> &'static str {
        self.ingress
    }

    /// The snapshot the request runs on.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// The usage of the answer (as the provider reported it, or estimated).
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// The bill, computed once (pricing the month's volume tier advances its counter, so a
    /// second computation would differ): the figure the client is told and the ledger keeps.
    pub fn bill(&mut self) -> &Bill {
        let RequestCx {
            bill: slot,
            snap,
            attempts,
            answered,
            usage,
            hit,
            batch,
            ..
        } = self;
        slot.get_or_insert_with(|| {
            // The baseline prices the answer's usage (a cached answer's: what the request would
            // have cost without the gateway); a request with no answer has none.
            let answer = match hit {
                Some(h) => h.usage,
                None => answered.map_or_else(Usage::default, |_| *usage),
            };
            bill(snap, &attempts.records, &answer, *batch)
        })
    }

    /// The facts for the response headers. The overhead is fixed at the first call (when the
    /// response headers are built); `with_bill` prices the request (non-streaming answers).
    pub fn facts(&mut self, with_bill: bool) -> Facts {
        let overhead = *self.overhead_us.get_or_insert_with(|| {
            self.started
                .elapsed()
                .saturating_sub(self.attempts.upstream_time)
                .as_micros() as u64
        });
        let bill = with_bill.then(|| self.bill().clone());
        let (provider, model) = self.answerer();
        let plan = self.plan.as_deref();
        Facts {
            request_id: self.id.clone(),
            route: plan.map(|p| p.route.clone()),
            rule: plan.and_then(|p| p.rule.clone()),
            provider,
            model,
            cache_hit: self.hit.is_some(),
            attempts: self.attempts.records.len(),
            overhead_us: overhead,
            bill,
            input_tokens: self.features.as_ref().map_or(0, |f| f.input_tokens),
        }
    }

    /// Who produced the answer: the deployment that answered, or a cached answer's producer.
    fn answerer(&self) -> (Option<String>, Option<String>) {
        if let Some(h) = &self.hit {
            return (Some(h.provider.clone()), Some(h.model.clone()));
        }
        let d = self.answered.map(|id| self.snap.deployment(id));
        (
            d.map(|d| d.provider_name.clone()),
            d.map(|d| d.name.clone()),
        )
    }

    /// The answer of a request on a caching route was served: keep it for the requests that
    /// repeat this one. What it cost is its answering attempt's cost.
    pub(crate) fn keep_answer(&mut self, answer: crate::cache::Answer) {
        let (Some((key, ttl)), Some(cache)) = (self.cache_key.take(), self.cache.clone()) else {
            return;
        };
        let (Some(provider), Some(model)) = self.answerer() else {
            return;
        };
        self.bill();
        let cost = self.answer_attempt().and_then(|i| {
            self.bill
                .as_ref()
                .and_then(|b| b.attempts.get(i))
                .and_then(Cost::amount)
        });
        let entry = crate::cache::Entry {
            answer,
            usage: self.usage,
            from: self.id.clone(),
            provider,
            model,
            cost: cost.map(|c| c.to_string()),
        };
        cache.put(key, entry, ttl);
    }

    /// The index of the answering attempt's record (not a failed or rejected one).
    fn answer_attempt(&self) -> Option<usize> {
        self.attempts.records.iter().rposition(|a| {
            Some(a.deployment) == self.answered && a.error.is_none() && a.rejected.is_none()
        })
    }

    /// The request failed: the client is told `http_status`; `class` is the ledger's
    /// `error_class`.
    pub fn fail(&mut self, http_status: u16, class: impl Into<String>) {
        self.error = Some((http_status, class.into()));
    }

    /// The tenant the request is recorded under (its key's, else the client's hint, else
    /// `default`), once features are known.
    pub fn tenant(&self) -> &str {
        self.key
            .as_ref()
            .map(|k| k.tenant.as_str())
            .or_else(|| self.features.as_ref().and_then(|f| f.tenant.as_deref()))
            .unwrap_or("default")
    }

    /// The gateway key's id, if the request came with one.
    pub fn key_id(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.id.as_str())
    }

    /// The request's features, once computed.
    pub fn features(&self) -> Option<&Features> {
        self.features.as_ref()
    }

    /// Count what this request spends against its key's budgets when it settles, without a
    /// reservation of its own (work admitted earlier as a whole: a batch's lines).
    pub fn charge_to_key(mut self, adm: Arc<dyn crate::admission::Admission>) -> Self {
        if let Some(k) = self.key.clone().filter(|k| crate::admission::budgeted(k)) {
            self.admitted = Some(crate::admission::Admitted {
                id: self.id.clone(),
                key_id: k.id.clone(),
                reserved_nanos: 0,
                team: crate::admission::team_holder(&k),
            });
            self.admission = Some(adm);
        }
        self
    }

    /// Drop without a ledger row: the context only planned work that another context will
    /// settle (a batch line, planned when the batch is accepted, settled when it is answered).
    pub fn discard(mut self) {
        self.settled = true;
    }

    /// Settle now: price (if not yet), build the ledger row, hand it to the sink.
    pub fn finish(mut self, ending: Ending) {
        self.settle(ending);
    }

    /// The deployment `id` answered with `usage`.
    pub(crate) fn answer(&mut self, id: DeploymentId, usage: Usage) {
        self.answered = Some(id);
        self.usage = usage;
        if let Some(a) = self
            .attempts
            .records
            .iter_mut()
            .rev()
            .find(|a| a.deployment == id && a.error.is_none() && a.rejected.is_none())
        {
            a.usage = usage;
        }
        let task = self.features.as_ref().and_then(|f| f.task.as_deref());
        let stats = &self.snap.deployment(id).stats;
        stats.observe_output(usage.output, task);
        if let Some(f) = &self.features {
            stats.observe_cache(f.prefix_tokens, usage.cache_read);
        }
        let session = self.features.as_ref().and_then(|f| f.session.as_deref());
        if let (Some(s), Some(p)) = (session, self.plan.as_deref()) {
            if !self.snap.session_ttl.is_zero() {
                let name = &self.snap.deployment(id).name;
                self.snap.pins.set(&p.route, s, name, self.snap.session_ttl);
            }
        }
    }

    /// The evaluators judged an answer of `id`: keep the signals for the ledger and teach the
    /// quality model the verdict (when any evaluator applied).
    pub(crate) fn judge(&mut self, id: DeploymentId, signals: Vec<Signal>, passed: bool) {
        if signals.is_empty() {
            return;
        }
        // The quality model learns from quality signals only (not from a confidence proxy).
        let mut quality = signals.iter().filter(|s| s.is_quality()).peekable();
        let quality = quality.peek().is_some().then(|| quality.all(|s| s.passed));
        if let Some(q) = quality {
            let task = self.features.as_ref().and_then(|f| f.task.as_deref());
            let model = &self.snap.deployment(id).name;
            self.snap
                .quality
                .observe(task, model, if q { 1.0 } else { 0.0 });
        }
        self.judged.push(Judged {
            deployment: id,
            signals,
            passed: quality.unwrap_or(passed),
            observed: quality.is_some(),
        });
    }

    /// The answer of `id`, which used `usage`, was rejected (`why`) and is escalated: it is
    /// billed, and marked in its attempt record.
    pub(crate) fn reject(&mut self, id: DeploymentId, usage: Usage, why: &str) {
        if let Some(a) = self
            .attempts
            .records
            .iter_mut()
            .rev()
            .find(|a| a.deployment == id && a.error.is_none() && a.rejected.is_none())
        {
            a.usage = usage;
            a.rejected = Some(why.to_owned());
        }
    }

    /// Carry a signal about another request in this request's ledger row.
    pub(crate) fn attach_signal(&mut self, s: SignalRow) {
        self.attached.push(s);
    }

    /// The gateway's estimate of an answer's usage when the provider reported none: the input
    /// counted from the prompt (else the features' estimate), the output from `output` text.
    pub(crate) fn estimate_usage(
        &self,
        req: &switchyard_types::ChatRequest,
        output: &str,
    ) -> Usage {
        Usage {
            input: crate::features::exact_input_tokens(req)
                .unwrap_or_else(|| self.features.as_ref().map_or(0, |f| f.input_tokens)),
            output: crate::features::count_tokens(output),
            ..Usage::default()
        }
    }

    /// Record the answer served, on a route that captures.
    pub(crate) fn capture_answer(&mut self, answer: &crate::evaluate::AnswerView) {
        if let Some(c) = &mut self.capture {
            c.answer(&answer.text, &answer.tool_calls);
        }
    }

    /// A rejected answer of `id` is served after all (every later candidate failed).
    pub(crate) fn unreject(&mut self, id: DeploymentId) {
        if let Some(a) = self
            .attempts
            .records
            .iter_mut()
            .rev()
            .find(|a| a.deployment == id && a.rejected.is_some())
        {
            a.rejected = None;
        }
    }

    fn settle(&mut self, ending: Ending) {
        if self.settled {
            return;
        }
        self.settled = true;
        self.bill();
        // The reservation is released with what was actually spent.
        if let (Some(a), Some(adm)) = (self.admitted.take(), &self.admission) {
            let spent = self
                .bill
                .as_ref()
                .and_then(|b| b.cost.amount())
                .map_or(0, |d| {
                    let nanos = (d * switchyard_pricing::Decimal::from(1_000_000_000u64)).ceil();
                    i64::try_from(nanos).unwrap_or(i64::MAX)
                });
            adm.settle(a, spent);
        }
        let row = self.row(ending);
        self.sink.record(row);
    }

    /// Build the ledger row. Never contains prompt text or keys.
    fn row(&self, ending: Ending) -> LedgerRow {
        let snap = &self.snap;
        let f = self.features.as_ref();
        let plan = self.plan.as_deref();
        let mut row = LedgerRow::new();
        row.id.clone_from(&self.id);
        row.tenant = f
            .and_then(|f| f.tenant.clone())
            .unwrap_or_else(|| "default".to_owned());
        row.key_id = self.key.as_ref().map(|k| k.id.clone());
        row.tags = f.map(|f| f.tags.clone()).unwrap_or_default();
        row.task = f.and_then(|f| f.task.clone());
        row.ingress = self.ingress.to_owned();
        row.route = plan.map(|p| p.route.clone());
        row.rule = plan.and_then(|p| p.rule.clone());
        row.stream = self.stream;
        row.decision = decision(snap, plan, f);
        (row.provider, row.model) = self.answerer();
        let bill = self.bill.as_ref();
        row.attempts = self
            .attempts
            .records
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let d = snap.deployment(a.deployment);
                let billed = a.usage != Usage::default();
                let mut r = AttemptRow {
                    provider: d.provider_name.clone(),
                    model: d.name.clone(),
                    status: a.status,
                    error_class: a.error.as_ref().map(|e| e.class.as_str().to_owned()),
                    latency_ms: a.latency.as_millis() as u64,
                    ttft_ms: a.ttft.map(|t| t.as_millis() as u64),
                    usage: a.usage,
                    cost_nanos: None,
                    cost_rem_femtos: 0,
                    usage_estimated: billed
                        && self.usage_estimated
                        && Some(a.deployment) == self.answered,
                    billed,
                    rejected: a.rejected.clone(),
                    served_model: a.served_model.clone(),
                    offset_us: a
                        .started
                        .saturating_duration_since(self.started)
                        .as_micros() as u64,
                };
                r.set_cost(bill.and_then(|b| b.attempts.get(i)).and_then(Cost::amount));
                r
            })
            .collect();
        row.usage = self.usage;
        row.usage_estimated = self.usage_estimated;
        let cost = bill.map_or(Cost::Unpriced, |b| b.cost);
        row.set_cost(cost.amount());
        row.set_baseline_cost(bill.and_then(|b| b.baseline).and_then(|c| c.amount()));
        row.set_cache_saved(bill.and_then(|b| b.cache_saved));
        row.unpriced = !cost.is_priced();
        row.catalog_version = Some(snap.catalog_version.clone());
        row.overhead_us = self.overhead_us.unwrap_or_default();
        row.latency_ms = self.started.elapsed().as_millis() as u64;
        let (status, http, class) = match (&self.error, ending) {
            (Some((http, class)), _) => ("error", *http, Some(class.clone())),
            (None, Ending::Delivered) => ("ok", 200, None),
            // 200 if the response had begun (a stream), else nginx's 499 "client closed".
            (None, Ending::Abandoned) => (
                "client_cancelled",
                if self.overhead_us.is_some() { 200 } else { 499 },
                None,
            ),
        };
        row.status = status.to_owned();
        row.http_status = http;
        row.error_class = class;
        // The answer alone (its attempt, not failed or rejected ones): list price, and TTFT.
        if let Some(i) = self.answer_attempt() {
            row.ttft_ms = self.attempts.records[i].ttft.map(|t| t.as_millis() as u64);
            row.set_answer_cost(bill.and_then(|b| b.attempts.get(i)).and_then(Cost::amount));
        }
        // A cached answer: what it cost where it came from is what the hit saved.
        if let Some(h) = &self.hit {
            row.cached_from = Some(h.from.clone());
            row.set_answer_cost(h.cost);
        }
        row.signals = self.signal_rows(&row);
        row.trace_parent.clone_from(&self.trace_parent);
        row.capture = self.capture.as_ref().map(|c| c.row(&row.id, row.ts));
        row
    }

    /// The ledger's signal rows: each evaluator's signal, then the verdict, per judged answer.
    fn signal_rows(&self, row: &LedgerRow) -> Vec<SignalRow> {
        let mut out = Vec::new();
        for j in &self.judged {
            let model = Some(self.snap.deployment(j.deployment).name.clone());
            let mut push =
                |source: &str, name: &str, score: f64, passed: bool, observed, detail| {
                    out.push(SignalRow {
                        id: format!("{}:{}", row.id, out.len()),
                        request_id: row.id.clone(),
                        ts: row.ts,
                        source: source.to_owned(),
                        name: name.to_owned(),
                        model: model.clone(),
                        task: row.task.clone(),
                        route: row.route.clone(),
                        score,
                        passed: Some(passed),
                        observed,
                        label: None,
                        detail,
                    });
                };
            for s in &j.signals {
                push(
                    "evaluator",
                    s.name,
                    s.score,
                    s.passed,
                    false,
                    s.detail.clone(),
                );
            }
            push(
                "verdict",
                "verdict",
                if j.passed { 1.0 } else { 0.0 },
                j.passed,
                j.observed,
                None,
            );
        }
        for s in &self.attached {
            let mut s = s.clone();
            s.id = format!("{}:{}", row.id, out.len());
            out.push(s);
        }
        out
    }
}

impl Drop for RequestCx {
    fn drop(&mut self) {
        self.settle(Ending::Abandoned);
    }
}

/// Price every attempt and the baseline, at the current time. An attempt that used no tokens
/// costs exactly zero whatever its price; one that used tokens on an unpriced model makes the
/// request unpriced.
fn bill(
    snap: &Snapshot,
    attempts: &[crate::attempt::AttemptRecord],
    answered: &Usage,
    batch: bool,
) -> Bill {
    let now = unix_now();
    let ctx = CostContext {
        at_unix: Some(now),
        batch,
        ..CostContext::default()
    };
    let mut cache_saved: Option<Cost> = None;
    let per: Vec<Cost> = attempts
        .iter()
        .map(|a| {
            if a.usage == Usage::default() {
                return Cost::ZERO;
            }
            let d = snap.deployment(a.deployment);
            // Monthly volume tiers: the rate in force when the request starts.
            let before = d.stats.monthly.add(a.usage.total(), now);
            let ctx = CostContext {
                monthly_tokens_before: before,
                ..ctx
            };
            let cost = Cost::of(d.price.as_ref(), &a.usage, &ctx);
            if a.usage.touched_cache() {
                let uncached = Cost::of(d.price.as_ref(), &a.usage.without_cache(), &ctx);
                let saved = match (uncached.amount(), cost.amount()) {
                    (Some(u), Some(c)) => Cost::Priced(u - c),
                    _ => Cost::Unpriced,
                };
                cache_saved = Some(cache_saved.map_or(saved, |s| s + saved));
            }
            cost
        })
        .collect();
    Bill {
        cache_saved: cache_saved.and_then(|c| c.amount()),
        cost: per.iter().fold(Cost::ZERO, |acc, c| acc + *c),
        // The baseline is the standard tier, not through a batch API: what the same tokens cost
        // without the gateway.
        baseline: snap.baseline.map(|b| {
            let standard = Usage {
                tier: ServiceTier::Standard,
                ..*answered
            };
            let ctx = CostContext {
                batch: false,
                ..ctx
            };
            Cost::of(snap.deployment(b).price.as_ref(), &standard, &ctx)
        }),
        attempts: per,
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The routing decision with its inputs, so past traffic can be re-decided later.
fn decision(snap: &Snapshot, plan: Option<&Plan>, f: Option<&Features>) -> serde_json::Value {
    let Some(p) = plan else {
        return serde_json::Value::Null;
    };
    let features = f.map(|f| {
        json!({
            "input_tokens": f.input_tokens, "max_output": f.max_output, "task": f.task,
            "region": f.region, "lane": f.lane, "tools": f.tools, "images": f.images,
            "json": f.json, "tenant": f.tenant, "tags": f.tags, "prefix_tokens": f.prefix_tokens,
            "session": f.session.is_some(),
        })
    });
    let femto_to_usd = |v: u128| {
        switchyard_pricing::Decimal::from_i128_with_scale(v as i128, 15)
            .normalize()
            .to_string()
    };
    let candidates: Vec<_> = p
        .targets
        .iter()
        .zip(&p.estimates)
        .map(|(id, est)| {
            let d = snap.deployment(*id);
            let mut c = json!({"model": d.name, "est_cost_usd": est.map(femto_to_usd)});
            if let Some(a) = &d.adjust {
                c["adjust"] = json!(a);
            }
            c
        })
        .collect();
    let excluded: Vec<_> = p
        .excluded
        .iter()
        .map(|(id, why)| json!({"model": snap.deployment(*id).name, "reason": why.as_str()}))
        .collect();
    let mut d = json!({
        "route": p.route, "rule": p.rule, "strategy": p.strategy.as_str(),
        "features": features, "candidates": candidates, "excluded": excluded,
    });
    if let Some((deployment, kept)) = &p.session_pin {
        d["session_pin"] = json!({"deployment": deployment, "kept": kept});
    }
    if let Some((asked, pattern)) = &p.alias {
        d["alias"] = json!({"requested": asked, "match": pattern});
    }
    if let (Some(score), Some(model)) = (
        p.router_score,
        snap.routes.get(&p.route).and_then(|r| r.router.as_ref()),
    ) {
        d["router"] = json!({
            "version": model.version(), "score": score, "threshold": model.threshold(),
        });
    }
    d
}
