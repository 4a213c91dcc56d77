// The official `openai` npm package against the running `ondemand-proxy serve --demo`.
// Run by scripts/test.sh, which starts the binary and sets OPENAI_BASE_URL / OPENAI_API_KEY.
import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";

const baseURL = process.env.OPENAI_BASE_URL;
const apiKey = process.env.OPENAI_API_KEY;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

test("lists models", async () => {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.ok(ids.includes("gpt-4o") && ids.includes("gemini-2.0-flash"));
});

test("chat", async () => {
  const r = await client.chat.completions.create({
    model: "claude-3.7-sonnet",
    messages: [{ role: "user", content: "Hello from Node" }],
  });
  assert.equal(r.model, "claude-3.7-sonnet");
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.ok(r.choices[0].message.content.endsWith("Hello from Node"));
  assert.ok(r.usage.total_tokens > 0);
});

test("stream with usage", async () => {
  const stream = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "Stream to Node" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = "";
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) {
      content += chunk.choices[0].delta.content ?? "";
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(content.endsWith("Stream to Node"), content);
  assert.equal(finish, "stop");
  assert.ok(usage && usage.completion_tokens > 0);
});

test("errors", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
  );
  await assert.rejects(
    client.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "not a name", parameters: {} } }],
    }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "tools[0].function.name",
  );
  const bad = new OpenAI({ baseURL, apiKey: "wrong-token", maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
});
