//! Per-deployment request adjustments (`adjust = { … }` on a model), applied in phase 5 just
//! before an attempt: a system-prompt prefix or suffix, a default and a cap for the
//! temperature, a cap on output tokens, extra stop sequences. A deployment without
//! adjustments gets the client's request as it is (borrowed, never copied); the ledger's
//! decision lists each candidate's adjustments, so it shows what was actually sent.

use std::borrow::Cow;

use switchyard_types::{ChatRequest, Content, ContentPart, Message, Role, ServiceTier, Stop};

use crate::config::Adjust;

/// The request as deployment `d` is sent it: its adjustments, the service tier it is asked
/// for when `tier` is wanted ([`crate::Deployment::tier_for`]), and — for any upstream but
/// Gemini — tool call ids cleaned of the Gemini thought signatures they may carry
/// (provider-bound state goes back only to the API that wrote it).
pub fn for_deployment<'r>(
    d: &crate::Deployment,
    req: &'r ChatRequest,
    tier: ServiceTier,
) -> Cow<'r, ChatRequest> {
    let mut req = apply(d.adjust.as_deref(), req);
    let ask = Some(d.tier_for(tier)).filter(|t| !t.is_standard());
    if req.service_tier != ask {
        req.to_mut().service_tier = ask;
    }
    if d.provider_kind == switchyard_providers::ProviderKind::Gemini
        || !switchyard_providers::thought::signed(&req)
    {
        return req;
    }
    Cow::Owned(switchyard_providers::thought::strip(&req).into_owned())
}

/// The request as `adjust` wants it sent.
pub fn apply<'r>(adjust: Option<&Adjust>, req: &'r ChatRequest) -> Cow<'r, ChatRequest> {
    let Some(a) = adjust else {
        return Cow::Borrowed(req);
    };
    let mut r = req.clone();
    if a.system_prefix.is_some() || a.system_suffix.is_some() {
        system(&mut r.messages, a);
    }
    if r.temperature.is_none() {
        r.temperature = a.temperature;
    }
    if let (Some(t), Some(max)) = (r.temperature, a.max_temperature) {
        r.temperature = Some(t.min(max));
    }
    if let Some(cap) = a.max_tokens {
        for field in [&mut r.max_tokens, &mut r.max_completion_tokens] {
            if field.is_some_and(|m| m > cap) {
                *field = Some(cap);
            }
        }
        if r.max_tokens.is_none() && r.max_completion_tokens.is_none() {
            r.max_tokens = Some(cap);
        }
    }
    if !a.stop.is_empty() {
        let mut stops = r.stop.as_ref().map(Stop::to_vec).unwrap_or_default();
        for s in &a.stop {
            if !stops.contains(s) {
                stops.push(s.clone());
            }
        }
        r.stop = Some(Stop::Many(stops));
    }
    Cow::Owned(r)
}

/// Wrap the first system (or developer) message in the prefix and suffix; add one if none.
fn system(messages: &mut Vec<Message>, a: &Adjust) {
    let (pre, post) = (
        a.system_prefix.as_deref().unwrap_or(""),
        a.system_suffix.as_deref().unwrap_or(""),
    );
    let Some(m) = messages
        .iter_mut()
        .find(|m| matches!(m.role, Role::System | Role::Developer))
    else {
        let text = [pre, post]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n\n");
        messages.insert(0, Message::text(Role::System, text));
        return;
    };
    let join = |body: &str| {
        [pre, body, post]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    m.content = Some(match m.content.take() {
        None => Content::Text(join("")),
        Some(Content::Text(t)) => Content::Text(join(&t)),
        Some(Content::Parts(mut parts)) => {
            let text = |t: &str| ContentPart::Text {
                text: t.to_owned(),
                extra: Default::default(),
            };
            if !pre.is_empty() {
                parts.insert(0, text(pre));
            }
            if !post.is_empty() {
                parts.push(text(post));
            }
            Content::Parts(parts)
        }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn req(v: serde_json::Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn nothing_to_adjust_borrows() {
        let r = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert!(matches!(apply(None, &r), Cow::Borrowed(_)));
    }

    #[test]
    fn system_prompt_temperature_tokens_and_stops() {
        let a = Adjust {
            system_prefix: Some("Answer in English.".into()),
            system_suffix: Some("Be brief.".into()),
            temperature: Some(0.2),
            max_temperature: Some(1.0),
            max_tokens: Some(100),
            stop: vec!["END".into()],
        };
        let r = req(json!({"model": "m", "max_tokens": 500, "stop": "STOP",
            "messages": [{"role": "system", "content": "You help."}, {"role": "user", "content": "hi"}]}));
        let out = apply(Some(&a), &r);
        assert_eq!(
            out.messages[0].text_content(),
            "Answer in English.\n\nYou help.\n\nBe brief."
        );
        assert_eq!(out.temperature, Some(0.2));
        assert_eq!(out.max_tokens, Some(100));
        assert_eq!(out.stop.as_ref().unwrap().to_vec(), ["STOP", "END"]);
        // No system prompt: one is added; a hot temperature is capped; a small cap stays.
        let r = req(json!({"model": "m", "temperature": 1.8, "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}]}));
        let out = apply(Some(&a), &r);
        assert_eq!(out.messages[0].role, Role::System);
        assert_eq!(
            out.messages[0].text_content(),
            "Answer in English.\n\nBe brief."
        );
        assert_eq!(out.temperature, Some(1.0));
        assert_eq!(out.max_tokens, Some(50));
    }
}

#[cfg(test)]
mod thought_tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use switchyard_types::{ChatRequest, Message, Role, ToolCall};

    #[test]
    fn signed_tool_call_ids_are_cleaned_for_any_upstream_but_gemini() {
        let id = switchyard_providers::thought::attach("call_0", "CiQB+/A=");
        let mut asked = Message::text(Role::Assistant, "");
        asked.content = None;
        asked.tool_calls = Some(vec![ToolCall::function(
            id.clone(),
            "f".into(),
            "{}".into(),
        )]);
        let mut answered = Message::text(Role::Tool, "ok");
        answered.tool_call_id = Some(id);
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![Message::text(Role::User, "hi"), asked, answered],
            ..ChatRequest::default()
        };
        let clean = switchyard_providers::thought::strip(&req);
        assert_eq!(
            clean.messages[1].tool_calls.as_ref().unwrap()[0].id,
            "call_0"
        );
        assert_eq!(clean.messages[2].tool_call_id.as_deref(), Some("call_0"));
        assert!(!switchyard_providers::thought::signed(&clean));
        assert!(switchyard_providers::thought::signed(&req));
    }
}
