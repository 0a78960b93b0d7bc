// The presence join storm (`make bench-presence`): N WebSocket clients join
// one topic's presence within about a second, and every one of them follows
// the member list until it holds all N. Reported: the time until every
// client saw all N, the presence frames and bytes each client received, the
// server's CPU seconds (/proc/<pid>/stat) and RSS growth, and the server's
// own counters (herald_presence_*). Run it against heraldd with coalescing
// (event_interval_ms 100) and without (0) to see what coalescing saves.
//
//   node storm.mjs --port 8080 --pid 1234 --clients 1000 --label coalesced
//
// Prints one JSON line.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const WebSocket = require('../../tests/integration/node/node_modules/ws');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const port = Number(args.port);
const pid = Number(args.pid);
const N = Number(args.clients ?? 1000);
const topic = args.topic ?? `storm.${Date.now()}`;
const spreadMs = Number(args.spread ?? 1000);

const ticks = () => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);  // utime + stime, in clock ticks (100/s)
};
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
async function metrics() {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(herald_presence_\w+) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

const before = { ticks: ticks(), rss: rss(), metrics: await metrics() };
const t0 = Date.now();
const clients = [];
let complete = 0;
let done;
const allComplete = new Promise((r) => { done = r; });

for (let i = 0; i < N; i++) {
  const c = { members: new Set(), frames: 0, bytes: 0, completeAt: 0 };
  clients.push(c);
  setTimeout(() => {
    const info = encodeURIComponent(JSON.stringify({ name: `user-${i}` }));
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?info=${info}`);
    c.ws = ws;
    ws.on('open', () => ws.send(JSON.stringify({ op: 'sub', id: 1, topic, presence: true })));
    ws.on('message', (data) => {
      const m = JSON.parse(data);
      if (m.op !== 'presence') return;
      c.frames++;
      c.bytes += data.length;
      if (m.snapshot) c.members.clear();
      for (const l of m.leave ?? []) c.members.delete(l.client);  // leaves first
      for (const j of m.join ?? []) c.members.add(j.client);
      if (m.resync) {  // the list is stale: ask for it whole
        c.resyncs = (c.resyncs ?? 0) + 1;
        ws.send(JSON.stringify({ op: 'members', id: 2, topic, limit: 1000 }));
      }
      if (!c.completeAt && m.clients === N && (m.resync || c.members.size === N)) {
        c.completeAt = Date.now();
        if (++complete === N) done();
      }
    });
    ws.on('error', (e) => { console.error(`client ${i}: ${e.message}`); });
  }, (i * spreadMs) / N);
}
const timeout = setTimeout(() => done(), 60000);
await allComplete;
clearTimeout(timeout);
const after = { ticks: ticks(), rss: rss(), metrics: await metrics() };
const frames = clients.map((c) => c.frames).sort((a, b) => a - b);
const bytes = clients.reduce((s, c) => s + c.bytes, 0);
const delta = (k) => (after.metrics[k] ?? 0) - (before.metrics[k] ?? 0);
console.log(JSON.stringify({
  label: args.label ?? '',
  clients: N,
  spread_ms: spreadMs,
  complete,
  all_seen_ms: Date.now() - t0,
  frames_per_client_median: frames[Math.floor(N / 2)],
  frames_per_client_max: frames[N - 1],
  bytes_per_client: Math.round(bytes / N),
  server_cpu_s: (after.ticks - before.ticks) / 100,
  server_rss_growth_bytes: after.rss - before.rss,
  presence_bytes: after.metrics.herald_presence_bytes,
  presence_bytes_per_member: Math.round(after.metrics.herald_presence_bytes / N),
  events: delta('herald_presence_events_total'),
  deliveries: delta('herald_presence_deliveries_total'),
  coalesced: delta('herald_presence_coalesced_total'),
  resyncs: delta('herald_presence_resyncs_total'),
}));
for (const c of clients) c.ws?.terminate();
setTimeout(() => process.exit(0), 200);
