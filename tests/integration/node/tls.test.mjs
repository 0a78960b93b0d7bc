// heraldd's TLS port with Node clients nobody here wrote: `ws` over wss://
// and `eventsource` over https://, each trusting only a CA the test made
// with openssl (pki.mjs). The plain port runs beside it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { Readable } from 'node:stream';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { startHeraldd } from './heraldd.mjs';
import { makePki } from './pki.mjs';

let pki;
let server;
before(async () => {
  pki = makePki();
  server = await startHeraldd({ config: pki.tlsConfig() });
});
after(async () => {
  if (server) assert.equal(await server.stop(), 0);
  pki?.close();
});

async function publish(topic, body) {
  const res = await fetch(`http://127.0.0.1:${server.port}/publish/${topic}`, {
    method: 'POST', body,
  });
  assert.equal(res.status, 200, await res.clone().text());
}

// fetch() over node:https with our CA: what EventSource is given to connect.
function fetchTrusting(ca) {
  return (url, init = {}) => new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers ?? {})),
      ca,
      signal: init.signal,
    }, (res) => {
      resolve(new Response(Readable.toWeb(res), {
        status: res.statusCode,
        headers: Object.entries(res.headers).map(([k, v]) => [k, String(v)]),
      }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('ws over wss:// subscribes and receives what the plain port publishes', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${server.tlsPort}/ws`, { ca: pki.ca });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const messages = [];
  ws.on('message', (data) => messages.push(JSON.parse(data)));
  ws.send(JSON.stringify({ op: 'sub', topic: 'node.tls' }));
  await until(() => messages.some((m) => m.op === 'subscribed'));
  const big = 'y'.repeat(100_000);
  await publish('node.tls', big);
  await publish('node.tls', 'small');
  await until(() => messages.filter((m) => m.op === 'msg').length === 2);
  assert.deepEqual(messages.filter((m) => m.op === 'msg').map((m) => m.payload), [big, 'small']);
  ws.close();
});

test('ws refuses a server it was not told to trust', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${server.tlsPort}/ws`);
  const err = await new Promise((resolve) => ws.once('error', resolve));
  assert.match(String(err.code ?? err.message), /SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify/i);
});

test('eventsource over https:// streams events', async () => {
  const es = new EventSource(`https://127.0.0.1:${server.tlsPort}/sse?topic=node.sse`,
    { fetch: fetchTrusting(pki.ca) });
  const got = [];
  es.onmessage = (e) => got.push(e.data);
  await new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = reject; });
  for (const m of ['a', 'b', 'c']) await publish('node.sse', m);
  await until(() => got.length === 3);
  assert.deepEqual(got, ['a', 'b', 'c']);
  es.close();
});

function until(pred, ms = 5000) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() > deadline) return reject(new Error('timed out'));
      setTimeout(tick, 10);
    };
    tick();
  });
}
