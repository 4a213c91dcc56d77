// Ready-to-copy client setup, filled with the proxy's base URL and a client token.

export interface SnippetInput {
  baseUrl: string;
  token: string;
  model: string;
}

export function snippets({ baseUrl, token, model }: SnippetInput): Record<'python' | 'node' | 'curl', string> {
  return {
    python: `from openai import OpenAI

client = OpenAI(base_url="${baseUrl}", api_key="${token}")
reply = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "Hello!"}],
)
print(reply.choices[0].message.content)`,
    node: `import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${baseUrl}", apiKey: "${token}" });
const reply = await client.chat.completions.create({
  model: "${model}",
  messages: [{ role: "user", content: "Hello!" }],
});
console.log(reply.choices[0].message.content);`,
    curl: `curl ${baseUrl}/chat/completions \\
  -H "Authorization: Bearer ${token}" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'`,
  };
}

/** The OpenAI base URL of a proxy at `origin`. */
export function openaiBaseUrl(origin: string): string {
  return `${origin.replace(/\/+$/, '')}/v1`;
}
