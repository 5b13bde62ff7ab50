// The Responses API through switchyard with official Node clients, unmodified: the `openai`
// SDK and the Vercel AI SDK's default OpenAI provider (which speaks the Responses API).
// SWITCHYARD_BASE_URL is the gateway's /v1 URL (set by tests/sdk/test_node_clients.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, streamText, tool } from "ai";
import OpenAI from "openai";
import { z } from "zod";

const baseURL = process.env.SWITCHYARD_BASE_URL;
assert.ok(baseURL, "SWITCHYARD_BASE_URL must be set");
const client = new OpenAI({ baseURL, apiKey: "sk-test", maxRetries: 0 });
const provider = createOpenAI({ baseURL, apiKey: "sk-test" });

const weather = {
  type: "function",
  name: "get_weather",
  description: "Current weather for a city.",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

test("openai: a plain response", async () => {
  const r = await client.responses.create({ model: "sim-cheap", input: "Say hello." });
  assert.equal(r.status, "completed");
  assert.ok(r.output_text.length > 0);
  assert.ok(r.usage.output_tokens > 0);
});

test("openai: a streamed response ends with response.completed", async () => {
  const stream = await client.responses.create({ model: "sim-cheap", input: "Tell me about ships.", stream: true });
  let text = "";
  let last;
  for await (const e of stream) {
    if (e.type === "response.output_text.delta") text += e.delta;
    last = e;
  }
  assert.equal(last.type, "response.completed");
  assert.equal(last.response.output_text ?? last.response.output[0].content[0].text, text);
  assert.ok(text.length > 0);
});

test("openai: function call round trip with previous_response_id", async () => {
  const first = await client.responses.create({ model: "sim-cheap", input: "Weather in Lima?", tools: [weather] });
  const call = first.output.find((o) => o.type === "function_call");
  assert.ok(call, JSON.stringify(first.output));
  assert.equal(call.name, "get_weather");
  const second = await client.responses.create({
    model: "sim-cheap",
    previous_response_id: first.id,
    input: [{ type: "function_call_output", call_id: call.call_id, output: "19C" }],
    tools: [weather],
  });
  assert.equal(second.status, "completed");
  assert.ok(second.output_text.length > 0);
  const got = await client.responses.retrieve(second.id);
  assert.equal(got.id, second.id);
});

test("ai sdk: generateText with the default (Responses) provider", async () => {
  const r = await generateText({ model: provider("sim-cheap"), prompt: "Write a haiku about rails." });
  assert.ok(r.text.length > 0);
  assert.ok(r.usage.outputTokens > 0);
  assert.equal(r.finishReason, "stop");
});

test("ai sdk: streamText with the default provider", async () => {
  const r = streamText({ model: provider("sim-cheap"), prompt: "Describe a harbour." });
  let text = "";
  for await (const delta of r.textStream) text += delta;
  assert.ok(text.length > 0);
  assert.equal(await r.text, text);
  assert.ok((await r.usage).outputTokens > 0);
});

test("ai sdk: tool calls with the default provider", async () => {
  const r = await generateText({
    model: provider("sim-cheap"),
    prompt: "What is the weather in Paris?",
    tools: {
      get_weather: tool({
        description: "Current weather for a city.",
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => ({ city, temp_c: 18 }),
      }),
    },
  });
  const calls = r.steps.flatMap((s) => s.toolCalls);
  assert.ok(calls.length > 0, JSON.stringify(r.steps.map((s) => s.content)));
  assert.equal(calls[0].toolName, "get_weather");
});

test("ai sdk: generateObject with the default provider", async () => {
  const r = await generateObject({
    model: provider("checked-json"),
    schema: z.object({ name: z.string(), age: z.number() }),
    prompt: "Describe a person.",
  });
  assert.equal(typeof r.object.name, "string");
  assert.equal(typeof r.object.age, "number");
});
