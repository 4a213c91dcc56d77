// One-click setup, headless: `ondemand-proxy connect` writes Claude Code's and Codex's own
// config files in a throwaway home, and the real agents (pinned in package.json) then run
// through the proxy with no environment variables of ours; `connect --undo` leaves the home
// as it was. Run by scripts/test.sh against its demo server, which sets ODP_BIN,
// ODP_DATA_DIR and OPENAI_BASE_URL / OPENAI_API_KEY.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bin = (name) => join(here, "node_modules", ".bin", name);
const port = new URL(process.env.OPENAI_BASE_URL).port;

/** `ondemand-proxy connect args…` as the user whose home is `home`, configured as the server is. */
function connect(home, ...args) {
  const result = spawnSync(
    process.env.ODP_BIN,
    ["connect", ...args, "--port", port, "--data-dir", process.env.ODP_DATA_DIR],
    { encoding: "utf8", env: { PATH: process.env.PATH, HOME: home, API_ACCESS_TOKEN: process.env.OPENAI_API_KEY } },
  );
  assert.equal(result.status, 0, `connect ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Runs `program args…` in `home` with nothing of ours in its environment. */
function agent(home, program, args) {
  const result = spawnSync(bin(program), args, {
    cwd: home,
    encoding: "utf8",
    timeout: 120_000,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      DISABLE_TELEMETRY: "1",
      DISABLE_AUTOUPDATER: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    },
  });
  assert.equal(result.status, 0, `${program} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

for (const [id, program, args, file] of [
  ["claude-code", "claude", ["-p", "say hello"], ".claude/settings.json"],
  ["codex", "codex", ["exec", "--skip-git-repo-check", "say hello"], ".codex/config.toml"],
]) {
  test(`connect ${id}: ${program} answers through the proxy from its own config, and --undo takes it back`, () => {
    const home = mkdtempSync(join(tmpdir(), `odp-connect-${id}-`));
    try {
      assert.match(connect(home, id), /^Connected /);
      assert.ok(existsSync(join(home, file)));
      assert.match(agent(home, program, args), /Simulated answer.*You said: say hello/);
      assert.match(connect(home, id, "--undo"), /^Disconnected /);
      assert.ok(!existsSync(join(home, file)), `${file} is gone again`);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
}
