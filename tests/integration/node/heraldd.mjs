// Starts a real heraldd on 127.0.0.1 port 0 for a test and stops it by PID.
// With a [tls] listen in `config`, also waits for its HTTPS port (tlsPort).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HERALDD = process.env.HERALDD ?? 'build/release/server/heraldd';

export async function startHeraldd({ config, listen = '127.0.0.1:0' } = {}) {
  const args = ['--listen', listen];
  if (config) {
    const path = join(mkdtempSync(join(tmpdir(), 'herald-')), 'herald.toml');
    writeFileSync(path, config);
    args.push('--config', path);
  }
  const proc = spawn(HERALDD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const wantTls = /^\[tls\][^[]*^listen\s*=/ms.test(config ?? '');
  let tlsPort;
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`heraldd did not start:\n${log}`)), 10000);
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on http:\/\/[^ ]+:(\d+)/.exec(log);
      const t = /listening on https:\/\/[^ ]+:(\d+)/.exec(log);
      if (m && (!wantTls || t)) {
        clearTimeout(timer);
        tlsPort = t ? Number(t[1]) : undefined;
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`heraldd exited with ${code}:\n${log}`)));
  });
  return {
    port,
    tlsPort,
    log: () => log,  // its stderr so far (for a failure's message)
    async stop() {
      proc.kill('SIGTERM');
      const [code] = await once(proc, 'exit');
      return code;
    },
  };
}
