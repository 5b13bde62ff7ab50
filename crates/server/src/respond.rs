//! Phase 6, respond: the driver's [`Outcome`] in the client's API, with the routing headers.
//!
//! Every non-streaming response body carries its request context and settles it when the
//! body has been handed to the client ([`SettleOnEnd`]), or as abandoned if the client went
//! away first; a stream's relay settles itself. So settle always runs after the answer is on
//! its way, and every ending is recorded once.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderName, HeaderValue},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use switchyard_core::{Ending, Facts, RequestCx, Sink};
use switchyard_store::{Ledger, LedgerRow};

use crate::{error::Shape, ApiError};

/// A JSON answer: the headers from the request's facts (its bill included), the body settling
/// the request once sent.
pub(crate) fn json(mut cx: RequestCx, body: Vec<u8>) -> Response {
    let facts = cx.facts(true);
    let mut resp = Response::new(Body::new(SettleOnEnd::new(Body::from(body), cx)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    apply(resp.headers_mut(), &facts);
    resp
}

/// An error in the client's API shape; the request is settled as failed once the body is sent.
pub(crate) fn error(mut cx: RequestCx, e: ApiError, shape: Shape) -> Response {
    cx.fail(e.status.as_u16(), e.code.as_deref().unwrap_or(e.kind));
    let facts = cx.facts(true);
    let (mut parts, body) = e.shaped(shape).into_response().into_parts();
    apply(&mut parts.headers, &facts);
    Response::from_parts(parts, Body::new(SettleOnEnd::new(body, cx)))
}

/// The `x-switchyard-*` header names, validated at compile time (`HeaderName::from_static`
/// called at run time re-validates its argument on every call).
mod names {
    use axum::http::HeaderName;
    pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-switchyard-request-id");
    pub const ROUTE: HeaderName = HeaderName::from_static("x-switchyard-route");
    pub const RULE: HeaderName = HeaderName::from_static("x-switchyard-rule");
    pub const PROVIDER: HeaderName = HeaderName::from_static("x-switchyard-provider");
    pub const MODEL: HeaderName = HeaderName::from_static("x-switchyard-model");
    pub const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
    pub const CACHE: HeaderName = HeaderName::from_static("x-switchyard-cache");
    pub const OVERHEAD_US: HeaderName = HeaderName::from_static("x-switchyard-overhead-us");
    pub const COST_USD: HeaderName = HeaderName::from_static("x-switchyard-cost-usd");
    pub const BASELINE_COST_USD: HeaderName =
        HeaderName::from_static("x-switchyard-baseline-cost-usd");
}

/// Set the `x-switchyard-*` headers.
pub(crate) fn apply(h: &mut HeaderMap, f: &Facts) {
    put(h, names::REQUEST_ID, &f.request_id);
    if let Some(route) = &f.route {
        put(h, names::ROUTE, route);
        put(h, names::RULE, f.rule.as_deref().unwrap_or("-"));
    }
    if let (Some(p), Some(m)) = (&f.provider, &f.model) {
        put(h, names::PROVIDER, p);
        put(h, names::MODEL, m);
    }
    h.insert(names::ATTEMPTS, HeaderValue::from(f.attempts));
    if f.cache_hit {
        h.insert(names::CACHE, HeaderValue::from_static("hit"));
    }
    h.insert(names::OVERHEAD_US, HeaderValue::from(f.overhead_us));
    if let Some(b) = &f.bill {
        put(h, names::COST_USD, &b.cost.to_string());
        if let Some(base) = &b.baseline {
            put(h, names::BASELINE_COST_USD, &base.to_string());
        }
    }
}

fn put(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// A response body that settles its request when it has been read to the end (delivered),
/// or, dropped before that, as abandoned.
pub(crate) struct SettleOnEnd {
    inner: Body,
    cx: Option<RequestCx>,
}

impl SettleOnEnd {
    pub(crate) fn new(inner: Body, cx: RequestCx) -> Self {
        SettleOnEnd {
            inner,
            cx: Some(cx),
        }
    }
}

impl http_body::Body for SettleOnEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        task: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(task);
        // Over when the inner body says so after a frame (a server that knows the length
        // stops polling there) or when it ends.
        let over = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => false,
        };
        if over {
            if let Some(cx) = this.cx.take() {
                cx.finish(Ending::Delivered);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where settled requests go: one log line, the metrics, the ledger queue (never blocks).
pub(crate) struct LedgerSink {
    pub(crate) ledger: Option<Ledger>,
    /// The trace exporter, when `[telemetry]` is on.
    pub(crate) traces: Option<std::sync::Arc<crate::telemetry::Exporter>>,
}

impl Sink for LedgerSink {
    fn record(&self, row: LedgerRow) {
        tracing::info!(
            request_id = %row.id,
            ingress = %row.ingress,
            route = row.route.as_deref().unwrap_or("-"),
            model = row.model.as_deref().unwrap_or("-"),
            attempts = row.attempts.len(),
            status = %row.status,
            http_status = row.http_status,
            cost_usd = %row.cost().map_or_else(|| "unpriced".to_owned(), |c| c.to_string()),
            overhead_us = row.overhead_us,
            latency_ms = row.latency_ms,
            "request"
        );
        crate::metrics::request(&row);
        if let Some(t) = &self.traces {
            t.record(&row);
        }
        if let Some(l) = &self.ledger {
            l.record(row);
        }
    }
}
