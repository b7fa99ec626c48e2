import { applyI18n, t, fmtTime } from '/static/i18n.js';
import { api, el, showMsg } from '/static/api.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const msg = $('msg');
let fair = null;
let booking = false; // guards against double clicks on "book"

async function start() {
  try {
    const me = await api('GET', '/session');
    if (me.role !== 'seeker') throw new Error('not a seeker');
    await showApp(me);
  } catch {
    await showSignin();
  }
}

async function showSignin() {
  $('signin').hidden = false; $('app').hidden = true;
  try {
    const people = await api('GET', '/demo/people');
    $('people').replaceChildren(...people.seekers.map((p) => el('li', { class: 'card' },
      el('span', {}, `${p.name} `, el('span', { class: 'muted' }, p.county || '')),
      el('button', { 'data-seeker': p.id, onclick: async () => {
        try { await api('POST', '/session/demo', { role: 'seeker', id: p.id }); location.reload(); } catch (e) { showMsg(msg, e.message); }
      } }, '→'))));
  } catch (e) { showMsg(msg, e.message); }
}

async function showApp(me) {
  $('signin').hidden = true; $('app').hidden = false;
  $('me').textContent = me.name;
  $('signout').onclick = async () => { await api('DELETE', '/session').catch(() => {}); location.reload(); };
  fair = await api('GET', '/fairs/current');
  $('fair').textContent = `${fair.name} · ${fair.day}`;
  let timer = null;
  $('q').oninput = () => { clearTimeout(timer); timer = setTimeout(loadBooths, 250); };
  await Promise.all([loadBooths(), loadBookings(), loadLog()]);
}

async function loadBooths() {
  const q = encodeURIComponent($('q').value.trim());
  const res = await api('GET', `/fairs/${fair.id}/booths?limit=20&q=${q}`);
  $('booths').replaceChildren(...res.booths.map((b) => el('li', { class: 'card' },
    el('span', {}, `${b.employer_name} `, el('span', { class: 'muted' }, `${b.hall_position} · ${b.industry} · ${b.job_posts}`)),
    el('button', { class: 'secondary', 'data-booth': b.id, onclick: () => loadSlots(b) }, t('slots')))));
  if (!res.booths.length) $('booths').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

async function loadSlots(b) {
  $('slotbox').hidden = false; $('boothname').textContent = b.employer_name;
  const res = await api('GET', `/booths/${b.id}/slots?date=${fair.day}`);
  $('slots').replaceChildren(...res.slots.map((s) => el('button', { 'data-slot': s.id, onclick: (ev) => book(s, ev.target) },
    `${fmtTime(s.start)} · ${t('lane')}${s.lane}`)));
  if (!res.slots.length) $('slots').replaceChildren(el('span', { class: 'muted' }, t('none')));
  $('slotbox').scrollIntoView({ behavior: 'smooth' });
}

async function book(s, button) {
  if (booking) return;
  booking = true; button.disabled = true;
  try {
    const b = await api('POST', '/bookings', { slot_id: s.id });
    showMsg(msg, `${t('booked')}: ${b.employer_name} ${fmtTime(b.start)}`, true);
    await loadBookings(); await loadLog();
  } catch (e) {
    showMsg(msg, e.message);
    const alts = (e.body && e.body.details && e.body.details.alternatives) || [];
    if (alts.length) msg.append(el('div', { class: 'slots' }, ...alts.map((a) => el('button', { onclick: (ev) => book(a, ev.target) }, fmtTime(a.start)))));
  } finally { booking = false; button.disabled = false; }
}

async function loadBookings() {
  const res = await api('GET', '/me/bookings');
  $('bookings').replaceChildren(...res.bookings.map((b) => el('li', { class: 'card' },
    el('span', {}, `${fmtTime(b.start)}–${fmtTime(b.end)} ${b.employer_name} · ${t('lane')}${b.lane}`),
    b.join_url ? el('a', { class: 'btn', href: b.join_url, 'data-join': b.id }, t('join')) : '')));
  if (!res.bookings.length) $('bookings').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

async function loadLog() {
  const res = await api('GET', '/me/log');
  $('log').replaceChildren(...res.entries.map((e) => el('li', { class: 'card', 'data-log': e.kind },
    el('span', {}, e.kind), el('span', { class: 'muted' }, new Date(e.at).toLocaleString()))));
  if (!res.entries.length) $('log').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

start();
