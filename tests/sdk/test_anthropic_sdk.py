"""The official `anthropic` Python SDK against `switchyard serve` (Anthropic-compatible
`POST /v1/messages` and `POST /v1/messages/count_tokens`)."""

from __future__ import annotations

import httpx2 as httpx
import pytest


@pytest.fixture(scope="module")
def anthropic_client(gateway):
    from anthropic import Anthropic

    client = Anthropic(base_url=gateway.base_url, api_key="sk-test", max_retries=0, timeout=30)
    yield client
    client.close()


def test_messages_non_streaming(anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(
        model="sim-cheap",
        max_tokens=128,
        system="You are terse.",
        messages=[{"role": "user", "content": "Say hello."}],
    )
    assert raw.headers.get("x-switchyard-request-id")
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content and msg.content[0].type == "text" and msg.content[0].text.strip()
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


def test_messages_streaming(anthropic_client):
    with anthropic_client.messages.stream(
        model="sim-cheap", max_tokens=128, messages=[{"role": "user", "content": "Tell me a story."}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip()
    assert final.content[0].text == text
    assert final.usage.output_tokens > 0


def test_messages_unknown_model(anthropic_client):
    import anthropic

    with pytest.raises(anthropic.NotFoundError):
        anthropic_client.messages.create(
            model="no-such-model", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_messages_tools_and_tool_result_turn(anthropic_client):
    first = anthropic_client.messages.create(
        model="sim-cheap",
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
    )
    assert first.stop_reason == "tool_use"
    calls = [b for b in first.content if b.type == "tool_use"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert isinstance(calls[0].input, dict) and calls[0].id
    second = anthropic_client.messages.create(
        model="sim-cheap",
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "18C, sunny"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and "18C" in second.content[0].text


def test_messages_streamed_tool_call(anthropic_client):
    with anthropic_client.messages.stream(
        model="sim-cheap",
        max_tokens=256,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and isinstance(final.content[-1].input, dict)


def test_messages_bad_request_is_anthropic_shaped(gateway):
    r = httpx.post(
        f"{gateway.base_url}/v1/messages",
        headers={"x-api-key": "sk-test", "anthropic-version": "2023-06-01"},
        json={"model": "sim-cheap", "messages": [{"role": "user", "content": "no max_tokens"}]},
        timeout=10,
    )
    if r.status_code == 404 and "unknown_url" in r.text:
        pytest.skip("the gateway does not serve POST /v1/messages yet")
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


def test_count_tokens(anthropic_client):
    short = anthropic_client.messages.with_raw_response.count_tokens(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    assert short.headers["x-switchyard-token-count"].startswith("estimated")
    n_short = short.parse().input_tokens
    n_long = anthropic_client.messages.count_tokens(
        model="auto",
        system="You are a careful assistant.",
        messages=[{"role": "user", "content": "Summarise the history of the Roman Empire in detail. " * 20}],
    ).input_tokens
    assert 0 < n_short < n_long


def test_mid_conversation_system_message(anthropic_client):
    msg = anthropic_client.messages.create(
        model="sim-cheap",
        max_tokens=64,
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "and now?"},
        ],
    )
    assert msg.content[0].text
