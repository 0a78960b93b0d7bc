// The lecture's floor, as SSE: node server.js PORT [HOST]
// GET /sse?topic=T streams events; POST /publish/T broadcasts the body to
// every stream of T as one `data:` line and answers 200. Plain Node `http`,
// no dependencies: what a team writes in an afternoon.
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 8080);
const host = process.argv[3] || '127.0.0.1';
const streams = new Map(); // topic -> Set of responses

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'GET' && url.pathname === '/sse') {
    const topic = url.searchParams.get('topic');
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('retry: 2000\n\n');
    if (!streams.has(topic)) streams.set(topic, new Set());
    streams.get(topic).add(res);
    req.on('close', () => streams.get(topic).delete(res));
    return;
  }
  if (req.method === 'POST' && url.pathname.startsWith('/publish/')) {
    const topic = decodeURIComponent(url.pathname.slice('/publish/'.length));
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const event = 'data: ' + Buffer.concat(chunks).toString() + '\n\n';
      for (const s of streams.get(topic) || []) s.write(event);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 }).end('{}');
    });
    return;
  }
  res.writeHead(404).end();
});
server.listen(port, host, () => console.log(`node-sse listening on ${host}:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
