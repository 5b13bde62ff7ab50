//! Canonical (OpenAI-shaped) ⇄ Gemini conversions. Pure functions: no IO.
//!
//! Requests: `system`/`developer` messages become `systemInstruction`; `assistant` becomes
//! `model`; `tool` results become `functionResponse` parts in a `user` turn (the function name
//! is found from the matching `tool_call` earlier in the conversation); consecutive turns of
//! the same role are merged, as Gemini requires alternation. Tool and response schemas are
//! cleaned by [`super::schema::clean`].
//!
//! Responses: text parts → `content`, `thought` parts → `reasoning_content`, `functionCall`
//! parts → `tool_calls` with ids `call_<n>` numbered in order of appearance.

use std::{borrow::Cow, collections::HashMap};

use serde_json::{json, Value};
use switchyard_types::{
    ChatRequest, ChatResponse, Choice, Content as CContent, ContentPart, FinishReason, JsonMap,
    Message, ResponseFormat, Role, ServiceTier, SimpleToolChoice, ToolCall, Usage,
};

use super::schema;
use super::wire::{
    Blob, Candidate, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration,
    FunctionResponse, GenerateContentRequest, GenerateContentResponse, GenerationConfig,
    ModalityCount, Part, Tool, ToolConfig, UsageMetadata,
};
use crate::{ErrorClass, ProviderError};

fn bad(msg: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorClass::BadRequest, msg)
}

/// Build the Gemini request body (the model goes in the URL, not the body).
pub fn to_wire(req: &ChatRequest) -> Result<GenerateContentRequest<'_>, ProviderError> {
    let mut system: Vec<Part<'_>> = Vec::new();
    let mut contents: Vec<Content<'_>> = Vec::new();
    // tool_call id → function name, filled as assistant messages go by.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in req.messages.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                system.extend(text_parts(m));
                continue;
            }
            Role::User => ("user", user_parts(m)?),
            Role::Assistant => {
                for c in m.tool_calls.iter().flatten() {
                    call_names.insert(c.id.as_str(), c.name());
                }
                ("model", assistant_parts(m)?)
            }
            Role::Tool | Role::Function => {
                let name = match (m.role, m.tool_call_id.as_deref()) {
                    (Role::Tool, Some(id)) => call_names.get(id).copied().ok_or_else(|| {
                        bad(format!("messages[{i}].tool_call_id `{id}` matches no earlier assistant tool call"))
                    })?,
                    (Role::Tool, None) => return Err(bad(format!("messages[{i}] (tool) has no tool_call_id"))),
                    _ => m.name.as_deref().ok_or_else(|| bad(format!("messages[{i}] (function) has no name")))?,
                };
                let part = Part {
                    function_response: Some(FunctionResponse {
                        id: None,
                        name: Cow::Borrowed(name),
                        response: response_object(&m.text_content()),
                    }),
                    ..Part::default()
                };
                ("user", vec![part])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(Cow::Borrowed(role)),
                parts,
            }),
        }
    }
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content {
            role: None,
            parts: system,
        }),
        tools: tools(req)?,
        tool_config: tool_config(req)?,
        generation_config: Some(generation_config(req)),
        service_tier: req
            .service_tier
            .filter(|t| !t.is_standard())
            .map(|t| Cow::Borrowed(t.as_str())),
    })
}

fn text_parts(m: &Message) -> Vec<Part<'_>> {
    let t = match &m.content {
        Some(CContent::Text(t)) => Cow::Borrowed(t.as_str()),
        _ => Cow::Owned(m.text_content()),
    };
    if t.is_empty() {
        Vec::new()
    } else {
        vec![Part::text(t)]
    }
}

fn user_parts(m: &Message) -> Result<Vec<Part<'_>>, ProviderError> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(CContent::Text(t)) => Ok(vec![Part::text(t.as_str())]),
        Some(CContent::Parts(parts)) => parts.iter().filter_map(part).collect(),
    }
}

fn part(p: &ContentPart) -> Option<Result<Part<'_>, ProviderError>> {
    match p {
        ContentPart::Text { text, .. } => Some(Ok(Part::text(text.as_str()))),
        ContentPart::ImageUrl { image_url } => Some(image(&image_url.url)),
        ContentPart::Refusal { refusal } => Some(Ok(Part::text(refusal.as_str()))),
        ContentPart::InputAudio { input_audio } => {
            let data = input_audio.get("data").and_then(Value::as_str);
            let format = input_audio
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or("wav");
            Some(data.map_or_else(
                || Err(bad("input_audio without data")),
                |d| {
                    Ok(Part {
                        inline_data: Some(Blob {
                            mime_type: Cow::Owned(format!("audio/{format}")),
                            data: Cow::Borrowed(d),
                        }),
                        ..Part::default()
                    })
                },
            ))
        }
        ContentPart::File { file } => {
            let data = file.get("file_data").and_then(Value::as_str)?;
            Some(image(data))
        }
    }
}

/// `data:` URLs become inline bytes; other URLs become `fileData`.
fn image(url: &str) -> Result<Part<'_>, ProviderError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| bad("malformed data: URL"))?;
        let mime = meta
            .strip_suffix(";base64")
            .ok_or_else(|| bad("only base64 data: URLs are supported"))?;
        return Ok(Part {
            inline_data: Some(Blob {
                mime_type: Cow::Borrowed(mime),
                data: Cow::Borrowed(data),
            }),
            ..Part::default()
        });
    }
    Ok(Part {
        file_data: Some(FileData {
            mime_type: Some(Cow::Borrowed(mime_from_url(url))),
            file_uri: Cow::Borrowed(url),
        }),
        ..Part::default()
    })
}

fn mime_from_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("heic") => "image/heic",
        Some("pdf") => "application/pdf",
        _ => "image/jpeg",
    }
}

fn assistant_parts(m: &Message) -> Result<Vec<Part<'_>>, ProviderError> {
    let mut parts = text_parts(m);
    for c in m.tool_calls.iter().flatten() {
        let f = c
            .function_call()
            .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?;
        let args: Value = if f.arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&f.arguments).map_err(|e| {
                bad(format!(
                    "tool call `{}` has arguments that are not JSON: {e}",
                    c.id
                ))
            })?
        };
        let mut part = Part {
            function_call: Some(FunctionCall {
                id: None,
                name: Cow::Borrowed(&f.name),
                args: Some(args),
            }),
            ..Part::default()
        };
        // The signature this call came with goes back with it.
        if let (_, Some(sig)) = crate::thought::split(&c.id) {
            part.extra.insert("thoughtSignature".into(), json!(sig));
        }
        parts.push(part);
    }
    Ok(parts)
}

/// Gemini wants an object: JSON objects pass as they are, anything else is `{"result": …}`.
fn response_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => json!({ "result": v }),
        Err(_) => json!({ "result": text }),
    }
}

fn tools(req: &ChatRequest) -> Result<Option<Vec<Tool<'_>>>, ProviderError> {
    let decls = req
        .tools
        .iter()
        .flatten()
        .map(|t| {
            let f = t
                .function_def()
                .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?;
            Ok(FunctionDeclaration {
                name: Cow::Borrowed(&f.name),
                description: f.description.as_deref().map(Cow::Borrowed),
                parameters: f.parameters.as_ref().map(schema::clean),
            })
        })
        .collect::<Result<Vec<FunctionDeclaration<'_>>, ProviderError>>()?;
    Ok((!decls.is_empty()).then(|| {
        vec![Tool {
            function_declarations: decls,
            extra: JsonMap::new(),
        }]
    }))
}

fn tool_config(req: &ChatRequest) -> Result<Option<ToolConfig>, ProviderError> {
    let Some(choice) = &req.tool_choice else {
        return Ok(None);
    };
    let (mode, names) = match choice
        .simple()
        .map_err(|e| ProviderError::new(ErrorClass::Unsupported, e))?
    {
        SimpleToolChoice::None => ("NONE", None),
        SimpleToolChoice::Required => ("ANY", None),
        SimpleToolChoice::Auto => ("AUTO", None),
        SimpleToolChoice::Function(name) => ("ANY", Some(vec![name.to_owned()])),
    };
    Ok(Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode: mode.to_owned(),
            allowed_function_names: names,
        },
    }))
}

fn generation_config(req: &ChatRequest) -> GenerationConfig {
    let (mime, schema) = match &req.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json".to_owned()), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (
            Some("application/json".to_owned()),
            json_schema.schema.as_ref().map(schema::clean),
        ),
        _ => (None, None),
    };
    let thinking = req
        .extra
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .map(|effort| {
            let budget = match effort {
                "minimal" | "none" => 0,
                "low" => 1024,
                "high" => 24_576,
                _ => 8192,
            };
            json!({"thinkingBudget": budget, "includeThoughts": budget > 0})
        });
    GenerationConfig {
        max_output_tokens: req.max_output(),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.as_ref().map(|s| s.to_vec()),
        candidate_count: req.n,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        response_mime_type: mime,
        response_schema: schema,
        thinking_config: thinking,
    }
}

/// Gemini `finishReason` → canonical. `had_calls` turns a natural stop into `tool_calls`.
pub fn finish_reason(reason: &str, had_calls: bool) -> FinishReason {
    match reason {
        "STOP" if had_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        _ if had_calls => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// Normalised usage: `input` excludes cached tokens, `output` includes thoughts.
///
/// `promptTokenCount` includes `cachedContentTokenCount`; tool-use prompt tokens are billed
/// as input too. The per-modality details (`promptTokensDetails`, `cacheTokensDetails`,
/// `toolUsePromptTokensDetails`, `candidatesTokensDetails`) give the audio and image subsets
/// (documents count as images, as Google bills them).
pub fn usage(u: &UsageMetadata) -> Usage {
    let prompt = u.prompt_token_count + u.tool_use_prompt_token_count;
    let cached = u.cached_content_token_count.min(prompt);
    let output = u.candidates_token_count + u.thoughts_token_count;
    let sum = |lists: &[&[ModalityCount]], kinds: &[&str]| -> u64 {
        lists
            .iter()
            .flat_map(|l| l.iter())
            .filter(|m| kinds.contains(&m.modality.as_str()))
            .map(|m| m.token_count)
            .sum()
    };
    let prompt_lists = [
        &u.prompt_tokens_details[..],
        &u.tool_use_prompt_tokens_details[..],
    ];
    let cache_audio = sum(&[&u.cache_tokens_details], &["AUDIO"]).min(cached);
    let cache_image = sum(&[&u.cache_tokens_details], &["IMAGE", "DOCUMENT"]);
    let input = prompt - cached;
    let input_audio = sum(&prompt_lists, &["AUDIO"])
        .saturating_sub(cache_audio)
        .min(input);
    let input_image = sum(&prompt_lists, &["IMAGE", "DOCUMENT"])
        .saturating_sub(cache_image)
        .min(input - input_audio);
    let out_lists = [&u.candidates_tokens_details[..]];
    let output_audio = sum(&out_lists, &["AUDIO"]).min(output);
    let output_image = sum(&out_lists, &["IMAGE", "DOCUMENT"]).min(output - output_audio);
    Usage {
        input,
        cache_read: cached,
        output,
        reasoning: u
            .thoughts_token_count
            .min(output - output_audio - output_image),
        input_audio,
        input_image,
        cache_read_audio: cache_audio,
        output_audio,
        output_image,
        tier: u
            .service_tier
            .as_deref()
            .map_or(ServiceTier::Standard, ServiceTier::parse),
        ..Usage::default()
    }
}

/// A blocked prompt, as a content-policy error.
pub fn blocked(resp: &GenerateContentResponse) -> Option<ProviderError> {
    let reason = resp.prompt_feedback.as_ref()?.block_reason.as_deref()?;
    let mut e = ProviderError::new(
        ErrorClass::ContentPolicy,
        format!("Gemini blocked the prompt ({reason})"),
    );
    e.code = Some(format!("prompt_blocked_{}", reason.to_ascii_lowercase()));
    e.status = Some(400);
    Some(e)
}

/// What one candidate's parts carry, split by kind. `next_call` numbers tool calls.
pub struct Split {
    /// Text parts joined.
    pub text: String,
    /// Thought parts joined.
    pub thoughts: String,
    /// Function calls, canonical.
    pub calls: Vec<ToolCall>,
}

/// Split one candidate's parts; tool-call ids are `call_<n>` from `next_call` on.
pub fn split(c: &Candidate, next_call: &mut u32) -> Split {
    let mut s = Split {
        text: String::new(),
        thoughts: String::new(),
        calls: Vec::new(),
    };
    for p in c.content.iter().flat_map(|c| &c.parts) {
        if let Some(f) = &p.function_call {
            let args = f
                .args
                .as_ref()
                .map_or_else(|| "{}".to_owned(), Value::to_string);
            let id =
                f.id.as_deref()
                    .map_or_else(|| format!("call_{next_call}"), str::to_owned);
            // A thinking model's signature rides in the id, back to the next turn.
            let id = match p.extra.get("thoughtSignature").and_then(Value::as_str) {
                Some(sig) => crate::thought::attach(&id, sig),
                None => id,
            };
            s.calls
                .push(ToolCall::function(id, f.name.to_string(), args));
            *next_call += 1;
        } else if let Some(t) = &p.text {
            if p.thought == Some(true) {
                s.thoughts.push_str(t)
            } else {
                s.text.push_str(t)
            }
        }
    }
    s
}

/// A full `generateContent` answer → canonical response and usage.
pub fn from_wire(
    resp: GenerateContentResponse,
    model: &str,
    created: u64,
) -> Result<(ChatResponse, Usage), ProviderError> {
    if resp.candidates.is_empty() {
        return Err(blocked(&resp).unwrap_or_else(|| {
            ProviderError::new(
                ErrorClass::Malformed,
                "Gemini returned no candidates and no block reason",
            )
        }));
    }
    let mut next_call = 0;
    let choices = resp
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let s = split(c, &mut next_call);
            let had_calls = !s.calls.is_empty();
            let mut message = Message::text(Role::Assistant, s.text);
            if had_calls && message.text_content().is_empty() {
                message.content = None;
            }
            message.tool_calls = had_calls.then_some(s.calls);
            message.reasoning_content = (!s.thoughts.is_empty()).then_some(s.thoughts);
            Choice {
                index: c.index.unwrap_or(i as u32),
                message,
                finish_reason: c
                    .finish_reason
                    .as_deref()
                    .map(|r| finish_reason(r, had_calls)),
                logprobs: None,
                extra: JsonMap::new(),
            }
        })
        .collect();
    let usage = resp.usage_metadata.as_ref().map(usage).unwrap_or_default();
    let response = ChatResponse {
        id: format!(
            "chatcmpl-{}",
            resp.response_id.as_deref().unwrap_or("gemini")
        ),
        object: "chat.completion".to_owned(),
        created,
        model: resp
            .model_version
            .clone()
            .unwrap_or_else(|| model.to_owned()),
        choices,
        usage: resp.usage_metadata.is_some().then(|| usage.to_openai()),
        system_fingerprint: None,
        extra: JsonMap::new(),
    };
    Ok((response, usage))
}
