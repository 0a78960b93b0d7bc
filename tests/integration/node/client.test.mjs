// clients/js/herald.js against a real heraldd, with Node `ws` as the
// WebSocket: publish/subscribe, request/respond, queue groups, and a
// connection cut mid-stream that the application never notices.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { HeraldClient, HeraldError, patternMatches } from '../../../clients/js/herald.js';
import { startHeraldd } from './heraldd.mjs';
import { startProxy } from './proxy.mjs';

let server;
const clients = [];
before(async () => {
  server = await startHeraldd();
});
after(async () => {
  for (const c of clients) c.close();
  assert.equal(await server.stop(), 0);
});

function client(port = server.port, options = {}) {
  const c = new HeraldClient(`ws://127.0.0.1:${port}/ws`,
    { WebSocket, reconnectMin: 20, reconnectMax: 200, ...options });
  clients.push(c);
  return c;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

test('patternMatches follows the protocol rules', () => {
  assert.ok(patternMatches('a.*', 'a.b'));
  assert.ok(!patternMatches('a.*', 'a.b.c'));
  assert.ok(patternMatches('a.>', 'a.b.c'));
  assert.ok(!patternMatches('a.>', 'a'));
  assert.ok(patternMatches('a.b', 'a.b'));
  assert.ok(!patternMatches('a.b', 'a.c'));
});

test('publish is acknowledged and reaches every subscriber in order', { timeout: 20000 }, async () => {
  const pub = client();
  const sub = client();
  await Promise.all([pub.ready(), sub.ready()]);
  const got = [];
  await sub.subscribe('js.basic.*', (m) => got.push(m)).ready();
  const acks = [];
  for (let i = 0; i < 20; i++) acks.push(await pub.publish('js.basic.t', { n: i }));
  assert.deepEqual(acks.map((a) => a.offset), [...Array(20).keys()].map((i) => i + 1));
  await until(() => got.length === 20);
  assert.deepEqual(got.map((m) => m.payload.n), [...Array(20).keys()]);
  assert.ok(got.every((m) => m.topic === 'js.basic.t'));
  await assert.rejects(pub.publish('js..bad', 'x'), (e) => e instanceof HeraldError && e.code === 'invalid_topic');
});

test('sub.ready() resolves on the server\'s answer: what another client publishes next arrives',
  { timeout: 20000 }, async () => {
  const pub = client();
  const sub = client();
  await Promise.all([pub.ready(), sub.ready()]);
  // Each round a new subscription, and a publish from the other connection
  // the moment it is ready: nothing else orders the two.
  for (let i = 0; i < 20; i++) {
    const got = [];
    const s = sub.subscribe(`js.ready.${i}`, (m) => got.push(m.payload));
    assert.equal(s.live, false);
    await s.ready();
    await pub.publish(`js.ready.${i}`, i);
    await until(() => got.length === 1);
    assert.deepEqual(got, [i]);
    await s.ready();  // once live, at once
  }
});

test('sub.ready() rejects with the server\'s refusal, on unsubscribe and on close, also when asked later',
  { timeout: 20000 }, async () => {
    const c = client();
    const errors = [];
    c.addEventListener('error', (e) => errors.push(e.detail.code));
    const bad = c.subscribe('js..bad', () => {});
    await assert.rejects(bad.ready(), (e) => e instanceof HeraldError && e.code === 'invalid_topic');
    assert.deepEqual(errors, ['invalid_topic'], 'the error event still reports it');
    await assert.rejects(bad.ready(), (e) => e.code === 'invalid_topic', 'asked again after the answer');
    const s = c.subscribe('js.ready.gone', () => {});
    const waiting = s.ready();
    s.unsubscribe();
    await assert.rejects(waiting, (e) => e.code === 'cancelled');
    await assert.rejects(s.ready(), (e) => e.code === 'cancelled');
    const kept = c.subscribe('js.ready.kept', () => {});
    await kept.ready();
    c.close();
    await assert.rejects(kept.ready(), (e) => e.code === 'disconnected');
  });

test('unsubscribe stops the deliveries, and state events report the connection', { timeout: 20000 }, async () => {
  const states = [];
  const c = client();
  c.addEventListener('state', (e) => states.push(e.detail.state));
  const pub = client();
  await Promise.all([c.ready(), pub.ready()]);
  const got = [];
  const sub = c.subscribe('js.unsub', (m) => got.push(m.payload));
  await sub.ready();
  await pub.publish('js.unsub', 'one');
  await until(() => got.length === 1);
  const subscriptions = async () => {
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    return Number(/^herald_subscriptions (\d+)/m.exec(text)[1]);
  };
  const before = await subscriptions();
  sub.unsubscribe();
  // The server dropped it too (not just the client's callback).
  const end = Date.now() + 3000;
  while ((await subscriptions()) !== before - 1 && Date.now() < end) await sleep(10);
  assert.equal(await subscriptions(), before - 1);
  await pub.publish('js.unsub', 'two');
  await sleep(150);
  assert.deepEqual(got, ['one']);
  c.close();
  assert.deepEqual(states, ['open', 'closed']);
});

test('request gets the responder\'s answer; timeouts and no responders are errors', { timeout: 20000 }, async () => {
  const responder = client();
  const caller = client();
  await Promise.all([responder.ready(), caller.ready()]);
  await responder.respond('js.judge', (req) => ({ verdict: 'ok', length: req.payload.length }),
    { group: 'judges' }).ready();
  const reply = await caller.request('js.judge', 'print(1)', { timeout: 2000 });
  assert.deepEqual(reply.payload, { verdict: 'ok', length: 8 });
  await assert.rejects(caller.request('js.nobody', 'x', { timeout: 500 }),
    (e) => e.code === 'no_responders');
  await responder.subscribe('js.silent', () => {}).ready();  // receives, never answers
  await assert.rejects(caller.request('js.silent', 'x', { timeout: 200 }), (e) => e.code === 'timeout');
});

test('a queue group gives each message to exactly one member', { timeout: 20000 }, async () => {
  const a = client();
  const b = client();
  const pub = client();
  await Promise.all([a.ready(), b.ready(), pub.ready()]);
  const seen = new Map();
  const count = { a: 0, b: 0 };
  await Promise.all([
    a.subscribe('js.jobs', (m) => { seen.set(m.payload, (seen.get(m.payload) ?? 0) + 1); count.a++; }, { group: 'w' }).ready(),
    b.subscribe('js.jobs', (m) => { seen.set(m.payload, (seen.get(m.payload) ?? 0) + 1); count.b++; }, { group: 'w' }).ready(),
  ]);
  for (let i = 0; i < 100; i++) await pub.publish('js.jobs', `job ${i}`);
  await until(() => seen.size === 100);
  await sleep(50);
  assert.ok([...seen.values()].every((n) => n === 1));
  assert.ok(count.a > 0 && count.b > 0, JSON.stringify(count));
});

test('after a cut connection the subscriber resumes: every message once, in order per topic', { timeout: 30000 }, async () => {
  const proxy = await startProxy(server.port);
  try {
    const states = [];
    const sub = client(proxy.port);
    sub.addEventListener('state', (e) => states.push(e.detail.state));
    const pub = client();
    await Promise.all([sub.ready(), pub.ready()]);
    const got = [];
    const gaps = [];
    await sub.subscribe('js.resume.>', (m) => got.push(`${m.topic}:${m.payload}`), { onGap: (g) => gaps.push(g) }).ready();
    const sent = [];
    const send = async (i) => {
      const topic = `js.resume.${i % 2 ? 'a' : 'b'}`;
      await pub.publish(topic, String(i));
      sent.push(`${topic}:${i}`);
    };
    for (let i = 0; i < 10; i++) await send(i);
    await until(() => got.length === 10);
    proxy.cut({ stayDown: true });       // the network drops…
    for (let i = 10; i < 30; i++) await send(i);  // …while messages keep coming
    await until(() => states.includes('reconnecting'));
    proxy.up();
    for (let i = 30; i < 40; i++) await send(i);
    await until(() => got.length >= 40, 10000);
    await sleep(100);  // a duplicate would arrive now
    // Order holds per topic (the resume replays each topic's history).
    const byTopic = (list) => list.reduce((acc, x) => {
      const t = x.split(':')[0];
      (acc[t] ??= []).push(x);
      return acc;
    }, {});
    assert.equal(got.length, sent.length);
    assert.deepEqual(byTopic(got), byTopic(sent));
    assert.deepEqual(gaps, []);
    assert.deepEqual(states.slice(0, 3), ['open', 'reconnecting', 'open']);
  } finally {
    await proxy.close();
  }
});

test('publishing while disconnected is refused plainly, not lost silently', { timeout: 30000 }, async () => {
  const proxy = await startProxy(server.port);
  try {
    const c = client(proxy.port);
    await c.ready();
    proxy.cut({ stayDown: true });
    await until(() => c.state === 'reconnecting');
    await assert.rejects(c.publish('js.offline', 'x'), (e) => e.code === 'disconnected');
    proxy.up();
    await c.ready();
    assert.equal((await c.publish('js.offline', 'y')).offset, 1);
  } finally {
    await proxy.close();
  }
});

async function createQueue(name, definition) {
  const res = await fetch(`http://127.0.0.1:${server.port}/queues/${name}`,
    { method: 'PUT', body: JSON.stringify(definition) });
  assert.equal(res.status, 200, await res.text());
}

// A queue's counts once it has counted `acked` acks (or after 5 s): the
// acks travel after the handlers return.
async function queueOnceAcked(name, acked) {
  let info;
  const end = Date.now() + 5000;
  do {
    info = await (await fetch(`http://127.0.0.1:${server.port}/queues/${name}`)).json();
    if (info.acked === acked) break;
    await sleep(10);
  } while (Date.now() < end);
  return info;
}

test('work: each job to one worker, acknowledged when the handler returns, retried when it throws', async () => {
  await createQueue('js.work', { pattern: 'js.jobs.>', ack_wait_ms: 2000, max_deliver: 3 });
  const a = client();
  const b = client();
  await Promise.all([a.ready(), b.ready()]);
  const done = [];
  let failedOnce = false;
  const handler = (who) => async (job) => {
    if (job.payload === 'flaky' && !failedOnce) {
      failedOnce = true;
      throw new Error('first try fails');
    }
    done.push({ who, payload: job.payload, deliveries: job.deliveries, queue: job.queue });
  };
  await a.work('js.work', handler('a'), { maxInFlight: 2 });
  await b.work('js.work', handler('b'), { maxInFlight: 2 });
  const pub = client();
  await pub.ready();
  for (let i = 0; i < 10; i++) await pub.publish('js.jobs.x', `job-${i}`);
  await pub.publish('js.jobs.x', 'flaky');
  await until(() => done.length === 11);
  assert.deepEqual(done.map((d) => d.payload).sort(),
    [...[...Array(10).keys()].map((i) => `job-${i}`), 'flaky'].sort());
  assert.ok(done.some((d) => d.who === 'a') && done.some((d) => d.who === 'b'));
  assert.equal(done.find((d) => d.payload === 'flaky').deliveries, 2);
  assert.ok(done.every((d) => d.queue === 'js.work'));
  const info = await queueOnceAcked('js.work', 11);
  assert.equal(info.pending, 0);
  assert.equal(info.acked, 11);
});

test('work: jobs that arrive batched are each handled once, in order, and acknowledged', async () => {
  await createQueue('js.batched', { pattern: 'js.batched.>', ack_wait_ms: 5000 });
  const pub = client();
  await pub.ready();
  for (let i = 0; i < 30; i++) await pub.publish('js.batched.x', `job-${i}`);
  // Waiting at the join: offered together, so they come in `jobs` frames of
  // up to maxInFlight (the client joins with batch = maxInFlight).
  const frames = [];
  const w = client();
  await w.ready();
  const raw = w.ws;
  raw.addEventListener('message', (e) => {
    const m = JSON.parse(e.data);
    if (m.op === 'jobs' || m.op === 'job') frames.push(m.op === 'jobs' ? m.jobs.length : 'job');
  });
  const done = [];
  await w.work('js.batched', (job) => { done.push(job.payload); }, { maxInFlight: 10 });
  await until(() => done.length === 30);
  assert.deepEqual(done, [...Array(30).keys()].map((i) => `job-${i}`));
  assert.ok(frames.every((n) => n !== 'job' && n >= 1 && n <= 10), JSON.stringify(frames));
  assert.equal(frames[0], 10);
  const info = await queueOnceAcked('js.batched', 30);
  assert.equal(info.acked, 30);
  assert.equal(info.pending, 0);
});

test('work: a manual worker settles by itself, and a stale handle is refused', async () => {
  await createQueue('js.manual', { pattern: 'js.manual.>', ack_wait_ms: 1500 });
  const slow = client();
  const fast = client();
  await Promise.all([slow.ready(), fast.ready()]);
  const held = [];
  await slow.work('js.manual', (job) => held.push(job), { manual: true });
  const pub = client();
  await pub.ready();
  await pub.publish('js.manual.x', 'm');
  await until(() => held.length === 1);
  const got = [];
  await fast.work('js.manual', (job) => got.push(job), { manual: true });
  await until(() => got.length === 1);  // ack_wait passed: offered again
  assert.equal(got[0].deliveries, 2);
  await assert.rejects(held[0].ack(), (e) => e instanceof HeraldError && e.code === 'stale_handle');
  await got[0].progress();
  await got[0].ack();
  await assert.rejects(got[0].ack(), (e) => e.code === 'unknown_handle');
});

test('presence: members follow joins and leaves, and presence() pages them', async () => {
  const a = client(server.port, { info: { name: 'ada' } });
  const seen = [];
  const sa = a.subscribe('js.room.p', () => {}, { presence: true, onPresence: (e) => seen.push(e) });
  await a.ready();
  await until(() => sa.members.size === 1 && sa.clientId !== null);
  assert.deepEqual([...sa.members.values()].map((m) => m.info), [{ name: 'ada' }]);
  assert.equal([...sa.members.keys()][0], sa.clientId);
  const b = client(server.port, { info: { name: 'bob' } });
  const sb = b.subscribe('js.room.p', () => {}, { presence: true });
  await until(() => sa.members.size === 2 && sb.members.size === 2);
  assert.deepEqual([...sb.members.values()].map((m) => m.info.name).sort(), ['ada', 'bob']);
  assert.equal(sa.clients, 2);
  assert.ok(seen[0].snapshot, 'the first event is a snapshot');
  const page1 = await a.presence('js.room.p', { limit: 1 });
  assert.equal(page1.members.length, 1);
  const page2 = await a.presence('js.room.p', { limit: 1, after: page1.next });
  assert.equal(page2.next, undefined);
  assert.notEqual(page1.members[0].client, page2.members[0].client);
  b.close();
  await until(() => sa.members.size === 1);
  assert.equal(sa.clients, 1);
  await assert.rejects(a.presence('js.room.*'), (e) => e instanceof HeraldError && e.code === 'invalid_topic');
});
