// End-to-end check of the posture report and the live dashboard in headless
// Chromium (Debian's /usr/bin/chromium), driven by playwright-core. Run by
// report_e2e_test.go at the module root, which renders the report, serves the
// dashboard on loopback and checks what this prints.
//
// Environment:
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   REPORT_URL      file:// URL of the rendered report
//   DASHBOARD_URL   http://127.0.0.1:PORT/api/dashboard, signed in
//   ANONYMOUS_URL   the same dashboard without App Service authentication's principal
//   ARTEFACTS       directory for the screenshots
//
// It prints one JSON object on stdout: for each page, the numbers read off it
// (by data-testid), the finding rows, the charts' accessible names, the meta
// refresh, and every request the page made; and the anonymous answer's status.
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
  const refresh = await page.locator('meta[http-equiv="refresh"]').evaluateAll((ms) => ms.map((m) => m.getAttribute('content')));
  const visible = await page.getByText('Open findings by rule', { exact: true }).first().isVisible();
  await page.screenshot({ path: shot, fullPage: true });
  return { status: resp ? resp.status() : 0, title: await page.title(), numbers, rows, charts, refresh, visible, requests, screenshot: shot };
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
