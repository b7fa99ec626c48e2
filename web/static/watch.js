// A WHEP player: view-only playback of a room (a course broadcast) with a
// room token, over plain HTTP signalling (POST the offer, DELETE to stop).
import { applyI18n, t } from '/static/i18n.js';
import { showMsg } from '/static/api.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token') || '';
const whep = (window.whep = { pc: null, resource: null, state: 'connecting' });

async function play() {
  const pc = (whep.pc = new RTCPeerConnection());
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); $('video').srcObject = stream; };
  pc.onconnectionstatechange = () => { whep.state = pc.connectionState; $('state').textContent = t(pc.connectionState) || pc.connectionState; };
  await pc.setLocalDescription(await pc.createOffer());
  // Send every candidate in the offer: one round trip, no trickle needed.
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') done(); };
    setTimeout(done, 2000);
  });
  const r = await fetch('/whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token }, body: pc.localDescription.sdp });
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message || r.statusText);
  whep.resource = r.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
}

window.addEventListener('pagehide', () => {
  if (whep.resource) fetch(whep.resource, { method: 'DELETE', headers: { Authorization: 'Bearer ' + token }, keepalive: true });
});
if (!token) showMsg($('msg'), 'missing token'); else play().catch((e) => showMsg($('msg'), e.message));
