// The official `openai` npm package against the running `ondemand-proxy serve --demo`.
// Run by scripts/test.sh, which starts the binary and sets OPENAI_BASE_URL / OPENAI_API_KEY.
import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { z } from "zod";

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

const weatherSchema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };

test("a tool round trip through runTools, streaming and not", async () => {
  for (const stream of [false, true]) {
    const seen = [];
    const runner = client.chat.completions.runTools({
      model: "gpt-4o",
      messages: [{ role: "user", content: "Use get_weather for my city." }],
      stream,
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "The weather now in a city",
            parameters: weatherSchema,
            parse: JSON.parse,
            function: (args) => {
              seen.push(args);
              return "18°C and sunny";
            },
          },
        },
      ],
    });
    const content = await runner.finalContent();
    assert.deepEqual(seen, [{ city: "Paris" }], `stream: ${stream}`);
    assert.ok(content.endsWith("get_weather returned: 18°C and sunny"), content);
  }
});

test("parallel calls stream as deltas the SDK assembles, and tool_choice is honoured", async () => {
  const tools = [
    { type: "function", function: { name: "get_weather", parameters: weatherSchema } },
    { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } },
  ];
  const stream = client.chat.completions.stream({
    model: "gpt-4o",
    messages: [{ role: "user", content: "Use get_weather and get_time." }],
    tools,
  });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(
    final.choices[0].message.tool_calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]),
    [["get_weather", { city: "Paris" }], ["get_time", {}]],
  );
  const named = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "Hello" }],
    tools,
    tool_choice: { type: "function", function: { name: "get_time" } },
  });
  assert.deepEqual(named.choices[0].message.tool_calls.map((c) => c.function.name), ["get_time"]);
  const legacy = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "Use get_weather." }],
    functions: [{ name: "get_weather", parameters: weatherSchema }],
  });
  assert.equal(legacy.choices[0].finish_reason, "function_call");
  assert.equal(legacy.choices[0].message.function_call.name, "get_weather");
});

test("structured output that the SDK parses (zodResponseFormat)", async () => {
  const Person = z.object({ name: z.string(), age: z.number().int() });
  const r = await client.chat.completions.parse({
    model: "gpt-4o",
    messages: [{ role: "user", content: "Describe a person." }],
    response_format: zodResponseFormat(Person, "person"),
  });
  assert.deepEqual(r.choices[0].message.parsed, { name: "example", age: 3 });
});

// ---- the Responses API ------------------------------------------------------------------

const responseTools = [
  {
    type: "function",
    name: "get_weather",
    description: "The weather now in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
  { type: "custom", name: "exec", description: "Run JavaScript" },
];

test("responses: whole, continued, retrieved, deleted", async () => {
  const first = await client.responses.create({ model: "gpt-5.6-luna", input: "My name is Ada" });
  assert.match(first.id, /^resp_/);
  assert.ok(first.output_text.endsWith("My name is Ada"));
  const second = await client.responses.create({
    model: "gpt-5.6-luna",
    input: "Again?",
    previous_response_id: first.id,
  });
  assert.equal(second.previous_response_id, first.id);
  assert.equal((await client.responses.retrieve(first.id)).id, first.id);
  await client.responses.delete(first.id);
  await assert.rejects(client.responses.retrieve(first.id), (e) => e instanceof OpenAI.NotFoundError);
});

for (const streamed of [false, true]) {
  test(`responses: function and custom tool round trip (${streamed ? "stream" : "whole"})`, async () => {
    const ask = { model: "gpt-5.6-luna", input: "Use get_weather, then exec to run `text(6 * 7)`", tools: responseTools };
    const first = streamed
      ? await client.responses.stream(ask).finalResponse()
      : await client.responses.create(ask);
    const fn = first.output.find((i) => i.type === "function_call");
    const custom = first.output.find((i) => i.type === "custom_tool_call");
    assert.deepEqual(JSON.parse(fn.arguments), { city: "Paris" });
    assert.equal(custom.input, "text(6 * 7)");
    const second = await client.responses.create({
      model: "gpt-5.6-luna",
      tools: responseTools,
      previous_response_id: first.id,
      input: [
        { type: "function_call_output", call_id: fn.call_id, output: "18°C" },
        { type: "custom_tool_call_output", call_id: custom.call_id, output: "42" },
      ],
    });
    assert.ok(second.output_text.endsWith("get_weather returned: 18°C; exec returned: 42"));
  });
}

test("responses: stream events and parse with a schema", async () => {
  let text = "";
  const stream = client.responses.stream({ model: "gpt-5.6-luna", input: "Stream to Node" });
  stream.on("response.output_text.delta", (e) => (text += e.delta));
  const final = await stream.finalResponse();
  assert.equal(text, final.output_text);
  const { zodTextFormat } = await import("openai/helpers/zod");
  const Person = z.object({ name: z.string(), age: z.number().int() });
  const parsed = await client.responses.parse({
    model: "gpt-5.6-luna",
    input: "Describe a person.",
    text: { format: zodTextFormat(Person, "person") },
  });
  assert.deepEqual(parsed.output_parsed, { name: "example", age: 3 });
});

// A 1×1 PNG; the demo's image agent describes it by its size and a fingerprint of its bytes,
// and the description closes the query, which the demo echoes.
const PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==";

test("an image_url part is described by the image agent", async () => {
  const { createHash } = await import("node:crypto");
  const bytes = Buffer.from(PIXEL, "base64");
  const described = `A PNG picture of ${bytes.length} bytes whose fingerprint is ${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}.`;
  const r = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: [
      { type: "text", text: "What is in this picture?" },
      { type: "image_url", image_url: { url: `data:image/png;base64,${PIXEL}` } },
    ] }],
  });
  assert.ok(r.choices[0].message.content.endsWith(`${described} [End of image 1]`), r.choices[0].message.content);
});
