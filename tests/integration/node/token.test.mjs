// clients/js/herald.js renewing its token against a real heraldd with
// [auth]: getToken before each connection, `refresh` before expiry on the
// live connection, and a new token after a 4001 "token expired" close.
// Tokens are HS256 JWTs signed here with node:crypto.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { HeraldClient, tokenExpiry } from '../../../clients/js/herald.js';
import { startHeraldd } from './heraldd.mjs';
import { authConfig, signer } from './jwt.mjs';

const SECRET = 'a-secret-for-the-token-tests-of-32-bytes-or-more';
const CONFIG = authConfig(SECRET);
const jwt = signer(SECRET);
// A token for `sub` that lives `seconds` from now, with every grant.
function token(sub, seconds) {
  return jwt({ sub, exp: Math.floor(Date.now() / 1000) + seconds, herald: { publish: ['>'], subscribe: ['>'] } });
}

let server;
const clients = [];
before(async () => {
  server = await startHeraldd({ config: CONFIG });
});
after(async () => {
  for (const c of clients) c.close();
  assert.equal(await server.stop(), 0);
});

function client(options) {
  const c = new HeraldClient(`ws://127.0.0.1:${server.port}/ws`,
    { WebSocket, reconnectMin: 20, reconnectMax: 200, ...options });
  clients.push(c);
  return c;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms = 10000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

// Publishes n.0, n.1, ... to `topic` at about `rate` per second until `stop()`.
function flow(publisher, topic, rate) {
  const sent = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running; i++) {
      await publisher.publish(topic, { n: i });
      sent.push(i);
      await sleep(1000 / rate);
    }
  })();
  return { sent, async stop() { running = false; await done; } };
}

test('tokenExpiry reads exp from a JWT and null from anything else', () => {
  assert.equal(tokenExpiry(jwt({ exp: 1700000000 })), 1700000000000);
  assert.equal(tokenExpiry(jwt({ sub: 'x' })), null);
  assert.equal(tokenExpiry('not a token'), null);
});

test('a connection renews its 3 s tokens in place across three expiries: every message once, one connection', { timeout: 40000 }, async () => {
  let issued = 0;
  const c = client({ getToken: async () => { issued++; return token('js-renew', 3); }, tokenRefreshMargin: 1500 });
  let opens = 0;
  c.addEventListener('state', (e) => { if (e.detail.state === 'open') opens++; });
  const got = [];
  // Live before the first publish (the client's ready() is only the open
  // connection): the first message cannot overtake the subscribe.
  await c.subscribe('tok.flow', (m) => got.push(m.payload.n)).ready();
  const pub = client({ getToken: async () => token('js-pub', 600) });
  await pub.ready();
  const f = flow(pub, 'tok.flow', 50);
  await sleep(9500);  // three 3 s token lives
  await f.stop();
  await until(() => got.length >= f.sent.length);
  assert.ok(f.sent.length > 200, `${f.sent.length} sent`);
  assert.deepEqual(got, f.sent);
  assert.equal(opens, 1, 'one connection: renewed, never reconnected');
  assert.ok(issued >= 4, `${issued} tokens fetched (one to connect, one per renewal)`);
});

test('after a 4001 close the client connects again with a new token and resumes without loss', { timeout: 30000 }, async () => {
  // Renewal refused (another subject): the token runs out, the server
  // closes with 4001, and the next connection gets a good token.
  // Every renewal of the first connection is refused (another subject).
  let calls = 0;
  let reconnected = false;
  const c = client({
    getToken: async () => {
      calls++;
      if (calls === 1) return token('js-expire', 2);
      return reconnected ? token('js-expire', 600) : token('someone-else', 600);
    },
    tokenRefreshMargin: 1000,
  });
  const states = [];
  c.addEventListener('state', (e) => {
    states.push(e.detail.state);
    if (e.detail.state === 'reconnecting') reconnected = true;
  });
  const errors = [];
  c.addEventListener('error', (e) => errors.push(e.detail));
  const got = [];
  await c.subscribe('tok.resume', (m) => got.push(m.payload.n)).ready();
  const pub = client({ getToken: async () => token('js-pub2', 600) });
  await pub.ready();
  const f = flow(pub, 'tok.resume', 40);
  await until(() => states.includes('reconnecting') && c.state === 'open', 8000);
  await sleep(500);
  await f.stop();
  await until(() => got.length >= f.sent.length);
  assert.deepEqual(got, f.sent, 'resumed after the last message delivered');
  assert.ok(errors.some((e) => e.code === 'permission_denied'), 'the refused renewal was reported');
  assert.ok(calls >= 3, `${calls} tokens fetched`);
});

test('without getToken a 4001 close ends the client instead of retrying a dead token', async () => {
  const url = `ws://127.0.0.1:${server.port}/ws?token=${token('js-static', 2)}`;
  const c = new HeraldClient(url, { WebSocket, reconnectMin: 20, reconnectMax: 200 });
  clients.push(c);
  const errors = [];
  c.addEventListener('error', (e) => errors.push(e.detail));
  await c.ready();
  await until(() => c.state === 'closed', 5000);
  assert.deepEqual(errors.map((e) => e.code), ['token_expired']);
});

test('a failing getToken is reported and retried with backoff', async () => {
  let calls = 0;
  const c = client({
    getToken: async () => {
      if (++calls < 3) throw new Error('auth server down');
      return token('js-retry', 600);
    },
  });
  const errors = [];
  c.addEventListener('error', (e) => errors.push(e.detail));
  await c.ready();
  assert.equal(calls, 3);
  assert.deepEqual(errors.map((e) => e.code), ['token', 'token']);
  assert.match(errors[0].message, /auth server down/);
});
