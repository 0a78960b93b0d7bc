// Browser origins: a real Chromium page served by a second loopback origin
// must get nothing from a heraldd that allows only its own origin — no
// WebSocket, no EventSource stream, no readable HTTP API answer — while a
// page of the allowed origin gets all three.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { startHeraldd } from './heraldd.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
let browser;
let broker;   // the heraldd under test
let other;    // a plain page server: the second (foreign) origin
let otherPort;

// The page: tries the three ways in and reports what it got.
const PAGE = `<!doctype html><script>
window.report = { ws: 'pending', sse: 'pending', fetch: 'pending', messages: [] };
window.probe = (base) => {
  const ws = new WebSocket(base.replace('http', 'ws') + '/ws');
  ws.onopen = () => { report.ws = 'open'; ws.send(JSON.stringify({ op: 'sub', topic: 'secret.news' })); };
  ws.onmessage = (e) => report.messages.push('ws:' + e.data);
  ws.onerror = () => { if (report.ws === 'pending') report.ws = 'refused'; };
  const es = new EventSource(base + '/sse?topic=secret.news');
  es.onopen = () => { report.sse = 'open'; };
  es.onmessage = (e) => report.messages.push('sse:' + e.data);
  es.onerror = () => { if (report.sse === 'pending') { report.sse = 'refused'; es.close(); } };
  fetch(base + '/history/secret.news').then((r) => r.text())
    .then((t) => { report.fetch = 'read:' + t; }, () => { report.fetch = 'refused'; });
};
</script>`;

before(async () => {
  other = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(PAGE); });
  await new Promise((r) => other.listen(0, '127.0.0.1', r));
  otherPort = other.address().port;
  // The allowed origin is the broker's own (its pages come from its static files).
  const dir = mkdtempSync(join(tmpdir(), 'herald-origin-'));
  writeFileSync(join(dir, 'index.html'), PAGE);
  const probe = await startHeraldd();  // learn a free port for the broker's own origin
  const port = probe.port;
  assert.equal(await probe.stop(), 0);
  const origin = `http://127.0.0.1:${port}`;
  broker = await startHeraldd({
    listen: `127.0.0.1:${port}`,
    config: `static_dir = "${dir}"
[websocket]
allowed_origins = ["${origin}"]
[sse]
allowed_origins = ["${origin}"]
[http]
cors_origins = ["${origin}"]
`,
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  other?.close();
  if (broker) assert.equal(await broker.stop(), 0);
});

async function probeFrom(pageUrl) {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.evaluate((base) => window.probe(base), `http://127.0.0.1:${broker.port}`);
  await page.waitForFunction(() => report.ws !== 'pending' && report.sse !== 'pending'
    && report.fetch !== 'pending', null, { timeout: 10000 });
  // Whoever got in has its subscription live before the publish.
  if (await page.evaluate(() => report.ws === 'open')) {
    await page.waitForFunction(() => report.messages.some((m) => m.includes('"subscribed"')),
      null, { timeout: 5000 });
  }
  // Something to receive, for whoever got in.
  await fetch(`http://127.0.0.1:${broker.port}/publish/secret.news`, { method: 'POST', body: 'top secret' });
  await page.waitForTimeout(500);
  const report = await page.evaluate(() => window.report);
  await page.close();
  return report;
}

test('a page of another origin gets no WebSocket, no stream and no readable answer',
  { timeout: 40000 }, async () => {
    const foreign = await probeFrom(`http://127.0.0.1:${otherPort}/`);
    assert.equal(foreign.ws, 'refused');
    assert.equal(foreign.sse, 'refused');
    assert.equal(foreign.fetch, 'refused');  // no Access-Control-Allow-Origin for it
    assert.deepEqual(foreign.messages, []);

    // The control: the allowed origin's page gets all three, and the message.
    const own = await probeFrom(`http://127.0.0.1:${broker.port}/`);
    assert.equal(own.ws, 'open');
    assert.equal(own.sse, 'open');
    assert.match(own.fetch, /^read:/);
    assert.ok(own.messages.some((m) => m.startsWith('ws:') && m.includes('top secret')), own.messages);
    assert.ok(own.messages.some((m) => m.startsWith('sse:') && m.includes('top secret')), own.messages);
  });
