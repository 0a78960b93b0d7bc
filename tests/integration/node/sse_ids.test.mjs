// Issue 14, defect 9, with the npm `eventsource` package: a wildcard stream
// over 32 long topic names. Its ids used to reach 24 KB; the reconnect then
// got 431 and EventSource, which does not retry after a 4xx, gave up. Ids are
// now compact by design: the reconnect is accepted and resumes exactly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startHeraldd } from './heraldd.mjs';
import { startProxy } from './proxy.mjs';

let server;
before(async () => {
  server = await startHeraldd({ config: '[sse]\nretry_ms = 100\n' });
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

const TOPICS = 32;
const MAX_ID_BYTES = 32 * 62 + 2; // MaxEventIdBytes(32), frontends/sse/event_id.h
const longTopic = (i) => `node.wide.${String(i).padStart(3, '0')}.` + 'é'.repeat(118);

async function publish(topic, body) {
  const res = await fetch(`http://127.0.0.1:${server.port}/publish/${encodeURIComponent(topic)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    body,
  });
  assert.equal(res.status, 200, await res.clone().text());
}

function until(pred, ms, what) {
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

const lastEventIdOf = (head) => /\r\nlast-event-id: *([^\r]*)\r\n/i.exec(head)?.[1];

test('a wildcard stream over 32 long topics reconnects and resumes exactly', { timeout: 30000 },
  async () => {
    const proxy = await startProxy(server.port);
    const es = new EventSource(`http://127.0.0.1:${proxy.port}/sse?topic=node.wide.%3E`);
    const got = [];
    let opens = 0;
    let errors = 0;
    es.onmessage = (e) => got.push({ data: e.data, id: e.lastEventId });
    es.onopen = () => opens++;
    es.onerror = () => errors++;
    await until(() => opens > 0, 5000, 'open');
    for (let i = 0; i < TOPICS; i++) await publish(longTopic(i), `first ${i}`);
    await until(() => got.length >= TOPICS, 5000, 'first messages');

    proxy.cut({ stayDown: true });
    await until(() => errors > 0, 5000, 'EventSource noticing the cut');
    for (let i = 0; i < TOPICS; i++) await publish(longTopic(i), `missed ${i}`);
    proxy.up();
    await until(() => opens >= 2, 10000, 'EventSource reconnecting');
    await until(() => got.length >= 2 * TOPICS, 5000, 'missed messages');
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive now
    const state = es.readyState;
    es.close();
    await proxy.close();

    const largest = Math.max(...got.map((m) => m.id.length));
    const resumed = proxy.requests.map(lastEventIdOf).filter(Boolean);
    console.log(`[node eventsource] ${TOPICS} topics of ${Buffer.byteLength(longTopic(0))} bytes: ` +
      `largest id ${largest} bytes (ceiling ${MAX_ID_BYTES}), reconnects ${resumed.length}`);
    assert.ok(largest <= MAX_ID_BYTES, `id of ${largest} bytes`);
    assert.equal(state, EventSource.OPEN); // not given up after a 4xx
    assert.equal(resumed.length, 1);
    assert.equal(got.length, 2 * TOPICS);
    assert.deepEqual(got.slice(TOPICS).map((m) => m.data).sort(),
      Array.from({ length: TOPICS }, (_, i) => `missed ${i}`).sort());
  });
