// A TCP proxy in front of heraldd whose connections a test can cut (as a
// flaky network or a dropped server connection would), and keep down.
import net from 'node:net';

export async function startProxy(targetPort) {
  const pairs = new Set();
  const requests = []; // the request heads EventSource sent
  let down = false;
  const proxy = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    let head = '';
    client.on('data', (chunk) => {
      if (!head.includes('\r\n\r\n')) {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) requests.push(head);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: proxy.address().port,
    requests,
    get open() {
      return pairs.size;
    },
    cut({ stayDown }) {
      down = stayDown;
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    up() {
      down = false;
    },
    // Stops listening and drops what is still connected (a client that keeps
    // reconnecting would otherwise hold close() forever).
    close() {
      down = true;
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      return new Promise((resolve) => proxy.close(resolve));
    },
  };
}
