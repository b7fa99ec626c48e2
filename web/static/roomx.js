// Room extras on top of room.js (which exposes window.jh): the lobby
// position in large type, "admit next", the network-quality indicator, the
// audio-only switch, screen sharing, "end for everyone", the viewer count,
// and for interviewers the candidate's card, notes and outcome buttons.
import { t, lang } from '/static/i18n.js';
import { api, el, showMsg, guard, newKey } from '/static/api.js';

const $ = (id) => document.getElementById(id);
const jh = window.jh;
const x = (window.jhx = { quality: 'unknown', rttMs: 0, loss: 0, audioOnly: false, screen: null, seekerId: 0 });
let perms = null;

window.addEventListener('jh:msg', (ev) => {
  const m = ev.detail;
  switch (m.type) {
    case 'lobby':
      $('bigwait').hidden = false;
      $('lobbypos').textContent = Math.max(0, m.position - 1);
      break;
    case 'joined':
      $('bigwait').hidden = true;
      perms = m.permissions || {};
      setup(m);
      if (window.jhStartAudioOnly && !x.audioOnly) { window.jhStartAudioOnly = false; setAudioOnly(true); }
      else if (x.audioOnly) setAudioOnly(true); // a rejoin publishes video again
      showViewers();
      break;
    case 'lobby_update':
      for (const w of m.waiting || []) seekerSeen(w.id);
      break;
    case 'participant_joined': case 'participant_updated':
      seekerSeen(m.participant.id); showViewers();
      break;
    case 'participant_left':
      showViewers();
      break;
    case 'bye':
      if (['left', 'ended', 'time_limit', 'rejected', 'removed'].includes(m.reason)) { $('bigwait').hidden = true; stopScreen(); }
      break;
  }
});

function setup(m) {
  const publishes = (perms.publish || []).length > 0;
  $('localtile').hidden = !publishes;
  $('mic').hidden = $('cam').hidden = !publishes;
  $('audioonly').hidden = false;
  $('screen').hidden = !(perms.publish || []).includes('screen') || m.self.role === 'seeker' || !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia); // none on phones (iOS Safari)
  $('endall').hidden = !perms.moderate;
  $('chathead').hidden = !(m.self.role === 'trainer' || m.self.role === 'officer');
  $('netq').hidden = $('netqtext').hidden = false;
  for (const p of m.participants || []) seekerSeen(p.id);
  if (isHost()) hostPanel();
}

// --- lobby: admit the next in line ---
$('admitnext').onclick = () => jh.send({ type: 'admit' });

// --- viewer count (course broadcasts) ---
function showViewers() {
  const list = (jh.joined && jh.joined.participants) || [];
  const n = list.filter((p) => p.role === 'viewer').length;
  x.viewers = n;
  $('viewers').hidden = n === 0 && !(jh.self && (jh.self.role === 'trainer' || jh.self.role === 'officer'));
  $('viewers').textContent = `${t('viewers')} ${n}`;
}

// --- network quality: round trip and loss from getStats every 2 s ---
let prev = { lost: 0, recv: 0 };
let poorRuns = 0;
async function measure() {
  let rtt = 0; let lost = 0; let recv = 0;
  for (const pc of [jh.pub, jh.sub]) {
    if (!pc) continue;
    try {
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && s.currentRoundTripTime) rtt = Math.max(rtt, s.currentRoundTripTime);
        if (s.type === 'inbound-rtp') { lost += s.packetsLost || 0; recv += s.packetsReceived || 0; }
        if (s.type === 'remote-inbound-rtp' && s.fractionLost) x.remoteLoss = s.fractionLost;
      });
    } catch { /* closed */ }
  }
  if (!jh.pub && !jh.sub) return;
  const dl = lost - prev.lost; const dr = recv - prev.recv;
  prev = { lost, recv };
  const loss = dr + dl > 0 ? dl / (dr + dl) : 0;
  x.rttMs = Math.round(rtt * 1000); x.loss = Math.round(loss * 1000) / 10;
  const q = rtt === 0 && dr === 0 ? 'unknown' : rtt < 0.3 && loss < 0.02 ? 'good' : rtt < 0.8 && loss < 0.08 ? 'fair' : 'poor';
  x.quality = q;
  $('netq').dataset.q = q;
  const label = t({ good: 'netGood', fair: 'netFair', poor: 'netPoor', unknown: 'netUnknown' }[q]);
  $('netq').setAttribute('aria-label', label);
  $('netqtext').textContent = q === 'unknown' ? '' : `${label} ${x.rttMs} ms`;
  poorRuns = q === 'poor' ? poorRuns + 1 : 0;
  if (poorRuns === 3 && !x.audioOnly) showMsg($('msg'), t('netPoorHint'));
}
setInterval(measure, 2000);

// --- audio only: stop sending video and stop showing (and ask for the
// smallest layer of) the others' video ---
const parked = new Map(); // sender → its video track while audio only
async function setAudioOnly(on) {
  x.audioOnly = jh.audioOnly = on;
  document.body.classList.toggle('audio-only', on);
  $('audioonly').setAttribute('aria-pressed', String(on));
  $('audioonly').textContent = t(on ? 'videoBack' : 'audioOnly');
  if (jh.pub) {
    for (const s of jh.pub.getSenders()) {
      if (on && s.track && s.track.kind === 'video' && s.track !== (x.screen && x.screen.track)) { parked.set(s, s.track); await s.replaceTrack(null); }
      if (!on && parked.has(s)) { await s.replaceTrack(parked.get(s)); }
    }
    if (!on) parked.clear();
    if (jh.localStream && jh.localStream.getVideoTracks().length) jh.send({ type: 'mute_state', source: 'camera', muted: on });
  }
  document.querySelectorAll('video[data-stream]').forEach((v) => { if (on) v.dataset.hiddenVideo = '1'; else delete v.dataset.hiddenVideo; });
  jh.askAll();
  if (on) showMsg($('msg'), t('audioOnlyOn'), true);
}
$('audioonly').onclick = () => setAudioOnly(!x.audioOnly);

// --- screen sharing (trainers and interviewers) ---
async function startScreen() {
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  const track = stream.getVideoTracks()[0];
  const sender = jh.pub.addTransceiver(track, { direction: 'sendonly', streams: [stream] }).sender;
  x.screen = { track, sender };
  jh.send({ type: 'publish', track: track.id, source: 'screen' });
  await jh.renegotiate();
  track.onended = () => stopScreen();
  $('screen').textContent = t('stopShare');
}
async function stopScreen() {
  if (!x.screen) return;
  const { track, sender } = x.screen;
  x.screen = null;
  track.stop();
  try { jh.pub.removeTrack(sender); jh.send({ type: 'unpublish', track: track.id }); await jh.renegotiate(); } catch { /* closed */ }
  $('screen').textContent = t('screenShare');
}
$('screen').onclick = guard($('screen'), async () => {
  try { if (x.screen) await stopScreen(); else if (jh.pub) await startScreen(); } catch (e) { showMsg($('msg'), e.message); }
});

// --- end for everyone (moderators), asked twice in place ---
let armed = 0;
$('endall').onclick = () => {
  if (Date.now() - armed > 5000) { armed = Date.now(); $('endall').textContent = t('endConfirm'); return; }
  jh.send({ type: 'end' });
};

// --- the interviewer's candidate panel ---
function isHost() {
  return jh.self && (jh.self.role === 'interviewer' || jh.self.role === 'booth_host') && /^interview-\d+$/.test((jh.joined && jh.joined.room) || '');
}
function seekerSeen(id) {
  const mm = /^seeker-(\d+)$/.exec(id || '');
  if (!mm || x.seekerId) return;
  x.seekerId = +mm[1];
  if (isHost()) loadCard();
}
function hostPanel() {
  $('hostpanel').hidden = false;
  const booking = +jh.joined.room.slice('interview-'.length);
  const key = newKey();
  $('hpoutcomes').replaceChildren(...['hire_intent', 'second_round', 'not_suitable'].map((o) => {
    const b = el('button', { class: o === 'hire_intent' ? 'small ok' : o === 'not_suitable' ? 'small danger' : 'small secondary', 'data-outcome': o }, t('outcome_' + o));
    b.onclick = guard(b, async () => {
      try {
        await api('POST', `/bookings/${booking}/outcome`, { outcome: o, note: $('hpnote').value.trim() }, { key: key + o });
        showMsg($('msg'), `${t('outcomeSaved')}: ${t('outcome_' + o)}`, true);
        x.outcome = o;
      } catch (e) { showMsg($('msg'), e.message); }
    });
    return b;
  }));
  if (x.seekerId) loadCard();
}
async function loadCard() {
  try {
    const c = await api('GET', `/seekers/${x.seekerId}/card`);
    $('hpcard').className = '';
    $('hpcard').replaceChildren(
      el('h3', {}, c.name), el('div', { class: 'muted' }, [c.county, c.education && t('edu_' + c.education), c.experience_years ? `${c.experience_years}${lang === 'en' ? ' yrs' : '年'}` : ''].filter(Boolean).join(' · ')),
      c.desired_job ? el('div', {}, `${t('desiredJob')}: ${c.desired_job}`) : '',
      (c.skills || []).length ? el('ul', { class: 'chips' }, ...c.skills.map((s) => el('li', { class: 'chip' }, s))) : '',
      ...(c.reasons || []).map((r) => el('div', { class: 'chip ok' }, typeof r === 'string' ? r : (lang === 'en' ? r.en : r.zh))));
  } catch (e) {
    $('hpcard').textContent = e.status === 403 ? t('cardHidden') : e.message;
  }
}
