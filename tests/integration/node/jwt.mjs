// HS256 JWTs signed here with node:crypto, for the tests against a heraldd
// with [auth]: nothing of the server's JWT code is trusted to make them.
import { createHmac } from 'node:crypto';

const b64u = (s) => Buffer.from(s).toString('base64url');

// A function that signs claims with `secret`.
export function signer(secret) {
  return (claims) => {
    const head = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}`;
    return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
  };
}

// The [auth] section of a config whose one key is `secret` (no leeway, no
// anonymous access).
export const authConfig = (secret) =>
  `[auth]\nleeway_ms = 0\nanonymous = false\n[[auth.keys]]\nalg = "HS256"\nsecret = "${secret}"\n`;
