//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`).
//!
//! One message on the wire:
//!
//! ```text
//! | total length u32 | headers length u32 | prelude CRC32 u32 |   (the 12-byte prelude)
//! | headers …                                                |   (headers length bytes)
//! | payload …                                                |   (total − headers − 16)
//! | message CRC32 u32                                        |   (over everything before it)
//! ```
//!
//! All integers are big-endian. A header is `name length u8, name, value type u8, value`; the
//! value's size depends on its type (7 = string with a u16 length). Both CRCs are verified;
//! a mismatch is a [`FrameError`], never a silently skipped message, because after a corrupt
//! prelude the frame boundaries can no longer be trusted.
//!
//! [`Decoder`] buffers bytes pushed in arbitrary pieces and yields whole messages, so decoding
//! does not depend on how the transport chunked the body. [`encode`] is the inverse (used by
//! tests; the simulator has its own copy).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Size of the prelude (two lengths and the prelude CRC).
const PRELUDE: usize = 12;
/// Prelude plus the trailing message CRC.
const MIN_MESSAGE: usize = PRELUDE + 4;
/// Largest message accepted (the service's own limit is 16 MiB).
pub const MAX_MESSAGE: usize = 16 << 20;
/// Largest header section accepted (the service's limit is 128 KiB).
const MAX_HEADERS: usize = 128 << 10;

/// A header value. Only strings are kept; other types are parsed (to find the next header)
/// and reported as [`HeaderValue::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Type 7.
    String(String),
    /// Any other type, with its type byte.
    Other(u8),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Headers in wire order.
    pub headers: Vec<(String, HeaderValue)>,
    /// The payload (JSON for Bedrock).
    pub payload: Bytes,
}

impl Message {
    /// A string header by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Why a byte stream is not a valid event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The prelude CRC does not match.
    #[error("event-stream prelude CRC mismatch (expected {expected:#010x}, got {got:#010x})")]
    PreludeCrc {
        /// From the wire.
        expected: u32,
        /// Computed.
        got: u32,
    },
    /// The message CRC does not match.
    #[error("event-stream message CRC mismatch (expected {expected:#010x}, got {got:#010x})")]
    MessageCrc {
        /// From the wire.
        expected: u32,
        /// Computed.
        got: u32,
    },
    /// Lengths that cannot describe a message.
    #[error("event-stream frame has invalid lengths (total {total}, headers {headers})")]
    Length {
        /// Total length from the prelude.
        total: usize,
        /// Headers length from the prelude.
        headers: usize,
    },
    /// A header runs past its section or has an unknown type.
    #[error("event-stream header section is malformed: {0}")]
    Header(&'static str),
}

/// Incremental decoder: push bytes, pull messages.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Append bytes as they arrive.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet part of a whole message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        if self.buf.len() < PRELUDE {
            return Ok(None);
        }
        let total = be32(&self.buf[0..4]) as usize;
        let headers_len = be32(&self.buf[4..8]) as usize;
        let prelude_crc = be32(&self.buf[8..12]);
        let got = crc32fast::hash(&self.buf[..8]);
        if got != prelude_crc {
            return Err(FrameError::PreludeCrc {
                expected: prelude_crc,
                got,
            });
        }
        if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&total)
            || headers_len > MAX_HEADERS
            || headers_len > total - MIN_MESSAGE
        {
            return Err(FrameError::Length {
                total,
                headers: headers_len,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        let message_crc = be32(&frame[total - 4..]);
        let got = crc32fast::hash(&frame[..total - 4]);
        if got != message_crc {
            return Err(FrameError::MessageCrc {
                expected: message_crc,
                got,
            });
        }
        let headers = parse_headers(&frame[PRELUDE..PRELUDE + headers_len])?;
        let payload = frame.slice(PRELUDE + headers_len..total - 4);
        Ok(Some(Message { headers, payload }))
    }
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, FrameError> {
    let mut out = Vec::new();
    while b.has_remaining() {
        let name_len = usize::from(b.get_u8());
        if b.remaining() < name_len + 1 {
            return Err(FrameError::Header("header name runs past the section"));
        }
        let name = String::from_utf8_lossy(&b[..name_len]).into_owned();
        b.advance(name_len);
        let ty = b.get_u8();
        let fixed = match ty {
            0 | 1 => Some(0),
            2 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 | 8 => Some(8),
            9 => Some(16),
            6 | 7 => None,
            _ => return Err(FrameError::Header("unknown header value type")),
        };
        let value = match fixed {
            Some(n) => {
                if b.remaining() < n {
                    return Err(FrameError::Header("header value runs past the section"));
                }
                b.advance(n);
                HeaderValue::Other(ty)
            }
            None => {
                if b.remaining() < 2 {
                    return Err(FrameError::Header(
                        "header value length runs past the section",
                    ));
                }
                let len = usize::from(b.get_u16());
                if b.remaining() < len {
                    return Err(FrameError::Header("header value runs past the section"));
                }
                let v = &b[..len];
                let value = if ty == 7 {
                    HeaderValue::String(String::from_utf8_lossy(v).into_owned())
                } else {
                    HeaderValue::Other(ty)
                };
                b.advance(len);
                value
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

/// Encode one message with string headers (both CRCs computed).
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = BytesMut::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(255)];
        let value = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        h.put_u8(name.len() as u8);
        h.put_slice(name);
        h.put_u8(7);
        h.put_u16(value.len() as u16);
        h.put_slice(value);
    }
    let total = MIN_MESSAGE + h.len() + payload.len();
    let mut out = BytesMut::with_capacity(total);
    out.put_u32(total as u32);
    out.put_u32(h.len() as u32);
    let prelude_crc = crc32fast::hash(&out[..8]);
    out.put_u32(prelude_crc);
    out.put_slice(&h);
    out.put_slice(payload);
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out.freeze()
}

/// An event message as Bedrock sends it: `:event-type`, `:content-type`, `:message-type`.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Bytes {
    encode(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An exception message as Bedrock sends it (`:exception-type`, `:message-type = exception`).
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> Bytes {
    encode(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A frame from the AWS event-stream specification's test vectors ("all headers"
    /// reduced to a single string header): `content-type: application/json`, payload
    /// `{'foo':'bar'}`.
    const GOLDEN: &[u8] = &[
        0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C, b'c', b'o',
        b'n', b't', b'e', b'n', b't', b'-', b't', b'y', b'p', b'e', 0x07, 0x00, 0x10, b'a', b'p',
        b'p', b'l', b'i', b'c', b'a', b't', b'i', b'o', b'n', b'/', b'j', b's', b'o', b'n', b'{',
        b'\'', b'f', b'o', b'o', b'\'', b':', b'\'', b'b', b'a', b'r', b'\'', b'}', 0x8D, 0x9C,
        0x08, 0xB1,
    ];

    fn decode_all(chunks: &[&[u8]]) -> Result<Vec<Message>, FrameError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c);
            while let Some(m) = d.next_message()? {
                out.push(m);
            }
        }
        Ok(out)
    }

    #[test]
    fn decodes_the_spec_vector() {
        let msgs = decode_all(&[GOLDEN]).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].header("content-type"), Some("application/json"));
        assert_eq!(&msgs[0].payload[..], b"{'foo':'bar'}");
        // Our encoder produces the same bytes.
        assert_eq!(
            &encode(&[("content-type", "application/json")], b"{'foo':'bar'}")[..],
            GOLDEN
        );
    }

    #[test]
    fn empty_message_vector() {
        // Spec vector: no headers, no payload.
        let empty = [
            0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xC2, 0x48, 0xEB, 0x7D, 0x98, 0xC8, 0xFF,
        ];
        let msgs = decode_all(&[&empty]).unwrap();
        assert_eq!(
            msgs,
            vec![Message {
                headers: vec![],
                payload: Bytes::new()
            }]
        );
    }

    #[test]
    fn crc_failures_are_errors() {
        let mut bad = GOLDEN.to_vec();
        bad[20] ^= 1; // a header byte: message CRC fails
        assert!(matches!(
            decode_all(&[&bad]),
            Err(FrameError::MessageCrc { .. })
        ));
        let mut bad = GOLDEN.to_vec();
        bad[3] ^= 1; // the total length: prelude CRC fails
        assert!(matches!(
            decode_all(&[&bad]),
            Err(FrameError::PreludeCrc { .. })
        ));
    }

    #[test]
    fn absurd_lengths_are_errors() {
        let mut b = BytesMut::new();
        b.put_u32(8);
        b.put_u32(0);
        let crc = crc32fast::hash(&b);
        b.put_u32(crc);
        assert!(matches!(decode_all(&[&b]), Err(FrameError::Length { .. })));
    }

    #[test]
    fn skips_non_string_headers() {
        // A bool-true header, a 4-byte int header, then a string header.
        let mut h = BytesMut::new();
        h.put_u8(1);
        h.put_slice(b"b");
        h.put_u8(0);
        h.put_u8(1);
        h.put_slice(b"i");
        h.put_u8(4);
        h.put_u32(7);
        h.put_u8(1);
        h.put_slice(b"s");
        h.put_u8(7);
        h.put_u16(2);
        h.put_slice(b"ok");
        let parsed = parse_headers(&h).unwrap();
        assert_eq!(parsed[0], ("b".into(), HeaderValue::Other(0)));
        assert_eq!(parsed[1], ("i".into(), HeaderValue::Other(4)));
        assert_eq!(parsed[2], ("s".into(), HeaderValue::String("ok".into())));
        assert!(parse_headers(&[1, b'x', 42]).is_err());
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            cuts in proptest::collection::vec(1usize..64, 1..200),
        ) {
            let mut wire = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                wire.extend_from_slice(&encode_event(&format!("e{i}"), p));
            }
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= wire.len() { break; }
                let end = (at + c).min(wire.len());
                chunks.push(&wire[at..end]);
                at = end;
            }
            let got = decode_all(&chunks).unwrap();
            prop_assert_eq!(got.len(), payloads.len());
            for (i, (m, p)) in got.iter().zip(&payloads).enumerate() {
                prop_assert_eq!(&m.payload[..], &p[..]);
                let name = format!("e{i}");
                prop_assert_eq!(m.header(":event-type"), Some(name.as_str()));
            }
        }
    }
}
