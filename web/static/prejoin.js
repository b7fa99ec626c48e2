// The pre-join check a seeker sees before an interview: the camera
// preview, a microphone level meter and a quick network quality probe (the
// round trip to the server, like the self-test but in a second). room.js
// waits for window.jhPrejoin before it connects.
import { applyI18n, t } from '/static/i18n.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token') || '';
function claim(tok) {
  try { return JSON.parse(atob(tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); } catch { return {}; }
}
const role = claim(token).role || '';
const pj = (window.jhCheck = { camera: '', microphone: '', network: '', rttMs: 0, audioOnly: false });

function mark(id, ok, text) {
  const e = $(id);
  e.textContent = text || t(ok ? 'checkOK' : 'checkBad');
  e.className = 'chip ' + (ok === true ? 'ok' : ok === false ? 'bad' : 'warn');
}

async function probeNetwork() {
  const times = [];
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    try { await fetch('/healthz', { cache: 'no-store' }); times.push(performance.now() - t0); } catch { /* offline */ }
  }
  if (!times.length) { pj.network = 'poor'; mark('pjnet', false, t('netPoor')); return; }
  times.sort((a, b) => a - b);
  const rtt = (pj.rttMs = Math.round(times[Math.floor(times.length / 2)]));
  const c = navigator.connection || {};
  const slow = c.effectiveType === '2g' || c.effectiveType === 'slow-2g' || (c.downlink && c.downlink < 0.4);
  pj.network = rtt < 200 && !slow ? 'good' : rtt < 600 ? 'fair' : 'poor';
  mark('pjnet', pj.network === 'good' ? true : pj.network === 'poor' ? false : null, `${t({ good: 'netGood', fair: 'netFair', poor: 'netPoor' }[pj.network])} · ${rtt} ms`);
  if (pj.network === 'poor') $('pjaudio').classList.remove('secondary');
}

async function check() {
  let stream = null;
  let ac = null;
  let raf = 0;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
    $('pjvideo').srcObject = stream;
    pj.camera = stream.getVideoTracks().length ? 'ok' : 'none';
    pj.microphone = stream.getAudioTracks().length ? 'ok' : 'none';
    mark('pjcam', pj.camera === 'ok');
    if (pj.microphone !== 'ok') mark('pjmic', false);
    else {
      ac = new (window.AudioContext || window.webkitAudioContext)(); // prefixed before Safari 14.1
      const an = ac.createAnalyser();
      an.fftSize = 512;
      ac.createMediaStreamSource(stream).connect(an);
      const buf = new Uint8Array(an.fftSize);
      const tick = () => {
        an.getByteTimeDomainData(buf);
        let peak = 0;
        for (const v of buf) peak = Math.max(peak, Math.abs(v - 128));
        const level = Math.min(100, Math.round(peak / 1.28));
        $('pjlevel').style.width = level + '%';
        $('pjlevel').parentElement.setAttribute('aria-valuenow', level);
        if (level > 3 && pj.microphone === 'ok') { pj.microphone = 'heard'; mark('pjmic', true); }
        raf = requestAnimationFrame(tick);
      };
      tick();
    }
  } catch {
    pj.camera = pj.microphone = 'failed';
    mark('pjcam', false); mark('pjmic', false);
  }
  probeNetwork();
  return () => {
    cancelAnimationFrame(raf);
    if (ac) ac.close().catch(() => {});
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
    $('pjvideo').srcObject = null;
  };
}

if (role === 'seeker' && token) {
  $('prejoin').hidden = false;
  $('roomui').hidden = true;
  window.jhPrejoin = new Promise((resolve) => {
    const stop = check();
    const go = async (audioOnly) => {
      pj.audioOnly = audioOnly;
      window.jhStartAudioOnly = audioOnly;
      (await stop)();
      $('prejoin').hidden = true;
      $('roomui').hidden = false;
      resolve();
    };
    $('pjgo').onclick = () => go(false);
    $('pjaudio').onclick = () => go(true);
    // Without WebRTC (some in-app browsers, WebKit builds without it) no
    // call can start: say so here rather than fail after "join".
    pj.webrtc = typeof window.RTCPeerConnection === 'function';
    if (!pj.webrtc) {
      $('pjgo').disabled = $('pjaudio').disabled = true;
      $('msg').replaceChildren(Object.assign(document.createElement('div'), { className: 'msg err', role: 'alert', textContent: t('noWebRTC') }));
    }
  });
}
