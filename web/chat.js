// The demo chat page, on the JavaScript client (clients/js/herald.js, served
// beside this file). Messages of room R are the topic chat.R.msgs; who is in
// the room is that topic's presence (docs/PROTOCOL.md, "Presence"): the
// page subscribes as a member, named by its `info`, and the server tells it
// who joins and leaves (a closed tab leaves at once). The client reconnects
// by itself and resumes the room after the last message shown, so nothing
// is missed or shown twice — or it says plainly what was lost (a gap).
import { HeraldClient } from './herald.js';

const $ = (id) => document.getElementById(id);
const me = { id: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()), name: '' };
let room = '';
let herald = null;  // made on join: the name goes with the connection (`info`)
let msgs = null;    // the room's subscription, and its members

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
  const names = [...msgs.members.values()].map((m) => m.info?.name || '?').sort();
  $('members').textContent = `${msgs.members.size} online`;
  $('members').title = names.join(', ');
}

let everOpen = false;
function connect() {
  herald = new HeraldClient(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
    { info: { name: me.name } });
  herald.addEventListener('state', (e) => {
    const state = e.detail.state;
    if (state === 'open') {
      setStatus('open', 'connected');
      if (everOpen) notice('Reconnected.');
      everOpen = true;
    } else if (state === 'reconnecting') {
      setStatus('closed', 'disconnected — retrying');
      notice('Connection lost; reconnecting…');
    }
  });
}

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  me.name = $('name').value.trim().slice(0, 32);
  room = $('room').value.trim().replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32) || 'lobby';
  $('room-name').textContent = `# ${room}`;
  $('join').hidden = true;
  $('chat').hidden = false;
  $('text').focus();
  connect();
  // Epoch 0: "seen nothing yet" — the room's history on join.
  msgs = herald.subscribe(topic('msgs'), show, {
    onGap,
    resume: { [topic('msgs')]: { epoch: 0, offset: 0 } },
    presence: true,
    onPresence: updateMembers,
  });
});

$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  if (!herald) return;
  herald.publish(topic('msgs'), { id: me.id, name: me.name, text })
    .then(() => { $('text').value = ''; })
    .catch((err) => notice(`Not sent (${err.code}); try again.`));
});

