// The trainer's desk: create a course, schedule a live session, then go
// live from the browser (the room page: camera, screen share, viewer count,
// questions in the chat, end for everyone) or copy the WHIP URL and bearer
// token into OBS Studio.
import { applyI18n, t, fmtDateTime, fmtTime } from '/static/i18n.js';
import { api, el, showMsg, fieldError, guard, newKey } from '/static/api.js';
import { passwordSignin } from '/static/signin.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const msg = $('msg');
const page = (window.jhPage = { ready: false, live: null });
const local = (u) => { try { const x = new URL(u, location.href); return x.pathname + x.search; } catch { return u; } };
const MINE = 'jh.trainer.sessions';
const mine = () => { try { return JSON.parse(localStorage.getItem(MINE) || '[]'); } catch { return []; } };
let me = null;

async function start() {
  try {
    me = await api('GET', '/session');
    if (!['trainer', 'officer', 'admin'].includes(me.role)) throw new Error('not a trainer');
  } catch {
    $('signin').hidden = false; passwordSignin(['trainer', 'officer', 'admin'], msg); page.ready = true; return;
  }
  $('app').hidden = false; $('me').textContent = me.name;
  $('signout').onclick = async () => { await api('DELETE', '/session').catch(() => {}); location.reload(); };
  $('c-kind').replaceChildren(...['skills', 'entrepreneurship', 'labour_rights'].map((k) => el('option', { value: k }, t('kind_' + k))));
  const d = new Date(Date.now() + 10 * 60e3);
  $('s-date').value = d.toLocaleDateString('sv-SE'); $('s-time').value = d.toTimeString().slice(0, 5);
  await load();
  page.ready = true;
}

async function load() {
  const res = await api('GET', '/courses?limit=100').catch(() => api('GET', '/courses'));
  $('s-course').replaceChildren(...res.courses.map((c) => el('option', { value: c.id }, `${c.title} (${t('kind_' + c.kind)})`)));
  const ids = new Set(mine());
  const sessions = res.courses.flatMap((c) => (c.sessions || []).map((s) => ({ ...s, course: c }))).filter((s) => ids.has(s.id) || me.role !== 'trainer' || ids.size === 0)
    .sort((a, b) => new Date(a.start) - new Date(b.start));
  $('sessions').replaceChildren(...sessions.map((s) => {
    const b = el('button', { class: 'small', 'data-live': s.id }, t('goLive'));
    b.onclick = guard(b, () => openLive(s));
    return el('li', { class: 'card' }, el('span', { class: 'grow' }, el('strong', {}, s.course.title), ` · ${fmtDateTime(s.start)}–${fmtTime(s.end)} · ${s.seats_taken}/${s.capacity}`), b);
  }));
  if (!sessions.length) $('sessions').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

async function openLive(s) {
  try {
    const j = await api('GET', `/group-sessions/${s.id}/join`);
    const u = new URL(j.join_url, location.href);
    page.live = { session: s.id, join: local(j.join_url), token: u.searchParams.get('token') };
    $('live').hidden = false;
    $('livetitle').textContent = `${s.course.title} · ${fmtDateTime(s.start)}`;
    $('golive').href = page.live.join;
    $('whipurl').value = location.origin + '/whip';
    $('whiptoken').value = page.live.token;
    const a = await api('GET', `/group-sessions/${s.id}/attendance`).catch(() => null);
    $('attendance').textContent = a ? `${(a.attendance || a.seekers || []).length}` : '';
    $('live').scrollIntoView({ block: 'nearest' });
  } catch (e) { showMsg(msg, e.message); }
}

document.addEventListener('click', async (e) => {
  const b = e.target.closest('[data-copy]');
  if (!b) return;
  const input = $(b.dataset.copy);
  input.select();
  try { await navigator.clipboard.writeText(input.value); } catch { document.execCommand && document.execCommand('copy'); }
  b.textContent = t('copied'); setTimeout(() => { b.textContent = t('copy'); }, 2000);
});

$('courseform').onsubmit = guard($('c-create'), async () => {
  const title = $('c-title').value.trim();
  if (!fieldError($('c-title'), title ? '' : t('errRequired'))) return;
  try {
    await api('POST', '/courses', { kind: $('c-kind').value, title, description: $('c-desc').value.trim() }, { key: newKey() });
    $('c-title').value = ''; $('c-desc').value = ''; showMsg(msg, t('created'), true); await load();
  } catch (e) { showMsg(msg, e.message); }
});

$('sessform').onsubmit = guard($('s-create'), async () => {
  const course = +$('s-course').value;
  if (!fieldError($('s-course'), course ? '' : t('errRequired'))) return;
  const date = $('s-date').value; const time = $('s-time').value;
  if (!fieldError($('s-date'), date ? '' : t('errRequired'))) return;
  if (!fieldError($('s-time'), time ? '' : t('errRequired'))) return;
  const start = new Date(`${date}T${time}`);
  if (!fieldError($('s-date'), start > new Date() ? '' : t('errPast'))) return;
  const dur = +$('s-dur').value; const cap = +$('s-cap').value;
  if (!fieldError($('s-dur'), Number.isInteger(dur) && dur >= 10 && dur <= 480 ? '' : t('errNumber'))) return;
  if (!fieldError($('s-cap'), Number.isInteger(cap) && cap >= 1 && cap <= 10000 ? '' : t('errCapacity'))) return;
  try {
    const s = await api('POST', `/courses/${course}/sessions`, { start: start.toISOString(), end: new Date(+start + dur * 60e3).toISOString(), capacity: cap }, { key: newKey() });
    try { localStorage.setItem(MINE, JSON.stringify([...mine(), s.id])); } catch { /* private mode */ }
    showMsg(msg, t('created'), true); await load();
  } catch (e) { showMsg(msg, e.message); }
});

start();
