// clients/js/herald.js under the server API (docs/PROTOCOL.md, "Server
// API") of a real heraldd with [auth]: a server-side subscription's
// messages come as 'message' events, a revoked token is replaced through
// getToken at once, and a disconnect that says not to come back leaves
// the client closed. Tokens are HS256 JWTs signed here with node:crypto.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { HeraldClient } from '../../../clients/js/herald.js';
import { startHeraldd } from './heraldd.mjs';
import { authConfig, signer } from './jwt.mjs';

const SECRET = 'a-secret-for-the-admin-tests-of-32-bytes-or-more';
const CONFIG = authConfig(SECRET);
const jwt = signer(SECRET);
let serial = 0;
function token(sub, extra = {}) {
  return jwt({ sub, jti: `${sub}-${++serial}`, exp: Math.floor(Date.now() / 1000) + 600,
               herald: { publish: ['>'], subscribe: ['>'] }, ...extra });
}
const ADMIN = jwt({ sub: 'ops', exp: Math.floor(Date.now() / 1000) + 600, herald: { admin: ['>'] } });

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

async function admin(op, body) {
  const res = await fetch(`http://127.0.0.1:${server.port}/admin/${op}`, {
    method: 'POST', headers: { Authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms = 10000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
const once = (target, name) => new Promise((r) => target.addEventListener(name, (e) => r(e.detail), { once: true }));

test('a server-side subscription delivers as message events until the server ends it', async () => {
  const c = client({ getToken: async () => token('sam') });
  await c.ready();
  const subscribed = once(c, 'subscribed');
  const answer = await admin('subscribe', { user: 'sam', topic: 'alerts.sam' });
  assert.equal(answer.applied, 1);
  assert.deepEqual(await subscribed, { op: 'subscribed', topic: 'alerts.sam', server: true });
  const got = [];
  c.addEventListener('message', (e) => got.push(e.detail.payload));
  await c.publish('alerts.sam', 'one');
  await until(() => got.length === 1);
  const ended = once(c, 'unsubscribed');
  await admin('unsubscribe', { user: 'sam', topic: 'alerts.sam' });
  await ended;
  await c.publish('alerts.sam', 'two');
  await c.request('nobody.listens', 'x', { timeout: 200 }).catch(() => {});  // a round trip
  assert.deepEqual(got, ['one']);
});

test('a revoked token is replaced by getToken at once and the client goes on', async () => {
  const issued = [];
  const c = client({ getToken: async () => { const t = token('rita'); issued.push(t); return t; } });
  await c.ready();
  const jti = JSON.parse(Buffer.from(issued[0].split('.')[1], 'base64url')).jti;
  const states = [];
  c.addEventListener('state', (e) => states.push(e.detail));
  await admin('revoke', { jti, until: Math.floor(Date.now() / 1000) + 600 });
  await until(() => issued.length === 2 && c.state === 'open');
  assert.deepEqual(await c.publish('rita.ok', 'x').then(() => 'ok'), 'ok');
});

test('a disconnect that says not to come back leaves the client closed', async () => {
  let asked = 0;
  const c = client({ getToken: async () => { asked++; return token('vic'); } });
  await c.ready();
  const told = once(c, 'disconnect');
  await admin('disconnect', { user: 'vic', code: 4500, reason: 'banned', reconnect: false });
  assert.deepEqual(await told, { op: 'disconnect', code: 4500, reason: 'banned', reconnect: false });
  await until(() => c.state === 'closed');
  await sleep(300);
  assert.equal(asked, 1);
  assert.equal(c.state, 'closed');
});
