// End to end: the real headless binary in demo mode, driven in Debian's Chromium through
// playwright-core, with the official OpenAI SDK sending the traffic.
//
// ODP_BIN names the binary (default: target/debug/ondemand-proxy); CHROMIUM the browser
// (default /usr/bin/chromium). Screenshots of every page in both languages go to
// SCREENSHOTS (default ui/e2e/screenshots).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.ODP_BIN ?? join(root, 'target/debug/ondemand-proxy');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS ?? join(root, 'ui/e2e/screenshots');
const ADMIN = `e2e-admin-${Math.random().toString(36).slice(2)}-password`;
const PAGES = ['dashboard', 'requests', 'accounts', 'tokens', 'models', 'settings', 'connect'];

let proxy;
let base;
let browser;
let page;
let dataDir;
let secret;
/** The home directory the proxy sees: one-click setup writes the agents' config here. */
const homeDir = mkdtempSync(join(tmpdir(), 'odp-e2e-home-'));

/** The binary on a free port with its data in `dir`: `--demo` unless `demo` is false. */
function spawnProxy(dir, demo = true) {
  return spawn(BIN, ['serve', ...(demo ? ['--demo'] : []), '--port', '0', '--data-dir', dir], {
    // STREAM_KEEPALIVE is pinned by the environment, so the dashboard must show it locked.
    env: {
      ...process.env, ADMIN_PASSWORD: ADMIN, STREAM_KEEPALIVE: '5', RUST_LOG: 'warn',
      HOME: homeDir, CODEX_HOME: '', CLAUDE_CONFIG_DIR: '',
      // Without --demo, accounts added here call nothing but a closed loopback port.
      ...(demo ? {} : Object.fromEntries(['BASE', 'AUTH_BASE', 'CLIENT_BASE'].map((k) => [`ONDEMAND_${k}_URL`, 'http://127.0.0.1:9']))),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Where `child` listens, once it says so. */
function listening(child) {
  return new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the proxy did not start: ${out}`)), 20_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`the proxy exited with ${code}: ${out}`)));
  });
}

function startProxy() {
  dataDir = mkdtempSync(join(tmpdir(), 'odp-e2e-'));
  proxy = spawnProxy(dataDir);
  return listening(proxy);
}

before(async () => {
  base = await startProxy();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 900, height: 600 }, locale: 'en-US' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  page = await context.newPage();
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  proxy?.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  rmSync(homeDir, { recursive: true, force: true });
});

const byTest = (id) => page.getByTestId(id);
/** An element each page shows once it has loaded. */
const LANDMARK = {
  dashboard: 'kpi-requests', requests: 'filter-outcome', accounts: 'add-account', tokens: 'add-token',
  models: 'add-alias', settings: 'settings-save', connect: 'base-url',
};
const nav = async (name) => {
  await byTest(`nav-${name}`).click();
  await byTest(LANDMARK[name]).waitFor();
};
/** The inline error Mantine shows under the input with this test id (waits for it). */
async function inlineError(testId) {
  const id = await byTest(testId).getAttribute('id');
  const error = page.locator(`[id="${id}-error"]`);
  await error.waitFor({ timeout: 10_000 });
  return error.innerText();
}
const sdk = () => new OpenAI({ baseURL: `${base}/v1`, apiKey: secret, maxRetries: 0 });

test('sign in: a wrong password is refused inline, the right one opens the dashboard', async () => {
  await page.goto(base);
  await byTest('login-password').fill('not-the-password');
  await byTest('login-submit').click();
  await page.getByText('That password is not right.').waitFor();
  await byTest('login-password').fill(ADMIN);
  await byTest('login-submit').click();
  await byTest('kpi-requests').waitFor();
  // A fresh proxy: the figures load as zeros (not dashes) once the overview arrives.
  await page.waitForFunction(() => document.querySelector('[data-testid=kpi-requests-value]')?.textContent === '0');
});

test('add an account, with inline errors for bad input', async () => {
  await nav('accounts');
  await byTest('add-account').click();
  // Where a key is made: on-demand.io's own dashboard, in a new tab (the app opens it in the browser).
  assert.equal(await byTest('account-key-link').getAttribute('href'), 'https://app.on-demand.io/api-keys-management');
  await byTest('account-key').fill('has a space');
  await byTest('account-save').click();
  assert.match(await inlineError('account-key'), /api_key/);
  await byTest('account-key').fill('demo-key-added-in-e2e-0123');
  await byTest('account-weight').fill('0');
  await byTest('account-save').click();
  assert.match(await inlineError('account-weight'), /weight/);
  await byTest('account-weight').fill('2');
  await byTest('account-name').fill('e2e-account');
  await byTest('account-save').click();
  await byTest('account-e2e-account').waitFor();
  // The simulated upstream takes any key: the account works, but nothing says its key would.
  assert.match(await byTest('account-e2e-account').innerText(), /Simulated/);
  assert.doesNotMatch(await byTest('account-e2e-account').innerText(), /Healthy/);
  assert.equal(await byTest('demo-badge').innerText(), 'DEMO');
  await page.getByText('Account added').waitFor();
  await page.waitForTimeout(400); // its slide-in
  await page.screenshot({ path: join(SHOTS, 'en-account-added.png') });
});

test('import refuses a file that is not an export, readably', async () => {
  await byTest('transfer').click();
  await page.locator('input[type=file]').setInputFiles({ name: 'notes.json', mimeType: 'application/json', buffer: Buffer.from('not json at all') });
  assert.equal(await byTest('error-alert').innerText(), 'That file is not JSON.');
  await page.locator('input[type=file]').setInputFiles({ name: 'other.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "other", "version": 1, "includes_secrets": false}') });
  await page.waitForFunction(() => document.querySelector('[data-testid=error-alert]')?.textContent?.includes('expected format'));
  await page.keyboard.press('Escape');
});

test('create a client token, see it once, and copy it', async () => {
  await nav('tokens');
  await byTest('add-token').click();
  await byTest('token-save').click();
  assert.match(await inlineError('token-name'), /name/);
  await byTest('token-name').fill('e2e');
  await byTest('token-rpm').fill('0');
  await byTest('token-save').click();
  assert.match(await inlineError('token-rpm'), /rpm/);
  await byTest('token-rpm').fill('');
  await byTest('token-save').click();
  secret = (await byTest('token-secret').innerText()).trim();
  assert.match(secret, /^sk-odp-[A-Za-z0-9]{40}$/);
  await byTest('copy-secret').click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await byTest('secret-done').click();
  await byTest('token-e2e').waitFor();
  assert.ok(!(await byTest('tokens-table').innerText()).includes(secret), 'the list shows the prefix only');
});

test('requests through the OpenAI SDK show up live: counters, charts and the request log', async () => {
  await nav('dashboard');
  const client = sdk();
  for (let i = 0; i < 5; i++) {
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `live ${i}` }] });
    assert.ok(r.choices[0].message.content.includes(`live ${i}`));
  }
  const stream = await client.chat.completions.create({ model: 'claude-3.7-sonnet', messages: [{ role: 'user', content: 'streamed' }], stream: true });
  for await (const chunk of stream) void chunk;
  // No reload: the event stream refreshes the figures.
  await page.waitForFunction(() => document.querySelector('[data-testid=kpi-requests-value]')?.textContent === '6', null, { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=recent-table] tr').length >= 6, null, { timeout: 10_000 });
  // The charts draw once their data arrives, which may be a moment after the counters.
  await page.locator('[data-testid=chart-hourly] canvas').first().waitFor({ timeout: 10_000 });
  await page.locator('[data-testid=chart-models] canvas').first().waitFor({ timeout: 10_000 });
  // A screen reader gets the charts in words: a name with the totals, and the figures.
  assert.match(await byTest('chart-hourly').getAttribute('aria-label'), /^Last 24 hours: 6 requests, 0 failed$/);
  assert.match(await byTest('chart-models').getAttribute('aria-label'), /gpt-4o 5, claude-3\.7-sonnet 1/);
  assert.match(await byTest('table-hourly').textContent(), /Requests.*6/s);
  await nav('requests');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]').length === 6);
  assert.match(await byTest('request-log').innerText(), /e2e/);
  await byTest('request-row').first().click();
  await byTest('request-detail').waitFor();
  assert.match(await byTest('request-detail').innerText(), /claude-3\.7-sonnet/);
  await page.keyboard.press('Escape');
});

test('pause: clients get 503 proxy_paused while the dashboard goes on; resume serves again', async () => {
  await nav('dashboard');
  await byTest('pause').click();
  await byTest('paused-badge').waitFor();
  await assert.rejects(
    sdk().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'while paused' }] }),
    (e) => e.status === 503 && e.code === 'proxy_paused',
  );
  await page.screenshot({ path: join(SHOTS, 'en-paused.png') });
  await byTest('resume').click();
  await byTest('pause').waitFor();
  const r = await sdk().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'resumed' }] });
  assert.ok(r.choices[0].message.content.includes('resumed'));
});

test('a setting changes live, a bad value gets an inline error, a pinned one is locked', async () => {
  await nav('settings');
  assert.ok(await byTest('setting-stream_keepalive').isDisabled(), 'set by the environment, so locked');
  assert.ok(await byTest('setting-base_url').isDisabled(), 'the simulated upstream is --demo\'s, not an editable default');
  const input = byTest('setting-rate_limit');
  await input.fill('-1');
  await byTest('settings-save').click();
  assert.match(await inlineError('setting-rate_limit'), /rate_limit/);
  await input.fill('2');
  await byTest('settings-save').click();
  await page.getByText('Settings saved and applied').waitFor();
  const client = sdk();
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    try {
      await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `limit ${i}` }] });
      statuses.push(200);
    } catch (e) {
      statuses.push(e.status);
    }
  }
  assert.deepEqual(statuses, [200, 200, 429], 'the new rate limit applies without a restart');
  await input.fill('0');
  await byTest('settings-save').click();
  await page.getByText('Settings saved and applied').first().waitFor();
});

test('settings → network: a connection test shows the way and the answer', async () => {
  await nav('settings');
  const card = byTest('network-test');
  await card.scrollIntoViewIfNeeded();
  // The demo account's way: straight to the simulated upstream, plain HTTP.
  await byTest('network-account').click();
  await page.getByRole('option').nth(1).click();
  await byTest('network-run').click();
  const result = byTest('network-result');
  await result.waitFor();
  await result.getByText('on-demand.io was reached').waitFor();
  await result.getByText('http/1.1', { exact: true }).waitFor();
  assert.match(await result.innerText(), /HTTP 200, \d+ models listed/);
  assert.match(await result.innerText(), /none \(direct\)/);
  await card.screenshot({ path: join(SHOTS, 'en-network-test.png') });
  // The settings' own way, with no key: the upstream's refusal is told apart from the network's.
  await byTest('network-account').click();
  await page.getByRole('option').first().click();
  await byTest('network-run').click();
  await byTest('network-fault').getByText('on-demand.io answered with an error').waitFor();
});

test('settings → network → diagnose: the doctor checks the demo account step by step, and the report is safe to copy', async () => {
  await nav('settings');
  await byTest('network-test').scrollIntoViewIfNeeded();
  await byTest('network-account').click();
  await page.getByRole('option').nth(1).click();
  await byTest('network-diagnose').click();
  const modal = byTest('doctor');
  await byTest('doctor-verdict').waitFor({ timeout: 20_000 });
  assert.match(await byTest('doctor-verdict').innerText(), /Everything passed/);
  for (const step of ['connection', 'catalogue', 'session', 'sync', 'stream', 'delete']) {
    assert.match(await byTest(`doctor-step-${step}`).innerText(), /OK/, step);
  }
  // The report names the account by a hash: no key, no name (the title is the page's own).
  const report = await byTest('doctor-report').innerText();
  assert.match(report, /Account [0-9a-f]{12} \(api_key\)/);
  assert.doesNotMatch(report, /odp-demo-|demo \(key-/, 'no key and no account name');
  await byTest('doctor-copy').waitFor();
  await page.screenshot({ path: join(SHOTS, 'en-doctor.png') });
  await page.keyboard.press('Escape');
  await modal.waitFor({ state: 'hidden' });
});

test('models: the live catalogue refreshes; a bad alias is refused inline; an alias to a retired endpoint is flagged', async () => {
  await nav('models');
  const catalogue = byTest('catalogue-table');
  await catalogue.getByText('predefined-gpt-5.6-luna', { exact: true }).waitFor();
  assert.equal(await catalogue.getByText('predefined-openai-gpt4o', { exact: true }).count(), 0, 'inactive ones are hidden');
  const refreshed = page.waitForResponse((r) => r.url().endsWith('/api/catalogue/refresh') && r.status() === 200);
  await byTest('refresh-catalogue').click();
  await refreshed;
  await byTest('add-alias').click();
  await byTest('alias-name').fill('two words');
  await byTest('alias-endpoint').fill('predefined-openai-gpt4o');
  await byTest('alias-save').click();
  assert.match(await inlineError('alias-name'), /alias/);
  await byTest('alias-name').fill('e2e-model');
  await byTest('alias-save').click();
  const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'e2e-model', exact: true }) });
  await row.getByTestId('dead-target').waitFor();
});

test('the navigation is made of links the keyboard reaches, and says which page is open', async () => {
  await nav('requests');
  assert.equal(await byTest('nav-requests').getAttribute('aria-current'), 'page');
  assert.equal(await byTest('nav-dashboard').getAttribute('aria-current'), null);
  assert.match(await byTest('nav-accounts').getAttribute('href'), /#\/accounts$/);
  await byTest('nav-accounts').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid=nav-accounts]')?.getAttribute('aria-current') === 'page');
  assert.match(page.url(), /#\/accounts$/);
  // On a fresh page the first Tab reaches the skip link, which moves the focus past the
  // navigation to the page.
  await page.reload();
  await byTest(LANDMARK.accounts).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'skip-link');
  assert.ok(await byTest('skip-link').isVisible(), 'it shows when it has the focus');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  assert.match(page.url(), /#\/accounts$/, 'the page stays');
  await page.keyboard.press('Tab');
  assert.ok(await page.evaluate(() => document.getElementById('main').contains(document.activeElement)), 'the next Tab is in the page');
});

test('models: a pattern is added (a bad target refused inline), used by requests, and the built-ins restored', async () => {
  await nav('models');
  await byTest('patterns-table').waitFor();
  await byTest('add-pattern').click();
  await byTest('pattern-name').fill('e2e-*');
  await byTest('pattern-targets').fill('bad/id');
  await byTest('pattern-form').getByRole('button', { name: 'Save' }).click();
  assert.match(await inlineError('pattern-targets'), /endpoint/);
  await byTest('pattern-targets').fill('predefined-gpt-5.6-luna');
  await byTest('pattern-form').getByRole('button', { name: 'Save' }).click();
  const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'e2e-*', exact: true }) });
  await row.getByText('in use').waitFor();
  const answer = await sdk().chat.completions.create({ model: 'e2e-model-anything', messages: [{ role: 'user', content: 'hi' }] });
  assert.match(answer.choices[0].message.content, /hi/);
  await byTest('patterns-table').screenshot({ path: join(SHOTS, 'en-patterns.png') });
  await byTest('reset-patterns').click();
  await page.getByRole('dialog').getByRole('button', { name: 'Restore built-in patterns' }).click();
  await row.waitFor({ state: 'detached' });
});

test('connect: a token without a name is refused inline; each client test speaks its dialect', async () => {
  await nav('connect');
  await byTest('connect-create-token').click();
  assert.match(await inlineError('connect-token-name'), /name/);
  assert.equal(await byTest('base-url').innerText(), `${base}/v1`);
  await byTest('connect-token').fill(secret);
  // Claude Code (Anthropic Messages), Codex (Responses), curl (Chat Completions).
  for (const client of ['claude', 'codex', 'curl']) {
    await byTest(`connect-tab-${client}`).click();
    await byTest(`connect-test-${client}`).click();
    await byTest('connect-answer').waitFor();
    assert.match(await byTest('connect-answer').innerText(), /Simulated answer/);
    if (client === 'claude') await page.screenshot({ path: join(SHOTS, 'en-connect-claude.png') });
  }
  // A wrong token is the token refused, in every dialect: not a dashboard session that ended.
  await byTest('connect-token').fill('sk-odp-not-a-token-of-this-proxy');
  for (const client of ['claude', 'curl']) {
    await byTest(`connect-tab-${client}`).click();
    await byTest(`connect-test-${client}`).click();
    await byTest('connect-error').waitFor();
    const said = await byTest('connect-error').innerText();
    assert.match(said, /refused this client token/, client);
    assert.doesNotMatch(said, /session has ended/, client);
  }
  await byTest('connect-token').fill(secret);
});

test('connect: a token made here is kept across pages while the app runs, and the page says which token it uses', async () => {
  await nav('connect');
  await byTest('connect-token-name').fill('kept across pages');
  // The field may still hold the last test's token: wait for the new one, not any token.
  const before = await byTest('connect-token').inputValue();
  await byTest('connect-create-token').click();
  await page.waitForFunction((old) => {
    const value = document.querySelector('[data-testid="connect-token"]')?.value ?? '';
    return value.startsWith('sk-odp-') && value !== old;
  }, before);
  const made = await byTest('connect-token').inputValue();
  await nav('dashboard');
  await nav('connect');
  assert.equal(await byTest('connect-token').inputValue(), made, 'still there after a change of page');
  assert.match(await byTest('connect-token-which').innerText(), /kept across pages.*until the app closes/);
  await byTest('connect-token').fill(secret);
  assert.match(await byTest('connect-token-which').innerText(), /pasted/);
});

test('each page opens at its top, not where the last one was scrolled to', async () => {
  await nav('connect');
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  assert.ok(await page.evaluate(() => window.scrollY) > 100, 'the Connect page scrolls');
  await nav('dashboard');
  assert.equal(await page.evaluate(() => window.scrollY), 0);
});

test('connect: one click points Claude Code here after showing the change, and Disconnect takes it back', async () => {
  await nav('connect');
  const settings = join(homeDir, '.claude', 'settings.json');
  await byTest('agent-claude-code').waitFor();
  assert.match(await byTest('agent-claude-code').innerText(), /^not (installed|connected)$/im);
  await byTest('connect-token').fill(secret);
  await byTest('agent-connect-claude-code').click();
  await byTest('agent-diff').waitFor();
  const diff = await byTest('agent-diff').innerText();
  assert.match(diff, new RegExp(`"ANTHROPIC_BASE_URL": "${base}"`));
  assert.ok(!diff.includes(secret), 'the token is shortened in the diff');
  assert.ok(!existsSync(settings), 'nothing is written before the click');
  await page.waitForTimeout(400); // the dialog's opening transition
  await page.screenshot({ path: join(SHOTS, 'en-connect-agent-preview.png') });
  await byTest('agent-apply').click();
  await byTest('agent-done').waitFor();
  const written = JSON.parse(readFileSync(settings, 'utf8'));
  assert.equal(written.env.ANTHROPIC_BASE_URL, base);
  assert.equal(written.env.ANTHROPIC_AUTH_TOKEN, secret, 'the token in the field is the one written');
  assert.match(await byTest('agent-claude-code').innerText(), /^connected$/im);
  await page.waitForTimeout(400); // the dialog's closing transition
  await page.screenshot({ path: join(SHOTS, 'en-connect-agent-done.png') });
  await byTest('agent-undo-claude-code').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid="agent-undo-claude-code"]'));
  assert.ok(!existsSync(settings), 'the file that was not there is gone again');
});

test('a tool round trip shows its calls in the request log and the tools card by model', async () => {
  const client = sdk();
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const messages = [{ role: 'user', content: 'Use get_weather.' }];
  const first = await client.chat.completions.create({ model: 'gpt-4o', messages, tools });
  const call = first.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny' });
  const second = await client.chat.completions.create({ model: 'gpt-4o', messages, tools });
  assert.match(second.choices[0].message.content, /get_weather returned: sunny/);
  await nav('requests');
  await page.waitForFunction(() => document.querySelector('[data-testid=request-row]')?.textContent?.includes('gpt-4o'));
  // The call's row is the second newest once the log has caught up (rows are written in
  // batches): look until it is, within a deadline.
  let detail = '';
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await page.waitForTimeout(100)) {
    await byTest('request-row').nth(1).click();
    await byTest('request-detail').waitFor();
    detail = await byTest('request-detail').innerText();
    if (/get_weather/.test(detail)) break;
    await page.keyboard.press('Escape');
  }
  assert.match(detail, /get_weather \(16 B\)/, detail);
  assert.doesNotMatch(detail, /Paris/, 'argument values are never shown');
  await page.keyboard.press('Escape');
  await nav('dashboard');
  await byTest('tools-by-model').waitFor();
  assert.match(await byTest('tools-by-model').innerText(), /gpt-4o/);
  await byTest('tools-by-model').screenshot({ path: join(SHOTS, 'en-tools-by-model.png') });
});

test('an image is described, and the request log says so', async () => {
  const pixel = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==';
  const client = sdk();
  for (const turn of ['first', 'again']) {
    const r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: [
      { type: 'text', text: `${turn}: what is this?` },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel}` } },
    ] }] });
    assert.match(r.choices[0].message.content, /A PNG picture of 70 bytes/);
  }
  await nav('requests');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=request-row]')[1]?.textContent?.includes('Images: 1'), null, { timeout: 10_000 });
  const details = [];
  for (const i of [0, 1]) {
    await byTest('request-row').nth(i).click();
    await byTest('request-detail').waitFor();
    details.push(await byTest('request-detail').innerText());
    await page.keyboard.press('Escape');
  }
  assert.match(details[1], /1 described by on-demand\.io's image agent, 0 from the cache/, details[1]);
  assert.match(details[0], /0 described by on-demand\.io's image agent, 1 from the cache/, details[0]);
  await nav('connect');
  assert.match(await byTest('connect-images').innerText(), /described, not seen/);
});

test('a refused request says why in the request log, and counts no tokens', async () => {
  const client = sdk();
  // The first is the log's sample for its minute; the rest are counted beside it.
  for (let i = 0; i < 4; i++) {
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }));
  }
  await nav('requests');
  await byTest('refusal-tallies').waitFor({ timeout: 20_000 });
  assert.match(await byTest('refusal-tallies').innerText(), /counted rather than logged[\s\S]*No model by that name here[\s\S]*\+[1-3]/);
  await page.waitForFunction(() => document.querySelector('[data-testid=request-row]')?.textContent?.includes('no-such-model'), null, { timeout: 10_000 });
  await byTest('request-row').first().click();
  await byTest('request-detail').waitFor();
  const detail = await byTest('request-detail').innerText();
  assert.match(detail, /No model by that name here/, detail);
  assert.match(detail, /none: refused before anything went upstream/, detail);
  assert.doesNotMatch(detail, /exact \(from on-demand\.io\)/, detail);
  await page.keyboard.press('Escape');
});

test('a hidden page keeps no live stream open, and catches up when shown', async () => {
  await nav('dashboard');
  await page.waitForFunction(() => document.querySelector('[data-testid=live-status]')?.textContent?.includes('Live'));
  const count = async () => Number((await byTest('kpi-requests-value').innerText()).replace(/\D/g, ''));
  // The figures settle first (the page refreshes what it had cached when it opened).
  let before = -1;
  for (let now = await count(); now !== before; now = await count()) {
    before = now;
    await page.waitForTimeout(1000);
  }
  const setVisibility = (state) => page.evaluate((s) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
  await setVisibility('hidden');
  await sdk().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'sent while hidden' }] });
  await page.waitForTimeout(2500);
  assert.equal(await count(), before, 'nothing is redrawn while hidden');
  // Shown again, the page opens a new stream (the old one was closed when it hid).
  const reopened = page.waitForRequest((r) => r.url().includes('/api/events'));
  await setVisibility('visible');
  await reopened;
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=kpi-requests-value]')?.textContent?.replace(/\D/g, '')) === n, before + 1, { timeout: 10_000 });
});

test('switch language, and screenshots of every page in both languages, both themes, a small and a large window', async () => {
  // A fresh page: no notifications left over from the tests above.
  await page.goto(`${base}/#/dashboard`);
  await page.reload();
  await byTest('kpi-requests').waitFor();
  for (const [width, height] of [[900, 600], [1400, 900]]) {
    await page.setViewportSize({ width, height });
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const lang of ['en', 'zh-CN']) {
        await byTest('language-menu').click();
        await byTest(`language-${lang}`).click();
        for (const name of PAGES) {
          await nav(name);
          await page.waitForTimeout(400);
          // The lists keep their switch and actions on screen: a small window drops
          // the columns that matter least instead of cutting the last ones.
          for (const table of { accounts: ['accounts-table'], tokens: ['tokens-table'] }[name] ?? []) {
            const overflow = await page.evaluate((id) => {
              const box = document.querySelector(`[data-testid="${id}"]`).getBoundingClientRect();
              return box.right - document.documentElement.clientWidth;
            }, table);
            assert.ok(overflow <= 0, `${table} at ${width}x${height} (${lang}) runs ${overflow}px past the window`);
          }
          const suffix = width === 900 && scheme === 'light' ? '' : `-${scheme}-${width}x${height}`;
          await page.screenshot({ path: join(SHOTS, `${lang}-${name}${suffix}.png`) });
        }
      }
    }
  }
  await page.setViewportSize({ width: 900, height: 600 });
  await page.emulateMedia({ colorScheme: 'light' });
  assert.equal(await byTest('nav-dashboard').innerText(), '仪表盘');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  await byTest('language-menu').click();
  await byTest('language-en').click();
  assert.equal(await byTest('nav-dashboard').innerText(), 'Dashboard');
});

test('the system dark theme is followed', async () => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await nav('dashboard');
  await page.waitForTimeout(400);
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute('data-mantine-color-scheme')), 'dark');
  await page.screenshot({ path: join(SHOTS, 'en-dashboard-dark.png') });
  await nav('accounts');
  await page.screenshot({ path: join(SHOTS, 'en-accounts-dark.png') });
  await page.emulateMedia({ colorScheme: 'light' });
});

/** axe-core's WCAG 2.1 A and AA rules on the page as it is: serious and critical findings. */
const AXE = readFileSync(join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');
async function axeFindings(on = page) {
  // Evaluated over the DevTools protocol: the page's CSP (rightly) refuses injected scripts.
  if (!(await on.evaluate(() => Boolean(window.axe)))) await on.evaluate(AXE);
  return on.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ rule: v.id, count: v.nodes.length, where: v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n')[1] ?? ''}`) }));
  });
}

test('axe finds no serious or critical WCAG 2.1 AA problem on any page, in either language or theme', async () => {
  await page.goto(`${base}/#/dashboard`);
  await page.reload();
  await byTest('kpi-requests').waitFor();
  const table = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const lang of ['en', 'zh-CN']) {
      await byTest('language-menu').click();
      await byTest(`language-${lang}`).click();
      await page.keyboard.press('Escape');
      for (const name of PAGES) {
        await nav(name);
        await page.waitForTimeout(300);
        for (const finding of await axeFindings()) table.push({ scheme, lang, page: name, ...finding });
      }
      // And what opens over the pages: the account and token forms, a request's details.
      for (const [name, open, shown] of [
        ['accounts', 'add-account', 'account-form'],
        ['tokens', 'add-token', 'token-form'],
        ['requests', 'request-row', 'request-detail'],
      ]) {
        await nav(name);
        await byTest(open).first().click();
        await byTest(shown).waitFor();
        await page.waitForTimeout(300);
        for (const finding of await axeFindings()) table.push({ scheme, lang, page: `${name}: ${shown}`, ...finding });
        await page.keyboard.press('Escape');
        await byTest(shown).waitFor({ state: 'hidden' });
      }
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await byTest('language-menu').click();
  await byTest('language-en').click();
  assert.deepEqual(table, [], JSON.stringify(table, null, 1));
});

test('a first run without an account offers the demo, and what it shows passes axe', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'odp-e2e-first-'));
  const child = spawnProxy(dir, false);
  const context = await browser.newContext({ viewport: { width: 900, height: 600 }, locale: 'en-US' });
  try {
    const url = await listening(child);
    const first = await context.newPage();
    first.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
    await first.goto(url);
    await first.getByTestId('login-password').fill(ADMIN);
    await first.getByTestId('login-submit').click();
    const table = [];
    for (const scheme of ['light', 'dark']) {
      await first.emulateMedia({ colorScheme: scheme });
      await first.getByTestId('try-demo').waitFor();
      // Past the theme's colour transition.
      await first.waitForTimeout(300);
      for (const finding of await axeFindings(first)) table.push({ scheme, page: 'dashboard, no account', ...finding });
      await first.getByTestId('try-demo').click();
      await first.getByTestId('demo-notice').waitFor();
      assert.match(await first.getByTestId('demo-notice').innerText(), /Demo \(simulated\)/);
      await first.waitForTimeout(300);
      for (const finding of await axeFindings(first)) table.push({ scheme, page: 'dashboard, demo notice', ...finding });
      if (scheme === 'light') await first.screenshot({ path: join(SHOTS, 'en-dashboard-demo.png') });
      await first.getByTestId('end-demo').click();
      await first.getByTestId('demo-notice').waitFor({ state: 'hidden' });
    }
    assert.deepEqual(table, [], JSON.stringify(table, null, 1));
    // The user's own account ends the demo: a simulated account never serves beside it.
    await first.getByTestId('try-demo').click();
    await first.getByTestId('demo-notice').waitFor();
    await first.getByTestId('nav-accounts').click();
    await first.getByTestId('add-account').click();
    await first.getByTestId('account-key').fill('a-real-key-added-in-e2e-0123');
    await first.getByTestId('account-name').fill('mine');
    await first.getByTestId('account-save').click();
    await first.getByText(/The demo ended/).waitFor();
    await first.getByTestId('account-mine').waitFor();
    await first.getByTestId('account-Demo (simulated)').waitFor({ state: 'detached' });
  } finally {
    await context.close();
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a window the desktop shell signs in needs no login and offers no sign-out', async () => {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
  // The shell puts no secret in the page: the page asks for the credential over IPC.
  await context.addInitScript(([baseUrl, adminPassword]) => {
    window.__ODP__ = { baseUrl, shell: true };
    window.__TAURI__ = { core: { invoke: async (command) => (command === 'admin_credential' ? adminPassword : null) } };
  }, [base, ADMIN]);
  const shell = await context.newPage();
  await shell.goto(base);
  await shell.getByTestId('kpi-requests').waitFor();
  assert.equal(await shell.getByTestId('logout').count(), 0);
  assert.equal(await shell.getByTestId('login-password').count(), 0);
  await context.close();
});

test('the desktop window names a taken port and offers a free one in one click', async () => {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
  await context.addInitScript(() => {
    window.__ODP__ = { baseUrl: '', shell: true, shellError: { state: 'failed', port: 8787, reason: 'in_use', message: 'port 8787 on 127.0.0.1 is already in use', suggestion: 8788 } };
    window.__invoked = [];
    window.__TAURI__ = { core: { invoke: async (command, args) => { window.__invoked.push([command, args]); return { state: 'running' }; } } };
  });
  const shell = await context.newPage();
  await shell.goto(base);
  await shell.getByTestId('shell-problem').waitFor();
  assert.match(await shell.getByTestId('shell-problem').innerText(), /Port 8787 is already in use/);
  await shell.screenshot({ path: join(SHOTS, 'en-port-problem.png') });
  await shell.getByTestId('use-suggested-port').click();
  await shell.waitForFunction(() => window.__invoked.length === 1);
  assert.deepEqual(await shell.evaluate(() => window.__invoked[0]), ['set_preferences', { changes: { port: 8788 } }]);
  await context.close();
});

test('desktop preferences: listening beyond this computer is left to the app to confirm; the language is remembered', async () => {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
  await context.addInitScript(([baseUrl, adminPassword]) => {
    window.__ODP__ = { baseUrl, shell: true, language: 'en', theme: 'auto' };
    const prefs = { port: 8787, host: '127.0.0.1', close_to_tray: true, start_minimised: false, language: 'en', theme: 'auto', launch_at_login: false, data_dir: '/home/me/.local/share/io.github.ondemand-proxy' };
    window.__invoked = [];
    window.__TAURI__ = { core: { invoke: async (command, args) => {
      // The app's page asks for the credential over IPC before it starts.
      if (command === 'admin_credential') return adminPassword;
      window.__invoked.push([command, args]);
      if (command === 'set_preferences') {
        if (args.changes.port === 80) throw { code: 'invalid_port', field: 'port', message: 'Port 80 is reserved; choose 1024 or above.' };
        // The app asks natively; the first time, the person says no.
        if (args.changes.host === '0.0.0.0' && !window.__askedOnce) {
          window.__askedOnce = true;
          throw { code: 'declined', field: 'host', message: 'Not confirmed; nothing was changed.' };
        }
        Object.assign(prefs, args.changes);
      }
      return { ...prefs };
    } } };
  }, [base, ADMIN]);
  const shell = await context.newPage();
  await shell.goto(`${base}/#/settings`);
  await shell.getByTestId('desktop-settings').waitFor();
  await shell.getByTestId('desktop-port').fill('80');
  await shell.getByTestId('desktop-port-apply').click();
  await shell.getByText('Port 80 is reserved').waitFor();
  const everywhere = shell.getByText('Every network interface (0.0.0.0)');
  const hostCalls = () => shell.evaluate(() => window.__invoked.filter(([c, a]) => c === 'set_preferences' && a.changes.host).map(([, a]) => a));
  await everywhere.click();
  await shell.waitForFunction(() => window.__askedOnce);
  await shell.waitForTimeout(300);
  assert.equal(await shell.getByText('Not confirmed').count(), 0, 'a no needs no message');
  assert.equal(await shell.locator('[data-testid=desktop-host] input[value="127.0.0.1"]').isChecked(), true, 'a no changes nothing');
  await everywhere.click();
  await shell.waitForFunction(() => window.__invoked.filter(([c, a]) => c === 'set_preferences' && a.changes.host).length === 2);
  await shell.locator('[data-testid=desktop-host] input[value="0.0.0.0"]:checked').waitFor({ state: 'attached' });
  assert.deepEqual(await hostCalls(), [{ changes: { host: '0.0.0.0' } }, { changes: { host: '0.0.0.0' } }], 'the page asks for the change only, never says it is confirmed');
  await shell.getByTestId('language-menu').click();
  await shell.getByTestId('language-zh-CN').click();
  await shell.waitForFunction(() => window.__invoked.some(([c, a]) => c === 'set_preferences' && a.changes.language === 'zh-CN'));
  await shell.getByText('桌面应用').waitFor();
  await shell.waitForTimeout(400); // the menu's fade-out
  await shell.screenshot({ path: join(SHOTS, 'zh-CN-desktop-settings.png') });
  await context.close();
});

test('the main flow from the keyboard alone: sign in, change pages, create a token, copy it', async () => {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 }, locale: 'en-US' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const keys = await context.newPage();
  const focused = () => keys.evaluate(() => document.activeElement?.getAttribute('data-testid'));
  /** Presses Tab until the element with `testId` has the focus. */
  const tabTo = async (testId) => {
    for (let i = 0; i < 60; i++) {
      if ((await focused()) === testId) return;
      await keys.keyboard.press('Tab');
    }
    assert.fail(`Tab never reached ${testId}`);
  };
  await keys.goto(base);
  await keys.getByTestId('login-password').waitFor();
  await tabTo('login-password');
  await keys.keyboard.type(ADMIN);
  await keys.keyboard.press('Enter');
  await keys.getByTestId('kpi-requests').waitFor();
  await tabTo('nav-tokens');
  await keys.keyboard.press('Enter');
  await keys.getByTestId('add-token').waitFor();
  await tabTo('add-token');
  await keys.keyboard.press('Enter');
  await tabTo('token-name');
  await keys.keyboard.type('keyboard');
  await tabTo('token-save');
  await keys.keyboard.press('Enter');
  await keys.getByTestId('token-secret').waitFor();
  const made = (await keys.getByTestId('token-secret').innerText()).trim();
  await tabTo('copy-secret');
  await keys.keyboard.press('Enter');
  assert.equal(await keys.evaluate(() => navigator.clipboard.readText()), made);
  await tabTo('secret-done');
  await keys.keyboard.press('Enter');
  await keys.getByTestId('token-keyboard').waitFor();
  await context.close();
});

test('sign out: the admin API answers nothing until the next sign-in', async () => {
  await byTest('logout').click();
  await byTest('login-password').waitFor();
  await page.screenshot({ path: join(SHOTS, 'en-login.png') });
  await page.getByRole('button', { name: '简体中文' }).click();
  await page.getByText('管理员密码', { exact: true }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'zh-CN-login.png') });
  const status = await page.evaluate(async () => (await fetch('/api/accounts')).status);
  assert.equal(status, 401);
});
