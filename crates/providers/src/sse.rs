//! Server-sent events read from an upstream body: one linear pass over the bytes, bounded.
//!
//! The event-stream rules the adapters rely on (WHATWG HTML, "event stream interpretation"):
//! lines end in LF, CRLF or CR (also split across chunks); a leading BOM is skipped; `data`
//! lines are joined with LF; `event` names the event (`message` when absent); `id`, `retry`,
//! comments and unknown fields are ignored; a blank line dispatches the event if it carried any
//! `data`; an event cut off by the end of the body is not dispatched (the adapters then report a
//! cut stream).
//!
//! This replaces `eventsource-stream`, which copies the rest of its buffer after every line it
//! parses: quadratic in the size of a chunk, and about 40% of the instructions of a streamed
//! request when an upstream sends its answer in a few large chunks (callgrind,
//! `scripts/instructions.sh`). A line, or one event's `data`, longer than [`MAX_LINE_BYTES`] is
//! an error, not an unbounded buffer.

use std::fmt::Display;

use futures::{Stream, StreamExt};

/// The longest line accepted (an event's single `data` line carries a whole chunk; upstream
/// answers as a whole are bounded by the same figure).
pub const MAX_LINE_BYTES: usize = crate::http::MAX_RESPONSE_BYTES;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event` field, or `message`.
    pub event: String,
    /// The `data` lines joined with LF.
    pub data: String,
}

/// Why an event stream stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// The body could not be read.
    #[error("{0}")]
    Transport(String),
    /// A line, or the `data` of one event, went past [`MAX_LINE_BYTES`].
    #[error("an event-stream line or event is longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
}

/// Incremental decoder: [`push`](Decoder::push) bytes as they arrive, then take events with
/// [`next_event`](Decoder::next_event) until it returns `None`.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// Where to resume looking for a line end (bytes before it hold none).
    scan: usize,
    /// The last line ended in CR: an LF at the start of the next bytes belongs to it.
    after_cr: bool,
    /// The first bytes have been seen (a BOM is skipped only there).
    started: bool,
    event: String,
    data: String,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes read from the body.
    pub fn push(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        if !self.started && !bytes.is_empty() {
            self.started = true;
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if self.start == self.buf.len() {
            // Everything before was consumed: reuse the allocation from its start.
            self.buf.clear();
            self.start = 0;
            self.scan = 0;
        } else if self.start > 4096 && self.start * 2 > self.buf.len() {
            // Drop the consumed prefix once it is the larger part (amortised linear).
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, `None` when the bytes so far hold no more.
    pub fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        loop {
            if self.after_cr && self.start < self.buf.len() {
                if self.buf[self.start] == b'\n' {
                    self.start += 1;
                }
                self.after_cr = false;
            }
            let from = self.scan.max(self.start);
            let Some(offset) = self.buf[from..]
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
            else {
                self.scan = self.buf.len();
                if self.buf.len() - self.start > MAX_LINE_BYTES {
                    return Err(SseError::LineTooLong);
                }
                return Ok(None);
            };
            let end = from + offset;
            let line_start = self.start;
            self.after_cr = self.buf[end] == b'\r';
            self.start = end + 1;
            self.scan = self.start;
            if let Some(event) = self.line(line_start, end) {
                return Ok(Some(event));
            }
            if self.data.len() > MAX_LINE_BYTES {
                // Many short `data` lines without a blank one: bounded like a single line.
                return Err(SseError::LineTooLong);
            }
        }
    }

    /// Interpret the line `buf[from..to]`; a blank line may dispatch an event.
    fn line(&mut self, from: usize, to: usize) -> Option<Event> {
        let line = &self.buf[from..to];
        if line.is_empty() {
            if self.data.is_empty() {
                self.event.clear();
                return None;
            }
            self.data.pop(); // the LF after the last data line
            let event = if self.event.is_empty() {
                "message".to_owned()
            } else {
                std::mem::take(&mut self.event)
            };
            return Some(Event {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
        if line[0] == b':' {
            return None; // a comment
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            _ => {} // id, retry and unknown fields
        }
        None
    }
}

/// The events of a body read as a stream of byte chunks. A transport error ends the stream
/// after being yielded; the end of the body ends it (an unfinished event is dropped).
pub fn events<S, B, E>(body: S) -> impl Stream<Item = Result<Event, SseError>> + Send + Unpin
where
    S: Stream<Item = Result<B, E>> + Unpin + Send + 'static,
    B: AsRef<[u8]>,
    E: Display,
{
    Box::pin(futures::stream::unfold(
        (body, Decoder::new(), false),
        |(mut body, mut dec, mut done)| async move {
            loop {
                if done {
                    return None;
                }
                match dec.next_event() {
                    Ok(Some(event)) => return Some((Ok(event), (body, dec, done))),
                    Ok(None) => {}
                    Err(e) => return Some((Err(e), (body, dec, true))),
                }
                match body.next().await {
                    Some(Ok(bytes)) => dec.push(bytes.as_ref()),
                    Some(Err(e)) => {
                        done = true;
                        return Some((Err(SseError::Transport(e.to_string())), (body, dec, done)));
                    }
                    None => done = true,
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        for c in chunks {
            dec.push(c);
            while let Some(e) = dec.next_event().unwrap() {
                out.push(e);
            }
        }
        out
    }

    fn ev(event: &str, data: &str) -> Event {
        Event {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn the_spec_rules() {
        let body =
            b"\xEF\xBB\xBF: comment\ndata: a\ndata:b\n\nevent: ping\nid: 7\nretry: 10\ndata\n\n\
                     event: x\n\ndata: last\r\n\r\ndata: cr\r\rdata: cut";
        assert_eq!(
            decode_all(&[body]),
            vec![
                ev("message", "a\nb"),
                ev("ping", ""),
                ev("message", "last"),
                ev("message", "cr"),
            ],
            "an event without data is not dispatched; a cut one neither"
        );
    }

    #[test]
    fn a_line_past_the_limit_is_an_error_not_a_buffer() {
        let mut dec = Decoder::new();
        dec.push(b"data: ");
        let big = vec![b'x'; MAX_LINE_BYTES];
        dec.push(&big);
        assert_eq!(dec.next_event(), Err(SseError::LineTooLong));
    }

    #[test]
    fn an_event_past_the_limit_is_an_error_too() {
        let mut dec = Decoder::new();
        let line = [b"data: ".as_slice(), &vec![b'x'; 1 << 20], b"\n"].concat();
        let mut result = Ok(None);
        for _ in 0..=(MAX_LINE_BYTES >> 20) {
            dec.push(&line);
            result = dec.next_event();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::LineTooLong));
    }

    proptest! {
        /// Any split of a body into chunks (CRLF split between two chunks included) yields the
        /// same events as the body in one piece.
        #[test]
        fn chunking_does_not_change_the_events(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("data: {\"a\":1}".to_owned()),
                    Just("event: e".to_owned()),
                    Just(": c".to_owned()),
                    Just(String::new()),
                    "[a-z:]{0,12}",
                ],
                0..20,
            ),
            ends in proptest::collection::vec(0..3usize, 20),
            cuts in proptest::collection::vec(0..200usize, 0..6),
        ) {
            let mut body = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                body.extend_from_slice(l.as_bytes());
                body.extend_from_slice([&b"\n"[..], b"\r\n", b"\r"][ends[i]]);
            }
            let whole = decode_all(&[&body]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut last = 0;
            for c in cuts {
                parts.push(&body[last..c]);
                last = c;
            }
            parts.push(&body[last..]);
            prop_assert_eq!(decode_all(&parts), whole);
        }
    }
}
