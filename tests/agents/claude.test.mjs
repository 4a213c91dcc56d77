// Claude Code (`claude -p`, pinned in package.json) against the running `ondemand-proxy serve
// --demo`, as a new user would point it: ANTHROPIC_BASE_URL and ANTHROPIC_AUTH_TOKEN, no model
// named (its default id resolves by the proxy's patterns). Run by scripts/test.sh, which sets
// ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY. Demo mode plays along: a prompt that names a tool gets
// a call to it, and the tool's result gets an answer that quotes it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const claude = join(here, "node_modules", ".bin", "claude");

/** Runs `claude -p prompt` in a throwaway home and working directory holding `files`. */
function run(prompt, files = {}) {
  const home = mkdtempSync(join(tmpdir(), "odp-claude-"));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(home, name), text);
    const result = spawnSync(claude, ["-p", prompt], {
      cwd: home,
      encoding: "utf8",
      timeout: 120_000,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        ANTHROPIC_BASE_URL: process.env.ANTHROPIC_BASE_URL,
        ANTHROPIC_AUTH_TOKEN: process.env.ANTHROPIC_API_KEY,
        DISABLE_TELEMETRY: "1",
        DISABLE_AUTOUPDATER: "1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      },
    });
    assert.equal(result.status, 0, `claude failed:\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

test("claude -p answers a prompt", () => {
  const out = run("say hello");
  assert.match(out, /Simulated answer.*You said: say hello/);
});

test("claude -p completes a tool round trip: it reads the file the demo model asks for", () => {
  const out = run("Use Read on notes.txt", { "notes.txt": "The secret word is marmalade.\n" });
  assert.match(out, /Read returned:.*The secret word is marmalade\./s);
});
