//! Format-neutral stream playback: SSE frames laid out on a token timeline, stream faults
//! applied (`cut`, `stall`, `malformed`), then played back at the model's speed. Frames due at
//! the same instant go out as one write. Every streaming wire format of the
//! simulator describes its stream as [`Frame`]s and plays it here.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::Stream;
use http::{header, HeaderValue};
use tokio::time::Instant;

use crate::faults::Fault;
use crate::model::Profile;

/// What a frame carries, for deciding where a fault cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Before the first token (envelope, block headers).
    Head,
    /// Carries token `k`.
    Token(u64),
    /// The finish (stop reason).
    Finish,
    /// After the finish (usage, end marker).
    Tail,
}

/// One SSE frame on the timeline.
pub(crate) struct Frame {
    /// Token slot: the frame is due `slot / tps` after the first token.
    pub slot: u64,
    pub kind: Kind,
    pub bytes: Bytes,
}

enum Step {
    Data(Duration, Bytes),
    Cut(Duration),
    Stall(Duration),
}

/// Apply a stream fault: truncate at token `n` (`cut`, `stall`) or insert `malformed` there.
pub(crate) fn apply_fault(frames: &mut Vec<Frame>, fault: Option<Fault>, malformed: Bytes) {
    let Some(Fault::Cut(n) | Fault::Stall(n) | Fault::Malformed(n)) = fault else {
        return;
    };
    let last = frames.last().map_or(0, |f| f.slot);
    let at = frames
        .iter()
        .position(|f| match f.kind {
            Kind::Token(k) => k >= u64::from(n),
            Kind::Finish | Kind::Tail => true,
            Kind::Head => false,
        })
        .unwrap_or(frames.len());
    if let Some(Fault::Malformed(_)) = fault {
        let slot = frames.get(at).map_or(last, |f| f.slot);
        frames.insert(
            at,
            Frame {
                slot,
                kind: Kind::Tail,
                bytes: malformed,
            },
        );
    } else {
        frames.truncate(at);
    }
}

/// The SSE body stream (the handler has already waited for the first token).
pub(crate) fn play(
    frames: Vec<Frame>,
    profile: &Profile,
    fault: Option<Fault>,
) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
    let end_slot = frames.last().map_or(0, |f| f.slot);
    let mut steps: Vec<Step> = Vec::new();
    let mut pending: Option<(Duration, BytesMut)> = None;
    for f in frames {
        let at = profile.token_offset(f.slot);
        match &mut pending {
            Some((t, buf)) if *t == at => buf.extend_from_slice(&f.bytes),
            _ => {
                if let Some((t, buf)) = pending.take() {
                    steps.push(Step::Data(t, buf.freeze()));
                }
                pending = Some((at, BytesMut::from(&f.bytes[..])));
            }
        }
    }
    if let Some((t, buf)) = pending.take() {
        steps.push(Step::Data(t, buf.freeze()));
    }
    let end = profile.token_offset(end_slot);
    match fault {
        Some(Fault::Cut(_)) => steps.push(Step::Cut(end)),
        Some(Fault::Stall(_)) => steps.push(Step::Stall(end)),
        _ => {}
    }
    let start = Instant::now();
    futures::stream::unfold(steps.into_iter(), move |mut steps| async move {
        let step = steps.next()?;
        let at = match &step {
            Step::Data(at, _) | Step::Cut(at) | Step::Stall(at) => *at,
        };
        if !at.is_zero() {
            tokio::time::sleep_until(start + at).await;
        }
        match step {
            Step::Data(_, bytes) => Some((Ok(bytes), steps)),
            Step::Cut(_) => {
                // Let hyper flush what was sent so far, then abort the connection.
                tokio::task::yield_now().await;
                Some((Err(io::Error::other("sim: stream cut")), steps))
            }
            Step::Stall(_) => std::future::pending().await,
        }
    })
}

/// A 200 JSON response.
pub(crate) fn json_response(body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A 200 JSON response whose body sends `prefix` and then drops the connection or hangs.
pub(crate) fn broken_body(prefix: &[u8], hang: bool) -> Response {
    let first = Bytes::copy_from_slice(prefix);
    let stream = futures::stream::unfold(0u8, move |step| {
        let first = first.clone();
        async move {
            match step {
                0 => Some((Ok(first), 1)),
                _ if hang => std::future::pending().await,
                1 => {
                    tokio::task::yield_now().await;
                    Some((Err(io::Error::other("sim: connection cut")), 2))
                }
                _ => None,
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
