// heraldd's WebSocket front driven by Node's `ws`, the client library the
// seed's reference server uses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { startHeraldd } from './heraldd.mjs';

let server;
before(async () => {
  server = await startHeraldd();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

function open(path, options) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, options);
  const inbox = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const item = { data, isBinary };
    const w = waiters.shift();
    if (w) w(item);
    else inbox.push(item);
  });
  ws.next = (ms = 3000) =>
    inbox.length
      ? Promise.resolve(inbox.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no message in time')), ms);
          waiters.push((item) => {
            clearTimeout(t);
            resolve(item);
          });
        });
  ws.nextJson = async (ms) => JSON.parse((await ws.next(ms)).data.toString());
  return once(ws, 'open').then(() => ws);
}

test('raw mode: two clients chat, the sender included, frame types kept', async () => {
  const alice = await open('/ws/chat.node');
  const bob = await open('/ws/chat.node', { perMessageDeflate: false });
  alice.send('hello bob');
  for (const c of [alice, bob]) {
    const m = await c.next();
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'hello bob');
  }
  bob.send(Buffer.from([0, 1, 2, 255]));
  for (const c of [alice, bob]) {
    const m = await c.next();
    assert.equal(m.isBinary, true);
    assert.deepEqual([...m.data], [0, 1, 2, 255]);
  }
  alice.close();
  bob.close();
});

test('JSON protocol: subscribe, publish with ack, message envelope', async () => {
  const sub = await open('/ws');
  const pub = await open('/ws');
  sub.send(JSON.stringify({ op: 'sub', id: 'a', topic: 'prices.>' }));
  assert.deepEqual(await sub.nextJson(), { op: 'subscribed', id: 'a', topic: 'prices.>' });
  pub.send(JSON.stringify({ op: 'pub', id: 9, topic: 'prices.eur.usd', payload: { bid: 1.08 } }));
  const ack = await pub.nextJson();
  assert.equal(ack.op, 'ack');
  assert.equal(ack.id, 9);
  const msg = await sub.nextJson();
  assert.equal(msg.topic, 'prices.eur.usd');
  assert.deepEqual(msg.payload, { bid: 1.08 });
  assert.equal(msg.offset, ack.offset);
  assert.equal(msg.epoch, ack.epoch);
  sub.close();
  pub.close();
});

test('JSON protocol: request/reply and its errors', async () => {
  const responder = await open('/ws');
  const client = await open('/ws');
  responder.send(JSON.stringify({ op: 'sub', topic: 'echo.upper' }));
  await responder.nextJson();
  client.send(JSON.stringify({ op: 'req', id: 'q', topic: 'echo.upper', payload: 'hi' }));
  const req = await responder.nextJson();
  responder.send(JSON.stringify({ op: 'reply', to: req.reply_to, payload: req.payload.toUpperCase() }));
  const reply = await client.nextJson();
  assert.equal(reply.op, 'reply');
  assert.equal(reply.id, 'q');
  assert.equal(reply.payload, 'HI');

  client.send(JSON.stringify({ op: 'req', id: 'none', topic: 'nobody.here' }));
  assert.equal((await client.nextJson()).code, 'no_responders');
  client.send('{"op":"pub","topic":"bad..topic"}');
  const err = await client.nextJson();
  assert.equal(err.code, 'invalid_topic');
  assert.match(err.message, /empty token/);
  responder.close();
  client.close();
});

test('handshake refusals are HTTP statuses, not crashes', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/not..valid`);
  ws.on('error', () => {});  // the refused upgrade also surfaces as an error event
  const [, res] = await once(ws, 'unexpected-response');
  assert.equal(res.statusCode, 400);
  res.resume();
  ws.terminate();
});
