// The seed's reference chat server: node server.js PORT [HOST]
// Accepts a WebSocket on any path and broadcasts every message it receives to
// every open client, the sender included, with the same frame type.
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8080);
const host = process.argv[3] || '127.0.0.1';
const server = http.createServer((req, res) => res.writeHead(426).end('WebSocket only\n'));
const wss = new WebSocketServer({ server });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
});
server.listen(port, host, () => console.log(`node-ws listening on ${host}:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
