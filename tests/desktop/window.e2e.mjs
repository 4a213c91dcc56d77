// End to end: the real desktop app (Tauri, WebKitGTK) in a real window under Xvfb, driven
// through WebDriver (tauri-driver in front of WebKitWebDriver), with the fake upstream behind
// it and the official OpenAI SDK sending traffic. Everything the app writes goes to a
// temporary home (XDG_* directories); the proxy listens on a free loopback port.
//
// Set by scripts/test.sh: ODP_DESKTOP_BIN (the app, built with `custom-protocol` so that it
// carries the UI), ODP_BIN (the headless binary, to reopen the app's database), FAKE_BIN,
// TAURI_DRIVER, and SCREENSHOTS (where the window's screenshots go).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { Builder, By, Capabilities, until } from 'selenium-webdriver';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (scripts/test.sh sets it)`);
  return value;
};
const APP = need('ODP_DESKTOP_BIN');
const HEADLESS = need('ODP_BIN');
const FAKE = need('FAKE_BIN');
const TAURI_DRIVER = need('TAURI_DRIVER');
const SHOTS = need('SCREENSHOTS');
const IDENTIFIER = 'io.github.ondemand-proxy';
const TOKEN = `sk-desktop-e2e-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;

const children = [];
let work;
let env;
let port;
let driver;
let requestsSent = 0;
/** The admin password the app handed its window. */
let adminPassword;
/** Where the debug build's dialog hook asks its questions (ODP_E2E_DIALOG). */
let dialogDir;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address();
      server.close(() => resolve(p));
    });
  });
}

/** Starts a child and resolves with the first match of `pattern` in its output. */
function start(command, args, options, pattern, fd = 1) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${command} did not start: ${out}`)), 30_000);
    child.stdio[fd].on('data', (chunk) => {
      out += chunk;
      const match = out.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    });
    child.on('exit', (code) => reject(new Error(`${command} exited with ${code}: ${out}`)));
  });
}

async function waitFor(what, check, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Processes whose executable is `path`. */
function processesOf(path) {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`) === path;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** `pid` and every process under it. */
function tree(pid) {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const parent = new Map();
  for (const p of all) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone already
    }
  }
  const found = [pid];
  for (let i = 0; i < found.length; i++) {
    for (const [child, ppid] of parent) if (ppid === found[i]) found.push(child);
  }
  return found;
}

/** The addresses something listens on at TCP `port` (IPv4 LISTEN sockets in /proc/net/tcp). */
function listeningOn(p) {
  const hexPort = `:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[3] === '0A' && f[1]?.endsWith(hexPort))
    .map((f) => [3, 2, 1, 0].map((i) => parseInt(f[1].slice(i * 2, i * 2 + 2), 16)).join('.'));
}

/** The X ids of the app's windows that show (top-level, named like the app, viewable). */
function shownWindows() {
  const x = (...args) => execFileSync('xwininfo', args, { env, encoding: 'utf8' });
  return [...x('-root', '-children').matchAll(/^\s+(0x[0-9a-f]+) "OnDemand Proxy"/gm)]
    .map((m) => m[1])
    .filter((id) => x('-id', id).includes('Map State: IsViewable'));
}

/** Waits for the app's native question (the debug build's file hook, which release builds
 * have not got), answers it, and returns its text. */
async function answerDialog(reply) {
  const question = join(dialogDir, 'question');
  const asked = await waitFor('the app to ask', () => existsSync(question) && readFileSync(question, 'utf8'));
  writeFileSync(join(dialogDir, 'answer.tmp'), `${reply}\n`);
  renameSync(join(dialogDir, 'answer.tmp'), join(dialogDir, 'answer'));
  await waitFor('the answer to be taken', () => !existsSync(question));
  return asked;
}

const alive = (pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

async function shot(name) {
  writeFileSync(join(SHOTS, `${name}.png`), await driver.takeScreenshot(), 'base64');
}

const byTest = (id) => By.css(`[data-testid="${id}"]`);
const text = async (id) => (await driver.findElement(byTest(id))).getText();
// What an element holds, seen or not (WebKit's WebDriver gives no text for what is off screen).
const content = (id) => driver.executeScript(`return document.querySelector('[data-testid="${id}"]')?.textContent ?? ''`);
const click = async (id) => {
  const element = await driver.wait(until.elementLocated(byTest(id)), 15_000);
  // In view first: a control scrolled under the header would take no click.
  await driver.executeScript("arguments[0].scrollIntoView({ block: 'center' })", element);
  await element.click();
};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'odp-desktop-e2e-'));
  mkdirSync(SHOTS, { recursive: true });
  const xdg = (name) => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const [home, data, config, cache] = [xdg('home'), xdg('data'), xdg('config'), xdg('cache')];
  dialogDir = xdg('dialog');

  // A display of our own: Xvfb picks a free number and writes it to fd 3.
  const xvfb = await start('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] }, /(\d+)\n/, 3);
  const display = `:${xvfb.match[1]}`;

  // Frames 50 ms apart, so a streamed answer is still in flight when the app is asked to quit.
  const fake = await start(FAKE, ['--key', 'desktop-key', '--frame-delay-ms', '50'], {}, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  port = await freePort();
  mkdirSync(join(config, IDENTIFIER), { recursive: true });
  writeFileSync(join(config, IDENTIFIER, 'preferences.json'), JSON.stringify({ port }));

  env = {
    ...process.env,
    DISPLAY: display,
    // The login item goes to $HOME/.config/autostart (auto-launch ignores XDG_CONFIG_HOME).
    HOME: home,
    XDG_DATA_HOME: data,
    XDG_CONFIG_HOME: config,
    XDG_CACHE_HOME: cache,
    API_ACCESS_TOKEN: TOKEN,
    // No account: the first run offers the demo; the test adds its account afterwards.
    ONDEMAND_BASE_URL: fake.match[1],
    ONDEMAND_AUTH_BASE_URL: fake.match[1],
    RUST_LOG: 'info',
    // The native dialog, answered through files (a hook of debug builds only).
    ODP_E2E_DIALOG: dialogDir,
    // One-click setup writes the agents' config under HOME, nowhere else.
    CODEX_HOME: '',
    CLAUDE_CONFIG_DIR: '',
    // Software rendering: Xvfb has no GPU.
    WEBKIT_DISABLE_COMPOSITING_MODE: '1',
    LIBGL_ALWAYS_SOFTWARE: '1',
  };
  const [driverPort, nativePort] = [await freePort(), await freePort()];
  // A session bus of our own: the single-instance lock and the tray talk D-Bus.
  const tauriDriver = spawn('dbus-run-session', ['--', TAURI_DRIVER, '--port', String(driverPort), '--native-port', String(nativePort)], {
    env, stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(tauriDriver);
  await waitFor('tauri-driver', () => fetch(`http://127.0.0.1:${driverPort}/status`).then((r) => r.ok, () => false));
  const capabilities = new Capabilities();
  capabilities.set('tauri:options', { application: APP });
  capabilities.setBrowserName('wry');
  driver = await new Builder().withCapabilities(capabilities).usingServer(`http://127.0.0.1:${driverPort}/`).build();
});

after(async () => {
  await driver?.quit().catch(() => undefined);
  for (const child of children.reverse()) for (const pid of tree(child.pid).reverse()) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  for (const pid of processesOf(APP)) process.kill(pid, 'SIGKILL');
  if (!work) return;
  // The desktop portal (started over D-Bus by the webview) may leave its document mount in
  // the temporary cache: unmount what is mounted below the work directory, then remove it.
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((line) => line.split(' ')[1] ?? '');
  for (const mount of mounts.filter((m) => m.startsWith(work)).reverse()) {
    try {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    } catch {
      // not ours to unmount: the removal below says what is left
    }
  }
  try {
    rmSync(work, { recursive: true, force: true });
  } catch (error) {
    console.warn(`could not remove ${work}: ${error.message}`);
  }
});

test('the window opens on the dashboard, signed in by the app', async () => {
  await driver.wait(until.elementLocated(byTest('kpi-requests')), 30_000);
  assert.equal(await driver.getTitle(), 'OnDemand Proxy');
  assert.equal((await driver.findElements(byTest('login-password'))).length, 0, 'no login in the app');
  assert.equal((await driver.findElements(byTest('logout'))).length, 0, 'no sign-out in the app');
  await driver.wait(async () => (await text('live-status')).includes('Live'), 15_000, 'the live stream connects');
  adminPassword = await driver.executeScript('return window.__ODP__.adminPassword');
  assert.ok(adminPassword?.length >= 20, 'the app hands its own page its own admin credential over IPC');
  await shot('desktop-dashboard-empty');
});

test('a first run without an account tries the demo: a test request from Connect shows on the dashboard', async () => {
  await click('try-demo');
  await driver.wait(until.elementLocated(byTest('demo-notice')), 15_000, 'the dashboard says the demo is on');
  assert.match(await content('demo-notice'), /Demo \(simulated\)/);
  await shot('desktop-demo-notice');
  await click('nav-accounts');
  await driver.wait(async () => /Simulated/.test(await content('account-Demo (simulated)')), 15_000, 'the account is labelled simulated, not healthy');
  // A new user has no token yet: Connect makes one, then sends a test request with it.
  await click('nav-connect');
  const name = await driver.wait(until.elementLocated(byTest('connect-token-name')), 15_000);
  await name.sendKeys('first run');
  await click('connect-create-token');
  await driver.wait(async () => (await driver.findElement(byTest('connect-token')).getAttribute('value')).startsWith('sk-odp-'), 15_000);
  await click('connect-tab-curl');
  await click('connect-test-curl');
  await driver.wait(until.elementLocated(byTest('connect-answer')), 20_000);
  assert.match(await content('connect-answer'), /Simulated answer/);
  requestsSent += 1;
  await shot('desktop-demo-connect');
  await click('nav-dashboard');
  await driver.wait(async () => (await content('kpi-requests-value')) === String(requestsSent), 15_000, 'the request is counted');
  await driver.wait(async () => (await driver.findElements(By.css('[data-testid=recent-table] tbody tr'))).length >= 1, 15_000);
  await driver.wait(async () => /first run/.test(await content('recent-table')), 15_000, 'it lists the request, with its token');
  await driver.executeScript("document.querySelector('[data-testid=demo-notice]').scrollIntoView({ block: 'center' })");
  await shot('desktop-demo-dashboard');
});

/** An agent from npm, pinned in tests/agents (scripts/test.sh installs it first), run in
 * the app's home with nothing of ours in its environment. */
function runAgent(program, args) {
  const bin = join(import.meta.dirname, '..', 'agents', 'node_modules', '.bin', program);
  return execFileSync(bin, args, {
    cwd: env.HOME,
    encoding: 'utf8',
    timeout: 120_000,
    env: { PATH: process.env.PATH, HOME: env.HOME, DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' },
  });
}

test('one-click setup connects Claude Code and Codex, each asked natively; the real agents then answer through the demo, and undo restores their files', async () => {
  // The user's own files, which must come back byte for byte.
  const files = {
    'claude-code': [join(env.HOME, '.claude', 'settings.json'), '{\n  "theme": "dark",\n  "env": {"DISABLE_TELEMETRY": "1"}\n}\n'],
    codex: [join(env.HOME, '.codex', 'config.toml'), '# mine\napproval_policy = "never"\n'],
  };
  for (const [file, text] of Object.values(files)) {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
  }
  // Through the admin API with the app's own credential, as the Connect page calls it (the
  // UI e2e drives the page itself): every apply waits on the app's native question.
  const call = (method, path) => fetch(`http://127.0.0.1:${port}${path}`, {
    method, headers: { Authorization: `Bearer ${adminPassword}`, 'Content-Type': 'application/json' }, body: method === 'POST' ? '{}' : undefined,
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  const listed = await call('GET', '/api/clients');
  assert.deepEqual(listed.body.data.map((a) => a.config_file), [files['claude-code'][0], files.codex[0]]);
  // A no in the app's own dialog changes nothing.
  let applying = call('POST', '/api/clients/codex/apply');
  assert.match(await answerDialog('no'), /^Let OnDemand Proxy change Codex CLI's settings\?\n.*config\.toml/s);
  const declined = await applying;
  assert.equal(declined.status, 403, JSON.stringify(declined.body));
  assert.equal(declined.body.error.code, 'declined');
  assert.equal(readFileSync(files.codex[0], 'utf8'), files.codex[1], 'a no writes nothing');
  for (const agent of ['codex', 'claude-code']) {
    applying = call('POST', `/api/clients/${agent}/apply`);
    assert.match(await answerDialog('yes'), /^Let OnDemand Proxy change (Codex CLI|Claude Code)'s settings\?/);
    const applied = await applying;
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
  }
  assert.ok((await call('GET', '/api/clients')).body.data.every((a) => a.connected && a.applied));

  assert.match(runAgent('claude', ['-p', 'say hello']), /Simulated answer.*You said: say hello/);
  assert.match(runAgent('codex', ['exec', '--skip-git-repo-check', 'say hello']), /Simulated answer.*You said: say hello/);
  // Each agent sent at least its one request; count what it really sent, once recorded.
  const recorded = () => fetch(`http://127.0.0.1:${port}/api/stats/overview?from=0`, { headers: { Authorization: `Bearer ${adminPassword}` } })
    .then((r) => r.json()).then((o) => o.requests);
  await waitFor('the agents\' requests to be recorded', async () => (await recorded()) >= requestsSent + 2);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  requestsSent = await recorded();

  for (const agent of ['claude-code', 'codex']) {
    const undone = await call('POST', `/api/clients/${agent}/undo`);
    assert.equal(undone.status, 200, JSON.stringify(undone.body));
    assert.equal(readFileSync(files[agent][0], 'utf8'), files[agent][1], `${agent}'s file is as it was`);
  }
});

test('ending the demo keeps its requests, and the first real account takes over', async () => {
  await click('nav-dashboard');
  // One click ends it; the request stays in the history.
  await click('end-demo');
  await driver.wait(async () => (await driver.findElements(byTest('demo-notice'))).length === 0, 15_000);
  await driver.wait(until.elementLocated(byTest('try-demo')), 15_000, 'back to the first-run offer');
  // The user's own account, as they would add it (the fake plays on-demand.io).
  const added = await fetch(`http://127.0.0.1:${port}/api/accounts`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminPassword}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ api_key: 'desktop-key', name: 'desktop' }),
  });
  assert.equal(added.status, 201, await added.text());
});

test('the window keeps to the app: a foreign page, by link or by redirect, never loads in it', async () => {
  // A local page that would read what the shell gives its pages, and a redirect to it.
  const hits = [];
  const server = createHttpServer((request, response) => {
    hits.push(request.url);
    if (request.url === '/redirect') {
      response.writeHead(302, { Location: '/page' }).end();
    } else {
      response.writeHead(200, { 'Content-Type': 'text/html' }).end('<script>document.title = JSON.stringify(window.__ODP__)</script>');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const foreign = `http://127.0.0.1:${server.address().port}`;
  const own = await driver.getCurrentUrl();
  try {
    for (const path of ['/page', '/redirect']) {
      await driver.executeScript(
        `const a = document.createElement('a'); a.href = '${foreign}${path}'; document.body.appendChild(a); a.click();`,
      );
      await driver.executeScript(`window.location.href = '${foreign}${path}'`);
      // Give a navigation time to happen; then the window must still be on the app's page.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(await driver.getCurrentUrl(), own, `the window stayed on the app (${path})`);
    }
    assert.deepEqual(hits, [], 'the foreign server was never even asked');
    assert.equal(await driver.getTitle(), 'OnDemand Proxy');
  } finally {
    server.close();
  }
});

test('a request sent through the proxy shows up in the window', async () => {
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: TOKEN, maxRetries: 0 });
  for (const content of ['hello from the desktop test', 'and a second one']) {
    const answer = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content }] });
    assert.ok(answer.choices[0].message.content.includes(content));
    requestsSent += 1;
  }
  await driver.wait(async () => (await content('kpi-requests-value')) === String(requestsSent), 15_000, 'the counter updates live');
  await driver.wait(async () => (await driver.findElements(By.css('[data-testid=recent-table] tbody tr'))).length >= requestsSent, 15_000);
  await shot('desktop-dashboard');
  await click('nav-requests');
  await driver.wait(async () => (await driver.findElements(byTest('request-row'))).length === requestsSent, 15_000);
  assert.match(await driver.executeScript("return document.querySelector('[data-testid=request-row]').textContent"), /gpt-4o/);
  await shot('desktop-requests');
});

test('a second launch hands over to the first and exits', async () => {
  const [first] = processesOf(APP);
  const bus = readFileSync(`/proc/${first}/environ`, 'utf8').split('\0').find((v) => v.startsWith('DBUS_SESSION_BUS_ADDRESS='));
  assert.ok(bus, 'the app runs on a session bus');
  const second = spawn(APP, [], { env: { ...env, DBUS_SESSION_BUS_ADDRESS: bus.split('=').slice(1).join('=') }, stdio: 'ignore' });
  const code = await new Promise((resolve) => second.on('exit', resolve));
  assert.equal(code, 0);
  assert.deepEqual(processesOf(APP), [first], 'the first one still runs, alone');
  assert.ok((await fetch(`http://127.0.0.1:${port}/health`)).ok, 'and still serves');
});

test('launch at login is asked natively, then writes and removes the login item, which starts the app minimised', async () => {
  await click('nav-settings');
  await driver.wait(until.elementLocated(byTest('desktop-settings')), 15_000);
  const item = join(env.HOME, '.config', 'autostart', 'OnDemand Proxy.desktop');
  assert.ok(!existsSync(item));
  const toggle = () => driver.executeScript("document.querySelector('[data-testid=desktop-launch-at-login]').click()");
  const checked = () => driver.executeScript("return document.querySelector('[data-testid=desktop-launch-at-login]').checked");
  await toggle();
  assert.match(await answerDialog('no'), /^Start OnDemand Proxy when you log in\?\n/);
  await driver.wait(async () => !(await checked()), 10_000, 'a no leaves the switch off');
  assert.ok(!existsSync(item), 'and writes no login item');
  await toggle();
  await answerDialog('yes');
  await waitFor('the login item', () => existsSync(item));
  await driver.wait(checked, 10_000);
  const entry = readFileSync(item, 'utf8');
  assert.match(entry, new RegExp(`Exec=.*${APP.split('/').pop()}.*--minimised`));
  await shot('desktop-settings');
  await toggle();
  await waitFor('the login item to go', () => !existsSync(item));
  assert.ok(!existsSync(join(dialogDir, 'question')), 'turning it off asks nothing');
});

test('listening on every interface waits for the native dialog, which the page cannot answer', async () => {
  assert.deepEqual(listeningOn(port), ['127.0.0.1']);
  const invoke = (changes) => driver.executeScript(`
    window.__outcome = undefined;
    window.__TAURI__.core.invoke('set_preferences', { changes: ${JSON.stringify(changes)} })
      .then((v) => { window.__outcome = { host: v.host }; }, (e) => { window.__outcome = { error: e }; });`);
  const outcome = () => driver.wait(() => driver.executeScript('return window.__outcome'), 10_000);

  // The page saying it confirmed is no confirmation: the field does not exist.
  await invoke({ host: '0.0.0.0', confirm_exposed: true });
  assert.match(JSON.stringify(await outcome()), /unknown field `confirm_exposed`/);
  assert.ok(!existsSync(join(dialogDir, 'question')), 'refused before anything is asked');

  // Asked for the change alone, the app asks its own question and waits for the answer.
  await invoke({ host: '0.0.0.0' });
  const question = join(dialogDir, 'question');
  await waitFor('the app to ask', () => existsSync(question));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await driver.executeScript('return window.__outcome'), null, 'the page waits on the dialog');
  assert.deepEqual(listeningOn(port), ['127.0.0.1'], 'nothing moves before the answer');
  assert.match(await answerDialog('no'), /^Let other machines reach the proxy\?\n.*client token/s);
  assert.equal((await outcome()).error?.code, 'declined');
  assert.deepEqual(listeningOn(port), ['127.0.0.1'], 'a no keeps the proxy on this computer');

  // The person says yes, from the page's own control: the proxy moves (and the window reopens).
  const before = shownWindows();
  assert.equal(before.length, 1, `one window shows: ${before}`);
  await driver.findElement(By.xpath("//label[contains(., '0.0.0.0')]")).click();
  await answerDialog('yes');
  await waitFor('the proxy on every interface', () => listeningOn(port).join() === '0.0.0.0');
  assert.ok((await fetch(`http://127.0.0.1:${port}/health`)).ok, 'and still serves');
  const saved = JSON.parse(readFileSync(join(env.XDG_CONFIG_HOME, IDENTIFIER, 'preferences.json'), 'utf8'));
  assert.equal(saved.host, '0.0.0.0', 'and it is remembered');
  // The window was rebuilt for the new address (a new X window, which WebDriver does not
  // follow), and the app lived through it.
  await waitFor('the rebuilt window', () => {
    const now = shownWindows();
    return now.length === 1 && !before.includes(now[0]);
  });
  assert.equal(processesOf(APP).length, 1, 'the app still runs');
});

test('closed to the tray, the window and its web process go; the app serves on, and a second launch builds the window again', async () => {
  const [app] = processesOf(APP);
  const webProcesses = () => tree(app).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('WebKitWebProcess');
    } catch {
      return false;
    }
  });
  // The resident memory of the app and every process it started (the web and network
  // processes), in MiB: printed for the footprint, not asserted (a debug build under Xvfb).
  const rss = () => tree(app).reduce((sum, pid) => {
    try {
      const kb = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
      return sum + (kb ? Number(kb[1]) / 1024 : 0);
    } catch {
      return sum;
    }
  }, 0);
  const [shown] = shownWindows();
  assert.ok(shown, 'a window shows');
  assert.ok(webProcesses().length >= 1, 'the window has a web process');
  const withWindow = rss();
  // The window manager's close button, which Xvfb has not got: WM_DELETE_WINDOW.
  execFileSync('python3', [join(import.meta.dirname, 'wm_close.py'), shown], { env });
  await waitFor('the window to go', () => shownWindows().length === 0);
  await waitFor('its web process to go', () => webProcesses().length === 0);
  console.log(`footprint: ${withWindow.toFixed(0)} MiB with the window, ${rss().toFixed(0)} MiB closed to the tray (the app's processes, debug build)`);
  assert.deepEqual(processesOf(APP), [app], 'the app lives on in the tray');
  assert.ok((await fetch(`http://127.0.0.1:${port}/health`)).ok, 'and serves');
  const bus = readFileSync(`/proc/${app}/environ`, 'utf8').split('\0').find((v) => v.startsWith('DBUS_SESSION_BUS_ADDRESS='));
  const second = spawn(APP, [], { env: { ...env, DBUS_SESSION_BUS_ADDRESS: bus.split('=').slice(1).join('=') }, stdio: 'ignore' });
  assert.equal(await new Promise((resolve) => second.on('exit', resolve)), 0);
  await waitFor('the window built again', () => shownWindows().length === 1);
  assert.ok(webProcesses().length >= 1, 'with a web process of its own');
});

test('quitting drains, leaves no process behind, and the database moves to the headless server', async () => {
  const [app] = processesOf(APP);
  assert.ok(app, 'the app runs');
  const family = tree(app);
  // A streamed answer in flight when the quit comes must still finish, and be recorded.
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: TOKEN, maxRetries: 0 });
  const stream = await client.chat.completions.create({
    model: 'gpt-4o', messages: [{ role: 'user', content: 'the last one, streamed slowly' }], stream: true,
  });
  requestsSent += 1;
  process.kill(app, 'SIGTERM');
  let streamed = '';
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
  assert.ok(streamed.includes('the last one'), streamed);
  await waitFor('the app to exit', () => family.every((pid) => !alive(pid)), 20_000);
  assert.deepEqual(processesOf(APP), [], 'no app process is left');

  const windowState = JSON.parse(readFileSync(join(env.XDG_CONFIG_HOME, IDENTIFIER, '.window-state.json'), 'utf8'));
  assert.ok(windowState.main?.width > 0, 'the window size and position are kept for the next start');
  const dataDir = join(env.XDG_DATA_HOME, IDENTIFIER);
  const logs = readdirSync(join(dataDir, 'logs')).map((f) => readFileSync(join(dataDir, 'logs', f), 'utf8')).join('');
  assert.match(logs, /proxy started/, 'the log is in the app-data directory');
  assert.match(logs, /asked to stop/);
  assert.match(logs, /a second launch: showing this window/, 'the second launch reached the first');
  for (const secret of [TOKEN, adminPassword, 'desktop-key']) assert.ok(!logs.includes(secret), 'no secret in the log');
  const db = join(dataDir, 'ondemand-proxy.db');
  assert.ok(existsSync(db), `the database is in the app-data directory (${dataDir})`);
  // Nothing the app keeps is readable by other users: a path is if every directory above it
  // lets others through and it lets them read (the roots are owner-only, existing ones too).
  const exposed = [];
  const walk = (path, reachable) => {
    const st = statSync(path);
    const passable = reachable && (st.mode & 0o001) !== 0;
    if (reachable && (st.mode & 0o004) !== 0) exposed.push(`${path} (${(st.mode & 0o777).toString(8)})`);
    if (st.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry), passable);
  };
  for (const root of [dataDir, join(env.XDG_CONFIG_HOME, IDENTIFIER), join(env.XDG_CACHE_HOME, IDENTIFIER)]) {
    if (existsSync(root)) {
      assert.equal(statSync(root).mode & 0o777, 0o700, `${root} is owner-only`);
      walk(root, true);
    }
  }
  assert.deepEqual(exposed, [], 'no file or directory of the app is readable by others');
  const check = execFileSync('python3', ['-c', `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("PRAGMA integrity_check").fetchone()[0], c.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0])
`, db], { encoding: 'utf8' }).trim();
  assert.equal(check, `ok ${requestsSent}`, 'consistent, with every request recorded');

  const admin = `desktop-e2e-admin-${Math.random().toString(36).slice(2)}`;
  const { child, match } = await start(HEADLESS, ['serve', '--port', '0', '--data-dir', dataDir],
    { env: { ...process.env, ADMIN_PASSWORD: admin, RUST_LOG: 'warn' } }, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const overview = await fetch(`${match[1]}/api/stats/overview?from=0`, { headers: { Authorization: `Bearer ${admin}` } })
    .then((r) => r.json());
  assert.equal(overview.requests, requestsSent, 'the headless server reads the desktop database');
  child.kill('SIGTERM');
});
