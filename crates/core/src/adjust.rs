//! Per-deployment request adjustments (`adjust = { … }` on a model), applied in phase 5 just
//! before an attempt: a system-prompt prefix or suffix, a default and a cap for the
//! temperature, a cap on output tokens, extra stop sequences. A deployment without
//! adjustments gets the client's request as it is (borrowed, never copied); the ledger's
//! decision lists each candidate's adjustments, so it shows what was actually sent.

use std::borrow::Cow;

use switchyard_types::{ChatRequest, Content, ContentPart, Message, Role, ServiceTier, Stop};

use crate::config::Adjust;

/// The request as deployment `d` is sent it: its adjustments, a reasoning effort only where
/// the model can take it (`takes_effort`), the service tier it is asked for when `tier` is
/// wanted ([`crate::Deployment::tier_for`]), and — for any upstream but Gemini — tool call ids
/// cleaned of the Gemini thought signatures they may carry (provider-bound state goes back
/// only to the API that wrote it).
pub fn for_deployment<'r>(
    d: &crate::Deployment,
    req: &'r ChatRequest,
    tier: ServiceTier,
    breakpoints: bool,
) -> Cow<'r, ChatRequest> {
    let mut req = apply(d.adjust.as_deref(), req);
    if req.extra.contains_key("reasoning_effort")
        && !takes_effort(d.caps.reasoning, d.provider_kind, &req)
    {
        req.to_mut().extra.remove("reasoning_effort");
    }
    let ask = Some(d.tier_for(tier)).filter(|t| !t.is_standard());
    if req.service_tier != ask {
        req.to_mut().service_tier = ask;
    }
    if breakpoints && d.provider_kind == switchyard_providers::ProviderKind::Anthropic {
        breakpoint(d, &mut req);
    }
    if d.provider_kind == switchyard_providers::ProviderKind::Gemini
        || !switchyard_providers::thought::signed(&req)
    {
        return req;
    }
    Cow::Owned(switchyard_providers::thought::strip(&req).into_owned())
}

/// Whether the reasoning effort in `req` goes to `d`: never to a model known not to reason
/// (the API would refuse the field); an effort read from an Anthropic client's `thinking`
/// only to a model known to reason, or to an Anthropic upstream (which gets the client's own
/// `thinking` instead), because where reasoning is not known the client never asked for it
/// by that name.
fn takes_effort(
    reasoning: Option<bool>,
    kind: switchyard_providers::ProviderKind,
    req: &ChatRequest,
) -> bool {
    let from_thinking = req.native.as_ref().is_some_and(|n| {
        n.api == switchyard_types::NativeApi::Anthropic
            && (n.fields.contains_key("thinking") || n.fields.contains_key("output_config"))
    });
    match reasoning {
        Some(known) => known,
        None => !from_thinking || kind == switchyard_providers::ProviderKind::Anthropic,
    }
}

/// How long an Anthropic prompt-cache entry lives (the default breakpoint's TTL).
const CACHE_TTL_SECS: u64 = 300;

/// On a route with `cache_breakpoints`, mark the end of the system prompt as an Anthropic
/// cache breakpoint (the provider caches the tools and the system prompt up to it) when it is
/// long enough to be cached (1,024 tokens, estimated), carries no breakpoint of the client's,
/// and the same tools and system prompt went to this deployment within the cache's lifetime.
/// A write costs 25% more than uncached input and a read 90% less, so a prefix is written
/// once it has repeated — a prompt seen once never pays the write premium.
fn breakpoint(d: &crate::Deployment, req: &mut Cow<'_, ChatRequest>) {
    use std::hash::{Hash, Hasher};
    let lead = req
        .messages
        .iter()
        .take_while(|m| matches!(m.role, Role::System | Role::Developer))
        .count();
    if lead == 0 || crate::features::prefix_tokens(req) < 1024 {
        return;
    }
    let marked = |m: &Message| match &m.content {
        Some(Content::Parts(p)) => p.iter().any(
            |p| matches!(p, ContentPart::Text { extra, .. } if extra.contains_key("cache_control")),
        ),
        _ => false,
    };
    if req.messages[..lead].iter().any(marked) {
        return;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in &req.messages[..lead] {
        m.text_content().hash(&mut h);
    }
    if let Some(tools) = &req.tools {
        serde_json::to_string(tools)
            .unwrap_or_default()
            .hash(&mut h);
    }
    let now = crate::cx::unix_now();
    if !d.stats.seen_prefix(h.finish(), now, CACHE_TTL_SECS) {
        return;
    }
    let last = &mut req.to_mut().messages[lead - 1];
    let parts = match last.content.take() {
        Some(Content::Parts(p)) => p,
        Some(Content::Text(t)) => vec![ContentPart::Text {
            text: t,
            extra: switchyard_types::JsonMap::new(),
        }],
        None => Vec::new(),
    };
    let mut parts = parts;
    if let Some(ContentPart::Text { extra, .. }) = parts
        .iter_mut()
        .rev()
        .find(|p| matches!(p, ContentPart::Text { .. }))
    {
        extra.insert(
            "cache_control".into(),
            serde_json::json!({"type": "ephemeral"}),
        );
    }
    last.content = Some(Content::Parts(parts));
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
    fn an_effort_goes_where_reasoning_is_known_and_from_thinking_only_there() {
        use switchyard_providers::ProviderKind::{Anthropic, OpenAi};
        let openai_client = ChatRequest::default();
        let anthropic_client = ChatRequest {
            native: Some(Box::new(switchyard_types::Native {
                api: switchyard_types::NativeApi::Anthropic,
                fields: serde_json::from_value(
                    serde_json::json!({"thinking": {"type": "adaptive"}}),
                )
                .unwrap(),
                betas: Vec::new(),
            })),
            ..ChatRequest::default()
        };
        let takes = super::takes_effort;
        assert!(!takes(Some(false), OpenAi, &openai_client), "refused field");
        assert!(takes(None, OpenAi, &openai_client), "as sent, as before");
        assert!(takes(Some(true), OpenAi, &anthropic_client));
        assert!(
            !takes(None, OpenAi, &anthropic_client),
            "not known to reason"
        );
        assert!(takes(None, Anthropic, &anthropic_client));
    }

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
