//! Gemini request → [`GenRequest`], with the real API's validation.

use serde_json::{Map, Value};

use super::encode::invalid;
use crate::engine::{self, Format, GenRequest, Hasher, ToolChoice, ToolSpec};
use crate::model::Failure;

/// A decoded request.
pub(crate) struct Call<'a> {
    pub gen: GenRequest<'a>,
    /// Implicit-cache candidate: (key of model + system + first turn, prefix tokens).
    pub cache: Option<(u64, u64)>,
}

/// Schema keys outside Gemini's OpenAPI subset.
const UNKNOWN_SCHEMA_KEYS: &[&str] = &[
    "additionalProperties",
    "$schema",
    "$ref",
    "$defs",
    "definitions",
];

fn unknown_key(schema: &Value) -> Option<&'static str> {
    match schema {
        Value::Object(o) => {
            if let Some(k) = UNKNOWN_SCHEMA_KEYS.iter().find(|k| o.contains_key(**k)) {
                return Some(k);
            }
            o.iter()
                .filter(|(k, _)| k.as_str() != "properties")
                .find_map(|(_, v)| unknown_key(v))
                .or_else(|| {
                    o.get("properties")
                        .and_then(Value::as_object)
                        .and_then(|p| p.values().find_map(unknown_key))
                })
        }
        Value::Array(a) => a.iter().find_map(unknown_key),
        _ => None,
    }
}

fn check_schema(schema: Option<&Value>, at: &str) -> Result<(), Failure> {
    match schema.and_then(unknown_key) {
        Some(k) => Err(invalid(format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
        ))),
        None => Ok(()),
    }
}

fn parts_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A thinking model (`*gemini-3*`) requires the thought signature it gave the first function
/// call of each step back with that call, unchanged.
fn check_signatures(model: &str, contents: &[Value]) -> Result<(), Failure> {
    if !model.contains("gemini-3") {
        return Ok(());
    }
    for (i, c) in contents.iter().enumerate() {
        if c.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let parts = c
            .get("parts")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let Some((j, first)) = parts
            .iter()
            .enumerate()
            .find(|(_, p)| p.get("functionCall").is_some())
        else {
            continue;
        };
        let name = first
            .pointer("/functionCall/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // Bytes in JSON: standard or URL-safe base64, padded or not, as protobuf accepts.
        let canonical = |s: &str| -> String {
            s.trim_end_matches('=')
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect()
        };
        let given = first.get("thoughtSignature").and_then(Value::as_str);
        if given.map(canonical) != Some(canonical(&super::thought_signature(name))) {
            return Err(invalid(format!(
                "Function call is missing a thought_signature in functionCall parts. This is \
                 required for tools to work correctly. (contents[{i}].parts[{j}])"
            )));
        }
    }
    Ok(())
}

fn validate(contents: &[Value]) -> Result<(), Failure> {
    if contents.is_empty() {
        return Err(invalid(
            "* GenerateContentRequest.contents: contents is not specified",
        ));
    }
    for (i, c) in contents.iter().enumerate() {
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        if role != "user" && role != "model" {
            return Err(invalid(format!(
                "Please use a valid role: user, model. (contents[{i}].role = \"{role}\")"
            )));
        }
        let parts = c
            .get("parts")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if parts.is_empty() {
            return Err(invalid(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )));
        }
        for (j, p) in parts.iter().enumerate() {
            if p.get("functionResponse").is_some() && role != "user" {
                return Err(invalid(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}]: functionResponse is only allowed in a user turn."
                )));
            }
            if p.get("functionCall").is_some() && role != "model" {
                return Err(invalid(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}]: functionCall is only allowed in a model turn."
                )));
            }
            if let Some(fr) = p.get("functionResponse") {
                if fr
                    .get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(invalid(format!(
                        "* GenerateContentRequest.contents[{i}].parts[{j}].function_response.name: Name cannot be empty."
                    )));
                }
                if !fr.get("response").is_some_and(Value::is_object) {
                    return Err(invalid(format!(
                        "Invalid value at 'contents[{i}].parts[{j}].function_response.response' (type.googleapis.com/google.protobuf.Struct)"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn tools<'a>(obj: &'a Map<String, Value>) -> Result<Vec<ToolSpec<'a>>, Failure> {
    let mut out = Vec::new();
    for (i, t) in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, f) in t
            .get("functionDeclarations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(name) = f.get("name").and_then(Value::as_str) else {
                return Err(invalid(format!("* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: Name cannot be empty.")));
            };
            check_schema(
                f.get("parameters"),
                &format!("tools[{i}].function_declarations[{j}].parameters"),
            )?;
            out.push(ToolSpec {
                name,
                parameters: f.get("parameters"),
            });
        }
    }
    Ok(out)
}

/// Decode and validate.
pub(crate) fn decode<'a>(model: &'a str, body: &'a Value) -> Result<Call<'a>, Failure> {
    let Some(obj) = body.as_object() else {
        return Err(invalid(
            "Invalid JSON payload received. Expected an object.",
        ));
    };
    let contents = match obj.get("contents") {
        Some(Value::Array(c)) => c.as_slice(),
        None => &[][..],
        Some(_) => return Err(invalid("Invalid value at 'contents': expected a list")),
    };
    validate(contents)?;
    check_signatures(model, contents)?;
    let tools = tools(obj)?;
    let gc = obj.get("generationConfig");
    let get = |k: &str| gc.and_then(|g| g.get(k));
    check_schema(get("responseSchema"), "generation_config.response_schema")?;
    let n = get("candidateCount").and_then(Value::as_u64).unwrap_or(1);
    if !(1..=8).contains(&n) {
        return Err(invalid(format!(
            "* GenerateContentRequest.generation_config.candidate_count: must be in [1, 8] ({n})"
        )));
    }
    let max_tokens = get("maxOutputTokens")
        .and_then(Value::as_u64)
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    let stop = get("stopSequences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let json_mode = get("responseMimeType").and_then(Value::as_str) == Some("application/json");
    let format = match (json_mode, get("responseSchema")) {
        (true, Some(s)) => Format::JsonSchema(s),
        (true, None) => Format::JsonObject,
        _ => Format::Text,
    };
    let fcc = body.pointer("/toolConfig/functionCallingConfig");
    let tool_choice = match fcc.and_then(|c| c.get("mode")).and_then(Value::as_str) {
        Some("NONE") => ToolChoice::None,
        Some("ANY") => match fcc
            .and_then(|c| c.get("allowedFunctionNames"))
            .and_then(Value::as_array)
        {
            Some(names) if names.len() == 1 => names[0]
                .as_str()
                .map_or(ToolChoice::Auto, ToolChoice::Named),
            _ => ToolChoice::Auto,
        },
        _ => ToolChoice::Auto,
    };
    let parts_of = |c: &'a Value| {
        c.get("parts")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
    };
    let last_user_text = contents
        .iter()
        .rev()
        .filter(|c| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user")
        .map(|c| parts_text(parts_of(c)))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let tool_result = contents.last().and_then(|c| {
        let r = parts_of(c)
            .iter()
            .rev()
            .find_map(|p| p.get("functionResponse"))?;
        let text = r.get("response").map(Value::to_string).unwrap_or_default();
        Some(text.chars().take(200).collect())
    });
    let system = obj.get("systemInstruction");
    let head_chars = system.map_or(0, |s| engine::estimate_chars(s).0)
        + obj.get("tools").map_or(0, |t| engine::estimate_chars(t).0);
    let prompt_tokens = (head_chars.div_ceil(4) + estimate(contents.iter())).max(1);
    let cache = contents.first().map(|first| {
        let key = Hasher::default()
            .bytes(model.as_bytes())
            .value(system.unwrap_or(&Value::Null))
            .value(first)
            .finish();
        let prefix = head_chars.div_ceil(4) + estimate(contents[..contents.len() - 1].iter());
        (key, prefix)
    });
    let seed = Hasher::default()
        .bytes(model.as_bytes())
        .value(obj.get("contents").unwrap_or(&Value::Null))
        .value(system.unwrap_or(&Value::Null))
        .value(get("seed").unwrap_or(&Value::Null))
        .finish();
    Ok(Call {
        gen: GenRequest {
            seed,
            n: n as u32,
            max_tokens,
            stop,
            tools,
            tool_choice,
            parallel: last_user_text.to_lowercase().contains("parallel"),
            tool_result,
            format,
            prompt_tokens,
            cached_tokens: 0,
            answer_tokens: 0,
            jitter: true,
            skill: crate::engine::Skill::default(),
            question: None,
        },
        cache,
    })
}

/// Tokens of `contents`: text as in [`engine::estimate_tokens`], plus 258 per inline or file
/// part (Gemini's per-image cost).
fn estimate<'v>(contents: impl Iterator<Item = &'v Value>) -> u64 {
    let (mut chars, mut media, mut count) = (0u64, 0u64, 0u64);
    for c in contents {
        count += 1;
        for p in c
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if p.get("inlineData").is_some() || p.get("fileData").is_some() {
                media += 1;
            } else {
                chars += engine::estimate_chars(p).0;
            }
        }
    }
    chars.div_ceil(4) + 3 * count + 258 * media
}
