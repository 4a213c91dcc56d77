// Ready-to-copy client setup, filled with the proxy's base URL, a client token and a model,
// and the one test request each client's dialect makes.

export interface SnippetInput {
  /** The OpenAI base URL (`…/v1`). */
  baseUrl: string;
  token: string;
  model: string;
}

/** The API dialects a client may speak. */
export type Dialect = 'chat' | 'messages' | 'responses';

/** The base URL of Anthropic clients: the origin, without `/v1` (they add it). */
export function anthropicBaseUrl(baseUrl: string): string {
  return baseUrl.replace(/\/v1\/?$/, '');
}

export type SnippetKey =
  | 'claude'
  | 'codex'
  | 'pythonOpenai'
  | 'pythonAnthropic'
  | 'nodeOpenai'
  | 'nodeAnthropic'
  | 'curlChat'
  | 'curlMessages'
  | 'curlResponses';

/** The comments inside the snippets, in the page's language. */
export interface SnippetNotes {
  optionalModel: string;
  thenInShell: string;
}

const ENGLISH: SnippetNotes = {
  optionalModel: "Optional: Claude Code's own model ids already resolve to on-demand.io models.",
  thenInShell: 'then, in a shell:',
};

export function snippets({ baseUrl, token, model }: SnippetInput, notes: SnippetNotes = ENGLISH): Record<SnippetKey, string> {
  const origin = anthropicBaseUrl(baseUrl);
  return {
    claude: `export ANTHROPIC_BASE_URL="${origin}"
export ANTHROPIC_AUTH_TOKEN="${token}"
# ${notes.optionalModel}
export ANTHROPIC_MODEL="${model}"
claude`,
    codex: `# ~/.codex/config.toml
model = "${model}"
model_provider = "odp"

[model_providers.odp]
name = "OnDemand Proxy"
base_url = "${baseUrl}"
env_key = "ODP_KEY"
wire_api = "responses"

# ${notes.thenInShell}
# ODP_KEY="${token}" codex`,
    pythonOpenai: `from openai import OpenAI

client = OpenAI(base_url="${baseUrl}", api_key="${token}")
reply = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(reply.choices[0].message.content)`,
    pythonAnthropic: `from anthropic import Anthropic

client = Anthropic(base_url="${origin}", api_key="${token}")
reply = client.messages.create(
    model="${model}",
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello!"}],
)
print(reply.content[0].text)`,
    nodeOpenai: `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${baseUrl}", apiKey: "${token}" });
const reply = await client.chat.completions.create({
  model: "${model}",
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(reply.choices[0].message.content);`,
    nodeAnthropic: `import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: "${origin}", apiKey: "${token}" });
const reply = await client.messages.create({
  model: "${model}",
  max_tokens: 1024,
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(reply.content[0].text);`,
    curlChat: `curl ${baseUrl}/chat/completions \\
  -H "Authorization: Bearer ${token}" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'`,
    curlMessages: `curl ${baseUrl}/messages \\
  -H "x-api-key: ${token}" \\
  -H "anthropic-version: 2023-06-01" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello!"}]}'`,
    curlResponses: `curl ${baseUrl}/responses \\
  -H "Authorization: Bearer ${token}" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "input": "Hello!"}'`,
  };
}

/** The OpenAI base URL of a proxy at `origin`. */
export function openaiBaseUrl(origin: string): string {
  return `${origin.replace(/\/+$/, '')}/v1`;
}

/** One request in a dialect: where it goes, what it sends, and how to read its answer. */
export interface TestRequest {
  url: string;
  init: RequestInit;
  answer: (body: unknown) => string;
}

type Json = Record<string, unknown>;
const list = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

export function testRequest(dialect: Dialect, { baseUrl, token, model }: SnippetInput, message: string): TestRequest {
  const json = (headers: Record<string, string>, body: Json): RequestInit => ({
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const bearer = { Authorization: `Bearer ${token}` };
  switch (dialect) {
    case 'messages':
      return {
        url: `${baseUrl}/messages`,
        init: json(
          { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
          { model, max_tokens: 1024, messages: [{ role: 'user', content: message }] },
        ),
        answer: (body) =>
          list((body as Json)?.content)
            .filter((b) => b.type === 'text')
            .map((b) => String(b.text))
            .join(''),
      };
    case 'responses':
      return {
        url: `${baseUrl}/responses`,
        init: json(bearer, { model, input: message, store: false }),
        answer: (body) =>
          list((body as Json)?.output)
            .flatMap((item) => list(item.content))
            .filter((part) => part.type === 'output_text')
            .map((part) => String(part.text))
            .join(''),
      };
    default:
      return {
        url: `${baseUrl}/chat/completions`,
        init: json(bearer, { model, messages: [{ role: 'user', content: message }] }),
        answer: (body) => {
          const choice = list((body as Json)?.choices)[0];
          return String((choice?.message as Json | undefined)?.content ?? '');
        },
      };
  }
}
