// Starts a real heraldd on 127.0.0.1 port 0 for a test and stops it by PID.
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
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`heraldd did not start:\n${log}`)), 10000);
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on http:\/\/[^ ]+:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`heraldd exited with ${code}:\n${log}`)));
  });
  return {
    port,
    async stop() {
      proc.kill('SIGTERM');
      const [code] = await once(proc, 'exit');
      return code;
    },
  };
}
