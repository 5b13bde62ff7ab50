"""The OpenAI Responses API through switchyard, with the official `openai` Python SDK unmodified:
plain and streamed responses, function calling round trips, structured output, stored
conversations (`previous_response_id`, GET, input items, DELETE, tenant scoping), built-in tools
refused by name, the same requests answered by Anthropic- and Gemini-format upstreams, and sent
natively to an upstream that serves the Responses API itself, its encrypted reasoning round-tripping."""

from __future__ import annotations

import json

import openai
import pytest

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_plain_response(openai_client):
    raw = openai_client.responses.with_raw_response.create(
        model="sim-cheap", instructions="You are terse.", input="Say hello to the team."
    )
    assert raw.status_code == 200
    assert raw.headers["x-switchyard-model"] == "sim-cheap"
    r = raw.parse()
    assert r.id.startswith("resp_")
    assert r.object == "response" and r.status == "completed"
    assert r.output_text
    assert r.output[0].type == "message" and r.output[0].role == "assistant"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.instructions == "You are terse."
    # The response id names the ledger row of the request that answered it.
    assert r.id == "resp_" + raw.headers["x-switchyard-request-id"].replace("-", "")


def test_streamed_response_has_the_typed_event_sequence(openai_client):
    stream = openai_client.responses.create(model="sim-cheap", input="Tell me about trains.", stream=True)
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for k in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
              "response.output_text.done", "response.content_part.done", "response.output_item.done"):
        assert k in kinds, kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = events[-1].response
    assert done.output_text == text and text
    assert done.usage.output_tokens > 0


def test_stream_helper_accumulates_the_final_response(openai_client):
    with openai_client.responses.stream(model="sim-cheap", input="Describe a river.") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert final.output_text == "".join(deltas)


def test_function_call_round_trip(openai_client):
    first = openai_client.responses.create(model="sim-cheap", input="What is the weather in Paris?", tools=[WEATHER])
    calls = [o for o in first.output if o.type == "function_call"]
    assert calls, first.output
    call = calls[0]
    assert call.name == "get_weather"
    json.loads(call.arguments)
    # Continue with the tool's result, the earlier turns carried by previous_response_id.
    second = openai_client.responses.create(
        model="sim-cheap",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temp_c": 18})}],
        tools=[WEATHER],
    )
    assert second.status == "completed"
    assert second.output_text
    assert second.usage.input_tokens > first.usage.input_tokens
    # The same round trip with the whole conversation sent by the client, nothing stored.
    third = openai_client.responses.create(
        model="sim-cheap",
        store=False,
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C and sunny"},
        ],
        tools=[WEATHER],
    )
    assert third.output_text


def test_streamed_function_call(openai_client):
    events = list(openai_client.responses.create(
        model="sim-cheap", input="What is the weather in Oslo?", tools=[WEATHER], stream=True))
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    done = events[-1].response
    call = next(o for o in done.output if o.type == "function_call")
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert call.arguments == args
    json.loads(args)


def test_structured_output(openai_client):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    r = openai_client.responses.create(
        model="checked-json",
        input="Describe a person as JSON.",
        text={"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}},
    )
    value = json.loads(r.output_text)
    assert set(value) >= {"name", "age"}


def test_stored_conversation_get_input_items_and_delete(openai_client):
    first = openai_client.responses.create(model="sim-cheap", input="My name is Ada.")
    second = openai_client.responses.create(model="sim-cheap", previous_response_id=first.id, input="What is my name?")
    assert second.previous_response_id == first.id
    assert second.usage.input_tokens > first.usage.input_tokens
    got = openai_client.responses.retrieve(second.id)
    assert got.id == second.id and got.output_text == second.output_text
    items = openai_client.responses.input_items.list(second.id)
    texts = [json.dumps(i.model_dump()) for i in items.data]
    assert "What is my name?" in texts[0], "newest first"
    assert any("My name is Ada." in t for t in texts)
    openai_client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(second.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(model="sim-cheap", previous_response_id=second.id, input="Again?")


def test_store_false_keeps_nothing(openai_client):
    r = openai_client.responses.create(model="sim-cheap", input="Forget this.", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(r.id)


def test_stored_responses_are_scoped_to_their_tenant(openai_client):
    r = openai_client.responses.create(
        model="sim-cheap", input="Tenant secret.", extra_headers={"x-switchyard-tenant": "acme"})
    assert openai_client.responses.retrieve(r.id, extra_headers={"x-switchyard-tenant": "acme"}).id == r.id
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(model="sim-cheap", previous_response_id=r.id, input="Tell me.")


def test_built_in_tools_are_refused_by_name(openai_client):
    with pytest.raises(openai.BadRequestError) as e:
        openai_client.responses.create(model="sim-cheap", input="Search the web.", tools=[{"type": "web_search"}])
    assert "web_search" in str(e.value)


def test_bad_input_is_a_400_in_openai_shape(openai_client):
    with pytest.raises(openai.BadRequestError) as e:
        openai_client.responses.create(model="sim-cheap", input=[{"type": "mystery_item"}])
    assert "mystery_item" in str(e.value)


@pytest.fixture(scope="module", params=["anthropic", "gemini"])
def translated(request):
    from openai import OpenAI

    gw = request.getfixturevalue(f"{request.param}_upstream_gateway")
    c = OpenAI(base_url=gw.openai_base_url, api_key="sk-test", max_retries=0, timeout=30)
    yield c
    c.close()


def test_translated_upstreams_answer_the_responses_api(translated):
    r = translated.responses.create(model="xsim", instructions="Be brief.", input="Hello there.")
    assert r.status == "completed" and r.output_text
    events = list(translated.responses.create(model="xsim", input="Tell me a story.", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "".join(
        e.delta for e in events if e.type == "response.output_text.delta")
    call = next(o for o in translated.responses.create(
        model="xsim", input="What is the weather in Rome?", tools=[WEATHER]).output if o.type == "function_call")
    follow = translated.responses.create(
        model="xsim", input=[
            {"role": "user", "content": "What is the weather in Rome?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "21C"},
        ], tools=[WEATHER], store=False)
    assert follow.output_text


def test_reasoning_effort_becomes_anthropic_thinking(anthropic_upstream_gateway):
    from openai import OpenAI

    c = OpenAI(base_url=anthropic_upstream_gateway.openai_base_url, api_key="sk-test", max_retries=0, timeout=30)
    r = c.responses.create(model="xsim", input="Why do leaves fall?", reasoning={"effort": "low"},
                           max_output_tokens=4000)
    kinds = [o.type for o in r.output]
    assert kinds[0] == "reasoning" and "message" in kinds, kinds
    assert r.output[0].summary[0].text.startswith("Considering the request")
    # The reasoning was the upstream's: its signature stays behind, nothing to send back.
    follow = c.responses.create(model="xsim", previous_response_id=r.id, input="And in spring?",
                                reasoning={"effort": "low"}, max_output_tokens=4000)
    assert follow.output_text
    c.close()


def test_native_upstream_round_trips_encrypted_reasoning(openai_client):
    raw = openai_client.responses.with_raw_response.create(
        model="native", input="Why is the sky blue?", reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"])
    assert raw.headers["x-switchyard-model"] == "native"
    r = raw.parse()
    reasoning = r.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content, r.output
    assert r.output_text and r.usage.output_tokens_details.reasoning_tokens > 0
    # Stored: the next turn sends the upstream its own state back (the simulator refuses state
    # it did not write, and reasoning items without it).
    follow = openai_client.responses.create(
        model="native", previous_response_id=r.id, input="And at sunset?", reasoning={"effort": "low"})
    assert follow.status == "completed" and follow.output_text
    # Stateless, as Codex works: the client sends the items back itself.
    again = openai_client.responses.create(
        model="native", store=False, reasoning={"effort": "low"}, include=["reasoning.encrypted_content"],
        input=[{"role": "user", "content": "Why is the sky blue?"},
               *[o.model_dump(exclude_none=True) for o in r.output],
               {"role": "user", "content": "And at sunset?"}])
    assert again.output_text
    # The same conversation moved to an upstream reached through chat completions: the state
    # stays behind rather than becoming an upstream 400.
    moved = openai_client.responses.create(
        model="sim-cheap", previous_response_id=r.id, input="And at night?")
    assert moved.status == "completed" and moved.output_text


def test_native_upstream_streams_and_calls_functions(openai_client):
    events = list(openai_client.responses.create(
        model="native", input="Tell me about trains.", stream=True, reasoning={"effort": "low"}))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1].response
    assert done.output_text == "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert any(o.type == "reasoning" and o.encrypted_content for o in done.output), done.output
    first = openai_client.responses.create(model="native", input="What is the weather in Paris?", tools=[WEATHER])
    call = next(o for o in first.output if o.type == "function_call")
    second = openai_client.responses.create(
        model="native", previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}])
    assert second.output_text
