// Codex CLI (`codex exec`, pinned in package.json) against the running `ondemand-proxy serve
// --demo`, as a new user would set it up: a provider in config.toml with
// `wire_api = "responses"` and the client token in an environment variable. Run by
// scripts/test.sh, which sets OPENAI_BASE_URL / OPENAI_API_KEY. Demo mode plays along: a
// prompt that names a tool gets a call to it (code in backticks is the code to run), and the
// tool's result gets an answer that quotes it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const codex = join(here, "node_modules", ".bin", "codex");

/** Runs `codex exec prompt` with a throwaway CODEX_HOME that names the proxy as provider. */
function run(prompt) {
  const home = mkdtempSync(join(tmpdir(), "odp-codex-"));
  try {
    const codexHome = join(home, ".codex");
    mkdirSync(codexHome);
    writeFileSync(
      join(codexHome, "config.toml"),
      [
        'model = "gpt-5.6-luna"',
        'model_provider = "odp"',
        "[model_providers.odp]",
        'name = "OnDemand Proxy"',
        `base_url = "${process.env.OPENAI_BASE_URL}"`,
        'env_key = "ODP_KEY"',
        'wire_api = "responses"',
        "",
      ].join("\n"),
    );
    const result = spawnSync(codex, ["exec", "--skip-git-repo-check", prompt], {
      cwd: home,
      encoding: "utf8",
      timeout: 120_000,
      env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: codexHome, ODP_KEY: process.env.OPENAI_API_KEY },
    });
    assert.equal(result.status, 0, `codex failed:\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

test("codex exec answers a prompt", () => {
  assert.match(run("say hello"), /Simulated answer.*You said: say hello/);
});

test("codex exec completes a tool round trip: its exec tool runs the code the demo model sends", () => {
  const out = run("Use exec to run `text(6 * 7)`");
  assert.match(out, /exec returned:.*\b42\b/s);
});
