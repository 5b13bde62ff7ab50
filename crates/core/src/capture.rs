//! Capture: the prompt and answer text of a request on a route whose operator opted in
//! (`capture = { retention = "7d" }`), kept with its ledger row for the dashboard's request
//! page — "if a user reports wrong output, you need to know which provider handled it, and
//! what it said". Nothing is captured on any other route, and the text never goes to logs,
//! traces or metrics. Each text is cut at the route's `max_bytes` while it is built, so a
//! huge prompt costs no more than that.

use switchyard_store::CaptureRow;
use switchyard_types::{ChatRequest, Content, ContentPart};

use crate::config::CaptureConfig;

/// A request's capture, until its row is built.
#[derive(Clone)]
pub(crate) struct Capture {
    spec: CaptureConfig,
    prompt: String,
    answer: Option<String>,
    truncated: bool,
}

impl Capture {
    /// The prompt of `req`: each message as `[role]` and its text, non-text parts and tool
    /// calls named.
    pub(crate) fn of(spec: CaptureConfig, req: &ChatRequest) -> Capture {
        let mut out = Bounded::new(spec.max_bytes);
        for (i, m) in req.messages.iter().enumerate() {
            if i > 0 {
                out.push("\n\n");
            }
            out.push("[");
            out.push(m.role.as_str());
            out.push("]\n");
            match &m.content {
                None => {}
                Some(Content::Text(t)) => out.push(t),
                Some(Content::Parts(parts)) => {
                    for p in parts {
                        match p {
                            ContentPart::Text { text, .. } => out.push(text),
                            _ => out.push("[non-text part]"),
                        }
                    }
                }
            }
            for t in m.tool_calls.iter().flatten() {
                out.push("\n→ ");
                out.push(t.name());
                out.push("(");
                out.push(t.input());
                out.push(")");
            }
            if out.full {
                break;
            }
        }
        Capture {
            spec,
            truncated: out.full,
            prompt: out.text,
            answer: None,
        }
    }

    /// The answer served (text, then any tool calls).
    pub(crate) fn answer(&mut self, text: &str, tool_calls: &[(String, String)]) {
        let mut out = Bounded::new(self.spec.max_bytes);
        out.push(text);
        for (name, args) in tool_calls {
            out.push("\n→ ");
            out.push(name);
            out.push("(");
            out.push(args);
            out.push(")");
        }
        self.truncated |= out.full;
        self.answer = Some(out.text);
    }

    /// The row for the `captures` table.
    pub(crate) fn row(&self, request_id: &str, ts: i64) -> CaptureRow {
        let retention = i64::try_from(self.spec.retention.as_millis()).unwrap_or(i64::MAX);
        CaptureRow {
            request_id: request_id.to_owned(),
            ts,
            expires_ms: ts.saturating_add(retention),
            prompt: self.prompt.clone(),
            answer: self.answer.clone(),
            truncated: self.truncated,
        }
    }
}

/// A string that stops growing at `limit` bytes (cut on a character boundary).
struct Bounded {
    text: String,
    limit: usize,
    full: bool,
}

impl Bounded {
    fn new(limit: usize) -> Bounded {
        Bounded {
            text: String::new(),
            limit,
            full: false,
        }
    }

    fn push(&mut self, s: &str) {
        if self.full {
            return;
        }
        let room = self.limit - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return;
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.full = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max_bytes: usize) -> CaptureConfig {
        CaptureConfig {
            retention: std::time::Duration::from_secs(60),
            max_bytes,
        }
    }

    fn req(json: serde_json::Value) -> ChatRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_prompt_names_each_role_and_its_text() {
        let r = req(serde_json::json!({"model": "auto", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "2+2?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        ]}));
        let mut c = Capture::of(spec(1000), &r);
        c.answer("4", &[("calc".into(), "{\"x\":1}".into())]);
        let row = c.row("id", 1_000);
        assert_eq!(
            row.prompt,
            "[system]\nBe brief.\n\n[user]\nWhat is 2+2?[non-text part]"
        );
        assert_eq!(row.answer.as_deref(), Some("4\n→ calc({\"x\":1})"));
        assert_eq!(row.expires_ms, 61_000);
        assert!(!row.truncated);
    }

    #[test]
    fn text_is_cut_at_max_bytes_on_a_character_boundary() {
        let r = req(serde_json::json!({"model": "auto", "messages": [
            {"role": "user", "content": "héllo wörld ".repeat(100)},
            {"role": "user", "content": "never reached"},
        ]}));
        for limit in 1..40 {
            let mut c = Capture::of(spec(limit), &r);
            c.answer(&"é".repeat(50), &[]);
            let row = c.row("id", 0);
            assert!(row.prompt.len() <= limit && row.truncated, "{limit}");
            assert!(row.answer.unwrap().len() <= limit);
        }
        let debug = format!("{:?}", Capture::of(spec(100), &r).row("id", 0));
        assert!(!debug.contains("llo"), "Debug shows no text: {debug}");
    }
}
