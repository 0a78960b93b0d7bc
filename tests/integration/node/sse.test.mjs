// heraldd's Server-Sent Events front (`GET /sse`) driven by the npm
// `eventsource` package (a WHATWG EventSource for Node, on fetch), the way a
// browser page would use it: onmessage, named events, automatic reconnect
// with Last-Event-ID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startHeraldd } from './heraldd.mjs';
import { startProxy } from './proxy.mjs';

let server;
before(async () => {
  // retry_ms: EventSource reconnects 100 ms after a cut instead of 2 s.
  server = await startHeraldd({ config: '[sse]\nretry_ms = 100\n' });
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

async function publish(topic, body, contentType = 'text/plain; charset=utf-8') {
  const res = await fetch(`http://127.0.0.1:${server.port}/publish/${encodeURIComponent(topic)}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body,
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json(); // { epoch, offset }
}

// The id of a single-topic stream's event: index 0, epoch and offset in base 36.
const idOf = ({ epoch, offset }) => `0:${epoch.toString(36)}:${offset.toString(36)}`;

// Resolves once `pred()` holds, polling; rejects after `ms`.
function until(pred, ms = 5000, what = 'condition') {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

// An EventSource with what it received; resolves once open.
async function openSource(url, { names = [] } = {}) {
  const es = new EventSource(url);
  const got = { messages: [], named: [], opens: 0, errors: 0 };
  es.onmessage = (e) => got.messages.push({ data: e.data, id: e.lastEventId, type: e.type });
  for (const name of names) {
    es.addEventListener(name, (e) => got.named.push({ type: e.type, data: e.data, id: e.lastEventId }));
  }
  es.onopen = () => got.opens++;
  es.onerror = () => got.errors++;
  await until(() => got.opens > 0 || es.readyState === EventSource.CLOSED, 5000, 'open');
  assert.equal(es.readyState, EventSource.OPEN);
  return { es, got };
}

test('multi-line and unicode data arrive exactly, with the event ids', { timeout: 20000 }, async () => {
  const { es, got } = await openSource(`http://127.0.0.1:${server.port}/sse?topic=node.data`);
  const payloads = [
    'a\nb\nc',
    '\nleading and trailing\n',
    'a\n\nb',
    '😀 👩‍👩‍👧 漢字 한국어 e\u0301 n\u0303',
    ' one leading space',
    'data: id: event: (not fields)',
    '',
  ];
  const acks = [];
  for (const p of payloads) acks.push(await publish('node.data', p));
  await until(() => got.messages.length >= payloads.length, 5000, 'messages');
  es.close();
  assert.deepEqual(got.messages.map((m) => m.data), payloads);
  assert.deepEqual(got.messages.map((m) => m.id), acks.map(idOf));
  assert.deepEqual(new Set(got.messages.map((m) => m.type)), new Set(['message']));
  assert.equal(got.errors, 0);
});

test('CR and CR LF arrive as LF; format=json keeps them', { timeout: 20000 }, async () => {
  const raw = await openSource(`http://127.0.0.1:${server.port}/sse?topic=node.cr`);
  const json = await openSource(`http://127.0.0.1:${server.port}/sse?topic=node.cr&format=json`);
  await publish('node.cr', 'x\r\ny\rz');
  await until(() => raw.got.messages.length >= 1 && json.got.messages.length >= 1);
  raw.es.close();
  json.es.close();
  assert.equal(raw.got.messages[0].data, 'x\ny\nz');
  const env = JSON.parse(json.got.messages[0].data);
  assert.equal(env.payload, 'x\r\ny\rz');
  assert.equal(env.topic, 'node.cr');
});

test('event=topic names events by topic for addEventListener', { timeout: 20000 }, async () => {
  const { es, got } = await openSource(
    `http://127.0.0.1:${server.port}/sse?topic=node.named.*&event=topic`,
    { names: ['node.named.a', 'node.named.b', 'binary'] },
  );
  const a = await publish('node.named.a', 'for a');
  const b = await publish('node.named.b', 'for b');
  await publish('node.named.a', Buffer.from([0, 1, 255]), 'application/octet-stream');
  await publish('node.other.a', 'not matched');
  await until(() => got.named.length >= 3, 5000, 'named events');
  await new Promise((r) => setTimeout(r, 200)); // anything extra would show now
  es.close();
  assert.deepEqual(got.named.map(({ type, data }) => ({ type, data })), [
    { type: 'node.named.a', data: 'for a' },
    { type: 'node.named.b', data: 'for b' },
    // A binary payload is an event named "binary" (the last event field wins).
    { type: 'binary', data: Buffer.from([0, 1, 255]).toString('base64') },
  ]);
  assert.equal(got.messages.length, 0); // named events do not reach onmessage
  assert.equal(got.named[0].id, `@node.named.a:${a.epoch.toString(36)}:${a.offset.toString(36)}`);
  assert.equal(
    got.named[1].id,
    `@node.named.a:${a.epoch.toString(36)}:${a.offset.toString(36)},` +
      `@node.named.b:${b.epoch.toString(36)}:${b.offset.toString(36)}`,
  );
});

// A TCP proxy between EventSource and heraldd that the test can cut (it
// destroys both sides of every connection) and hold down (new connections
// are closed at once) while messages are published.
const lastEventIdOf = (head) => /\r\nlast-event-id: *([^\r]*)\r\n/i.exec(head)?.[1];

test('EventSource reconnects by itself and resumes with Last-Event-ID, losing nothing',
  { timeout: 30000 }, async () => {
    const proxy = await startProxy(server.port);
    const topics = ['node.res.a', 'node.res.b'];
    const url = `http://127.0.0.1:${proxy.port}/sse?topic=node.res.a&topic=node.res.b`;
    const { es, got } = await openSource(url);
    const sent = [];
    const send = async (i) => {
      const topic = topics[i % 2];
      const ack = await publish(topic, `m${i}`);
      sent.push({ topic, data: `m${i}`, ...ack });
    };
    for (let i = 0; i < 6; i++) await send(i);
    await until(() => got.messages.length >= 6, 5000, 'first messages');
    const idBeforeCut = got.messages[5].id;

    // Server-side cut; stay down while 10 more are published.
    proxy.cut({ stayDown: true });
    await until(() => got.errors > 0, 5000, 'EventSource noticing the cut');
    for (let i = 6; i < 16; i++) await send(i);
    proxy.up();
    await until(() => got.opens >= 2, 10000, 'EventSource reconnecting');
    await until(() => got.messages.length >= 16, 5000, 'missed messages');
    // And live ones after the reconnect.
    for (let i = 16; i < 20; i++) await send(i);
    await until(() => got.messages.length >= 20, 5000, 'live messages');

    // Once more, cut while a reconnect is quick (the proxy stays up).
    proxy.cut({ stayDown: false });
    for (let i = 20; i < 24; i++) await send(i);
    await until(() => got.messages.length >= 24, 10000, 'messages after the second cut');
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive now
    es.close();
    await proxy.close();

    // Every message exactly once, each topic in order (across topics, the
    // replay after a reconnect goes topic by topic).
    assert.equal(got.messages.length, 24);
    const data = got.messages.map((m) => m.data);
    assert.deepEqual([...data].sort(), sent.map((s) => s.data).sort());
    for (const t of topics) {
      assert.deepEqual(
        data.filter((d) => sent.find((s) => s.data === d).topic === t),
        sent.filter((s) => s.topic === t).map((s) => s.data),
      );
    }
    // The reconnects carried the last id EventSource had seen.
    const resumed = proxy.requests.map(lastEventIdOf).filter(Boolean);
    assert.ok(resumed.length >= 2, `reconnect requests: ${proxy.requests.length}`);
    assert.equal(resumed[0], idBeforeCut);
    // lastEventId names both topics' positions: a at m4's offset, b at m5's.
    const lastA = sent.filter((s) => s.topic === 'node.res.a').at(-1);
    const lastB = sent.filter((s) => s.topic === 'node.res.b').at(-1);
    const finalId = got.messages.at(-1).id;
    const entries = Object.fromEntries(finalId.split(',').map((e) => {
      const [ref, epoch, offset] = e.split(':');
      return [ref, [parseInt(epoch, 36), parseInt(offset, 36)]];
    }));
    assert.deepEqual(entries, {
      0: [lastA.epoch, lastA.offset],
      1: [lastB.epoch, lastB.offset],
    });
  });

test('a non-200 answer fails the EventSource without reconnecting', { timeout: 20000 }, async () => {
  const es = new EventSource(`http://127.0.0.1:${server.port}/sse?topic=bad..topic`);
  let status;
  es.onerror = (e) => {
    status = e.code;
  };
  await until(() => es.readyState === EventSource.CLOSED, 5000, 'CLOSED');
  assert.equal(status, 400);
  es.close();
});

// heraldd starts every stream with a "position" event (its id is the starting
// position, its data empty) so that a client cut before its first message
// still resumes without loss. (An id-only event would do for browsers, but
// eventsource's parser drops events without data lines together with their
// id — which is why heraldd sends an empty data line.)
test('a client cut before its first message still gets what was published meanwhile',
  { timeout: 20000 }, async () => {
    const proxy = await startProxy(server.port);
    try {
      await publish('node.early', 'before');
      const { es, got } = await openSource(`http://127.0.0.1:${proxy.port}/sse?topic=node.early`,
        { names: ['position'] });
      try {
        await until(() => got.named.length > 0, 5000, 'the position event');
        proxy.cut({ stayDown: true });
        await until(() => got.errors > 0, 5000, 'EventSource noticing the cut');
        for (let i = 0; i < 3; i++) await publish('node.early', `away ${i}`);
        proxy.up();
        await until(() => got.opens >= 2, 5000, 'reconnect');
        assert.ok(lastEventIdOf(proxy.requests.at(-1)), 'the reconnect sent no Last-Event-ID');
        await until(() => got.messages.length >= 3, 2000, 'messages published while away');
        assert.deepEqual(got.messages.map((m) => m.data), ['away 0', 'away 1', 'away 2']);
      } finally {
        es.close();
      }
    } finally {
      await proxy.close();
    }
  });
