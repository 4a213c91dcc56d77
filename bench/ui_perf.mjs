// The dashboard's figures in a real browser (Debian's Chromium via playwright-core):
// - time from navigation to an interactive dashboard (KPIs filled, charts drawn) on a server
//   holding many usage rows;
// - responsiveness while a burst of requests runs (started by ui.sh): the longest gap
//   between animation frames, long tasks on the main thread, how quickly a click takes
//   effect, and how many live updates arrived.
// Usage: node bench/ui_perf.mjs BASE_URL ADMIN_PASSWORD [burst seconds]
import { chromium } from 'playwright-core';

const [base, password, burstArg] = process.argv.slice(2);
const burstSeconds = Number(burstArg ?? 0);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const login = await context.request.post(`${base}/api/login`, { data: { password } });
if (!login.ok()) throw new Error(`login failed: ${login.status()}`);
const page = await context.newPage();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const loads = [];
for (let i = 0; i < 5; i++) {
  const started = Date.now();
  await page.goto(`${base}/#/dashboard`);
  await page.waitForFunction(() => {
    const kpi = document.querySelector('[data-testid=kpi-requests-value]')?.textContent;
    return kpi && kpi !== '—' && document.querySelector('[data-testid=chart-daily] canvas') && document.querySelector('[data-testid=chart-models] canvas');
  }, null, { timeout: 30_000 });
  loads.push(Date.now() - started);
}
const requests = await page.locator('[data-testid=kpi-requests-value]').innerText();
console.log(JSON.stringify({ label: 'dashboard interactive (KPIs and charts drawn)', requests_shown: requests, median_ms: median(loads), max_ms: Math.max(...loads), runs: loads, target_ms: 1000 }));

if (burstSeconds > 0) {
  await page.evaluate(() => {
    const w = window;
    w.__perf = { gaps: [], longTasks: [], last: performance.now() };
    const frame = (t) => {
      w.__perf.gaps.push(t - w.__perf.last);
      w.__perf.last = t;
      w.__perf.raf = requestAnimationFrame(frame);
    };
    w.__perf.raf = requestAnimationFrame(frame);
    new PerformanceObserver((list) => list.getEntries().forEach((e) => w.__perf.longTasks.push(e.duration))).observe({ entryTypes: ['longtask'] });
  });
  const liveBefore = Number((await page.locator('[data-testid=live-total]').innerText()).replace(/\D/g, '')) || 0;
  const clicks = [];
  const deadline = Date.now() + burstSeconds * 1000;
  const ranges = ['7 days', 'Today'];
  let n = 0;
  while (Date.now() < deadline) {
    const label = ranges[n++ % 2];
    const t0 = Date.now();
    await page.getByText(label, { exact: true }).click();
    // A click that never takes effect fails the run rather than passing as a slow figure.
    await page.waitForFunction((l) => [...document.querySelectorAll('[data-testid=range] label')].some((e) => e.textContent === l && e.closest('[data-active]')), label, { timeout: 10_000 });
    clicks.push(Date.now() - t0);
    await page.waitForTimeout(1000);
  }
  const perf = await page.evaluate(() => {
    cancelAnimationFrame(window.__perf.raf);
    const gaps = window.__perf.gaps.slice(5);
    return { maxFrameGap: Math.max(...gaps), longTasks: window.__perf.longTasks };
  });
  const liveAfter = Number((await page.locator('[data-testid=live-total]').innerText()).replace(/\D/g, '')) || 0;
  console.log(JSON.stringify({
    label: `dashboard during a ${burstSeconds} s burst`,
    requests_seen_live: liveAfter - liveBefore,
    click_to_update_median_ms: median(clicks),
    click_to_update_max_ms: Math.max(...clicks),
    max_frame_gap_ms: Math.round(perf.maxFrameGap),
    long_tasks: perf.longTasks.length,
    long_task_ms_total: Math.round(perf.longTasks.reduce((a, b) => a + b, 0)),
    long_task_ms_max: Math.round(Math.max(0, ...perf.longTasks)),
  }));
}
await browser.close();
