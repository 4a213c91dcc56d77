// Every string is translated: both languages have the same keys, and every key the code
// uses (literal or built from a known set) exists.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import en from '../src/i18n/en.json';
import zh from '../src/i18n/zh-CN.json';

type Tree = { [k: string]: string | Tree };

function flatten(tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') out.set(key, v);
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f: string) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? sources(path) : /\.tsx?$/.test(f) ? [readFileSync(path, 'utf8')] : [];
  });
}

const enKeys = flatten(en as Tree);
const zhKeys = flatten(zh as Tree);

describe('translations', () => {
  it('have the same keys and placeholders in both languages', () => {
    expect([...zhKeys.keys()].sort()).toEqual([...enKeys.keys()].sort());
    for (const [key, text] of enKeys) {
      const vars = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
      expect(vars(zhKeys.get(key) ?? ''), key).toEqual(vars(text));
      expect(zhKeys.get(key), key).not.toBe('');
    }
  });

  it('cover every key the code uses', () => {
    const code = sources(join(import.meta.dirname, '../src')).join('\n');
    const literal = [...code.matchAll(/\bt\(\s*'([a-zA-Z0-9_.-]+)'/g)].map((m) => m[1]);
    const pages = [...code.matchAll(/key: '(nav\.[a-z]+)'/g)].map((m) => m[1]);
    const dynamic = [
      ...['healthy', 'cooling_down', 'needs_attention', 'circuit_open', 'disabled'].map((s) => `accounts.state.${s}`),
      ...['api_key', 'email_password'].map((k) => `accounts.kinds.${k}`),
      ...['auto', 'light', 'dark'].map((k) => `header.theme.${k}`),
      ...['builtin', 'custom'].map((k) => `models.sources.${k}`),
      ...['1h', '24h', '7d', 'all'].map((k) => `requests.windows.${k}`),
      ...['chat', 'messages', 'responses', 'completions'].map((k) => `dialects.${k}`),
      ...['claude_code', 'codex', 'cherry_studio', 'openai_sdk', 'anthropic_sdk', 'cline', 'roo_code', 'curl', 'other'].map(
        (k) => `clients.${k}`,
      ),
      // The Connect page's numbered steps.
      ...[1, 2, 3, 4, 5].map((i) => `connect.cherry.${i}`),
      ...[1, 2, 3, 4].flatMap((i) => [`connect.cherryAnthropic.${i}`, `connect.cline.${i}`]),
      ...['default', 'dashboard', 'config_file', 'environment', 'flag'].map((k) => `settings.sources.${k}`),
      // The groups the proxy declares (config::Group); labels and help come from the proxy.
      ...['conversations', 'retries', 'limits', 'pool', 'usage', 'upstream'].map((g) => `settings.groups.${g}`),
    ];
    const missing = [...new Set([...literal, ...pages, ...dynamic])].filter((k) => !enKeys.has(k));
    expect(missing).toEqual([]);
    expect(literal.length).toBeGreaterThan(150);
  });
});
