// heraldd and its demo chat page in a real browser: headless Chromium
// (Debian `chromium`) driven by npm `playwright-core`. Pages reach heraldd
// through a TCP proxy the test can cut, like a flaky network.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { startHeraldd } from './heraldd.mjs';
import { authConfig, signer } from './jwt.mjs';
import { startProxy } from './proxy.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
let browser;
let server;
let port;

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

before(async () => {
  port = await freePort();
  server = await startHeraldd({ listen: `127.0.0.1:${port}` });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
after(async () => {
  await browser?.close();
  if (server) assert.equal(await server.stop(), 0);
});

async function publish(topic, payload, via = port) {
  const res = await fetch(`http://127.0.0.1:${via}/publish/${topic}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload),
  });
  assert.equal(res.status, 200);
  return res.json();
}

async function joinChat(url, name, room) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(url);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#join button');
  await page.waitForSelector('#chat:not([hidden])');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected');
  page.errors = errors;
  return page;
}

const texts = (page) => page.$$eval('#messages li:not(.notice)',
  (lis) => lis.map((li) => li.childNodes[1].textContent));
const notices = (page) => page.$$eval('#messages li.notice', (lis) => lis.map((li) => li.textContent));

test('two pages chat with each other through /', { timeout: 30000 }, async () => {
  const a = await joinChat(`http://127.0.0.1:${port}/`, 'ada', 'lobby');
  const b = await joinChat(`http://127.0.0.1:${port}/`, 'bob', 'lobby');
  await a.fill('#text', 'hello from ada');
  await a.press('#text', 'Enter');
  await b.waitForFunction(() => document.querySelectorAll('#messages li:not(.notice)').length >= 1);
  await b.fill('#text', 'hi ada, bob here');
  await b.press('#text', 'Enter');
  // Each page shows a message when the server delivers it, its own included,
  // and the two deliveries race: wait for both pages.
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelectorAll('#messages li:not(.notice)').length >= 2);
  }
  assert.deepEqual(await texts(a), ['hello from ada', 'hi ada, bob here']);
  assert.deepEqual(await texts(b), ['hello from ada', 'hi ada, bob here']);
  // Who is in the room comes from presence: each page sees the other by name.
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.getElementById('members').textContent === '2 online');
    assert.equal(await p.getAttribute('#members', 'title'), 'ada, bob');
  }
  // HERALD_SCREENSHOTS=docs refreshes the page's screenshot in the docs.
  if (process.env.HERALD_SCREENSHOTS) {
    mkdirSync(process.env.HERALD_SCREENSHOTS, { recursive: true });
    await a.screenshot({ path: `${process.env.HERALD_SCREENSHOTS}/chat.png` });
  }
  assert.equal(await a.isVisible('#join'), false);  // the join form is gone once in
  // A late joiner gets the room's history.
  const c = await joinChat(`http://127.0.0.1:${port}/`, 'cyd', 'lobby');
  await c.waitForFunction(() => document.querySelectorAll('#messages li:not(.notice)').length >= 2);
  assert.deepEqual(await texts(c), ['hello from ada', 'hi ada, bob here']);
  await a.waitForFunction(() => document.getElementById('members').title === 'ada, bob, cyd');
  // Closing a tab: it leaves the others' lists within the event interval
  // (100 ms) and a second of slack.
  assert.deepEqual(c.errors, []);
  const closed = Date.now();
  await c.close();
  await a.waitForFunction(() => document.getElementById('members').title === 'ada, bob',
    null, { timeout: 1100 });
  const left = Date.now() - closed;
  assert.ok(left < 1100, `left after ${left} ms`);
  for (const p of [a, b]) {
    assert.deepEqual(p.errors, []);
    await p.close();
  }
});

test('a page whose connection is cut shows every message exactly once after reconnecting',
  { timeout: 30000 }, async () => {
    const proxy = await startProxy(port);
    try {
      const page = await joinChat(`http://127.0.0.1:${proxy.port}/`, 'eve', 'flaky');
      const sent = [];
      const say = async (i) => {
        await publish('chat.flaky.msgs', { id: 'backend', name: 'feed', text: `m${i}` });
        sent.push(`m${i}`);
      };
      for (let i = 0; i < 5; i++) await say(i);
      await page.waitForFunction(() => document.querySelectorAll('#messages li:not(.notice)').length >= 5);
      proxy.cut({ stayDown: true });  // the network drops…
      await page.waitForFunction(() => document.getElementById('status').textContent !== 'connected');
      for (let i = 5; i < 15; i++) await say(i);  // …while the room goes on
      proxy.up();
      await page.waitForFunction(() => document.getElementById('status').textContent === 'connected',
        null, { timeout: 15000 });
      for (let i = 15; i < 20; i++) await say(i);
      await page.waitForFunction(() => document.querySelectorAll('#messages li:not(.notice)').length >= 20,
        null, { timeout: 15000 });
      await page.waitForTimeout(200);  // a duplicate would show now
      assert.deepEqual(await texts(page), sent);
      const shown = await notices(page);
      assert.ok(shown.includes('Reconnected.'), JSON.stringify(shown));
      assert.ok(!shown.some((n) => n.startsWith('Missed')), JSON.stringify(shown));
      assert.deepEqual(page.errors, []);
      await page.close();
    } finally {
      await proxy.close();
    }
  });

test('the raw endpoint works from a page with the browser\'s own WebSocket', { timeout: 20000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  const got = await page.evaluate(async () => {
    const open = (url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(ws);
      ws.onerror = reject;
    });
    const url = `ws://${location.host}/ws/raw.room`;
    const [a, b] = await Promise.all([open(url), open(url)]);
    const received = new Promise((resolve) => { b.onmessage = (e) => resolve(e.data); });
    a.send('like the seed\'s React example');
    const text = await received;
    a.close();
    b.close();
    return text;
  });
  assert.equal(got, 'like the seed\'s React example');
  await page.close();
});

test('an EventSource page receives ticks and resumes after its connection is cut',
  { timeout: 30000 }, async () => {
    const proxy = await startProxy(port);
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${proxy.port}/`);
      await page.evaluate(async () => {
        const { HeraldEventSource } = await import('/herald.js');
        window.ticks = [];
        window.gaps = [];
        window.feed = new HeraldEventSource('/sse', ['ticker.>'],
          (m) => window.ticks.push(`${m.topic}:${m.payload.price}`),
          { onGap: (g) => window.gaps.push(g), onState: (st) => { if (st === 'open') window.feedOpen = true; } });
      });
      // The stream opens once heraldd has subscribed it: the first tick
      // cannot overtake it.
      await page.waitForFunction(() => window.feedOpen === true);
      const sent = [];
      const tick = async (i) => {
        const topic = `ticker.${i % 2 ? 'btc' : 'eth'}`;
        await publish(topic, { price: 100 + i });
        sent.push(`${topic}:${100 + i}`);
      };
      for (let i = 0; i < 6; i++) await tick(i);
      await page.waitForFunction(() => window.ticks.length >= 6);
      proxy.cut({ stayDown: true });
      for (let i = 6; i < 12; i++) await tick(i);
      await page.waitForTimeout(300);
      proxy.up();
      for (let i = 12; i < 14; i++) await tick(i);
      await page.waitForFunction(() => window.ticks.length >= 14, null, { timeout: 15000 });
      await page.waitForTimeout(200);
      const ticks = await page.evaluate(() => window.ticks);
      const perTopic = (l) => ['btc', 'eth'].map((t) => l.filter((x) => x.startsWith(`ticker.${t}:`)));
      assert.equal(ticks.length, sent.length);
      assert.deepEqual(perTopic(ticks), perTopic(sent));
      assert.deepEqual(await page.evaluate(() => window.gaps), []);
      await page.close();
    } finally {
      await proxy.close();
    }
  });

test('when heraldd restarts the page reconnects by itself and says what was lost',
  { timeout: 40000 }, async () => {
    const page = await joinChat(`http://127.0.0.1:${port}/`, 'fay', 'restart');
    await publish('chat.restart.msgs', { id: 'x', name: 'feed', text: 'before' });
    await page.waitForFunction(() => document.querySelectorAll('#messages li:not(.notice)').length >= 1);
    assert.equal(await server.stop(), 0);
    server = null;
    await page.waitForFunction(() => document.getElementById('status').textContent !== 'connected');
    server = await startHeraldd({ listen: `127.0.0.1:${port}` });
    await page.waitForFunction(() => document.getElementById('status').textContent === 'connected',
      null, { timeout: 20000 });
    await page.waitForFunction(
      () => [...document.querySelectorAll('#messages li.notice')].some((li) => li.textContent.includes('restarted')),
      null, { timeout: 10000 });
    await publish('chat.restart.msgs', { id: 'x', name: 'feed', text: 'after' });
    await page.waitForFunction(() => document.querySelectorAll('#messages li:not(.notice)').length >= 2);
    assert.deepEqual(await texts(page), ['before', 'after']);
    await page.close();
  });

test('the ticker example shows the prices a backend publishes, live over SSE', { timeout: 30000 }, async () => {
  const web = new URL('../../../examples/ticker/web', import.meta.url).pathname;
  const ticker = await startHeraldd({ config: `static_dir = "${web}"\n` });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${ticker.port}/`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'live');
    const prices = { btc: [97000.5, 97010.25], eth: [3600.75] };
    for (const [symbol, list] of Object.entries(prices)) {
      for (const price of list) {
        const res = await fetch(`http://127.0.0.1:${ticker.port}/publish/ticker.${symbol}`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ price }),
        });
        assert.equal(res.status, 200);
      }
    }
    await page.waitForFunction(() => document.querySelector('#row-btc .ticks')?.textContent === '2'
      && document.querySelector('#row-eth .ticks')?.textContent === '1');
    assert.equal(await page.textContent('#row-btc .price'), '97010.25');
    assert.equal(await page.textContent('#row-eth .price'), '3600.75');
    assert.equal(await page.textContent('#row-btc .change'), '+0.01%');
    await page.close();
  } finally {
    assert.equal(await ticker.stop(), 0);
  }
});

// The notifications and judge flows' browser views: each page watches its
// flow's events over the browser's EventSource.
for (const view of [
  { example: 'notifications', topic: 'payments.completed', row: 'tr.payment',
    events: [{ payment: 1, amount_cents: 1001 }, { payment: 2, amount_cents: 1002 }],
    first: (cells) => cells[1] === '2' && cells[2] === '10.02' },
  { example: 'judge', topic: 'judge.verdicts', row: 'tr.verdict',
    events: [{ verdict: 'accepted', length: 8, judge: 41 }, { verdict: 'accepted', length: 12, judge: 42 }],
    first: (cells) => cells[0] === 'accepted' && cells[1] === '12' && cells[2] === 'pid 42' },
]) {
  test(`the ${view.example} example's browser view shows its events live`, { timeout: 30000 }, async () => {
    const web = new URL(`../../../examples/${view.example}/web`, import.meta.url).pathname;
    const node = await startHeraldd({ config: `static_dir = "${web}"\n` });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${node.port}/`);
      await page.waitForFunction(() => document.getElementById('status').textContent === 'live');
      for (const e of view.events) {
        const res = await fetch(`http://127.0.0.1:${node.port}/publish/${view.topic}`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'herald-source': 'payments' },
          body: JSON.stringify(e),
        });
        assert.equal(res.status, 200);
      }
      await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, view.row);
      const cells = await page.$$eval(`${view.row}:first-child td`, (tds) => tds.map((td) => td.textContent));
      assert.ok(view.first(cells), JSON.stringify(cells));  // newest first
      await page.close();
    } finally {
      assert.equal(await node.stop(), 0);
    }
  });
}

// A page on a node with [auth] whose tokens live 4 s: the client's
// getToken renews them on the live connection (`refresh`) before each
// expiry, so messages flowing across three expiries arrive each once, on
// one connection.
test('a page renews its token across expiries without losing a message or its connection',
  { timeout: 40000 }, async () => {
    const secret = 'a-secret-for-the-browser-renewal-test-0123456789';
    const jwt = signer(secret);
    const token = (sub, seconds) => jwt({ sub, exp: Math.floor(Date.now() / 1000) + seconds,
                                          herald: { publish: ['renew.>'], subscribe: ['renew.>'] } });
    const node = await startHeraldd({ config: authConfig(secret) });
    try {
      const page = await browser.newPage();
      let minted = 0;
      // Tokens of 4–5 s renewed 3 s before they end: a renewal every 1–2 s,
      // with 3 s for its round trip on a loaded (sanitizer) machine.
      await page.exposeFunction('mintToken', () => { minted++; return token('pat', 5); });
      await page.goto(`http://127.0.0.1:${node.port}/`);
      await page.evaluate(async () => {
        const { HeraldClient } = await import('/herald.js');
        window.got = [];
        window.states = [];
        const c = new HeraldClient(`ws://${location.host}/ws`,
          { getToken: () => window.mintToken(), tokenRefreshMargin: 3000 });
        c.addEventListener('state', (e) => window.states.push(e.detail.state));
        c.subscribe('renew.feed', (m) => { if (m.payload !== 'probe') window.got.push(m.payload); });
        await c.ready();
        // ready() is the open connection, not the subscription: a publish
        // acknowledged on this connection comes after its subscribe, so the
        // backend's first message cannot overtake it.
        await c.publish('renew.feed', 'probe');
        window.client = c;
      });
      const sent = [];
      const publisher = token('backend', 60);
      const end = Date.now() + 10000;  // past the expiry of several of the page's tokens
      for (let i = 0; Date.now() < end; i++) {
        const res = await fetch(`http://127.0.0.1:${node.port}/publish/renew.feed`, {
          method: 'POST', headers: { authorization: `Bearer ${publisher}` }, body: `m${i}`,
        });
        assert.equal(res.status, 200);
        sent.push(`m${i}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      try {
        await page.waitForFunction((n) => window.got.length >= n, sent.length, { timeout: 10000 });
      } catch (e) {
        const seen = await page.evaluate(() => ({ got: window.got, states: window.states }));
        const missing = sent.filter((m) => !seen.got.includes(m));
        throw new Error(`${e.message}: ${seen.got.length} of ${sent.length} arrived ` +
                        `(missing ${missing.slice(0, 10).join(' ')}...), states ` +
                        `${seen.states.join(' ')}, ${minted} tokens minted; heraldd:\n` +
                        node.log().slice(-3000));
      }
      await page.waitForTimeout(200);  // a duplicate would show now
      assert.deepEqual(await page.evaluate(() => window.got), sent);
      // One connection all along (no reconnect), and a token per renewal.
      assert.deepEqual(await page.evaluate(() => window.states), ['open']);
      assert.ok(minted >= 4, `only ${minted} tokens were asked for`);
      await page.evaluate(() => window.client.close());
      await page.close();
    } finally {
      assert.equal(await node.stop(), 0);
    }
  });
