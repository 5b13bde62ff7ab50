"""Gemini thinking models sign the first function call of each step and refuse a conversation
that does not give the signature back (the simulator's `*gemini-3*` models do the same). Every
client keeps it without knowing: an OpenAI or Anthropic client carries it inside the tool call
id, a google-genai client as `thoughtSignature`, and the function-calling round trip works."""

from __future__ import annotations

import json

import anthropic
from google import genai
from google.genai import types
from openai import OpenAI

WEATHER_OPENAI = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_openai_client_round_trip_keeps_the_signature(gemini_upstream_gateway):
    c = OpenAI(base_url=gemini_upstream_gateway.openai_base_url, api_key="sk-test", max_retries=0, timeout=30)
    msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = c.chat.completions.create(model="xsim3", messages=msgs, tools=[WEATHER_OPENAI])
    call = first.choices[0].message.tool_calls[0]
    assert "_ts_" in call.id, call.id
    msgs += [first.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 18})}]
    second = c.chat.completions.create(model="xsim3", messages=msgs, tools=[WEATHER_OPENAI])
    assert second.choices[0].message.content
    # Without the signature the model refuses: the simulator enforces what Gemini does.
    msgs[1]["tool_calls"][0]["id"] = "call_plain"
    msgs[2]["tool_call_id"] = "call_plain"
    try:
        c.chat.completions.create(model="xsim3", messages=msgs, tools=[WEATHER_OPENAI])
        raise AssertionError("expected the upstream to refuse an unsigned function call")
    except Exception as e:  # openai.BadRequestError
        assert "thought_signature" in str(e)
    c.close()


def test_anthropic_client_round_trip_keeps_the_signature(gemini_upstream_gateway):
    c = anthropic.Anthropic(base_url=gemini_upstream_gateway.base_url, api_key="sk-ant-test", max_retries=0, timeout=30)
    tools = [{"name": "get_weather", "description": "Weather for a city.",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    msgs = [{"role": "user", "content": "What is the weather in Rome?"}]
    first = c.messages.create(model="xsim3", max_tokens=500, tools=tools, messages=msgs)
    use = next(b for b in first.content if b.type == "tool_use")
    msgs += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "21C"}]}]
    second = c.messages.create(model="xsim3", max_tokens=500, tools=tools, messages=msgs)
    assert second.content[-1].text
    c.close()


def test_genai_client_gets_and_returns_thought_signatures(gemini_upstream_gateway, gateway):
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="Weather for a city.",
        parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}))])
    config = types.GenerateContentConfig(tools=[tool])
    for gw, model in ((gemini_upstream_gateway, "xsim3"),):
        client = genai.Client(api_key="unused", http_options=types.HttpOptions(base_url=gw.base_url))
        first = client.models.generate_content(model=model, contents="Weather in Oslo?", config=config)
        part = next(p for p in first.candidates[0].content.parts if p.function_call)
        assert part.thought_signature, part
        contents = [
            types.Content(role="user", parts=[types.Part(text="Weather in Oslo?")]),
            first.candidates[0].content,
            types.Content(role="user", parts=[types.Part.from_function_response(name="get_weather", response={"t": 3})]),
        ]
        second = client.models.generate_content(model=model, contents=contents, config=config)
        assert second.text
