// The demo chat page: plain JS over heraldd's WebSocket JSON protocol
// (docs/PROTOCOL.md). Messages of room R are the topic chat.R.msgs; presence
// heartbeats go to chat.R.presence. On (re)connect the page subscribes with a
// resume point — the last message it showed — so it gets exactly what it
// missed, or a gap notice when history no longer has it.
const $ = (id) => document.getElementById(id);
const me = { id: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()), name: '' };
let room = '';
let ws = null;
let nextId = 1;
let position = null;  // {epoch, offset} of the last message shown
let backoff = 250;
let everConnected = false;
const members = new Map();  // client id -> {name, seen}

function setStatus(kind, text) {
  const s = $('status');
  s.className = `status ${kind}`;
  s.textContent = text;
}

function notice(text) {
  const li = document.createElement('li');
  li.className = 'notice';
  li.textContent = text;
  $('messages').append(li);
  li.scrollIntoView({ block: 'end' });
}

function show(msg) {
  const p = msg.payload || {};
  const li = document.createElement('li');
  if (p.id === me.id) li.className = 'mine';
  li.dataset.offset = msg.offset;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = p.name || '?';
  const when = document.createElement('span');
  when.className = 'when';
  when.textContent = new Date(msg.ts / 1000).toLocaleTimeString();
  li.append(who, document.createTextNode(String(p.text ?? '')), when);
  $('messages').append(li);
  li.scrollIntoView({ block: 'end' });
}

function send(cmd) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(cmd));
}

function topic(kind) { return `chat.${room}.${kind}`; }

function subscribe() {
  const resume = {};
  resume[topic('msgs')] = position ?? { epoch: 0, offset: 0 };  // epoch 0: the history we keep
  send({ op: 'sub', id: nextId++, topic: topic('msgs'), resume });
  send({ op: 'sub', id: nextId++, topic: topic('presence') });
  heartbeat();
}

function heartbeat() {
  if (room) send({ op: 'pub', topic: topic('presence'), payload: { id: me.id, name: me.name } });
}

function updateMembers() {
  const now = Date.now();
  for (const [id, m] of members) if (now - m.seen > 12000) members.delete(id);
  members.set(me.id, { name: me.name, seen: now });
  $('members').textContent = `${members.size} online`;
}

function onMessage(ev) {
  const m = JSON.parse(ev.data);
  if (m.op === 'msg' && m.topic === topic('msgs')) {
    if (position && m.epoch === position.epoch && m.offset <= position.offset) return;  // seen
    position = { epoch: m.epoch, offset: m.offset };
    show(m);
  } else if (m.op === 'msg' && m.topic === topic('presence')) {
    const p = m.payload || {};
    if (p.leave) members.delete(p.id); else members.set(p.id, { name: p.name, seen: Date.now() });
    updateMembers();
  } else if (m.op === 'gap' && m.topic === topic('msgs')) {
    position = { epoch: m.epoch, offset: m.to };
    notice(m.reason === 'epoch_changed'
      ? 'The server restarted: earlier messages are gone.'
      : `Missed ${m.to - m.from + 1} message(s) while away.`);
  } else if (m.op === 'error') {
    notice(`Error: ${m.message}`);
  }
}

function connect() {
  setStatus('connecting', everConnected ? 'reconnecting…' : 'connecting…');
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  ws = new WebSocket(url);
  ws.onopen = () => {
    backoff = 250;
    setStatus('open', 'connected');
    if (everConnected && room) notice('Reconnected.');
    everConnected = true;
    if (room) subscribe();
  };
  ws.onmessage = onMessage;
  ws.onclose = () => {
    setStatus('closed', 'disconnected — retrying');
    if (room) notice('Connection lost; reconnecting…');
    // Exponential backoff with jitter, so a restarted server is not stampeded.
    const wait = Math.random() * backoff;
    backoff = Math.min(backoff * 2, 8000);
    setTimeout(connect, wait);
  };
}

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  me.name = $('name').value.trim().slice(0, 32);
  room = $('room').value.trim().replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32) || 'lobby';
  $('room-name').textContent = `# ${room}`;
  $('join').hidden = true;
  $('chat').hidden = false;
  $('text').focus();
  updateMembers();
  subscribe();
});

$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  send({ op: 'pub', id: nextId++, topic: topic('msgs'), payload: { id: me.id, name: me.name, text } });
  $('text').value = '';
});

addEventListener('beforeunload', () => {
  if (room) send({ op: 'pub', topic: topic('presence'), payload: { id: me.id, leave: true } });
});
setInterval(() => { heartbeat(); if (room) updateMembers(); }, 5000);
connect();
