// The interview room: two PeerConnections (publish and subscribe) over the
// signalling WebSocket (see signaling/PROTOCOL.md). The page survives a
// network change on its own: the WebSocket reconnects and resumes within
// the server's window, a failed publish connection restarts ICE, and when
// all else fails the page rejoins from scratch.
import { applyI18n, t } from '/static/i18n.js';
import { el, showMsg } from '/static/api.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get('token') || '';
const room = params.get('room') || claim(token).room || '';
const jh = (window.jh = { state: 'connecting', pub: null, sub: null, ws: null, joined: null, self: null, chat: [] });
const pendingSub = []; // candidates that arrive before the subscribe offer
let localStream = null;
let pingTimer = null;
let lastPong = 0;
let retries = 0;
let haveMedia = false; // PeerConnections exist: a reconnect resumes them
// Several nodes: the server may send us to the node the room lives on
// (redirect). A later drop goes back through our own host, which knows
// where the room is now (it may have moved when its node died).
let wsTarget = null;
let redirects = 0; // in a row; a loop falls back to the backoff

function claim(tok) {
  try { return JSON.parse(atob(tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); } catch { return {}; }
}
function setState(s, text) { jh.state = s; $('state').textContent = text || t(s); }
function send(m) { if (jh.ws && jh.ws.readyState === 1) jh.ws.send(JSON.stringify(m)); }
// roomx.js (network quality, audio only, screen share, host panel) works through these.
jh.send = send;
jh.renegotiate = () => offerPublisher({});
jh.askAll = () => document.querySelectorAll('video[data-stream]').forEach((v) => v.srcObject && askSize(v, v.srcObject));
Object.defineProperty(jh, 'localStream', { get: () => localStream });

function connect() {
  setState(retries ? 'reconnecting' : 'connecting');
  const home = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const ws = (jh.ws = new WebSocket(wsTarget || home));
  let redirected = false;
  ws.redirect = (url) => { redirected = true; wsTarget = url; };
  ws.onopen = () => send({ type: 'hello', version: 1 });
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    handle(m).catch((e) => showMsg($('msg'), e.message)).finally(() => window.dispatchEvent(new CustomEvent('jh:msg', { detail: m })));
  };
  ws.onclose = () => {
    clearInterval(pingTimer);
    if (jh.ws !== ws || ['left', 'ended', 'rejected', 'removed'].includes(jh.state)) return;
    if (redirected) { // follow at once; a loop of redirects waits a second each third time
      if (redirects++ < 3) connect(); else { redirects = 0; setTimeout(connect, 1000); }
      return;
    }
    wsTarget = null;
    // Back off 0.5 s, 1 s, 2 s … 5 s; the server keeps our media for 30 s.
    const delay = Math.min(5000, 500 * 2 ** retries++);
    setState('reconnecting');
    setTimeout(connect, delay);
  };
}

function startPing() {
  clearInterval(pingTimer);
  lastPong = Date.now();
  pingTimer = setInterval(() => {
    if (Date.now() - lastPong > 45000 && jh.ws) { jh.ws.close(); return; } // server silent: reconnect
    send({ type: 'ping', ts: Date.now() });
  }, 15000);
}

async function handle(m) {
  switch (m.type) {
    case 'welcome':
      send({ type: 'join', room, token, resume: haveMedia });
      startPing();
      break;
    case 'pong':
      lastPong = Date.now();
      break;
    case 'lobby':
      setState('lobby', `${t('lobby')} ${m.position}`);
      break;
    case 'lobby_update':
      showLobby(m.waiting || []);
      break;
    case 'redirect': // the room lives on another node; its bye follows
      if (jh.ws && jh.ws.redirect) jh.ws.redirect(m.url);
      break;
    case 'joined':
      retries = 0; redirects = 0;
      jh.joined = m; jh.self = m.self;
      $('rec').hidden = !m.recording;
      showPeople(m.participants || []);
      setState('connected');
      if (m.ends_at) showEnds(m.ends_at);
      if (!m.resumed) {
        resetMedia();
        if (m.permissions && m.permissions.publish.length) await publish();
      }
      $('chatbox').hidden = !(m.permissions && m.permissions.chat);
      break;
    case 'answer':
      await jh.pub.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      break;
    case 'offer':
      await onSubscriberOffer(m.sdp);
      break;
    case 'candidate':
      if (m.target === 'publisher' && jh.pub) await jh.pub.addIceCandidate(m.candidate);
      else if (m.target === 'subscriber') { if (jh.sub && jh.sub.remoteDescription) await jh.sub.addIceCandidate(m.candidate); else pendingSub.push(m.candidate); }
      break;
    case 'participant_joined':
    case 'participant_updated': {
      const p = m.participant;
      jh.joined.participants = [...(jh.joined.participants || []).filter((x) => x.id !== p.id), p];
      showPeople(jh.joined.participants);
      break;
    }
    case 'participant_left':
      jh.joined.participants = (jh.joined.participants || []).filter((p) => p.id !== m.id);
      showPeople(jh.joined.participants);
      break;
    case 'layers': // dynacast: stop encoding simulcast layers nobody watches
      await setLayers(m.track, m.active || []);
      break;
    case 'active_speaker': // outline whoever speaks (stream id = participant id)
      document.querySelectorAll('video[data-stream]').forEach((v) => v.classList.toggle('speaking', (m.ids || []).includes(v.dataset.stream)));
      break;
    case 'muted':
      setTrack(m.source === 'camera' ? 'video' : 'audio', false);
      showMsg($('msg'), `${m.from.name} ${t('mutedYou')}`);
      break;
    case 'chat':
      jh.chat.push(m);
      $('chatlog').append(el('li', {}, el('strong', {}, m.from.name + ': '), m.text));
      break;
    case 'time_warning':
      showMsg($('msg'), `${t('timeWarning')} ${m.seconds}s`);
      break;
    case 'error':
      if (m.ref !== 'subscribe') showMsg($('msg'), m.message); // a size hint that missed is harmless
      jh.lastError = m;
      break;
    case 'bye':
      finish(m.reason);
      break;
  }
}

function showPeople(list) {
  $('people').textContent = list.map((p) => p.name + (p.connected === false ? ` (${t('away')})` : '')).join('、');
  $('waiting').hidden = list.length > 0;
}

function showLobby(waiting) {
  $('lobbybox').hidden = waiting.length === 0;
  $('lobbylist').replaceChildren(...waiting.map((w) => el('li', { class: 'card' },
    el('span', {}, w.name),
    el('span', {},
      el('button', { 'data-admit': w.id, onclick: () => send({ type: 'admit', id: w.id }) }, t('admit')), ' ',
      el('button', { class: 'secondary', onclick: () => send({ type: 'reject', id: w.id }) }, t('reject'))))));
}

function showEnds(iso) { $('ends').textContent = `${t('endsAt')} ${new Date(iso).toLocaleTimeString()}`; }

function resetMedia() {
  for (const pc of [jh.pub, jh.sub]) if (pc) pc.close();
  jh.pub = jh.sub = null;
  pendingSub.length = 0;
  document.querySelectorAll('video[data-stream]').forEach((v) => v.remove());
}

// Hosts and trainers on hall laptops send three simulcast layers (the SFU
// picks one per viewer; three need a 720p capture); a seeker's phone sends
// one 640x480 layer, its uplink being the weak one.
function simulcast() { return !!jh.self && ['interviewer', 'booth_host', 'trainer'].includes(jh.self.role); }
const layerSpecs = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1500000 },
];

async function publish() {
  const big = simulcast();
  try {
    if (!localStream) localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: big ? { width: { ideal: 1280 }, height: { ideal: 720 } } : { width: { ideal: 640 }, height: { ideal: 480 } } });
  } catch (e) {
    showMsg($('msg'), t('camError'));
    return;
  }
  $('local').srcObject = localStream;
  const pc = (jh.pub = new RTCPeerConnection(rtcConfig()));
  haveMedia = true;
  pc.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', target: 'publisher', candidate: e.candidate.toJSON() }); };
  pc.onconnectionstatechange = () => onPeerState(pc, 'publisher');
  for (const track of localStream.getTracks()) {
    const init = { direction: 'sendonly', streams: [localStream] };
    if (big && track.kind === 'video') init.sendEncodings = layerSpecs.map((l) => ({ ...l }));
    pc.addTransceiver(track, init);
    send({ type: 'publish', track: track.id, source: track.kind === 'video' ? 'camera' : 'microphone' });
  }
  await offerPublisher({});
}

// setLayers (dynacast) turns the simulcast encodings of one published track
// on or off; calls per sender are chained so each one sees the parameters
// the previous one set. The server says a set only when it changes, so a
// failed setParameters (e.g. during a renegotiation) is tried again, with
// the newest set, a few times.
const layerChain = new WeakMap();
const layerWant = new Map();
jh.layerLog = [];
function logLayers(line) {
  jh.layerLog.push(line);
  if (jh.layerLog.length > 20) jh.layerLog.shift();
}
function setLayers(trackId, active, tries = 0) {
  if (tries === 0) layerWant.set(trackId, active);
  const s = jh.pub && jh.pub.getSenders().find((x) => x.track && x.track.id === trackId);
  if (!s) {
    logLayers(`${active.join(',')}: no sender`);
    return Promise.resolve();
  }
  const next = (layerChain.get(s) || Promise.resolve()).then(async () => {
    const want = layerWant.get(trackId) || active;
    const p = s.getParameters();
    if (!p.encodings || p.encodings.length < 2 || !p.encodings.every((e) => e.rid)) return;
    let changed = false;
    for (const e of p.encodings) {
      const on = want.includes(e.rid);
      if (e.active !== on) { e.active = on; changed = true; }
    }
    if (changed) await s.setParameters(p);
    logLayers(`${want.join(',')}: ${changed ? 'set' : 'unchanged'}`);
  }).catch((e) => {
    logLayers(`${active.join(',')}: ${e.name || e}`);
    if (tries < 5) setTimeout(() => setLayers(trackId, active, tries + 1), 1000);
  });
  layerChain.set(s, next);
  return next;
}
jh.setLayers = setLayers;

// The server's STUN/TURN list (with short-lived TURN credentials) lets a
// phone behind a strict NAT or a UDP-blocking firewall still connect.
function rtcConfig() { return { iceServers: (jh.joined && jh.joined.ice_servers) || [] }; }

async function offerPublisher(opts) {
  const offer = await jh.pub.createOffer(opts);
  await jh.pub.setLocalDescription(offer);
  send({ type: 'offer', target: 'publisher', sdp: jh.pub.localDescription.sdp });
}

// A failed connection restarts ICE (the publisher offers again; for the
// subscriber the server is asked to); if still failed after 10 s the page
// rejoins from scratch.
function onPeerState(pc, target) {
  if (pc !== jh.pub && pc !== jh.sub) return;
  if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') {
    setState('reconnecting');
    if (pc.connectionState === 'failed') {
      if (target === 'publisher') offerPublisher({ iceRestart: true }).catch(() => {});
      else send({ type: 'restart_ice' }); // the server offers the subscriber connection
    }
    setTimeout(() => {
      if (pc.connectionState === 'failed' && (pc === jh.pub || pc === jh.sub)) rejoin();
    }, 10000);
  } else if (pc.connectionState === 'connected' && jh.state === 'reconnecting') {
    setState('connected');
  }
}

function rejoin() {
  haveMedia = false;
  resetMedia();
  if (jh.ws) jh.ws.close(); // onclose reconnects without resume
}

async function onSubscriberOffer(sdp) {
  if (!jh.sub) {
    const pc = (jh.sub = new RTCPeerConnection(rtcConfig()));
    haveMedia = true;
    pc.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', target: 'subscriber', candidate: e.candidate.toJSON() }); };
    pc.ontrack = (e) => attach(e.streams[0] || new MediaStream([e.track]));
    pc.onconnectionstatechange = () => onPeerState(pc, 'subscriber');
  }
  await jh.sub.setRemoteDescription({ type: 'offer', sdp });
  const answer = await jh.sub.createAnswer();
  await jh.sub.setLocalDescription(answer);
  send({ type: 'answer', target: 'subscriber', sdp: jh.sub.localDescription.sdp });
  while (pendingSub.length) await jh.sub.addIceCandidate(pendingSub.shift());
}

function attach(stream) {
  let v = document.querySelector(`video[data-stream="${CSS.escape(stream.id)}"]`);
  if (!v) {
    v = el('video', { autoplay: '', playsinline: '', 'data-stream': stream.id });
    $('remotes').append(v);
    stream.onremovetrack = () => { if (!stream.getTracks().length) v.remove(); };
    // Ask for no more pixels than the tile shows: a phone gets the small
    // simulcast layer and saves its bandwidth for audio.
    let timer = null;
    new ResizeObserver(() => { clearTimeout(timer); timer = setTimeout(() => askSize(v, stream), 300); }).observe(v);
  }
  v.srcObject = stream;
  // Safari (and others without a gesture on this page) may refuse to play with sound: offer the controls.
  const playing = v.play();
  if (playing) playing.catch(() => { v.controls = true; });
  askSize(v, stream);
}

function askSize(v, stream) {
  const dpr = window.devicePixelRatio || 1;
  for (const tr of stream.getVideoTracks()) {
    // Audio only: ask for the smallest layer (the protocol has no "none"; 0 means no limit).
    const w = jh.audioOnly ? 1 : Math.round(v.clientWidth * dpr), h = jh.audioOnly ? 1 : Math.round(v.clientHeight * dpr);
    send({ type: 'subscribe', id: stream.id, track: tr.id, max_width: w, max_height: h });
  }
}

function setTrack(kind, on) {
  if (!localStream) return;
  for (const tr of localStream.getTracks()) if (tr.kind === kind) tr.enabled = on;
  send({ type: 'mute_state', source: kind === 'video' ? 'camera' : 'microphone', muted: !on });
  $(kind === 'video' ? 'cam' : 'mic').textContent = t(kind === 'video' ? (on ? 'camOff' : 'camOn') : (on ? 'micOff' : 'micOn'));
}

function trackOn(kind) { return !!localStream && localStream.getTracks().some((tr) => tr.kind === kind && tr.enabled); }

function finish(reason) {
  const s = { left: 'left', ended: 'ended', time_limit: 'ended', rejected: 'rejected', removed: 'removed' }[reason];
  if (!s) return; // replaced, shutdown…: onclose decides
  setState(s, t(s));
  resetMedia();
  if (localStream) localStream.getTracks().forEach((tr) => tr.stop());
  $('leave').disabled = true;
}

function leave() {
  send({ type: 'leave' });
  finish('left');
  setTimeout(() => jh.ws && jh.ws.close(), 200);
}

$('leave').onclick = leave;
$('mic').onclick = () => setTrack('audio', !trackOn('audio'));
$('cam').onclick = () => setTrack('video', !trackOn('video'));
$('chatform').onsubmit = (e) => {
  e.preventDefault();
  const text = $('chattext').value.trim();
  if (text) send({ type: 'chat', text });
  $('chattext').value = '';
};
// prejoin.js (loaded first) holds the seeker at the camera/microphone/network check.
if (!token) showMsg($('msg'), 'missing token'); else (window.jhPrejoin || Promise.resolve()).then(connect);
