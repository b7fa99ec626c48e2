// The interview room: two PeerConnections (publish and subscribe) over
// the signalling WebSocket; see signaling/PROTOCOL.md.
import { applyI18n, t } from '/static/i18n.js';
import { el, showMsg } from '/static/api.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get('token') || '';
const room = params.get('room') || claim(token).room || '';
const jh = (window.jh = { state: 'connecting', pub: null, sub: null, ws: null, joined: null });
const pendingSub = []; // candidates that arrive before the subscribe offer
let localStream = null;
let pingTimer = null;

function claim(tok) {
  try { return JSON.parse(atob(tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); } catch { return {}; }
}
function setState(s, text) { jh.state = s; $('state').textContent = text || t(s); }
function send(m) { if (jh.ws && jh.ws.readyState === 1) jh.ws.send(JSON.stringify(m)); }

function connect() {
  setState('connecting');
  const ws = (jh.ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws'));
  ws.onopen = () => send({ type: 'hello', version: 1 });
  ws.onmessage = (ev) => handle(JSON.parse(ev.data)).catch((e) => showMsg($('msg'), e.message));
  ws.onclose = () => { clearInterval(pingTimer); if (jh.state !== 'left') setState('closed', t('wsError')); };
}

async function handle(m) {
  switch (m.type) {
    case 'welcome':
      send({ type: 'join', room, token });
      pingTimer = setInterval(() => send({ type: 'ping', ts: Date.now() }), 10000);
      break;
    case 'joined':
      jh.joined = m;
      $('rec').hidden = !m.recording;
      showPeople(m.participants || []);
      setState('connected');
      if (m.permissions && m.permissions.publish.length) await publish();
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
      jh.joined.participants = [...(jh.joined.participants || []).filter((p) => p.id !== m.participant.id), m.participant];
      showPeople(jh.joined.participants);
      break;
    case 'participant_left':
      jh.joined.participants = (jh.joined.participants || []).filter((p) => p.id !== m.id);
      showPeople(jh.joined.participants);
      break;
    case 'error':
      showMsg($('msg'), m.message);
      break;
    case 'bye':
      setState('left', m.reason === 'left' ? t('left') : m.reason);
      break;
  }
}

function showPeople(list) {
  $('people').textContent = list.map((p) => p.name).join('、');
  $('waiting').hidden = list.length > 0;
}

async function publish() {
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
  } catch (e) {
    showMsg($('msg'), t('camError'));
    return;
  }
  $('local').srcObject = localStream;
  const pc = (jh.pub = new RTCPeerConnection());
  pc.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', target: 'publisher', candidate: e.candidate.toJSON() }); };
  pc.onconnectionstatechange = () => { if (pc.connectionState === 'failed') showMsg($('msg'), 'publish: ' + pc.connectionState); };
  for (const track of localStream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [localStream] });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  send({ type: 'offer', target: 'publisher', sdp: pc.localDescription.sdp });
}

async function onSubscriberOffer(sdp) {
  if (!jh.sub) {
    const pc = (jh.sub = new RTCPeerConnection());
    pc.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', target: 'subscriber', candidate: e.candidate.toJSON() }); };
    pc.ontrack = (e) => attach(e.streams[0] || new MediaStream([e.track]));
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
  }
  v.srcObject = stream;
}

function leave() {
  send({ type: 'leave' });
  setState('left', t('left'));
  for (const pc of [jh.pub, jh.sub]) if (pc) pc.close();
  if (localStream) localStream.getTracks().forEach((tr) => tr.stop());
  setTimeout(() => jh.ws && jh.ws.close(), 200);
  $('leave').disabled = true;
}

$('leave').onclick = leave;
if (!token) showMsg($('msg'), 'missing token'); else connect();
