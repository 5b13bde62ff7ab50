"""Cross-provider translation: the official `openai` SDK talks to the gateway, which serves it
from an Anthropic-format or a Gemini-format upstream (a separately started `switchyard sim`,
reached through a `kind = "anthropic"` / `kind = "gemini"` provider). System prompt, streaming,
tools, a tool-result turn and prompt-cache usage must all survive the round trip, and every
answer must validate against the OpenAI schema whatever provider produced it."""

from __future__ import annotations

import json

import pytest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module", params=["anthropic", "gemini"])
def upstream(request):
    """(kind, gateway) for each upstream wire format."""
    return request.param, request.getfixturevalue(f"{request.param}_upstream_gateway")


@pytest.fixture(scope="module")
def client(upstream):
    from openai import OpenAI

    c = OpenAI(base_url=upstream[1].openai_base_url, api_key="sk-test", max_retries=0, timeout=30)
    yield c
    c.close()


def test_system_prompt_is_translated(client, upstream):
    raw = client.chat.completions.with_raw_response.create(
        model="xsim",
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}],
    )
    assert raw.headers.get("x-switchyard-provider") == f"{upstream[0]}-sim"
    r = raw.parse()
    assert r.choices[0].message.content.strip()
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


def test_streaming(client):
    stream = client.chat.completions.create(
        model="xsim",
        messages=[{"role": "user", "content": "Tell me a story."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text.strip()
    assert finish in ("stop", "length")
    assert usage and usage.completion_tokens > 0


def test_tools_and_second_turn(client):
    msgs = [{"role": "user", "content": "What's the weather in Paris?"}]
    r = client.chat.completions.create(model="xsim", messages=msgs, tools=[WEATHER])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments), dict)
    msgs.append(choice.message.model_dump(exclude_none=True))
    msgs.append({"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"})
    r2 = client.chat.completions.create(model="xsim", messages=msgs, tools=[WEATHER])
    assert r2.choices[0].finish_reason == "stop"
    assert "18C" in r2.choices[0].message.content


def test_streamed_parallel_tool_calls(client):
    clock = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
    stream = client.chat.completions.create(
        model="xsim",
        messages=[{"role": "user", "content": "Weather and time, in parallel."}],
        tools=[WEATHER, clock],
        stream=True,
    )
    calls: dict[int, dict] = {}
    for chunk in stream:
        for c in chunk.choices:
            for t in c.delta.tool_calls or []:
                cur = calls.setdefault(t.index, {"id": "", "name": "", "args": ""})
                cur["id"] += t.id or ""
                cur["name"] += (t.function.name or "") if t.function else ""
                cur["args"] += (t.function.arguments or "") if t.function else ""
    assert sorted(c["name"] for c in calls.values()) == ["get_time", "get_weather"]
    for c in calls.values():
        assert c["id"] and isinstance(json.loads(c["args"]), dict)


def test_cached_token_usage(client):
    long = "You are a meticulous assistant for the routing team. " * 120
    msgs = [
        {"role": "system", "content": [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "Summarise the policy."},
    ]
    first = client.chat.completions.create(model="xsim", messages=msgs)
    second = client.chat.completions.create(model="xsim", messages=msgs)
    assert first.usage.prompt_tokens == second.usage.prompt_tokens >= 1024
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached and 0 < cached <= second.usage.prompt_tokens


@pytest.mark.parametrize(
    "extra",
    [{}, {"tools": [WEATHER]}, {"response_format": {"type": "json_object"}}],
    ids=["plain", "tool-call", "json-mode"],
)
def test_answer_matches_the_openai_schema(client, validate_schema, extra):
    raw = client.chat.completions.with_raw_response.create(
        model="xsim", messages=[{"role": "user", "content": "Weather in Paris? Answer in JSON."}], **extra
    )
    validate_schema("CreateChatCompletionResponse", json.loads(raw.http_response.text))
