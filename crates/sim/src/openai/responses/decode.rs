//! A Responses request → the shared handler's [`Call`] and the [`Responses`] encoding.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::{
    reasoning_tokens, summary_text, verify_encrypted_content, Echo, ReasoningEcho, Responses,
    TextEcho,
};
use crate::engine::{self, Format, GenRequest, Hasher, Skill, ToolChoice, ToolSpec};
use crate::model::Failure;
use crate::openai::serve::{CachePrefix, Call};
use crate::openai::{bad, content_text};

type Obj = Map<String, Value>;

/// Smallest `max_output_tokens` OpenAI accepts.
const MIN_OUTPUT_TOKENS: u64 = 16;
/// Reasoning efforts OpenAI accepts.
const EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh"];
/// Content part types of an assistant message, and of the other roles.
const ASSISTANT_PARTS: &[&str] = &["output_text", "refusal"];
const INPUT_PARTS: &[&str] = &["input_text", "input_image", "input_file", "input_audio"];
/// Input item types the simulator knows.
const ITEM_TYPES: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
];

/// What the input items tell the engine.
#[derive(Default)]
struct Conversation {
    /// The last user message's text.
    question: Option<String>,
    /// The output of a trailing `function_call_output` (flattened, at most 200 chars).
    tool_result: Option<String>,
}

/// A Responses request → the shared handler's call and the Responses encoding options.
pub(super) fn decode(body: &Value) -> Result<(Call<'_>, Responses<'_>), Failure> {
    let Some(obj) = body.as_object() else {
        return Err(bad("The request body must be a JSON object.", None, None));
    };
    let model = match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m,
        _ => return Err(missing("model")),
    };
    if let Some(id) = obj.get("previous_response_id").and_then(Value::as_str) {
        return Err(bad(
            format!("Previous response with id '{id}' not found."),
            Some("previous_response_id".into()),
            Some("previous_response_not_found"),
        ));
    }
    let (items, conv) = input(obj, model)?;
    let gen = gen_request(obj, model, items, conv)?;
    let effort = effort(obj)?;
    let mut shape = Responses {
        model,
        reasoning: effort
            .filter(|e| *e != "none")
            .map(|_| summary_text(gen.question.as_deref())),
        include_encrypted: obj
            .get("include")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "reasoning.encrypted_content")),
        echo: echo(obj, effort),
    };
    shape.echo.max_output_tokens = max_output_tokens(obj)?;
    let call = Call {
        model,
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        gen: GenRequest {
            // The output cap covers the reasoning tokens too.
            max_tokens: shape.echo.max_output_tokens.map(|m| {
                let reasoning = shape.reasoning.as_deref().map_or(0, reasoning_tokens);
                u32::try_from(m.saturating_sub(reasoning)).unwrap_or(u32::MAX)
            }),
            ..gen
        },
        cache: CachePrefix {
            head: instructions(obj),
            items,
        },
    };
    Ok((call, shape))
}

/// The input items (a string input is one user message), checked, and what they tell the
/// engine.
fn input<'a>(obj: &'a Obj, model: &str) -> Result<(&'a [Value], Conversation), Failure> {
    match obj.get("input").filter(|v| !v.is_null()) {
        None => Ok((&[], Conversation::default())),
        Some(v @ Value::String(s)) => Ok((std::slice::from_ref(v), Conversation::said(s))),
        Some(Value::Array(items)) => Ok((items.as_slice(), conversation(model, items)?)),
        Some(_) => Err(bad(
            "Invalid type for 'input': expected one of a string or an array of input items.",
            Some("input".into()),
            Some("invalid_type"),
        )),
    }
}

/// `instructions`, when given.
fn instructions(obj: &Obj) -> Option<&Value> {
    obj.get("instructions").filter(|v| !v.is_null())
}

/// The engine's request (without the output cap).
fn gen_request<'a>(
    obj: &'a Obj,
    model: &str,
    items: &'a [Value],
    conv: Conversation,
) -> Result<GenRequest<'a>, Failure> {
    let tools = tools(obj)?;
    let tool_choice = tool_choice(obj)?;
    let format = text_format(obj)?;
    let parallel_allowed = obj
        .get("parallel_tool_calls")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let parallel_asked = conv
        .question
        .as_deref()
        .is_some_and(|q| q.to_lowercase().contains("parallel"));
    let chars = |v: Option<&Value>| v.map_or(0, |v| engine::estimate_chars(v).0.div_ceil(4));
    let head = chars(instructions(obj)) + chars(obj.get("tools"));
    let seed = Hasher::default()
        .bytes(model.as_bytes())
        .value(obj.get("input").unwrap_or(&Value::Null))
        .value(instructions(obj).unwrap_or(&Value::Null))
        .finish();
    Ok(GenRequest {
        seed,
        n: 1,
        max_tokens: None,
        stop: Vec::new(),
        tools,
        tool_choice,
        parallel: parallel_allowed && parallel_asked,
        tool_result: conv.tool_result,
        format,
        prompt_tokens: (engine::estimate_tokens(items.iter()) + head).max(1),
        cached_tokens: 0,
        answer_tokens: 0,
        jitter: true,
        skill: Skill::default(),
        question: conv.question,
    })
}

impl Conversation {
    /// A string `input`: one user message.
    fn said(text: &str) -> Conversation {
        Conversation {
            question: Some(text.to_owned()),
            tool_result: None,
        }
    }
}

/// Validate the input items and read the question and a trailing tool result from them.
fn conversation(model: &str, items: &[Value]) -> Result<Conversation, Failure> {
    let mut calls: Vec<&str> = Vec::new();
    let mut conv = Conversation::default();
    for (i, item) in items.iter().enumerate() {
        match item_type(i, item)? {
            "message" => {
                if let Some(text) = message(i, item)? {
                    conv.question = Some(text);
                }
            }
            "function_call" => calls.push(function_call(i, item)?),
            "function_call_output" => function_call_output(i, item, &calls)?,
            "reasoning" => reasoning(model, i, item)?,
            other => {
                let param = format!("input[{i}].type");
                return Err(invalid_value(other, ITEM_TYPES, param));
            }
        }
    }
    conv.tool_result = items
        .last()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("function_call_output"))
        .map(|item| {
            let text = content_text(item.get("output").unwrap_or(&Value::Null));
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            flat.chars().take(200).collect()
        });
    Ok(conv)
}

/// An item's type: `type`, or `message` for an item with a `role` and no `type`.
fn item_type(i: usize, item: &Value) -> Result<&str, Failure> {
    let Some(o) = item.as_object() else {
        return Err(bad(
            format!("Invalid type for 'input[{i}]': expected an input item object."),
            Some(format!("input[{i}]")),
            Some("invalid_type"),
        ));
    };
    match o.get("type") {
        Some(Value::String(t)) => Ok(t),
        None | Some(Value::Null) if o.contains_key("role") => Ok("message"),
        _ => Err(missing(&format!("input[{i}].type"))),
    }
}

/// Check a message item; a user message's text is returned.
fn message(i: usize, item: &Value) -> Result<Option<String>, Failure> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some(r @ ("user" | "system" | "developer" | "assistant")) => r,
        Some(r) => {
            let roles = ["user", "system", "developer", "assistant"];
            return Err(invalid_value(r, &roles, format!("input[{i}].role")));
        }
        None => return Err(missing(&format!("input[{i}].role"))),
    };
    let content = match item.get("content") {
        Some(c @ (Value::String(_) | Value::Array(_))) => c,
        _ => return Err(missing(&format!("input[{i}].content"))),
    };
    let allowed = if role == "assistant" {
        ASSISTANT_PARTS
    } else {
        INPUT_PARTS
    };
    for (j, part) in content.as_array().into_iter().flatten().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some(t) if allowed.contains(&t) => {}
            Some(t) => {
                return Err(invalid_value(
                    t,
                    allowed,
                    format!("input[{i}].content[{j}]"),
                ));
            }
            None => return Err(missing(&format!("input[{i}].content[{j}].type"))),
        }
    }
    Ok((role == "user").then(|| content_text(content)))
}

/// Check a `function_call` item; its `call_id` is returned.
fn function_call(i: usize, item: &Value) -> Result<&str, Failure> {
    for field in ["name", "arguments"] {
        if item.get(field).and_then(Value::as_str).is_none() {
            return Err(missing(&format!("input[{i}].{field}")));
        }
    }
    item.get("call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&format!("input[{i}].call_id")))
}

/// Check a `function_call_output` item: it answers a `function_call` earlier in the input.
fn function_call_output(i: usize, item: &Value, calls: &[&str]) -> Result<(), Failure> {
    let Some(call_id) = item.get("call_id").and_then(Value::as_str) else {
        return Err(missing(&format!("input[{i}].call_id")));
    };
    if !matches!(item.get("output"), Some(Value::String(_) | Value::Array(_))) {
        return Err(missing(&format!("input[{i}].output")));
    }
    if !calls.contains(&call_id) {
        return Err(bad(
            format!("No tool call found for function call output with call_id {call_id}."),
            Some("input".into()),
            None,
        ));
    }
    Ok(())
}

/// Check a reasoning item: it carries encrypted content this simulator wrote for `model`.
fn reasoning(model: &str, i: usize, item: &Value) -> Result<(), Failure> {
    let Some(id) = item.get("id").and_then(Value::as_str) else {
        return Err(missing(&format!("input[{i}].id")));
    };
    match item.get("encrypted_content").and_then(Value::as_str) {
        None => Err(bad(
            format!(
                "Item with id '{id}' not found. Items are not persisted when `store` is set to \
                 false. Try again with `store` set to true, or remove this item from your input."
            ),
            Some("input".into()),
            None,
        )),
        Some(content) if !verify_encrypted_content(model, content) => Err(bad(
            format!("The encrypted content for item {id} could not be verified."),
            None,
            Some("invalid_encrypted_content"),
        )),
        Some(_) => Ok(()),
    }
}

/// The function tools (flat: `{"type":"function","name",…}`); other tool types are refused.
fn tools(obj: &Obj) -> Result<Vec<ToolSpec<'_>>, Failure> {
    let ts = match obj.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(ts)) => ts,
        Some(_) => {
            return Err(bad(
                "Invalid type for 'tools': expected an array of objects.",
                Some("tools".into()),
                Some("invalid_type"),
            ))
        }
    };
    ts.iter().enumerate().map(|(i, t)| tool(i, t)).collect()
}

/// One function tool.
fn tool(i: usize, t: &Value) -> Result<ToolSpec<'_>, Failure> {
    match t.get("type").and_then(Value::as_str) {
        Some("function") => match t.get("name").and_then(Value::as_str) {
            Some(name) => Ok(ToolSpec {
                name,
                parameters: t.get("parameters"),
            }),
            None => Err(missing(&format!("tools[{i}].name"))),
        },
        Some(other) => Err(bad(
            format!("Tool type '{other}' is not supported by this model."),
            Some(format!("tools[{i}].type")),
            None,
        )),
        None => Err(missing(&format!("tools[{i}].type"))),
    }
}

fn tool_choice(obj: &Obj) -> Result<ToolChoice<'_>, Failure> {
    match obj.get("tool_choice") {
        Some(Value::String(s)) => match s.as_str() {
            "auto" | "required" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            other => Err(invalid_value(
                other,
                &["none", "auto", "required"],
                "tool_choice".into(),
            )),
        },
        Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some("function") => o
            .get("name")
            .and_then(Value::as_str)
            .map(ToolChoice::Named)
            .ok_or_else(|| missing("tool_choice.name")),
        _ => Ok(ToolChoice::Auto),
    }
}

/// `text.format`: `text`, `json_object`, or `json_schema` with a `name` and a `schema`.
fn text_format(obj: &Obj) -> Result<Format<'_>, Failure> {
    let Some(f) = obj
        .get("text")
        .and_then(|t| t.get("format"))
        .filter(|f| !f.is_null())
    else {
        return Ok(Format::Text);
    };
    match f.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Format::Text),
        Some("json_object") => Ok(Format::JsonObject),
        Some("json_schema") => {
            if f.get("name").and_then(Value::as_str).is_none() {
                return Err(missing("text.format.name"));
            }
            f.get("schema")
                .map(Format::JsonSchema)
                .ok_or_else(|| missing("text.format.schema"))
        }
        Some(other) => Err(invalid_value(
            other,
            &["text", "json_object", "json_schema"],
            "text.format.type".into(),
        )),
        None => Err(missing("text.format.type")),
    }
}

/// The reasoning effort: `None` without `reasoning`, `medium` when it names none.
fn effort(obj: &Obj) -> Result<Option<&str>, Failure> {
    let Some(r) = obj.get("reasoning").filter(|r| !r.is_null()) else {
        return Ok(None);
    };
    match r.get("effort") {
        None | Some(Value::Null) => Ok(Some("medium")),
        Some(Value::String(e)) if EFFORTS.contains(&e.as_str()) => Ok(Some(e)),
        Some(v) => {
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            Err(invalid_value(&shown, EFFORTS, "reasoning.effort".into()))
        }
    }
}

fn max_output_tokens(obj: &Obj) -> Result<Option<u64>, Failure> {
    let Some(v) = obj.get("max_output_tokens").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let param = Some("max_output_tokens".to_owned());
    match v.as_u64() {
        Some(n) if n >= MIN_OUTPUT_TOKENS => Ok(Some(n)),
        Some(n) => Err(bad(
            format!(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= \
                 {MIN_OUTPUT_TOKENS}, but got {n} instead."
            ),
            param,
            Some("integer_below_min_value"),
        )),
        None => Err(bad(
            format!("Invalid type for 'max_output_tokens': expected an integer, but got {v}."),
            param,
            Some("invalid_type"),
        )),
    }
}

/// The request fields the response repeats, with OpenAI's defaults.
fn echo<'a>(obj: &'a Obj, effort: Option<&'a str>) -> Echo<'a> {
    let given = |v: Option<&'a Value>| v.filter(|v| !v.is_null());
    let or =
        |v: Option<&'a Value>, default: Value| given(v).map_or(Cow::Owned(default), Cow::Borrowed);
    let text = obj.get("text");
    Echo {
        instructions: instructions(obj),
        max_output_tokens: None,
        metadata: or(obj.get("metadata"), json!({})),
        parallel_tool_calls: obj
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        previous_response_id: None,
        prompt_cache_key: given(obj.get("prompt_cache_key")),
        reasoning: ReasoningEcho {
            effort,
            summary: given(obj.get("reasoning").and_then(|r| r.get("summary"))),
        },
        store: obj.get("store").and_then(Value::as_bool).unwrap_or(true),
        temperature: or(obj.get("temperature"), json!(1.0)),
        text: TextEcho {
            format: or(text.and_then(|t| t.get("format")), json!({"type": "text"})),
            verbosity: or(text.and_then(|t| t.get("verbosity")), json!("medium")),
        },
        tool_choice: or(obj.get("tool_choice"), json!("auto")),
        tools: or(obj.get("tools"), json!([])),
        top_p: or(obj.get("top_p"), json!(1.0)),
        truncation: "disabled",
        user: given(obj.get("user")),
    }
}

/// 400 `missing_required_parameter`.
fn missing(param: &str) -> Failure {
    bad(
        format!("Missing required parameter: '{param}'."),
        Some(param.to_owned()),
        Some("missing_required_parameter"),
    )
}

/// 400 `invalid_value`, listing the supported values as OpenAI does.
fn invalid_value(value: &str, supported: &[&str], param: String) -> Failure {
    let quoted: Vec<String> = supported.iter().map(|s| format!("'{s}'")).collect();
    let list = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, and {last}", rest.join(", ")),
        _ => quoted.join(""),
    };
    bad(
        format!("Invalid value: '{value}'. Supported values are: {list}."),
        Some(param),
        Some("invalid_value"),
    )
}
