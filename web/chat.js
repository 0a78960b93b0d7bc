// The demo chat page, on the JavaScript client (clients/js/herald.js, served
// beside this file). Messages of room R are the topic chat.R.msgs; presence
// heartbeats go to chat.R.presence. The client reconnects by itself and
// resumes the room after the last message shown, so nothing is missed or
// shown twice — or it says plainly what was lost (a gap).
import { HeraldClient } from './herald.js';

const $ = (id) => document.getElementById(id);
const me = { id: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()), name: '' };
let room = '';
const members = new Map();  // client id -> {name, seen}
const herald = new HeraldClient(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);

const topic = (kind) => `chat.${room}.${kind}`;

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

function onGap(gap) {
  notice(gap.reason === 'epoch_changed'
    ? 'The server restarted: earlier messages are gone.'
    : `Missed ${gap.to - gap.from + 1} message(s) while away.`);
}

function updateMembers() {
  const now = Date.now();
  for (const [id, m] of members) if (now - m.seen > 12000) members.delete(id);
  members.set(me.id, { name: me.name, seen: now });
  $('members').textContent = `${members.size} online`;
}

function heartbeat() {
  if (room && herald.state === 'open') {
    herald.publish(topic('presence'), { id: me.id, name: me.name }).catch(() => {});
  }
}

let everOpen = false;
herald.addEventListener('state', (e) => {
  const state = e.detail.state;
  if (state === 'open') {
    setStatus('open', 'connected');
    if (everOpen && room) notice('Reconnected.');
    everOpen = true;
    heartbeat();
  } else if (state === 'reconnecting') {
    setStatus('closed', 'disconnected — retrying');
    if (room) notice('Connection lost; reconnecting…');
  }
});

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  me.name = $('name').value.trim().slice(0, 32);
  room = $('room').value.trim().replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32) || 'lobby';
  $('room-name').textContent = `# ${room}`;
  $('join').hidden = true;
  $('chat').hidden = false;
  $('text').focus();
  // Epoch 0: "seen nothing yet" — the room's history on join.
  herald.subscribe(topic('msgs'), show,
    { onGap, resume: { [topic('msgs')]: { epoch: 0, offset: 0 } } });
  herald.subscribe(topic('presence'), (m) => {
    const p = m.payload || {};
    if (p.leave) members.delete(p.id); else members.set(p.id, { name: p.name, seen: Date.now() });
    updateMembers();
  });
  updateMembers();
  heartbeat();
});

$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  herald.publish(topic('msgs'), { id: me.id, name: me.name, text })
    .then(() => { $('text').value = ''; })
    .catch((err) => notice(`Not sent (${err.code}); try again.`));
});

addEventListener('beforeunload', () => {
  if (room) herald.publish(topic('presence'), { id: me.id, leave: true }).catch(() => {});
});
setInterval(() => { heartbeat(); if (room) updateMembers(); }, 5000);
