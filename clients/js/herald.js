// Herald client for browsers and Node: a dependency-free ES module over
// heraldd's WebSocket JSON protocol (docs/PROTOCOL.md), plus an SSE mode for
// listen-only pages.
//
//   import { HeraldClient } from './herald.js';
//   const herald = new HeraldClient('ws://127.0.0.1:8080/ws');
//   herald.addEventListener('state', (e) => console.log(e.detail.state));
//   const sub = herald.subscribe('chat.room1', (msg) => show(msg.payload), {
//     onGap: (gap) => warn(gap),     // history could not cover an outage
//   });
//   const { epoch, offset } = await herald.publish('chat.room1', { text: 'hi' });
//   const reply = await herald.request('judge.run', 'print(1)', { timeout: 2000 });
//   herald.respond('judge.run', (req) => ({ verdict: 'ok' }), { group: 'judges' });
//
// The connection reconnects by itself (exponential backoff with full jitter).
// On reconnect every subscription is made again and resumed after the last
// message it delivered, per topic: the application sees no gap and no
// duplicate, or an explicit gap when history no longer holds what it missed.
// Under Node, pass a WebSocket implementation: { WebSocket } from 'ws'.
//
// On a node with authentication, pass getToken: an async function returning
// a fresh token (a JWT). It is called before every connection attempt (the
// token goes in the URL's `token` parameter: a browser cannot set headers on
// a WebSocket) and, tokenRefreshMargin before the token expires, to renew the
// live connection with the `refresh` operation: no reconnect, nothing missed.
// If the token expires anyway (close 4001), the client reconnects at once
// with a new one. Without getToken, a 4001 close ends the client ('closed').

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 8000;
const TOKEN_REFRESH_MARGIN_MS = 30000;
const TOKEN_EXPIRED = 4001;  // the close code of a connection whose token expired
const TOKEN_REVOKED = 4002;  // ...and of one whose token was revoked (the server API)
const MAX_TIMER_MS = 2 ** 31 - 1;  // setTimeout fires at once past this (~24.8 days)

// A JWT's `exp` in ms since the Unix epoch (read, not verified: only to know
// when to renew), or null when it has none or is not a JWT.
export function tokenExpiry(token) {
  try {
    const part = token.split('.')[1];
    const text = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = JSON.parse(text).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

// Does `pattern` (with * and >) match `topic`? The protocol's rules.
export function patternMatches(pattern, topic) {
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== '*' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

export class HeraldError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'HeraldError';
    this.code = code;  // 'timeout', 'no_responders', 'invalid_topic', 'disconnected'…
  }
}

class Subscription {
  constructor(client, pattern, onMessage, options) {
    this.client = client;
    this.pattern = pattern;
    this.group = options.group ?? '';
    this.onMessage = onMessage;
    this.onGap = options.onGap ?? (() => {});
    // topic -> {epoch, offset} of the last message delivered: the resume
    // points of the next (re)subscription, and the duplicate filter.
    this.positions = new Map();
    for (const [topic, p] of Object.entries(options.resume ?? {})) this.positions.set(topic, p);
    this.active = true;
    // Presence (docs/PROTOCOL.md, "Presence"): this connection is a member
    // of the topic; `members` (client id -> {client, user, info}), `clients`
    // and `users` follow the server's events; `clientId` is this
    // connection's own id (it changes with each connection).
    this.presence = options.presence === true;
    this.onPresence = options.onPresence ?? (() => {});
    this.members = new Map();
    this.clients = 0;
    this.users = 0;
    this.clientId = null;
    // The server's answer to this connection's `sub`: ready() waits for it.
    this.live = false;
    this.error = null;  // its refusal, or why it ended
    this.waiters = [];
  }

  // Resolves once the server has this subscription on the current
  // connection (its `subscribed` answer): a message published on this node
  // after that, by anyone, reaches it; in a cluster, one published on
  // another node does once the subscription's interest reached the topic's
  // owner (docs/CLUSTER.md; about a millisecond on a LAN). The client's own
  // ready() is only the open connection. Rejects with a HeraldError if the
  // server refused it (until the next connection asks again), or once it
  // ended (unsubscribe, the server's, the client closed); after a reconnect
  // it waits for the new connection's answer.
  ready() {
    if (this.live) return Promise.resolve();
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  _answered(error) {
    this.live = !error;
    this.error = error;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) (error ? w.reject(error) : w.resolve());
  }

  // A `presence` event: a snapshot replaces the list, a change edits it, a
  // resync asks the server for the whole list (after a random delay, so a
  // thousand members do not ask at once).
  presenceEvent(e) {
    if (e.snapshot) this.members.clear();
    if (e.resync) {
      clearTimeout(this.resyncTimer);
      this.resyncTimer = setTimeout(() => this._reloadMembers(), Math.random() * 1000);
    }
    // Leaves first: a member back as someone else (new info) is a leave and
    // a join of the same client in one event.
    for (const m of e.leave ?? []) this.members.delete(m.client);
    for (const m of e.join ?? []) this.members.set(m.client, m);
    this.clients = e.clients;
    this.users = e.users;
    this.onPresence(e, this);
  }

  async _reloadMembers() {
    if (!this.active) return;
    try {
      const members = new Map();
      let after;
      let last;
      do {
        last = await this.client.presence(this.pattern, { limit: 1000, after });
        for (const m of last.members) members.set(m.client, m);
        after = last.next;
      } while (after);
      this.members = members;
      this.clients = last.clients;
      this.users = last.users;
      this.onPresence({ op: 'presence', topic: this.pattern, resync: true, reloaded: true,
        clients: last.clients, users: last.users }, this);
    } catch (e) {
      this.client._report(e);
    }
  }

  resumePoints() {
    if (this.group) return undefined;  // a group member does not replay: the group moved on
    // Topics with no position yet resume nothing: "seen nothing" would
    // replay all their history, and a subscription wants what comes after it.
    const out = {};
    for (const [topic, p] of this.positions) out[topic] = { epoch: p.epoch, offset: p.offset };
    return Object.keys(out).length ? out : undefined;
  }

  deliver(msg) {
    const last = this.positions.get(msg.topic);
    if (last && last.epoch === msg.epoch && msg.offset <= last.offset) return;  // seen
    this.positions.set(msg.topic, { epoch: msg.epoch, offset: msg.offset });
    this.onMessage(msg, this);
  }

  gap(gap) {
    if (gap.epoch) this.positions.set(gap.topic, { epoch: gap.epoch, offset: gap.to });
    else this.positions.delete(gap.topic);
    this.onGap(gap, this);
  }

  // Stops the subscription (and tells the server, when connected).
  unsubscribe() {
    if (!this.active) return;
    this.active = false;
    clearTimeout(this.resyncTimer);
    this._answered(new HeraldError('cancelled', 'unsubscribed'));
    this.client._drop(this);
  }
}

// One membership of a work queue (HeraldClient.work).
class Worker {
  constructor(client, queue, handler, options) {
    this.client = client;
    this.queue = queue;
    this.handler = handler;
    this.maxInFlight = options.maxInFlight;
    this.manual = options.manual === true;
    this.nackDelay = options.nackDelay;
  }

  // The job with its settlements; each resolves once the server took it, or
  // rejects with a HeraldError ('stale_handle' when the job was offered
  // again meanwhile, 'unknown_handle' ...).
  job(m) {
    if ('payload_b64' in m) m.payload = base64ToBytes(m.payload_b64);
    const settle = (op, extra = {}) => this.client._call({ op, handle: m.handle, ...extra },
      this.client.requestTimeout, () => undefined);
    m.ack = () => settle('ack');
    m.nack = (delayMs) => settle('nack', delayMs === undefined ? {} : { delay_ms: delayMs });
    m.progress = () => settle('progress');
    m.term = () => settle('term');
    return m;
  }

  async deliver(m) {
    const job = this.job(m);
    if (this.manual) {
      this.handler(job);
      return;
    }
    // Done when the handler returns (or resolves): acknowledged; when it
    // throws: nacked, to be offered again (after nackDelay, or the queue's
    // backoff). Settlements that fail (the connection dropped: the job is
    // offered again anyway) are reported as 'error' events.
    try {
      await this.handler(job);
    } catch {
      job.nack(this.nackDelay).catch((e) => this.client._report(e));
      return;
    }
    job.ack().catch((e) => this.client._report(e));
  }

  // Leaves the queue: the jobs this connection holds are offered again.
  leave() {
    this.client.workers.delete(this.queue);
    this.client._send({ op: 'leave', queue: this.queue });
  }
}

export class HeraldClient extends EventTarget {
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (!this.WebSocket) throw new Error('no WebSocket implementation: pass { WebSocket }');
    this.reconnectMin = options.reconnectMin ?? RECONNECT_MIN_MS;
    this.reconnectMax = options.reconnectMax ?? RECONNECT_MAX_MS;
    this.requestTimeout = options.requestTimeout ?? 5000;
    this.getToken = options.getToken ?? null;
    // What this client shows others in presence (a JSON object), where the
    // node lets clients name themselves: sent as the URL's `info`.
    this.info = options.info ?? null;
    this.tokenRefreshMargin = options.tokenRefreshMargin ?? TOKEN_REFRESH_MARGIN_MS;
    this.subscriptions = new Set();
    // Topics the server subscribed this connection to (the server API):
    // their messages come as 'message' events. The connection's, so a
    // reconnect starts without them.
    this.serverTopics = new Set();
    this.disconnectNotice = null;  // the server's last 'disconnect', if any
    this.workers = new Map();  // queue name -> Worker
    this.pending = new Map();  // command id -> {resolve, reject, timer}
    this.nextId = 1;
    this.state = 'connecting';
    this.backoff = this.reconnectMin;
    this.closed = false;
    this.everOpen = false;
    this._open();
  }

  // Resolves once connected (at once when already open).
  ready() {
    if (this.state === 'open') return Promise.resolve();
    return new Promise((resolve) => {
      const on = (e) => {
        if (e.detail.state !== 'open') return;
        this.removeEventListener('state', on);
        resolve();
      };
      this.addEventListener('state', on);
    });
  }

  subscribe(pattern, onMessage, options = {}) {
    const sub = new Subscription(this, pattern, onMessage, options);
    this.subscriptions.add(sub);
    if (this.state === 'open') this._sendSubscribe(sub);
    return sub;
  }

  // Resolves with {epoch, offset, duplicate} once the message is sequenced.
  // options.msgId (1-128 printable ASCII) makes the publish idempotent: a
  // retry with the same id within the server's dedup window resolves with
  // the first one's position and duplicate: true, and is not delivered again.
  publish(topic, payload, options = {}) {
    return this._call({ op: 'pub', topic, ...encodePayload(payload), headers: options.headers,
      msg_id: options.msgId }, options.timeout ?? this.requestTimeout,
    (m) => ({ epoch: m.epoch, offset: m.offset, duplicate: m.duplicate === true }));
  }

  // Resolves with the reply message ({payload, …}); rejects with a
  // HeraldError 'timeout' or 'no_responders'.
  request(topic, payload, options = {}) {
    const timeout = options.timeout ?? this.requestTimeout;
    return this._call({ op: 'req', topic, ...encodePayload(payload), timeout_ms: timeout,
      headers: options.headers }, timeout + 1000, (m) => m);
  }

  // Serves requests sent to `topic`: `handler(request)` returns (or resolves
  // to) the reply's payload.
  respond(topic, handler, options = {}) {
    return this.subscribe(topic, async (msg) => {
      if (!msg.reply_to) return;
      const answer = await handler(msg);
      this._send({ op: 'reply', to: msg.reply_to, ...encodePayload(answer) });
    }, options);
  }

  // Joins the work queue `queue` (docs/PROTOCOL.md, "Work queues"):
  // `handler(job)` runs for each job (`job.payload`, `job.topic`,
  // `job.deliveries`...); the job is acknowledged when it returns or
  // resolves, nacked when it throws. options: { maxInFlight, nackDelay,
  // manual } — with manual: true the handler settles by itself with
  // job.ack() / job.nack(delayMs) / job.progress() / job.term(). After a
  // reconnect the client joins again (what the old connection held was
  // offered again at once). Resolves with the Worker once joined.
  work(queue, handler, options = {}) {
    const worker = new Worker(this, queue, handler, options);
    this.workers.set(queue, worker);
    if (this.state !== 'open') return this.ready().then(() => worker);
    return this._sendJoin(worker).then(() => worker);
  }

  close() {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new HeraldError('disconnected', 'client closed'));
    this.pending.clear();
    for (const sub of this.subscriptions) sub._answered(new HeraldError('disconnected', 'client closed'));
    clearTimeout(this.retryTimer);
    clearTimeout(this.refreshTimer);
    // A member list's reload after a resync would ask a closed client.
    for (const sub of this.subscriptions) clearTimeout(sub.resyncTimer);
    if (this.ws) this.ws.close();
    this._setState('closed');
  }

  // Renews the live connection's token now (getToken, then `refresh`);
  // resolves with the new expiry (ms since the epoch; null: never). Done by
  // itself before expiry; call it after a user's grants changed.
  async refreshToken() {
    if (!this.getToken) throw new HeraldError('invalid_argument', 'no getToken option');
    const ws = this.ws;
    const token = await this.getToken();
    // Closed, or reconnected (with a token of its own) meanwhile.
    if (this.closed || this.ws !== ws) throw new HeraldError('disconnected', 'connection changed');
    const m = await this._call({ op: 'refresh', token }, this.requestTimeout, (a) => a);
    const expiry = m.expires_at ? m.expires_at * 1000 : null;
    if (this.ws === ws) this._scheduleRefresh(expiry);
    return expiry;
  }

  // --- internals ---

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
  }

  // Resolves with a topic's presence members: {clients, users, members:
  // [{client, user, info}], next} (`next`: ask again with after = next).
  presence(topic, options = {}) {
    const cmd = { op: 'members', topic, limit: options.limit, after: options.after };
    return this._call(cmd, options.timeout ?? this.requestTimeout,
      (m) => ({ clients: m.clients, users: m.users, members: m.members, next: m.next }));
  }

  _withInfo(url) {
    if (!this.info) return url;
    const u = new URL(url, globalThis.location?.href);
    u.searchParams.set('info', JSON.stringify(this.info));
    return u.toString();
  }

  _open() {
    if (!this.getToken) return this._connect(this._withInfo(this.url), null);
    // A new token for every attempt: a browser cannot tell a refused upgrade
    // (401) from a network error, so the token in hand is never trusted twice.
    Promise.resolve().then(() => this.getToken()).then((token) => {
      if (this.closed) return;
      const url = new URL(this.url, globalThis.location?.href);
      url.searchParams.set('token', token);
      this._connect(this._withInfo(url.toString()), tokenExpiry(token));
    }, (error) => {
      if (this.closed) return;
      this._report(new HeraldError('token', `getToken failed: ${error?.message ?? error}`));
      this._retry(false);
    });
  }

  _retry(now) {
    this._setState('reconnecting');
    // Full jitter: a restarted server is not met by every client at once.
    const wait = now ? 0 : Math.random() * this.backoff;
    if (!now) this.backoff = Math.min(this.backoff * 2, this.reconnectMax);
    this.retryTimer = setTimeout(() => this._open(), wait);
  }

  // Renews the token tokenRefreshMargin before `expiry` (ms); a failed
  // renewal is tried again, until the server closes with 4001.
  _scheduleRefresh(expiry) {
    clearTimeout(this.refreshTimer);
    if (!this.getToken || expiry == null || this.closed) return;
    const left = expiry - Date.now();
    const wait = Math.max(0, left - Math.min(this.tokenRefreshMargin, left / 2));
    if (wait > MAX_TIMER_MS) {  // a long-lived token: look again later
      this.refreshTimer = setTimeout(() => this._scheduleRefresh(expiry), MAX_TIMER_MS);
      return;
    }
    const ws = this.ws;
    this.refreshTimer = setTimeout(() => {
      this.refreshToken().catch((e) => {
        if (this.closed || this.ws !== ws) return;  // the next connection has its own
        this._report(e);
        this._scheduleRefresh(Math.max(expiry, Date.now() + 2000));
      });
    }, wait);
  }

  _connect(url, expiry) {
    const ws = new this.WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = this.reconnectMin;
      this.everOpen = true;
      this._scheduleRefresh(expiry);
      for (const sub of this.subscriptions) this._sendSubscribe(sub);
      for (const worker of this.workers.values()) {
        this._sendJoin(worker).catch((e) => this._report(e));
      }
      this._setState('open');
    };
    ws.onmessage = (ev) => this._onMessage(typeof ev.data === 'string' ? ev.data : String(ev.data));
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.serverTopics.clear();
      for (const sub of this.subscriptions) sub.live = false;  // until the next connection's answer
      const notice = this.disconnectNotice;
      this.disconnectNotice = null;
      clearTimeout(this.refreshTimer);
      for (const p of this.pending.values()) {
        p.reject(new HeraldError('disconnected', 'connection lost before the answer'));
      }
      this.pending.clear();
      if (this.closed) return;
      // The server asked us not to come back: told so, or by the close
      // code alone (4500-4999, docs/PROTOCOL.md).
      if ((notice && !notice.reconnect) || (ev?.code >= 4500 && ev?.code <= 4999)) {
        this.close();
        return;
      }
      if (ev?.code === TOKEN_EXPIRED || ev?.code === TOKEN_REVOKED) {
        if (!this.getToken) {
          // The same token would be refused: nothing to retry with.
          this._report(ev.code === TOKEN_REVOKED
            ? new HeraldError('token_revoked', 'the token was revoked and there is no getToken')
            : new HeraldError('token_expired', 'the token expired and there is no getToken'));
          this.close();
          return;
        }
        return this._retry(true);  // a new token now, no backoff
      }
      this._retry(false);
    };
  }

  _send(cmd) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(cmd));
    return true;
  }

  _call(cmd, timeout, map) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== 1) {
        reject(new HeraldError('disconnected', 'not connected'));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HeraldError('timeout', 'no answer in time'));
      }, timeout);
      this.pending.set(id, {
        resolve: (m) => { clearTimeout(timer); resolve(map(m)); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.ws.send(JSON.stringify({ ...cmd, id }));
    });
  }

  _sendJoin(worker) {
    // Jobs come batched (`jobs` frames, up to the in-flight bound in each):
    // one frame and one parse for what arrived together.
    const cmd = { op: 'join', queue: worker.queue, batch: worker.maxInFlight || 1024 };
    if (worker.maxInFlight) cmd.max_in_flight = worker.maxInFlight;
    return this._call(cmd, this.requestTimeout, () => undefined);
  }

  _report(error) {
    this.dispatchEvent(new CustomEvent('error', { detail: error }));
  }

  _sendSubscribe(sub) {
    const cmd = { op: 'sub', id: this.nextId++, topic: sub.pattern };
    if (sub.group) cmd.group = sub.group;
    // Its answer makes it live (Subscription.ready) and, with presence,
    // names this connection's client id.
    sub.subscribeId = cmd.id;
    sub.live = false;
    sub.error = null;
    if (sub.presence) cmd.presence = true;
    const resume = sub.resumePoints();
    if (resume) cmd.resume = resume;
    this._send(cmd);
  }

  _drop(sub) {
    this.subscriptions.delete(sub);
    const others = [...this.subscriptions].some((s) => s.pattern === sub.pattern && s.group === sub.group);
    if (!others) {
      const cmd = { op: 'unsub', id: this.nextId++, topic: sub.pattern };
      if (sub.group) cmd.group = sub.group;
      this._send(cmd);
    }
  }

  _onMessage(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    switch (m.op) {
      case 'msg':
        if ('payload_b64' in m) m.payload = base64ToBytes(m.payload_b64);
        {
          let mine = false;
          for (const sub of this.subscriptions) {
            if (patternMatches(sub.pattern, m.topic)) {
              sub.deliver(m);
              mine = true;
            }
          }
          // A server-made subscription's message, unless one of ours took it.
          if (!mine && [...this.serverTopics].some((p) => patternMatches(p, m.topic))) {
            this.dispatchEvent(new CustomEvent('message', { detail: m }));
          }
        }
        return;
      case 'disconnect':
        this.disconnectNotice = m;
        this.dispatchEvent(new CustomEvent('disconnect', { detail: m }));
        return;
      case 'unsubscribed':
        if (m.server) {
          // The server ended the connection's subscription to this topic,
          // however it was made: ours to exactly it end too (and are not
          // made again on a reconnect).
          this.serverTopics.delete(m.topic);
          for (const sub of [...this.subscriptions]) {
            if (sub.pattern === m.topic && !sub.group) {
              sub.active = false;
              clearTimeout(sub.resyncTimer);
              sub._answered(new HeraldError('cancelled', 'unsubscribed by the server'));
              this.subscriptions.delete(sub);
            }
          }
          this.dispatchEvent(new CustomEvent('unsubscribed', { detail: m }));
        }
        return;
      case 'gap':
        for (const sub of this.subscriptions) {
          if (patternMatches(sub.pattern, m.topic)) sub.gap(m);
        }
        return;
      case 'job': {
        const worker = this.workers.get(m.queue);
        if (worker) worker.deliver(m);
        return;
      }
      case 'presence':
        for (const sub of this.subscriptions) {
          if (sub.presence && sub.pattern === m.topic) sub.presenceEvent(m);
        }
        if (this.serverTopics.has(m.topic)) {
          this.dispatchEvent(new CustomEvent('presence', { detail: m }));
        }
        return;
      case 'subscribed':
        if (m.server) {
          this.serverTopics.add(m.topic);
          this.dispatchEvent(new CustomEvent('subscribed', { detail: m }));
          return;
        }
        for (const sub of this.subscriptions) {
          if (sub.subscribeId !== m.id) continue;
          if (sub.presence) sub.clientId = m.client ?? null;
          sub._answered(null);
        }
        return;
      case 'jobs': {
        const worker = this.workers.get(m.queue);
        if (worker) for (const job of m.jobs) worker.deliver(job);
        return;
      }
      case 'ack':
      case 'members':
      case 'refreshed':
      case 'reply':
      case 'joined':
      case 'left':
      case 'settled':
      case 'error': {
        const p = this.pending.get(m.id);
        if (!p) {
          if (m.op !== 'error') return;
          // A refused `sub`: its ready() rejects; the event tells listeners.
          for (const sub of this.subscriptions) {
            if (sub.subscribeId === m.id) sub._answered(new HeraldError(m.code, m.message));
          }
          this.dispatchEvent(new CustomEvent('error', { detail: m }));
          return;
        }
        this.pending.delete(m.id);
        if (m.op === 'error') p.reject(new HeraldError(m.code, m.message));
        else p.resolve(m);
        return;
      }
      default:
    }
  }
}

// Listen-only pages over Server-Sent Events: the browser's EventSource
// reconnects and resumes by itself (Last-Event-ID). Messages arrive as the
// JSON envelope; gaps as { topic, reason, epoch, from, to }.
//
//   const feed = new HeraldEventSource('/sse', ['prices.>'], (msg) => tick(msg));
export class HeraldEventSource {
  constructor(url, topics, onMessage, options = {}) {
    const Impl = options.EventSource ?? globalThis.EventSource;
    if (!Impl) throw new Error('no EventSource implementation: pass { EventSource }');
    const q = new URLSearchParams();
    for (const t of topics) q.append('topic', t);
    q.set('format', 'json');
    this.source = new Impl(`${url}${url.includes('?') ? '&' : '?'}${q}`);
    this.source.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if ('payload_b64' in m) m.payload = base64ToBytes(m.payload_b64);
      onMessage(m);
    };
    this.source.addEventListener('gap', (e) => options.onGap?.(JSON.parse(e.data)));
    // The server API ended the stream; told not to come back, we do not.
    this.source.addEventListener('disconnect', (e) => {
      const notice = JSON.parse(e.data);
      options.onDisconnect?.(notice);
      if (!notice.reconnect) {
        this.source.close();
        options.onState?.('closed');
      }
    });
    this.source.onerror = () => options.onState?.(this.source.readyState === 2 ? 'closed' : 'reconnecting');
    this.source.onopen = () => options.onState?.('open');
  }

  close() {
    this.source.close();
  }
}

function encodePayload(payload) {
  if (payload instanceof Uint8Array) return { payload_b64: bytesToBase64(payload) };
  return { payload: payload ?? '' };
}

function bytesToBase64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function base64ToBytes(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
