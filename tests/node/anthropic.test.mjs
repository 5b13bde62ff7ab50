// The Anthropic TypeScript SDK, unmodified, against switchyard's /v1/messages.
// SWITCHYARD_ORIGIN is the gateway's address (set by tests/sdk/test_node_clients.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import Anthropic from "@anthropic-ai/sdk";

const baseURL = process.env.SWITCHYARD_ORIGIN;
assert.ok(baseURL, "SWITCHYARD_ORIGIN must be set");
const client = new Anthropic({ baseURL, apiKey: "sk-ant-test", maxRetries: 0 });

test("anthropic: a message", async () => {
  const m = await client.messages.create({
    model: "sim-cheap",
    max_tokens: 200,
    system: "You are terse.",
    messages: [{ role: "user", content: "Say hello." }],
  });
  assert.equal(m.type, "message");
  assert.equal(m.role, "assistant");
  assert.ok(m.content[0].text.length > 0);
  assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);
});

test("anthropic: a streamed message", async () => {
  const stream = client.messages.stream({
    model: "sim-cheap",
    max_tokens: 200,
    messages: [{ role: "user", content: "Tell me about canals." }],
  });
  let text = "";
  stream.on("text", (t) => (text += t));
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, text);
  assert.ok(text.length > 0);
  assert.equal(final.stop_reason, "end_turn");
});

test("anthropic: count_tokens", async () => {
  const r = await client.messages.countTokens({
    model: "sim-cheap",
    messages: [{ role: "user", content: "How many tokens is this sentence?" }],
  });
  assert.ok(r.input_tokens > 0);
});

test("anthropic: a system message in the middle of the conversation", async () => {
  const m = await client.messages.create({
    model: "sim-cheap",
    max_tokens: 200,
    messages: [
      { role: "user", content: "Hi." },
      { role: "assistant", content: "Hello!" },
      { role: "system", content: "From now on, answer in French." },
      { role: "user", content: "How are you?" },
    ],
  });
  assert.ok(m.content[0].text.length > 0);
});

// Extended thinking against an Anthropic-format upstream (SWITCHYARD_ANTHROPIC_ORIGIN): the
// signed block comes back and is accepted back unchanged.
const nativeOrigin = process.env.SWITCHYARD_ANTHROPIC_ORIGIN;
test("anthropic: thinking round trip through an Anthropic upstream", { skip: !nativeOrigin }, async () => {
  const native = new Anthropic({ baseURL: nativeOrigin, apiKey: "sk-ant-test", maxRetries: 0 });
  const ask = [{ role: "user", content: "Why is the sea salty?" }];
  const thinking = { type: "enabled", budget_tokens: 1024 };
  const first = await native.messages.create({ model: "xsim", max_tokens: 4000, thinking, messages: ask });
  assert.equal(first.content[0].type, "thinking");
  assert.ok(first.content[0].signature.length > 0);
  const second = await native.messages.create({
    model: "xsim",
    max_tokens: 4000,
    thinking,
    messages: [...ask, { role: "assistant", content: first.content }, { role: "user", content: "And lakes?" }],
  });
  assert.equal(second.content.at(-1).type, "text");
});
