// One measurement of `make bench-queue` (bench/queue/run.sh drives it):
// a work queue preloaded with --jobs jobs of --size bytes, then drained by
// --workers workers, each its own connection on its own thread, acknowledging
// every job one by one as it arrives with at most --prefetch unacknowledged.
//
//   throughput: jobs delivered and acknowledged per second, from the moment
//               the workers are told to start until the last job's ack is
//               sent (the preload is not timed);
//   latency:    one worker with prefetch 1: the time from sending a job's
//               ack to receiving the next job (p50, p99).
//
// The same job for three servers, each through a client nobody here wrote:
//   herald  heraldd's WebSocket JSON protocol through npm `ws` (no
//           compression): `join` with max_in_flight, and with --batch N the
//           jobs that are ready together come as one `jobs` frame of up to N
//           (as XREADGROUP COUNT returns up to COUNT entries; without it, a
//           `job` frame each); an `ack` without an id per job (no answer,
//           like AMQP's basic.ack), the acks of one event-loop turn written
//           together as the other two clients do (see heraldWorker);
//   rabbit  RabbitMQ through npm `amqplib`: a durable queue, basic.qos
//           prefetch, manual basic.ack; --persistent publishes persistent
//           messages (delivery mode 2), otherwise transient ones;
//   redis   a Redis Streams consumer group through npm `redis`: XREADGROUP
//           COUNT prefetch, then an XACK per entry (pipelined by the client),
//           then the next XREADGROUP.
//
// Prints one JSON line: {"jobs":N,"seconds":S,"jobs_per_s":R} or
// {"samples":N,"p50_us":…,"p99_us":…}.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import amqp from 'amqplib';
import { createClient } from 'redis';

const QUEUE = 'bench';
const TOPIC = 'jobs.bench';
const STREAM = 'bench';
const GROUP = 'g';

function parseArgs(argv) {
  const o = { system: '', url: '', mode: 'throughput', workers: 1, jobs: 50000, prefetch: 16, size: 64, batch: 0, persistent: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'persistent') o.persistent = true;
    else o[k] = ['workers', 'jobs', 'prefetch', 'size', 'batch'].includes(k) ? Number(argv[++i]) : argv[++i];
  }
  if (!['herald', 'rabbit', 'redis'].includes(o.system) || !o.url) throw new Error(`usage: --system herald|rabbit|redis --url URL [--mode throughput|latency] [--workers N] [--jobs N] [--prefetch N] [--size B] [--batch N] [--persistent]`);
  if (o.mode === 'latency') { o.workers = 1; o.prefetch = 1; }
  return o;
}

// ---- preload (main thread) -------------------------------------------------

async function preloadHerald(o, payload) {
  const ws = new WebSocket(o.url, { perMessageDeflate: false });
  await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
  const window = 1000;
  let sent = 0, acked = 0, wake = null, failure = null;
  ws.on('message', (data) => {
    const m = JSON.parse(data);
    if (m.op === 'ack') acked++;
    else if (m.op === 'error') failure = new Error(`herald preload: ${data}`);
    if (wake) { const w = wake; wake = null; w(); }
  });
  const frame = (id) => `{"op":"pub","id":${id},"topic":"${TOPIC}","payload":"${payload}"}`;
  while (acked < o.jobs) {
    if (failure) throw failure;
    while (sent < o.jobs && sent - acked < window) ws.send(frame(++sent));
    await new Promise((w) => { wake = w; });
  }
  ws.close();
}

async function preloadRabbit(o, payload) {
  const conn = await amqp.connect(o.url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(QUEUE, { durable: true });
  await ch.purgeQueue(QUEUE);
  const body = Buffer.from(payload);
  for (let i = 0; i < o.jobs; i++) {
    ch.sendToQueue(QUEUE, body, { persistent: o.persistent });
    if (i % 1000 === 999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  await ch.close();
  await conn.close();
}

async function preloadRedis(o, payload) {
  const c = createClient({ url: o.url });
  await c.connect();
  await c.sendCommand(['DEL', STREAM]);
  for (let i = 0; i < o.jobs; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(o.jobs, i + 1000); j++) batch.push(c.sendCommand(['XADD', STREAM, '*', 'p', payload]));
    await Promise.all(batch);
  }
  await c.sendCommand(['XGROUP', 'CREATE', STREAM, GROUP, '0']);
  await c.quit();
}

// ---- workers (one thread each) ---------------------------------------------

// Counts a job; in latency mode also the time since the previous ack.
class Tally {
  constructor(shared, latency) { this.done = new Int32Array(shared); this.latency = latency; this.samples = []; this.ackedAt = 0; }
  job() {
    if (this.latency && this.ackedAt) this.samples.push((performance.now() - this.ackedAt) * 1000);
  }
  acked() {
    if (this.latency) this.ackedAt = performance.now();
    Atomics.add(this.done, 0, 1);
  }
}

async function heraldWorker(o, t, started, ready) {
  const ws = new WebSocket(o.url, { perMessageDeflate: false });
  await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
  ready();
  await started;
  // node-redis corks its socket until setImmediate whenever it writes, and
  // amqplib's muxer writes its frames on setImmediate: both send what one
  // turn of the event loop produced in one write. `ws` writes every frame at
  // once; the worker gives it the same batching, so that the acks of one read
  // go out together (each is still its own ack frame).
  const socket = ws._socket;
  let corked = false;
  const cork = () => {
    if (corked) return;
    corked = true;
    socket.cork();
    setImmediate(() => { corked = false; socket.uncork(); });
  };
  const work = (job) => {
    t.job();
    cork();
    ws.send(`{"op":"ack","handle":"${job.handle}"}`);
    t.acked();
  };
  ws.on('message', (data) => {
    const m = JSON.parse(data);
    if (m.op === 'job') {
      work(m);
    } else if (m.op === 'jobs') {
      for (const job of m.jobs) work(job);
    } else if (m.op === 'error') {
      throw new Error(`herald worker: ${data}`);
    }
  });
  const join = { op: 'join', id: 'j', queue: QUEUE, max_in_flight: o.prefetch };
  if (o.batch > 0) join.batch = o.batch;
  ws.send(JSON.stringify(join));
  return () => ws.close();
}

async function rabbitWorker(o, t, started, ready) {
  const conn = await amqp.connect(o.url);
  const ch = await conn.createChannel();
  await ch.prefetch(o.prefetch);
  ready();
  await started;
  await ch.consume(QUEUE, (msg) => {
    t.job();
    ch.ack(msg);
    t.acked();
  }, { noAck: false });
  return () => conn.close().catch(() => {});
}

async function redisWorker(o, t, started, ready, index) {
  const c = createClient({ url: o.url });
  await c.connect();
  ready();
  await started;
  let running = true;
  const fail = (e) => { if (running) { console.error(e); process.exit(1); } };
  const loop = (async () => {
    while (running) {
      const r = await c.sendCommand(['XREADGROUP', 'GROUP', GROUP, `c${index}`, 'COUNT', String(o.prefetch), 'BLOCK', '100', 'STREAMS', STREAM, '>']);
      if (!r) continue;
      for (const [id] of r[0][1]) {
        t.job();
        c.sendCommand(['XACK', STREAM, GROUP, id]).catch(fail);  // not awaited: the client pipelines them
        t.acked();
      }
    }
  })().catch(fail);
  // Stopping: the blocked XREADGROUP returns within its BLOCK; then QUIT.
  return async () => { running = false; await loop; await c.quit(); };
}

async function workerMain() {
  const o = workerData.options;
  const t = new Tally(workerData.done, o.mode === 'latency');
  let go, stop;
  const started = new Promise((r) => { go = r; });
  parentPort.on('message', async (m) => {
    if (m === 'go') go();
    if (m === 'stop') {
      await stop();
      parentPort.postMessage({ samples: t.samples });
    }
  });
  const start = { herald: heraldWorker, rabbit: rabbitWorker, redis: redisWorker }[o.system];
  stop = await start(o, t, started, () => parentPort.postMessage('connected'), workerData.index);
}

// ---- main ------------------------------------------------------------------

function percentile(sorted, p) {
  return sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]) : 0;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const payload = 'x'.repeat(o.size);
  await { herald: preloadHerald, rabbit: preloadRabbit, redis: preloadRedis }[o.system](o, payload);

  const shared = new SharedArrayBuffer(4);
  const done = new Int32Array(shared);
  const workers = [];
  const connected = [];
  for (let i = 0; i < o.workers; i++) {
    const w = new Worker(new URL(import.meta.url), { workerData: { options: o, done: shared, index: i } });
    w.on('error', (e) => { console.error(e); process.exit(1); });
    connected.push(new Promise((r) => w.once('message', r)));
    workers.push(w);
  }
  await Promise.all(connected);
  const t0 = performance.now();
  for (const w of workers) w.postMessage('go');
  const deadline = t0 + 600_000;
  while (Atomics.load(done, 0) < o.jobs) {
    if (performance.now() > deadline) throw new Error(`timed out with ${Atomics.load(done, 0)} of ${o.jobs} jobs`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const seconds = (performance.now() - t0) / 1000;
  const samples = [];
  await Promise.all(workers.map((w) => new Promise((r) => {
    w.once('message', (m) => { samples.push(...m.samples); r(); });
    w.postMessage('stop');
  })));
  await Promise.all(workers.map((w) => w.terminate()));
  if (o.mode === 'latency') {
    samples.sort((a, b) => a - b);
    console.log(JSON.stringify({ samples: samples.length, p50_us: percentile(samples, 0.5), p99_us: percentile(samples, 0.99) }));
  } else {
    console.log(JSON.stringify({ jobs: o.jobs, seconds: Number(seconds.toFixed(3)), jobs_per_s: Math.round(o.jobs / seconds) }));
  }
}

if (isMainThread) main().catch((e) => { console.error(e); process.exit(1); });
else workerMain().catch((e) => { console.error(e); process.exit(1); });
