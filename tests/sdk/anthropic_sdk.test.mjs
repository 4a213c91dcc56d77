// The official `@anthropic-ai/sdk` npm package against the running `ondemand-proxy serve --demo`.
// Run by scripts/test.sh, which starts the binary and sets ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY.
// Model ids are the ones Claude Code sends: the proxy's patterns resolve them.
import assert from "node:assert/strict";
import { test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";

const baseURL = process.env.ANTHROPIC_BASE_URL;
const apiKey = process.env.ANTHROPIC_API_KEY;
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0 });
const model = "claude-sonnet-5-5";
const weather = {
  name: "get_weather",
  description: "The weather now in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

test("message", async () => {
  const r = await client.messages.create({
    model,
    max_tokens: 256,
    system: "Be brief.",
    messages: [{ role: "user", content: "Hello from Node" }],
  });
  assert.equal(r.type, "message");
  assert.match(r.id, /^msg_/);
  assert.equal(r.stop_reason, "end_turn");
  assert.ok(r.content[0].text.endsWith("Hello from Node"));
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
  assert.match(r._request_id, /^req_/);
});

test("stream, with thinking", async () => {
  const stream = client.messages.stream({
    model: "claude-opus-5-5",
    max_tokens: 4096,
    thinking: { type: "enabled", budget_tokens: 2048 },
    messages: [{ role: "user", content: "Stream to Node" }],
  });
  let text = "";
  stream.on("text", (delta) => (text += delta));
  const final = await stream.finalMessage();
  assert.ok(text.endsWith("Stream to Node"));
  assert.equal(final.stop_reason, "end_turn");
  assert.equal(final.content[0].type, "thinking");
  assert.equal(final.content.at(-1).text, text);
  assert.ok(final.usage.output_tokens > 0);
});

for (const streamed of [false, true]) {
  test(`tool round trip (${streamed ? "stream" : "whole"})`, async () => {
    const messages = [{ role: "user", content: "Please use get_weather for me" }];
    const ask = { model, max_tokens: 512, tools: [weather], messages };
    const first = streamed
      ? await client.messages.stream(ask).finalMessage()
      : await client.messages.create(ask);
    assert.equal(first.stop_reason, "tool_use");
    const call = first.content.find((b) => b.type === "tool_use");
    assert.match(call.id, /^toolu_/);
    assert.deepEqual(call.input, { city: "Paris" });
    messages.push(
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "18°C and sunny" }] },
    );
    const second = await client.messages.create({ model, max_tokens: 512, tools: [weather], messages });
    assert.equal(second.stop_reason, "end_turn");
    assert.ok(second.content[0].text.includes("get_weather returned: 18°C and sunny"));
  });
}

test("count tokens", async () => {
  const r = await client.messages.countTokens({ model, messages: [{ role: "user", content: "How many?" }] });
  assert.ok(r.input_tokens > 0);
});

test("errors", async () => {
  await assert.rejects(
    client.messages.create({ model: "no-such-model", max_tokens: 10, messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof Anthropic.NotFoundError && e.error.error.type === "not_found_error",
  );
  await assert.rejects(
    client.messages.create({
      model,
      max_tokens: 10,
      tools: [{ type: "web_search_20250305", name: "web_search" }],
      messages: [{ role: "user", content: "x" }],
    }),
    (e) => e instanceof Anthropic.BadRequestError && /web_search/.test(e.message),
  );
  const bad = new Anthropic({ baseURL, apiKey: "sk-not-a-token", maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model, max_tokens: 10, messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof Anthropic.AuthenticationError && /^req_/.test(e.requestID),
  );
});

test("a base64 image block is described by the image agent", async () => {
  const { createHash } = await import("node:crypto");
  const pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";
  const bytes = Buffer.from(pixel, "base64");
  const described = `A PNG picture of ${bytes.length} bytes whose fingerprint is ${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}.`;
  const r = await client.messages.create({
    model,
    max_tokens: 256,
    messages: [{ role: "user", content: [
      { type: "text", text: "What is in this picture?" },
      { type: "image", source: { type: "base64", media_type: "image/png", data: pixel } },
    ] }],
  });
  assert.ok(r.content[0].text.endsWith(`${described} [End of image 1]`), r.content[0].text);
});
