// One-click setup, headless: `ondemand-proxy connect` writes Claude Code's and Codex's own
// config files in a throwaway home, and the real agents (pinned in package.json) then run
// through the proxy with no environment variables of ours; `connect --undo` leaves the home
// as it was. Run by scripts/test.sh against its demo server, which sets ODP_BIN,
// ODP_DATA_DIR and OPENAI_BASE_URL / OPENAI_API_KEY.
//
// tests/windows/run.sh runs it against the Windows exe under Wine: ODP_WINE names the
// loader, ODP_DATA_DIR is a Windows path, and ODP_HOME is the Windows profile folder as
// Linux sees it (the exe writes there whatever HOME says, as on Windows), where the Linux
// agents then read their files.
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

const wine = process.env.ODP_WINE;
/** Wine's own settings (its prefix, its quiet), passed on to the exe. */
const wineEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("WINE")));

/** `ondemand-proxy connect args…` as the user whose home is `home`, configured as the server is. */
function connect(home, ...args) {
  const command = ["connect", ...args, "--port", port, "--data-dir", process.env.ODP_DATA_DIR];
  const result = spawnSync(wine ?? process.env.ODP_BIN, wine ? [process.env.ODP_BIN, ...command] : command, {
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: home, API_ACCESS_TOKEN: process.env.OPENAI_API_KEY, ...wineEnv },
  });
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
    const home = process.env.ODP_HOME ?? mkdtempSync(join(tmpdir(), `odp-connect-${id}-`));
    try {
      assert.match(connect(home, id), /^Connected /);
      assert.ok(existsSync(join(home, file)));
      assert.match(agent(home, program, args), /Simulated answer.*You said: say hello/);
      assert.match(connect(home, id, "--undo"), /^Disconnected /);
      assert.ok(!existsSync(join(home, file)), `${file} is gone again`);
    } finally {
      if (process.env.ODP_HOME) {
        // The profile stays; what the agent and the test left in it goes.
        for (const left of [".claude", ".claude.json", ".codex"]) rmSync(join(home, left), { recursive: true, force: true });
      } else {
        rmSync(home, { recursive: true, force: true });
      }
    }
  });
}
