// heraldd's TLS port in headless Chromium that trusts a CA the test made
// with openssl: the CA goes into an NSS database (certutil, Debian
// libnss3-tools) in a scratch HOME, where Chromium on Linux looks for it.
// No flag that ignores certificate errors: a page, a WebSocket and an
// EventSource each verify heraldd's certificate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startHeraldd } from './heraldd.mjs';
import { makePki } from './pki.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
let pki;
let server;
let home;
let browser;

before(async () => {
  pki = makePki();
  server = await startHeraldd({ config: pki.tlsConfig() });
  home = mkdtempSync(join(tmpdir(), 'herald-home-'));
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password'], { stdio: 'pipe' });
  execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-n', 'herald-test-ca', '-t', 'C,,',
    '-i', pki.path('ca.pem')], { stdio: 'pipe' });
  browser = await chromium.launch({
    executablePath: CHROMIUM, args: ['--no-sandbox'], env: { ...process.env, HOME: home },
  });
});
after(async () => {
  await browser?.close();
  if (server) assert.equal(await server.stop(), 0);
  pki?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

test('Chromium loads the page and streams over wss:// and https:// with the test CA', async () => {
  const page = await browser.newPage();
  const res = await page.goto(`https://127.0.0.1:${server.tlsPort}/`);
  assert.equal(res.status(), 200);
  assert.equal(page.url(), `https://127.0.0.1:${server.tlsPort}/`);
  // A WebSocket and an EventSource from the page, to its own origin.
  await page.evaluate(() => {
    window.got = { ws: [], sse: [] };
    window.ready = Promise.all([
      new Promise((resolve) => {
        const ws = new WebSocket(`wss://${location.host}/ws`);
        ws.onopen = () => ws.send(JSON.stringify({ op: 'sub', topic: 'page.tls' }));
        ws.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.op === 'subscribed') resolve();
          if (m.op === 'msg') window.got.ws.push(m.payload);
        };
      }),
      new Promise((resolve) => {
        const es = new EventSource('/sse?topic=page.tls');
        es.onopen = resolve;
        es.onmessage = (e) => window.got.sse.push(e.data);
      }),
    ]);
  });
  await page.evaluate(() => window.ready);
  const pub = await fetch(`http://127.0.0.1:${server.port}/publish/page.tls`, {
    method: 'POST', body: 'over tls',
  });
  assert.equal(pub.status, 200);
  await page.waitForFunction(() => window.got.ws.length === 1 && window.got.sse.length === 1);
  assert.deepEqual(await page.evaluate(() => window.got), { ws: ['over tls'], sse: ['over tls'] });
  await page.close();
});

test('Chromium without the CA refuses the certificate', async () => {
  const bare = mkdtempSync(join(tmpdir(), 'herald-home-'));
  const other = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'],
    env: { ...process.env, HOME: bare } });
  try {
    const page = await other.newPage();
    await assert.rejects(page.goto(`https://127.0.0.1:${server.tlsPort}/`),
      /ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await other.close();
    rmSync(bare, { recursive: true, force: true });
  }
});
