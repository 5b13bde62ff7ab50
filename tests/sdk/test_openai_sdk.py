"""The official `openai` Python SDK against `switchyard serve` (embedded simulator)."""

from __future__ import annotations

import json

import httpx2 as httpx  # the HTTP client the openai SDK itself ships with
import openai
import pytest

ROUTING_HEADERS = (
    "x-switchyard-request-id",
    "x-switchyard-route",
    "x-switchyard-model",
    "x-switchyard-provider",
    "x-switchyard-attempts",
    "x-switchyard-overhead-us",
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current local time in a time zone.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}


def user(text: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": text},
    ]


def assert_routing_headers(headers, *, route: str | None = None, model: str | None = None) -> None:
    missing = [h for h in ROUTING_HEADERS if not headers.get(h)]
    assert not missing, f"missing routing headers {missing}; got {dict(headers)}"
    assert int(headers["x-switchyard-attempts"]) >= 1
    assert int(headers["x-switchyard-overhead-us"]) >= 0
    if route is not None:
        assert headers["x-switchyard-route"] == route
    if model is not None:
        assert headers["x-switchyard-model"] == model


# --- plain chat ---------------------------------------------------------------------------------


def test_chat_non_streaming(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="sim-cheap", messages=user("Say hello."), max_tokens=64
    )
    assert raw.status_code == 200
    assert_routing_headers(raw.headers, route="sim-cheap", model="sim-cheap")
    assert raw.headers["x-switchyard-provider"] == "sim"
    assert raw.headers["x-switchyard-attempts"] == "1"


    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == "sim-cheap"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    u = completion.usage
    assert u is not None and u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_default_route_auto(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="auto", messages=user("Hi"))
    assert_routing_headers(raw.headers, route="auto")
    assert raw.headers["x-switchyard-model"] in ("sim-cheap", "sim-premium")
    assert raw.parse().choices[0].message.content


def test_models_list(openai_client):
    ids = {m.id for m in openai_client.models.list()}
    assert {"auto", "resilient", "sim-cheap", "sim-premium"} <= ids


def test_request_ids_are_unique(openai_client):
    ids = {
        openai_client.chat.completions.with_raw_response.create(model="sim-cheap", messages=user(f"n{i}"))
        .headers["x-switchyard-request-id"]
        for i in range(3)
    }
    assert len(ids) == 3


# --- streaming ----------------------------------------------------------------------------------


def test_chat_streaming_with_usage(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="sim-cheap",
        messages=user("Tell me a short story."),
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert_routing_headers(raw.headers, route="sim-cheap", model="sim-cheap")

    chunks = list(raw.parse())
    assert len(chunks) >= 3
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "every chunk of one completion has the same id"

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"] or finishes == ["length"], finishes

    # include_usage: only the last chunk carries usage, with an empty choices list.
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens > 0 and last.usage.prompt_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_streamed_text_matches_non_streamed(openai_client):
    """The simulator answers deterministically, so the stream must reassemble to the same text."""
    msgs = user("Deterministic please: describe a lighthouse.")
    whole = openai_client.chat.completions.create(model="sim-cheap", messages=msgs)
    stream = openai_client.chat.completions.create(model="sim-cheap", messages=msgs, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == whole.choices[0].message.content


def test_streaming_without_usage(openai_client):
    stream = openai_client.chat.completions.create(model="sim-premium", messages=user("Hello"), stream=True)
    chunks = list(stream)
    assert chunks
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()


# --- tools --------------------------------------------------------------------------------------


def test_tool_call_non_streaming(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="sim-cheap", messages=user("What is the weather in Paris?"), tools=[WEATHER_TOOL]
    )
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args, dict) and "city" in args


def test_parallel_tool_calls_non_streaming(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="sim-cheap",
        messages=user("Get the weather in Paris and the time in Tokyo, in parallel."),
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    calls = raw.parse().choices[0].message.tool_calls
    assert calls is not None and len(calls) >= 2
    assert len({c.id for c in calls}) == len(calls), "tool call ids are unique"
    for c in calls:
        assert c.function.name in ("get_weather", "get_time")
        assert isinstance(json.loads(c.function.arguments), dict)


def _reassemble_tool_calls(chunks) -> dict[int, dict]:
    calls: dict[int, dict] = {}
    for chunk in chunks:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            cur = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                assert cur["id"] in (None, tc.id), "a tool call's id never changes mid-stream"
                cur["id"] = tc.id
            if tc.function is not None:
                if tc.function.name:
                    cur["name"] += tc.function.name
                if tc.function.arguments:
                    cur["arguments"] += tc.function.arguments
    return calls


@pytest.mark.parametrize("parallel", [False, True], ids=["single", "parallel"])
def test_tool_calls_streaming(openai_client, parallel):
    prompt = "Weather in Paris and time in Tokyo, in parallel." if parallel else "Weather in Paris?"
    tools = [WEATHER_TOOL, TIME_TOOL] if parallel else [WEATHER_TOOL]
    msgs = user(prompt)
    chunks = list(
        openai_client.chat.completions.create(
            model="sim-cheap", messages=msgs, tools=tools, stream=True, stream_options={"include_usage": True}
        )
    )
    calls = _reassemble_tool_calls(chunks)
    assert len(calls) == (2 if parallel else 1), calls
    assert sorted(calls) == list(range(len(calls))), "tool call indexes are 0..n"
    for c in calls.values():
        assert c["id"], c
        assert c["name"] in ("get_weather", "get_time")
        assert isinstance(json.loads(c["arguments"]), dict), c
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage is not None

    # The streamed calls are the same as the non-streamed answer to the same request.
    whole = openai_client.chat.completions.create(model="sim-cheap", messages=msgs, tools=tools)
    expected = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in whole.choices[0].message.tool_calls]
    got = [(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]
    assert [(n, a) for _, n, a in got] == [(n, a) for _, n, a in expected]


def test_tool_result_second_turn(openai_client):
    msgs = user("What is the weather in Paris?")
    first = openai_client.chat.completions.create(model="sim-cheap", messages=msgs, tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    msgs = msgs + [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 18, "sky": "clear"})},
    ]
    raw = openai_client.chat.completions.with_raw_response.create(model="sim-cheap", messages=msgs, tools=[WEATHER_TOOL])
    assert raw.status_code == 200
    second = raw.parse()
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content
    assert not second.choices[0].message.tool_calls
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


def test_tool_choice_none_gives_text(openai_client):
    c = openai_client.chat.completions.create(
        model="sim-cheap", messages=user("Weather in Paris?"), tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert c.choices[0].message.content
    assert not c.choices[0].message.tool_calls


# --- structured output --------------------------------------------------------------------------


def test_json_mode(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="checked-json",
        messages=user("Return a JSON object describing a cat."),
        response_format={"type": "json_object"},
    )
    content = raw.parse().choices[0].message.content
    assert isinstance(json.loads(content), dict), content


def test_json_schema(openai_client):
    import jsonschema

    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "age", "tags"],
        "additionalProperties": False,
    }
    c = openai_client.chat.completions.create(
        model="checked-json",
        messages=user("Describe a person."),
        response_format={"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": schema}},
    )
    value = json.loads(c.choices[0].message.content)
    jsonschema.validate(value, schema)


def test_json_mode_streaming(openai_client):
    stream = openai_client.chat.completions.create(
        model="checked-json", messages=user("JSON please."), response_format={"type": "json_object"}, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert isinstance(json.loads(text), dict), text


def _json_asks(n):
    return [user(f"Describe invoice number {i} as JSON.") for i in range(n)]


def test_cascade_escalates_broken_json_and_bills_both(openai_client):
    """sim-cheap breaks JSON on about a fifth of requests: exactly those are escalated."""
    escalated = kept = 0
    for messages in _json_asks(30):
        raw = openai_client.chat.completions.with_raw_response.create(
            model="checked-json", messages=messages, response_format={"type": "json_object"}
        )
        content = raw.parse().choices[0].message.content
        assert isinstance(json.loads(content), dict), content  # the client only sees valid JSON
        model, attempts = raw.headers["x-switchyard-model"], raw.headers["x-switchyard-attempts"]
        direct = openai_client.chat.completions.create(
            model="sim-cheap", messages=messages, response_format={"type": "json_object"}
        ).choices[0].message.content
        try:
            json.loads(direct)
            cheap_ok = True
        except json.JSONDecodeError:
            cheap_ok = False
        if cheap_ok:
            assert (model, attempts) == ("sim-cheap", "1")
            kept += 1
        else:
            assert (model, attempts) == ("sim-premium", "2")
            # Both attempts are billed: more than sim-premium alone would cost.
            assert float(raw.headers["x-switchyard-cost-usd"]) > float(raw.headers["x-switchyard-baseline-cost-usd"])
            escalated += 1
    assert escalated > 0 and kept > escalated, (escalated, kept)


def test_cascade_streaming_shows_only_the_accepted_answer(openai_client):
    for messages in _json_asks(12):
        with openai_client.chat.completions.with_streaming_response.create(
            model="checked-json", messages=messages, response_format={"type": "json_object"},
            stream=True, stream_options={"include_usage": True},
        ) as resp:
            chunks = list(resp.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert isinstance(json.loads(text), dict), text
        assert chunks[-1].usage is not None


def test_feedback_lands_beside_the_request(gateway, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="sim-cheap", messages=user("What is 17 + 25?"), extra_headers={"x-switchyard-task": "arithmetic"}
    )
    request_id = raw.headers["x-switchyard-request-id"]
    fb = openai_client.post(
        "/feedback", cast_to=object, body={"request_id": request_id, "pass": False, "label": "wrong sum"}
    )
    assert fb["request_id"] == request_id
    assert (fb["model"], fb["task"], fb["score"]) == ("sim-cheap", "arithmetic", 0.0)
    health = httpx.get(f"{gateway.base_url}/admin/health").json()
    entry = next(q for q in health["quality"] if q["task"] == "arithmetic" and q["model"] == "sim-cheap")
    assert entry["observations"] >= 1
    with pytest.raises(openai.BadRequestError):
        openai_client.post("/feedback", cast_to=object, body={"request_id": request_id, "score": 2})
    with pytest.raises(openai.NotFoundError):
        openai_client.post("/feedback", cast_to=object, body={"request_id": "nope", "pass": True})


# --- pass-through -------------------------------------------------------------------------------


def test_unknown_field_passes_through(openai_client):
    # `switchyard sim` exposes no HTTP endpoint for its recorded requests, so what the upstream
    # received cannot be observed from here; what we can check is that the gateway accepts an
    # unknown vendor field (and other standard optional fields) instead of rejecting it.
    raw = openai_client.chat.completions.with_raw_response.create(
        model="sim-cheap",
        messages=user("Hello"),
        temperature=0.2,
        top_p=0.9,
        seed=7,
        user="user-42",
        metadata={"task": "faq"},
        extra_body={"some_vendor_flag": 123, "nested_vendor": {"a": [1, 2]}},
    )
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content


def test_task_header_is_accepted(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="auto", messages=user("Is this spam?"), extra_headers={"x-switchyard-task": "spam"}
    )
    assert raw.status_code == 200
    assert_routing_headers(raw.headers, route="auto")


# --- errors -------------------------------------------------------------------------------------


def test_unknown_model_is_404(openai_client):
    with pytest.raises(openai.NotFoundError) as exc:
        openai_client.chat.completions.create(model="no-such-model", messages=user("Hi"))
    err = exc.value
    assert err.status_code == 404
    assert err.body and err.body.get("code") == "model_not_found", err.body
    assert err.response.headers.get("x-switchyard-request-id")


def test_missing_messages_is_400(gateway):
    r = httpx.post(f"{gateway.openai_base_url}/chat/completions", json={"model": "sim-cheap"}, timeout=10)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert "messages" in err["message"]
    assert r.headers.get("x-switchyard-request-id")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"model": "sim-cheap", "messages": []}',
        b'{"model": "", "messages": [{"role": "user", "content": "hi"}]}',
        b'{"model": "sim-cheap", "messages": "hello"}',
    ],
    ids=["invalid-json", "empty-messages", "empty-model", "messages-not-a-list"],
)
def test_malformed_requests_are_400(gateway, body):
    r = httpx.post(
        f"{gateway.openai_base_url}/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_sdk_raises_bad_request(openai_client):
    # The SDK sends what it is given; an empty message list is rejected by the gateway.
    with pytest.raises(openai.BadRequestError) as exc:
        openai_client.chat.completions.create(model="sim-cheap", messages=[])
    assert exc.value.status_code == 400
    assert exc.value.body.get("param") == "messages", exc.value.body


def test_upstream_400_is_not_retried(openai_client):
    with pytest.raises(openai.BadRequestError) as exc:
        openai_client.chat.completions.create(model="bad-request", messages=user("Hi"))
    assert exc.value.status_code == 400
    assert exc.value.response.headers.get("x-switchyard-attempts") == "1"


def test_unknown_endpoint_is_404(gateway):
    r = httpx.get(f"{gateway.openai_base_url}/no/such/endpoint", timeout=10)
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "invalid_request_error"


# --- failover -----------------------------------------------------------------------------------


def test_failover_route(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="resilient", messages=user("Hi"))
    assert raw.status_code == 200
    assert_routing_headers(raw.headers, route="resilient", model="sim-cheap")
    assert int(raw.headers["x-switchyard-attempts"]) >= 2
    assert raw.parse().choices[0].message.content


def test_failover_route_streaming(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="resilient", messages=user("Hi"), stream=True, stream_options={"include_usage": True}
    )
    assert raw.status_code == 200
    assert_routing_headers(raw.headers, route="resilient", model="sim-cheap")
    assert int(raw.headers["x-switchyard-attempts"]) >= 2
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].usage is not None


def test_model_fallbacks(openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="broken-with-fallback", messages=user("Hi"))
    assert raw.status_code == 200
    assert raw.headers["x-switchyard-model"] == "sim-cheap"
    assert int(raw.headers["x-switchyard-attempts"]) >= 2


def test_flaky_model_recovers(openai_client):
    # `flaky` is `sim-500-once`: its first request fails with a 500. The gateway retries a 5xx,
    # so the client sees a success either way; the first call needs two attempts.
    results = []
    for _ in range(2):
        raw = openai_client.chat.completions.with_raw_response.create(model="flaky", messages=user("Hi"))
        assert raw.status_code == 200
        results.append(int(raw.headers["x-switchyard-attempts"]))
    assert results[0] >= 2, results
    assert results[1] == 1, results


def test_all_candidates_down_is_an_error(openai_client):
    with pytest.raises(openai.APIStatusError) as exc:
        openai_client.chat.completions.create(model="broken", messages=user("Hi"))
    assert exc.value.status_code >= 500
    assert exc.value.response.headers.get("x-switchyard-request-id")
    assert int(exc.value.response.headers.get("x-switchyard-attempts", "0")) >= 1


def test_stream_cut_is_an_explicit_error(openai_client):
    # A stream that breaks after its first token cannot fall over invisibly; it must end with an
    # error event (the SDK raises), never look like a normal completion.
    stream = openai_client.chat.completions.create(model="cutter", messages=user("Hi"), stream=True)
    chunks = []
    with pytest.raises(openai.APIError) as exc:
        for chunk in stream:
            chunks.append(chunk)
    assert "stream" in str(exc.value).lower()
    assert all(not c.choices or c.choices[0].finish_reason is None for c in chunks)


# --- OpenAPI schema conformance -----------------------------------------------------------------

# The spec's ChatCompletionResponseMessage requires `content` and `refusal` (nullable): the
# gateway must keep them as `null` rather than dropping them when it re-encodes a response.
SCHEMA_CASES = {
    "plain": dict(model="sim-cheap", messages=user("Say hello.")),
    "premium": dict(model="sim-premium", messages=user("Say hello.")),
    "tool-call": dict(model="sim-cheap", messages=user("Weather in Paris?"), tools=[WEATHER_TOOL]),
    "parallel-tool-calls": dict(
        model="sim-cheap", messages=user("Weather and time, in parallel."), tools=[WEATHER_TOOL, TIME_TOOL]
    ),
    "json-mode": dict(model="sim-cheap", messages=user("JSON please."), response_format={"type": "json_object"}),
    "failover": dict(model="resilient", messages=user("Hi")),
}


@pytest.mark.parametrize("case", list(SCHEMA_CASES))
def test_response_matches_openapi_schema(openai_client, validate_schema, case):
    raw = openai_client.chat.completions.with_raw_response.create(**SCHEMA_CASES[case])
    assert raw.status_code == 200
    validate_schema("CreateChatCompletionResponse", json.loads(raw.text))


@pytest.mark.parametrize("case", ["plain", "tool-call", "parallel-tool-calls", "failover"])
def test_stream_chunks_match_openapi_schema(gateway, validate_schema, case):
    body = dict(SCHEMA_CASES[case], stream=True, stream_options={"include_usage": True})
    with httpx.stream("POST", f"{gateway.openai_base_url}/chat/completions", json=body, timeout=30) as r:
        assert r.status_code == 200
        events = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
    assert events and events[-1] == "[DONE]"
    for data in events[:-1]:
        validate_schema("CreateChatCompletionStreamResponse", json.loads(data))


@pytest.mark.parametrize(
    "body,status",
    [
        ({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}, 404),
        ({"model": "sim-cheap"}, 400),
        ({"model": "sim-cheap", "messages": []}, 400),
        ({"model": "broken", "messages": [{"role": "user", "content": "hi"}]}, None),
    ],
    ids=["unknown-model", "missing-messages", "empty-messages", "all-candidates-down"],
)
def test_error_bodies_match_openapi_schema(gateway, validate_schema, body, status):
    r = httpx.post(f"{gateway.openai_base_url}/chat/completions", json=body, timeout=30)
    if status is None:
        assert r.status_code >= 500
    else:
        assert r.status_code == status
    validate_schema("ErrorResponse", r.json())


# --- economics: service tiers and the response cache -------------------------------------------


def test_flex_service_tier_is_asked_served_and_billed(openai_client):
    from decimal import Decimal

    raw = openai_client.chat.completions.with_raw_response.create(
        model="flexible", service_tier="flex", messages=user("Tag this product."), max_tokens=32
    )
    completion = raw.parse()
    assert completion.service_tier == "flex"
    u = completion.usage
    expected = (Decimal(u.prompt_tokens) * Decimal("0.1") + Decimal(u.completion_tokens) * Decimal("0.4")) / Decimal(
        1_000_000
    )
    assert Decimal(raw.headers["x-switchyard-cost-usd"]) == expected
    # Without the tier: standard rates, twice as much.
    raw = openai_client.chat.completions.with_raw_response.create(
        model="flexible", messages=user("Tag this product."), max_tokens=32
    )
    completion = raw.parse()
    assert completion.service_tier == "default"
    u = completion.usage
    standard = (Decimal(u.prompt_tokens) * Decimal("0.2") + Decimal(u.completion_tokens) * Decimal("0.8")) / Decimal(
        1_000_000
    )
    assert Decimal(raw.headers["x-switchyard-cost-usd"]) == standard


@pytest.mark.parametrize("stream", [False, True])
def test_response_cache_answers_a_repeat_at_no_cost(openai_client, stream):
    import uuid

    question = user(f"What are your opening hours? ({uuid.uuid4()}, stream={stream})")

    def ask():
        if not stream:
            raw = openai_client.chat.completions.with_raw_response.create(
                model="cached", temperature=0, messages=question
            )
            c = raw.parse()
            return raw.headers, c.choices[0].message.content, raw.headers["x-switchyard-cost-usd"]
        with openai_client.chat.completions.with_streaming_response.create(
            model="cached", temperature=0, messages=question, stream=True, stream_options={"include_usage": True}
        ) as resp:
            text, cost = "", None
            for chunk in resp.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                extra = getattr(chunk, "model_extra", None) or {}
                if "switchyard" in extra:
                    cost = extra["switchyard"]["cost_usd"]
            return resp.headers, text, cost

    h1, text1, cost1 = ask()
    assert "x-switchyard-cache" not in h1
    assert float(cost1) > 0
    h2, text2, cost2 = ask()
    assert h2["x-switchyard-cache"] == "hit"
    assert text2 == text1
    assert float(cost2) == 0

