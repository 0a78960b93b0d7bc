// Type declarations for herald.js (the Herald browser/Node client).

export interface Message {
  op: 'msg';
  topic: string;
  epoch: number;
  offset: number;
  ts: number;  // microseconds since the Unix epoch
  payload: unknown;  // a JSON value, a string, or a Uint8Array for binary payloads
  content_type?: string;
  reply_to?: string;
  headers?: Record<string, string>;
}

export interface Gap {
  op: 'gap';
  topic: string;
  reason: 'epoch_changed' | 'trimmed' | 'slow_consumer';
  epoch: number;
  from: number;
  to: number;
}

export type Payload = string | Uint8Array | object | number | boolean | null;
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export declare function patternMatches(pattern: string, topic: string): boolean;
// A JWT's `exp` in ms since the Unix epoch (read, not verified), or null.
export declare function tokenExpiry(token: string): number | null;

export declare class HeraldError extends Error {
  // 'timeout', 'no_responders', 'invalid_topic', 'disconnected', 'token'
  // (getToken failed), 'token_expired' (a 4001 close without getToken), …
  readonly code: string;
}

// A member of a topic's presence (docs/PROTOCOL.md, "Presence").
export interface PresenceMember {
  client: string;  // a connection's id
  user: string;    // the token's subject; an anonymous client's own id
  info?: Record<string, unknown>;
}

export interface PresenceEvent {
  op: 'presence';
  topic: string;
  join?: PresenceMember[];   // snapshot: the members
  leave?: PresenceMember[];  // client and user only
  clients: number;
  users: number;
  snapshot?: boolean;
  truncated?: boolean;
  resync?: boolean;    // the list is being reloaded (members query)
  reloaded?: boolean;  // the reload finished: `members` is fresh
}

export interface SubscribeOptions {
  group?: string;  // join a queue group: each message to one member
  onGap?: (gap: Gap, sub: Subscription) => void;
  resume?: Record<string, { epoch: number; offset: number }>;
  // Be a member of this (exact) topic and follow who else is.
  presence?: boolean;
  onPresence?: (event: PresenceEvent, sub: Subscription) => void;
}

export declare class Subscription {
  readonly pattern: string;
  readonly group: string;
  readonly positions: Map<string, { epoch: number; offset: number }>;
  // With presence: the members (client id -> member) and counts, kept from
  // the server's events; this connection's own client id.
  readonly members: Map<string, PresenceMember>;
  readonly clients: number;
  readonly users: number;
  readonly clientId: string | null;
  // Resolves once the server has the subscription on the current connection
  // (its `subscribed` answer): what anyone publishes on that node after that
  // reaches it (in a cluster, what other nodes publish does once its
  // interest reached the topic's owner). Rejects with a HeraldError if the
  // server refused it (its code, e.g. 'permission_denied'), or once it ended:
  // unsubscribed ('cancelled', by the client or the server) or the client
  // closed ('disconnected').
  ready(): Promise<void>;
  unsubscribe(): void;
}

export interface PresencePage {
  clients: number;
  users: number;
  members: PresenceMember[];
  next?: string;  // more follow: ask again with after = next
}

export interface ClientOptions {
  WebSocket?: unknown;  // a WHATWG-compatible WebSocket class (Node: `ws`)
  reconnectMin?: number;  // ms, default 250
  reconnectMax?: number;  // ms, default 8000
  requestTimeout?: number;  // ms, default 5000
  // A fresh token (JWT) for a node with authentication: called before every
  // connection attempt and tokenRefreshMargin before the current token's
  // `exp`, to renew the live connection (the `refresh` operation).
  getToken?: () => string | Promise<string>;
  tokenRefreshMargin?: number;  // ms, default 30000 (at most half the token's life left)
  // What this client shows others in presence, where the node lets clients
  // name themselves ([presence] client_info): sent as the URL's `info`.
  info?: Record<string, unknown>;
}

// A work queue's job (docs/PROTOCOL.md, "Work queues"): the message's
// fields plus its queue, handle and delivery count, and its settlements.
export interface Job extends Message {
  queue: string;
  handle: string;
  deliveries: number;
  ack(): Promise<void>;
  nack(delayMs?: number): Promise<void>;
  progress(): Promise<void>;
  term(): Promise<void>;
}

export interface WorkOptions {
  maxInFlight?: number;   // jobs unsettled at once (default: the queue's per-member bound)
  nackDelay?: number;     // ms before a job whose handler threw is offered again
  manual?: boolean;       // the handler settles each job itself
}

export interface Worker {
  readonly queue: string;
  leave(): void;
}

// What the server API tells a client it disconnects (docs/PROTOCOL.md,
// "Server API"): with reconnect false the client stays closed.
export interface DisconnectNotice {
  op: 'disconnect';
  code: number;  // 4000–4999: the close code that follows
  reason: string;
  reconnect: boolean;
}

// A subscription the server API made or ended for this connection.
export interface ServerSubscription {
  op: 'subscribed' | 'unsubscribed';
  topic: string;
  server: true;
  client?: string;  // with presence: this connection's client id
}

// Events besides 'state' and 'error': 'disconnect' (CustomEvent<DisconnectNotice>),
// 'subscribed' / 'unsubscribed' (CustomEvent<ServerSubscription>; a server
// unsubscribe also ends this client's own subscription to exactly that
// topic), 'message' (CustomEvent<Message>) for messages of server-made
// subscriptions that none of the client's own took, and 'presence'
// (CustomEvent<PresenceEvent>) for a server-made presence subscription.
export declare class HeraldClient extends EventTarget {
  constructor(url: string, options?: ClientOptions);
  readonly state: ConnectionState;
  ready(): Promise<void>;
  subscribe(pattern: string, onMessage: (msg: Message, sub: Subscription) => void,
            options?: SubscribeOptions): Subscription;
  publish(topic: string, payload: Payload,
          options?: { headers?: Record<string, string>; timeout?: number }):
      Promise<{ epoch: number; offset: number }>;
  request(topic: string, payload: Payload,
          options?: { timeout?: number; headers?: Record<string, string> }): Promise<Message>;
  // Joins a durable work queue; resolves once joined.
  work(queue: string, handler: (job: Job) => unknown | Promise<unknown>,
       options?: WorkOptions): Promise<Worker>;
  respond(topic: string, handler: (req: Message) => Payload | Promise<Payload>,
          options?: { group?: string }): Subscription;
  // A topic's presence members, paged by client id.
  presence(topic: string, options?: { limit?: number; after?: string; timeout?: number }):
      Promise<PresencePage>;
  // Renews the live connection's token now (getToken, then `refresh`);
  // resolves with the new expiry in ms since the epoch (null: never).
  refreshToken(): Promise<number | null>;
  close(): void;
}

export interface EventSourceOptions {
  EventSource?: unknown;  // a WHATWG EventSource class (Node: `eventsource`)
  onGap?: (gap: Gap) => void;
  onState?: (state: 'open' | 'reconnecting' | 'closed') => void;
  // The server API ended the stream; with reconnect false it stays closed.
  onDisconnect?: (notice: DisconnectNotice) => void;
}

export declare class HeraldEventSource {
  constructor(url: string, topics: string[], onMessage: (msg: Message) => void,
              options?: EventSourceOptions);
  close(): void;
}
