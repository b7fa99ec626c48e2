// The booth host's desk (a laptop at a hall booth): today's timetable with
// join links, the walk-in queue (on-site and remote together) with "call
// next", the candidate's card, notes, outcome buttons and hand-off. The
// interview itself happens in the room page, which shows the same card,
// notes and outcome buttons next to the video.
import { applyI18n, t, fmtTime } from '/static/i18n.js';
import { api, el, showMsg, guard, newKey } from '/static/api.js';
import { passwordSignin } from '/static/signin.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const msg = $('msg');
const page = (window.jhPage = { ready: false, current: null });
let fair = null;
let booths = []; // this employer's booths at the fair
let boothID = 0;
const local = (u) => { try { const x = new URL(u, location.href); return x.pathname + x.search; } catch { return u; } };

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
  fair = await api('GET', '/fairs/current').catch(() => null);
  $('day').textContent = fair ? `${fair.name} · ${fair.day}` : '';
  if (fair) {
    const res = await api('GET', `/fairs/${fair.id}/booths?limit=100&q=${encodeURIComponent(me.name)}`).catch(() => ({ booths: [] }));
    booths = res.booths.filter((b) => b.employer_id === me.id);
  }
  const ids = me.booth_ids || [];
  if (!booths.length) booths = ids.map((id) => ({ id, hall_position: String(id), lanes: 1 }));
  $('booth').replaceChildren(...booths.map((b) => el('option', { value: b.id }, b.hall_position)));
  $('booth').onchange = () => selectBooth(+$('booth').value);
  await selectBooth(booths.length ? booths[0].id : 0, ids);
  setInterval(loadSchedule, 15000); // new bookings show up without a reload
  setInterval(loadQueue, 5000);
  page.ready = true;
}

async function selectBooth(id) {
  boothID = id;
  const b = booths.find((x) => x.id === id) || { lanes: 1 };
  $('lane').replaceChildren(...Array.from({ length: b.lanes || 1 }, (_, i) => el('option', { value: i + 1 }, `${t('lane')} ${i + 1}`)));
  await Promise.all([loadSchedule(), loadQueue(), loadHandoffTargets()]);
}

async function loadSchedule() {
  if (!fair) return;
  try {
    const lists = await Promise.all(booths.map((b) => api('GET', `/booths/${b.id}/schedule?date=${fair.day}`)));
    const items = lists.flatMap((l) => l.bookings).sort((a, b) => new Date(a.start) - new Date(b.start));
    const now = Date.now();
    $('schedule').replaceChildren(...items.map((b) => {
      const live = new Date(b.start) <= now && now < new Date(b.end);
      return el('li', { class: 'card', 'data-booking': b.id, 'aria-current': live ? 'time' : null },
        el('span', { class: 'grow' }, `${fmtTime(b.start)}–${fmtTime(b.end)} · ${t('lane')}${b.lane} · `, el('strong', {}, b.seeker_name),
          live ? el('span', { class: 'chip ok' }, ' ● ') : ''),
        b.join_url ? el('a', { class: 'btn small', href: local(b.join_url), 'data-join': b.id }, t('join')) : '');
    }));
    if (!items.length) $('schedule').replaceChildren(el('li', { class: 'muted' }, t('none')));
  } catch (e) { showMsg(msg, e.message); }
}

async function loadQueue() {
  if (!boothID) return;
  try {
    const res = await api('GET', `/booths/${boothID}/queue`);
    $('qcount').textContent = res.waiting.length;
    $('queue').replaceChildren(...res.waiting.map((q, i) => el('li', { class: 'card', 'data-entry': q.id },
      el('span', {}, `${i + 1}. `, el('strong', {}, q.seeker_name), ' ', el('span', { class: 'badge ' + q.mode }, t(q.mode))),
      el('span', { class: 'muted' }, fmtTime(q.enqueued_at)))));
    if (!res.waiting.length) $('queue').replaceChildren(el('li', { class: 'muted' }, t('queueEmpty')));
  } catch (e) { showMsg(msg, e.message); }
}

$('callnext').onclick = guard($('callnext'), async () => {
  try {
    const r = await api('POST', `/booths/${boothID}/queue/next`, { lane: +$('lane').value }, { key: newKey() });
    if (!r.entry) { showMsg(msg, t('queueEmpty')); return; }
    showCurrent(r.entry);
    await loadQueue();
  } catch (e) { showMsg(msg, e.message); }
});

function showCurrent(entry) {
  page.current = entry;
  $('current').hidden = false;
  $('note').value = '';
  $('cardbox').replaceChildren(el('h3', {}, entry.seeker_name, ' ', el('span', { class: 'badge ' + entry.mode }, t(entry.mode))));
  api('GET', `/seekers/${entry.seeker_id}/card`).then((c) => {
    $('cardbox').append(
      el('div', { class: 'muted' }, [c.county, c.education && t('edu_' + c.education), c.experience_years ? `${c.experience_years}` : ''].filter(Boolean).join(' · ')),
      c.desired_job ? el('div', {}, `${t('desiredJob')}: ${c.desired_job}`) : '',
      (c.skills || []).length ? el('ul', { class: 'chips' }, ...c.skills.map((s) => el('li', { class: 'chip' }, s))) : '');
  }).catch((e) => $('cardbox').append(el('p', { class: 'muted', 'data-card': 'hidden' }, e.status === 403 ? t('cardHidden') : e.message)));
  const key = newKey();
  $('outcomes').replaceChildren(...['hire_intent', 'second_round', 'not_suitable'].map((o) => {
    const b = el('button', { class: o === 'hire_intent' ? 'small ok' : o === 'not_suitable' ? 'small danger' : 'small secondary', 'data-outcome': o }, t('outcome_' + o));
    b.onclick = guard(b, async () => {
      try {
        await api('POST', `/queue-entries/${entry.id}/outcome`, { outcome: o, note: $('note').value.trim() }, { key: key + o });
        showMsg(msg, `${entry.seeker_name}: ${t('outcome_' + o)}`, true);
        page.outcome = o;
      } catch (e) { showMsg(msg, e.message); }
    });
    return b;
  }));
  $('handoff').onclick = guard($('handoff'), async () => {
    const to = +$('handto').value;
    if (!to) { showMsg(msg, t('errRequired')); return; }
    try {
      await api('POST', `/queue-entries/${entry.id}/handoff`, { to_booth_id: to, note: $('note').value.trim() }, { key: key + 'h' + to });
      showMsg(msg, `${t('handedOff')}: ${$('handto').selectedOptions[0].textContent}`, true);
    } catch (e) { showMsg(msg, e.message); }
  });
}

async function loadHandoffTargets() {
  if (!fair) return;
  try {
    const res = await api('GET', `/fairs/${fair.id}/booths?limit=100`);
    $('handto').replaceChildren(el('option', { value: '' }, '—'), ...res.booths.filter((b) => b.id !== boothID)
      .map((b) => el('option', { value: b.id }, `${b.hall_position} ${b.employer_name}`)));
  } catch { /* optional */ }
}

$('scanform').onsubmit = guard($('scanbtn'), async () => {
  const qr = $('qr').value.trim();
  if (!qr) { showMsg(msg, t('errRequired')); $('qr').focus(); return; }
  try {
    await api('POST', `/booths/${boothID}/checkin`, { qr_code: qr }, { key: newKey() });
    $('qr').value = ''; await loadQueue();
  } catch (e) { showMsg(msg, e.message); }
});

$('arrive').onclick = guard($('arrive'), async () => {
  try { await api('POST', `/booths/${boothID}/arrive`, undefined, { key: 'arrive-' + boothID }); showMsg(msg, t('arrived'), true); } catch (e) { showMsg(msg, e.message); }
});

async function showSignin() {
  $('signin').hidden = false;
  passwordSignin(['employer'], msg);
  try {
    const people = await api('GET', '/demo/people');
    $('demo').hidden = false;
    $('people').replaceChildren(...people.employers.map((p) => el('li', { class: 'card' },
      el('span', {}, p.name),
      el('button', { class: 'small', 'data-employer': p.id, 'aria-label': `${t('signinBtn')} ${p.name}`, onclick: async () => {
        try { await api('POST', '/session/demo', { role: 'employer', id: p.id }); location.reload(); } catch (e) { showMsg(msg, e.message); }
      } }, '→'))));
  } catch { /* demo off */ }
  page.ready = true;
}

start();
