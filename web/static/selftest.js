// Connectivity self-test: can this browser reach the media server directly
// over UDP, and through the TURN relay over UDP and over TCP? Each check
// joins a private throwaway room and publishes a blank canvas stream.
import { applyI18n, t } from '/static/i18n.js';
import { el } from '/static/api.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const results = (window.selftest = { done: false, checks: {} });

const checks = [
  { id: 'direct', label: 'checkDirect', config: () => ({ iceServers: [] }) },
  { id: 'turn-udp', label: 'checkTurnUDP', config: (s) => relay(s, 'udp') },
  { id: 'turn-tcp', label: 'checkTurnTCP', config: (s) => relay(s, 'tcp') },
];

function relay(servers, transport) {
  const list = (servers || []).map((s) => ({ ...s, urls: s.urls.filter((u) => u.startsWith('turn') && u.endsWith('transport=' + transport)) }))
    .filter((s) => s.urls.length);
  return list.length ? { iceServers: list, iceTransportPolicy: 'relay' } : null;
}

function blankStream() {
  const c = el('canvas', { width: 160, height: 120 });
  const g = c.getContext('2d');
  setInterval(() => { g.fillStyle = `hsl(${Date.now() / 20 % 360},60%,50%)`; g.fillRect(0, 0, 160, 120); }, 100);
  return c.captureStream(10);
}

async function runCheck(check) {
  const r = await fetch('/api/v1/selftest', { method: 'POST' });
  if (!r.ok) throw new Error((await r.json()).message);
  const { room, token } = await r.json();
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  let pc = null;
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), 10000);
      ws.onerror = () => reject(new Error('WebSocket'));
      ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', version: 1 }));
      ws.onmessage = async (ev) => {
        const m = JSON.parse(ev.data);
        if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room, token }));
        if (m.type === 'error') { clearTimeout(timer); reject(new Error(m.message)); }
        if (m.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        if (m.type === 'joined') {
          const config = check.config(m.ice_servers);
          if (!config) { clearTimeout(timer); resolve(null); return; } // not offered by this server
          pc = new RTCPeerConnection(config);
          pc.onconnectionstatechange = () => {
            if (pc.connectionState === 'connected') { clearTimeout(timer); resolve(true); }
            if (pc.connectionState === 'failed') { clearTimeout(timer); resolve(false); }
          };
          pc.onicecandidate = (e) => { if (e.candidate) ws.send(JSON.stringify({ type: 'candidate', target: 'publisher', candidate: e.candidate.toJSON() })); };
          pc.addTransceiver(blankStream().getVideoTracks()[0], { direction: 'sendonly' });
          const offer = await pc.createOffer();
          await pc.setLocalDescription(offer);
          ws.send(JSON.stringify({ type: 'offer', target: 'publisher', sdp: offer.sdp }));
        }
      };
    });
  } finally {
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'leave' }));
    if (pc) pc.close();
    setTimeout(() => ws.close(), 100);
  }
}

async function runAll() {
  $('again').hidden = true;
  $('summary').replaceChildren();
  results.done = false;
  const rows = {};
  $('checks').replaceChildren(...checks.map((c) => (rows[c.id] = el('li', { class: 'card', 'data-check': c.id }, el('span', {}, t(c.label)), el('span', { class: 'muted' }, t('checking'))))));
  for (const c of checks) {
    let ok;
    try { ok = await runCheck(c); } catch (e) { ok = false; }
    results.checks[c.id] = ok === null ? 'n/a' : ok ? 'ok' : 'fail';
    rows[c.id].lastChild.textContent = ok === null ? t('notOffered') : ok ? '✓ ' + t('works') : '✗ ' + t('blocked');
    rows[c.id].dataset.result = results.checks[c.id];
  }
  const c = results.checks;
  const verdict = c.direct === 'ok' ? 'verdictDirect' : (c['turn-udp'] === 'ok' || c['turn-tcp'] === 'ok') ? 'verdictRelay' : 'verdictNone';
  $('summary').replaceChildren(el('div', { class: 'msg ' + (verdict === 'verdictNone' ? 'err' : 'ok'), 'data-verdict': verdict }, t(verdict)));
  $('again').hidden = false;
  results.done = true;
}

$('again').onclick = runAll;
runAll();
