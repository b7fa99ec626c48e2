import { applyI18n, t, fmtTime } from '/static/i18n.js';
import { api, el, showMsg } from '/static/api.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const msg = $('msg');

async function start() {
  let me;
  try {
    me = await api('GET', '/session');
    if (me.role !== 'employer') throw new Error('not an employer');
  } catch {
    return showSignin();
  }
  $('app').hidden = false;
  $('me').textContent = me.name;
  $('signout').onclick = async () => { await api('DELETE', '/session').catch(() => {}); location.reload(); };
  const fair = await api('GET', '/fairs/current');
  $('day').textContent = fair.day;
  const load = async () => {
    try {
      const lists = await Promise.all((me.booth_ids || []).map((id) => api('GET', `/booths/${id}/schedule?date=${fair.day}`)));
      const items = lists.flatMap((l) => l.bookings);
      $('schedule').replaceChildren(...items.map((b) => el('li', { class: 'card' },
        el('span', {}, `${fmtTime(b.start)}–${fmtTime(b.end)} · ${t('lane')}${b.lane} · ${b.seeker_name}`),
        b.join_url ? el('a', { class: 'btn', href: b.join_url, 'data-join': b.id }, t('join')) : '')));
      if (!items.length) $('schedule').replaceChildren(el('li', { class: 'muted' }, t('none')));
    } catch (e) { showMsg(msg, e.message); }
  };
  await load();
  setInterval(load, 15000); // new bookings show up without a reload
}

async function showSignin() {
  $('signin').hidden = false;
  try {
    const people = await api('GET', '/demo/people');
    $('people').replaceChildren(...people.employers.map((p) => el('li', { class: 'card' },
      el('span', {}, p.name),
      el('button', { 'data-employer': p.id, onclick: async () => {
        try { await api('POST', '/session/demo', { role: 'employer', id: p.id }); location.reload(); } catch (e) { showMsg(msg, e.message); }
      } }, '→'))));
  } catch (e) { showMsg(msg, e.message); }
}

start();
