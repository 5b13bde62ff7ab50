//! Gemini thought signatures carried in tool call ids.
//!
//! A Gemini model that thinks signs the first function call of each step (`thoughtSignature`)
//! and requires the signature back with that call on the next turn; without it the API
//! refuses the conversation. Clients of other APIs have no field for it, but every client
//! sends a tool call's id back unchanged, so the signature rides in the id: `<id>_ts_<the
//! signature, base64url>` (only `[A-Za-z0-9_-]`, valid as an Anthropic `tool_use` id). The
//! Gemini adapter takes it out again; for any other upstream the ids are cleaned first
//! ([`strip`]), so a conversation that moves never sends one where it does not belong.

use std::borrow::Cow;

use base64::Engine;
use switchyard_types::ChatRequest;

const MARK: &str = "_ts_";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `id` carrying `signature`.
pub fn attach(id: &str, signature: &str) -> String {
    format!("{id}{MARK}{}", B64.encode(signature.as_bytes()))
}

/// The id without a signature, and the signature it carried.
pub fn split(id: &str) -> (&str, Option<String>) {
    let Some(at) = id.find(MARK) else {
        return (id, None);
    };
    let sig = B64
        .decode(&id[at + MARK.len()..])
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match sig {
        Some(s) => (&id[..at], Some(s)),
        None => (id, None),
    }
}

/// Whether any tool call id of the request carries a signature.
pub fn signed(req: &ChatRequest) -> bool {
    req.messages.iter().any(|m| {
        m.tool_call_id.as_deref().is_some_and(|i| i.contains(MARK))
            || m.tool_calls.iter().flatten().any(|c| c.id.contains(MARK))
    })
}

/// The request with every tool call id cleaned of signatures (for an upstream that is not
/// Gemini); borrowed when there is none.
pub fn strip(req: &ChatRequest) -> Cow<'_, ChatRequest> {
    if !signed(req) {
        return Cow::Borrowed(req);
    }
    let mut r = req.clone();
    for m in &mut r.messages {
        if let Some(id) = &mut m.tool_call_id {
            *id = split(id).0.to_owned();
        }
        for c in m.tool_calls.iter_mut().flatten() {
            c.id = split(&c.id).0.to_owned();
        }
    }
    Cow::Owned(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn a_signature_round_trips_through_an_id_anthropic_accepts() {
        let sig = "CiQB+/x9a==opaque:bytes";
        let id = attach("call_1", sig);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert_eq!(split(&id), ("call_1", Some(sig.to_owned())));
        assert_eq!(split("call_2"), ("call_2", None));
    }
}
