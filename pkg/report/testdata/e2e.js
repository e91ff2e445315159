// End-to-end check of the posture report and the live dashboard in headless
// Chromium (Debian's /usr/bin/chromium), driven by playwright-core. Run by
// report_e2e_test.go at the module root, which renders the report, serves the
// dashboard on loopback and checks what this prints.
//
// Environment:
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   REPORT_URL      file:// URL of the rendered report
//   SCALE_URL       file:// URL of a report of 10,000 findings
//   DASHBOARD_URL   http://127.0.0.1:PORT/api/dashboard, signed in
//   ANONYMOUS_URL   the same dashboard without App Service authentication's principal
//   ARTEFACTS       directory for the screenshots
//
// It prints one JSON object on stdout: for each page, the numbers read off it
// (by data-testid), the finding rows, the charts' accessible names, the meta
// refresh, and every request the page made; and the anonymous answer's status.
// Also the subscriptions the groups of findings and the by-subscription
// breakdown show: their names where known, and their IDs.
// For the report at scale, also what the browser measured: the navigation's
// time to the load event and to the first contentful paint, the page's size
// and height, and how many findings it lists in full and by name.
'use strict';

const path = require('path');
const { chromium } = require('playwright-core');

const ids = ['open-count', 'exempt-count', 'resolved-count', 'findings-count', 'timeline-opened', 'timeline-resolved',
  'ttd-n', 'ttr-n', 'grants-count', 'overstays-count', 'exemptions-count'];

async function read(page, url, shot) {
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  const numbers = {};
  for (const id of ids) {
    numbers[id] = ((await page.locator(`[data-testid="${id}"]`).first().textContent()) || '').trim();
  }
  const rows = await page.locator('[data-testid="finding-row"]').evaluateAll((trs) => trs.map((tr) => ({
    id: tr.getAttribute('data-finding-id'),
    status: tr.getAttribute('data-status'),
    rule: tr.getAttribute('data-rule'),
    text: tr.innerText.replace(/\s+/g, ' ').trim(),
  })));
  // The accessible name of each chart, as aria-labelledby builds it (title, then desc).
  const charts = await page.locator('svg[role="img"]').evaluateAll((svgs) => svgs.map((s) =>
    s.getAttribute('aria-labelledby').split(' ').map((id) => document.getElementById(id).textContent).join(' — ')));
  // Each subscription group's subscription: its name (null when it has none) and ID.
  const subs = await page.locator('[data-testid="sub-group"] > summary').evaluateAll((ss) => ss.map((s) => {
    const name = s.querySelector('[data-testid="sub-name"]');
    return { name: name ? name.textContent : null, id: s.querySelector('.id').textContent };
  }));
  // The by-subscription breakdown's rows: the label shown, and the ID on hover.
  const bySub = await page.locator('[data-testid="by-subscription-table"] tbody th').evaluateAll((ths) => ths.map((th) => ({
    label: th.textContent, title: th.getAttribute('title'),
  })));
  const refresh = await page.locator('meta[http-equiv="refresh"]').evaluateAll((ms) => ms.map((m) => m.getAttribute('content')));
  const visible = await page.getByText('Open findings at a glance', { exact: true }).first().isVisible();
  // Measured by the browser: the navigation (request to load event) and the
  // first contentful paint; the page's height; findings in full and by name
  // (each resource group's list says how many it names).
  const perf = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
    let named = 0;
    for (const li of document.querySelectorAll('ul.more > li')) {
      const m = li.textContent.match(/\((\d+)\):/);
      if (m) named += Number(m[1]);
    }
    return { loadMs: nav ? nav.loadEventEnd - nav.startTime : -1, fcpMs: fcp ? fcp.startTime : -1,
      bytes: document.documentElement.outerHTML.length, height: document.documentElement.scrollHeight,
      ruleGroups: document.querySelectorAll('[data-testid="rule-group"]').length, named };
  });
  await page.screenshot({ path: shot, fullPage: true });
  return { perf, status: resp ? resp.status() : 0, title: await page.title(), numbers, rows, subs, bySub, charts, refresh, visible, requests, screenshot: shot };
}

(async () => {
  const t0 = Date.now();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const out = {};
    out.report = await read(await context.newPage(), process.env.REPORT_URL, path.join(process.env.ARTEFACTS, 'report.png'));
    out.scale = await read(await context.newPage(), process.env.SCALE_URL, path.join(process.env.ARTEFACTS, 'report-10000.png'));
    out.dashboard = await read(await context.newPage(), process.env.DASHBOARD_URL, path.join(process.env.ARTEFACTS, 'dashboard.png'));
    const anon = await context.newPage();
    const resp = await anon.goto(process.env.ANONYMOUS_URL, { waitUntil: 'load', timeout: 30000 });
    out.anonymous = { status: resp.status(), body: (await anon.content()).slice(0, 2000) };
    out.ms = Date.now() - t0;
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
