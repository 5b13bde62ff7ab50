"""The official `google-genai` Python SDK, unmodified, with switchyard as its base URL: generate,
stream, system instructions, function calling round trips, JSON output, count tokens and
embeddings — served by the embedded (OpenAI-format) simulator and by a Gemini-format upstream."""

from __future__ import annotations

import json

import pytest
from google import genai
from google.genai import errors, types


def _client(gw) -> genai.Client:
    return genai.Client(api_key="unused", http_options=types.HttpOptions(base_url=gw.base_url, timeout=30_000))


@pytest.fixture(scope="module", params=["translated", "same-api"])
def served(request):
    """(client, model): through the OpenAI-format simulator, and through a Gemini upstream."""
    if request.param == "translated":
        return _client(request.getfixturevalue("gateway")), "sim-cheap"
    return _client(request.getfixturevalue("gemini_upstream_gateway")), "xsim"


WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city.",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]),
)])


def test_generate(served):
    client, model = served
    r = client.models.generate_content(
        model=model, contents="Say hello to the team.",
        config=types.GenerateContentConfig(system_instruction="You are terse.", max_output_tokens=200))
    assert r.text
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    u = r.usage_metadata
    assert u.prompt_token_count > 0 and u.candidates_token_count > 0
    assert u.total_token_count == u.prompt_token_count + u.candidates_token_count + (u.thoughts_token_count or 0)


def test_stream(served):
    client, model = served
    chunks = list(client.models.generate_content_stream(model=model, contents="Tell me about rivers."))
    text = "".join(c.text or "" for c in chunks)
    assert text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count > 0


def test_function_call_round_trip(served):
    client, model = served
    config = types.GenerateContentConfig(tools=[WEATHER])
    first = client.models.generate_content(model=model, contents="What is the weather in Paris?", config=config)
    calls = first.function_calls
    assert calls and calls[0].name == "get_weather", first
    contents = [
        types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")]),
        first.candidates[0].content,
        types.Content(role="user", parts=[types.Part.from_function_response(
            name="get_weather", response={"temp_c": 18})]),
    ]
    second = client.models.generate_content(model=model, contents=contents, config=config)
    assert second.text


def test_json_output(served):
    client, model = served
    r = client.models.generate_content(
        model=model, contents="Describe a cat as JSON.",
        config=types.GenerateContentConfig(response_mime_type="application/json"))
    assert isinstance(json.loads(r.text), dict)


def test_count_tokens(gateway):
    client = _client(gateway)
    short = client.models.count_tokens(model="sim-cheap", contents="Hi.")
    longer = client.models.count_tokens(model="sim-cheap", contents="Hi. " * 50)
    assert 0 < short.total_tokens < longer.total_tokens


def test_embed(served):
    client, model = served
    one = client.models.embed_content(model=model, contents="a sentence to embed")
    assert len(one.embeddings) == 1 and len(one.embeddings[0].values) > 0
    many = client.models.embed_content(model=model, contents=["first", "second", "third"])
    assert len(many.embeddings) == 3


def test_errors_are_google_shaped(gateway):
    client = _client(gateway)
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model="no-such-model", contents="Hi.")
    assert e.value.code == 404
    assert e.value.status == "NOT_FOUND"


def test_flex_service_tier_is_served_and_billed(gateway):
    """`service_tier="flex"` is the flex lane: the flex-selling model is asked for it, the
    usage metadata says the tier it was served at, and the bill is at flex rates."""
    from decimal import Decimal

    client = _client(gateway)
    r = client.models.generate_content(
        model="flexible", contents="Tag this product.",
        config=types.GenerateContentConfig(
            service_tier="flex", max_output_tokens=50, should_return_http_response=True),
    )
    raw = r.sdk_http_response
    body = json.loads(raw.body)
    assert body["candidates"][0]["content"]["parts"][0]["text"]
    u = body["usageMetadata"]
    assert u["serviceTier"] == "flex"
    expected = (Decimal(u["promptTokenCount"]) * Decimal("0.1")
                + Decimal(u["candidatesTokenCount"]) * Decimal("0.4")) / Decimal(1_000_000)
    assert Decimal(raw.headers["x-switchyard-cost-usd"]) == expected
