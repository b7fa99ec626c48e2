// The seeker's phone app: sign in by phone code, job feed with match
// reasons, apply, book / reschedule / cancel, join interviews, training,
// policies, consultations, profile, entry pass and the employment log.
import { applyI18n, t, lang, fmtTime, fmtDateTime } from '/static/i18n.js';
import { api, el, showMsg, fieldError, guard, newKey, phoneOK, codeOK } from '/static/api.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const msg = $('msg');
const page = (window.jhPage = { ready: false, view: '' });
const HINT = 'jh.seeker';
let fair = null;
let me = null;
let profile = null;
const keys = new Map(); // one Idempotency-Key per intent (slot, job, seat…)
const keyFor = (what) => { if (!keys.has(what)) keys.set(what, newKey()); return keys.get(what); };
const local = (u) => { try { const x = new URL(u, location.href); return x.pathname + x.search; } catch { return u; } };
const hint = (on) => { try { on ? localStorage.setItem(HINT, '1') : localStorage.removeItem(HINT); } catch { /* private mode */ } };
const hinted = () => { try { return !!localStorage.getItem(HINT); } catch { return false; } };
const lastFair = () => { try { return Number(localStorage.getItem('jh.fair')) || 0; } catch { return 0; } };
let boothsPrefetch = null;
const ready = (view) => { page.ready = true; page.view = view; page.readyAt = performance.now(); document.body.dataset.ready = view; };

// takeBoot reads what the server embedded for this session (the answers
// to the first calls below; see FRONTEND.md), once. A page shown again by
// back/forward may come from a cache: its data could be stale, so fetch.
function takeBoot() {
  const n = document.getElementById('jh-boot');
  if (!n) return null;
  n.remove();
  try {
    const nav = performance.getEntriesByType ? performance.getEntriesByType('navigation')[0] : null;
    if (nav && nav.type === 'back_forward') return null;
    return JSON.parse(n.textContent);
  } catch { return null; }
}

// --- start: show something usable at once, check the session meanwhile ---
async function start() {
  const b = takeBoot();
  if (b && b.session && b.session.role === 'seeker') {
    // Signed in and the data is here: no round trip before the feed.
    // What is missing (a part that failed on the server) is fetched.
    hint(true);
    if (b.feed) prefetch = Promise.resolve(b.feed);
    if (b.fair && b.booths) boothsPrefetch = { fair: b.fair.id, res: Promise.resolve(b.booths) };
    await showApp(b.session, 'fair' in b ? Promise.resolve(b.fair) : api('GET', '/fairs/current').catch(() => null));
    return;
  }
  if (!hinted()) showSignin();
  else {
    // Likely signed in: fetch the feed (and the last fair's booths) alongside
    // the session instead of one round trip after it.
    prefetch = api('GET', '/me/feed?limit=10');
    prefetch.catch(() => {});
    const f = lastFair();
    if (f) { boothsPrefetch = { fair: f, res: api('GET', `/fairs/${f}/booths?limit=20&q=`) }; boothsPrefetch.res.catch(() => {}); }
  }
  const session = api('GET', '/session').catch(() => null);
  const fairP = api('GET', '/fairs/current').catch(() => null);
  const s = await session;
  if (s && s.role === 'seeker') { hint(true); await showApp(s, fairP); } else { hint(false); if (page.view !== 'signin') showSignin(); }
}

function showSignin() {
  $('signin').hidden = false; $('app').hidden = true; $('tabs').hidden = true;
  ready('signin');
  api('GET', '/demo/people').then((people) => {
    $('people').replaceChildren(...people.seekers.map((p) => el('li', { class: 'card' },
      el('span', {}, `${p.name} `, el('span', { class: 'muted' }, p.county || '')),
      el('button', { class: 'small', 'data-seeker': p.id, 'aria-label': `${t('signinBtn')} ${p.name}`, onclick: async () => {
        try { await api('POST', '/session/demo', { role: 'seeker', id: p.id }); hint(true); location.hash = '#jobs'; location.reload(); } catch (e) { showMsg(msg, e.message); }
      } }, '→'))));
    $('demo').hidden = false; $('codehint').hidden = false;
  }).catch(() => {});
}

let resendTimer = null;
$('sendcode').onclick = guard($('sendcode'), async () => {
  const phone = $('phone').value.trim();
  if (!fieldError($('phone'), phoneOK(phone) ? '' : t('errPhone'))) return;
  try {
    await api('POST', '/auth/otp', { phone });
    showMsg(msg, t('codeSent'), true);
    $('code').focus();
    let left = 60;
    clearInterval(resendTimer);
    resendTimer = setInterval(() => {
      left--;
      $('sendcode').textContent = left > 0 ? `${left}${t('resendIn')}` : t('sendCode');
      if (left <= 0) clearInterval(resendTimer);
    }, 1000);
  } catch (e) { showMsg(msg, e.message); }
});
$('otpform').onsubmit = guard($('verify'), async () => {
  const phone = $('phone').value.trim(); const code = $('code').value.trim();
  if (!fieldError($('phone'), phoneOK(phone) ? '' : t('errPhone'))) return;
  if (!fieldError($('code'), codeOK(code) ? '' : t('errCode'))) return;
  try {
    await api('POST', '/auth/otp/verify', { phone, code });
    hint(true); location.hash = '#jobs'; location.reload();
  } catch (e) { showMsg(msg, e.message); }
});

// --- the signed-in app ---
async function showApp(s, fairP) {
  me = s;
  $('signin').hidden = true; $('app').hidden = false; $('tabs').hidden = false;
  document.body.classList.add('has-tabs');
  $('me').textContent = me.name;
  $('signout').onclick = async () => { await api('DELETE', '/session').catch(() => {}); hint(false); location.hash = ''; location.reload(); };
  fair = await fairP;
  try { if (fair) localStorage.setItem('jh.fair', String(fair.id)); else localStorage.removeItem('jh.fair'); } catch { /* private mode */ }
  $('fair').textContent = fair ? `${fair.name} · ${fair.day}` : t('none');
  let timer = null;
  $('q').oninput = () => { clearTimeout(timer); timer = setTimeout(() => { loadFeed(); loadBooths(); }, 300); };
  window.addEventListener('hashchange', route);
  await route();
  ready('app');
}

const loaded = {};
async function route() {
  const tab = (location.hash || '#jobs').slice(1).split('/')[0] || 'jobs';
  const known = ['jobs', 'interviews', 'learn', 'services', 'me'];
  const cur = known.includes(tab) ? tab : 'jobs';
  document.querySelectorAll('[data-tab]').forEach((s) => { s.hidden = s.dataset.tab !== cur; });
  document.querySelectorAll('[data-go]').forEach((a) => { if (a.dataset.go === cur) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current'); });
  const loaders = {
    jobs: () => Promise.all([loadFeed(), loadBooths()]),
    interviews: loadBookings,
    learn: loadCourses,
    services: () => Promise.all([loadConsults(), loadPolicies()]),
    me: () => Promise.all([loadProfile(), loadPass(), loadLog()]),
  };
  try { await loaders[cur](); loaded[cur] = true; } catch (e) { showMsg(msg, e.message); }
}

// --- jobs: feed with reasons (the matching feed when the server has one) ---
let feedRoute = null; // null: not tried; '' : none
let prefetch = null;
async function loadFeed() {
  const q = $('q').value.trim();
  let items = null;
  if (feedRoute !== '' && !q) {
    try {
      const r = await (prefetch || api('GET', '/me/feed?limit=10'));
      prefetch = null;
      feedRoute = '/me/feed';
      items = (r.jobs || r.items || r.feed || []).map((x) => ({ job: x.job || x, reasons: (x.reasons || (x.match && x.match.reasons) || []).map((m) => (typeof m === 'string' ? m : (lang === 'en' ? m.en : m.zh))) }));
    } catch (e) { prefetch = null; if (e.status === 404 || e.status === 405) feedRoute = ''; else throw e; }
  }
  if (!items) {
    if (!profile) profile = await api('GET', '/me/profile').catch(() => ({}));
    const r = await api('GET', `/jobs?limit=20&q=${encodeURIComponent(q)}`);
    items = r.jobs.map((j) => ({ job: j, reasons: reasonsFor(j, profile) }));
    if (!q) items.sort((a, b) => b.reasons.length - a.reasons.length);
  }
  $('jobs').replaceChildren(...items.map(jobCard));
  if (!items.length) $('jobs').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

// reasonsFor explains a job against the profile when the server has no
// matching feed: county, skills, pay, the wanted work, freshness.
function reasonsFor(j, p) {
  const out = [];
  if (p.county && j.county && p.county === j.county) out.push(`${t('reasonCounty')} ${j.county}`);
  const mine = new Set((p.skills || []).map((s) => s.toLowerCase()));
  const common = (j.skills || []).filter((s) => mine.has(s.toLowerCase()));
  if (common.length) out.push(t('reasonSkill') + ' ' + common.slice(0, 3).join(lang === 'en' ? ', ' : '、'));
  if (p.desired_salary && j.salary_max && j.salary_max >= p.desired_salary) out.push(t('reasonSalary'));
  if (p.desired_job && j.title && (j.title.includes(p.desired_job) || p.desired_job.includes(j.title))) out.push(t('reasonJob'));
  if (j.published_at && Date.now() - new Date(j.published_at) < 3 * 86400e3) out.push(t('reasonNew'));
  return out;
}

function pay(j) {
  if (!j.salary_min && !j.salary_max) return '';
  return `${t('salary')} ${j.salary_min || ''}${j.salary_max ? '–' + j.salary_max : '+'} ${t('yuan')}`;
}

function jobCard({ job: j, reasons }) {
  const apply = el('button', { class: 'small', 'data-apply': j.id }, t('apply'));
  apply.onclick = guard(apply, async () => {
    try {
      await api('POST', `/jobs/${j.id}/applications`, { note: '' }, { key: keyFor('apply' + j.id) });
      apply.textContent = t('applied'); showMsg(msg, `${t('applied')}: ${j.title}`, true);
    } catch (e) { showMsg(msg, e.message); if (e.status === 409) apply.textContent = t('applied'); }
  });
  return el('li', { class: 'card', 'data-job': j.id },
    el('div', { class: 'grow' },
      el('h3', {}, j.title),
      el('div', { class: 'muted' }, [j.employer_name, j.county, pay(j)].filter(Boolean).join(' · ')),
      reasons.length ? el('ul', { class: 'chips', 'aria-label': t('matchWhy') }, ...reasons.map((r) => el('li', { class: 'chip' }, r))) : ''),
    el('div', { class: 'actions' }, apply,
      el('button', { class: 'small secondary', 'data-jobslots': j.id, onclick: () => loadJobSlots(j) }, t('bookFor'))));
}

async function loadJobSlots(j) {
  try {
    const res = await api('GET', `/jobs/${j.id}/slots`);
    showSlots(j.employer_name, res.slots, j.id);
  } catch (e) { showMsg(msg, e.message); }
}

async function loadBooths() {
  if (!fair) { $('booths').replaceChildren(el('li', { class: 'muted' }, t('none'))); return; }
  const q = encodeURIComponent($('q').value.trim());
  const pre = boothsPrefetch && boothsPrefetch.fair === fair.id && !q ? boothsPrefetch.res : null;
  boothsPrefetch = null;
  const res = await (pre ? pre.catch(() => api('GET', `/fairs/${fair.id}/booths?limit=20&q=`)) : api('GET', `/fairs/${fair.id}/booths?limit=20&q=${q}`));
  $('booths').replaceChildren(...res.booths.map((b) => {
    const queue = el('button', { class: 'small secondary', 'data-queue': b.id }, t('queueRemote'));
    queue.onclick = guard(queue, async () => {
      try {
        const r = await api('POST', `/booths/${b.id}/queue`, { mode: 'remote' }, { key: keyFor('queue' + b.id) });
        showMsg(msg, `${b.employer_name}: ${t('queued')} ${Math.max(0, r.position - 1)} ${t('people')}`, true);
      } catch (e) { showMsg(msg, e.message); }
    });
    return el('li', { class: 'card' },
      el('span', { class: 'grow' }, `${b.employer_name} `, el('span', { class: 'muted' }, `${b.hall_position} · ${b.industry} · ${b.job_posts}`)),
      el('span', { class: 'actions' },
        el('button', { class: 'small', 'data-booth': b.id, onclick: () => loadSlots(b) }, t('slots')), queue));
  }));
  if (!res.booths.length) $('booths').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

async function loadSlots(b) {
  try {
    const res = await api('GET', `/booths/${b.id}/slots?date=${fair.day}`);
    showSlots(b.employer_name, res.slots);
  } catch (e) { showMsg(msg, e.message); }
}

function showSlots(name, slots, jobID) {
  $('slotbox').hidden = false; $('boothname').textContent = name;
  $('slots').replaceChildren(...slots.map((s) => {
    const b = el('button', { class: 'secondary', 'data-slot': s.id }, `${fmtTime(s.start)} · ${t('lane')}${s.lane}`);
    b.onclick = guard(b, () => book(s, jobID));
    return b;
  }));
  if (!slots.length) $('slots').replaceChildren(el('span', { class: 'muted' }, t('none')));
  $('slotbox').scrollIntoView({ block: 'nearest' });
}

// book: one Idempotency-Key per slot, so a double click or a retry after a
// lost answer can never make a second booking.
async function book(s, jobID) {
  if (new Date(s.start) < new Date()) { showMsg(msg, t('errPast')); return; }
  try {
    const body = { slot_id: s.id };
    if (jobID) body.job_post_id = jobID;
    const b = await api('POST', '/bookings', body, { key: keyFor('book' + s.id) });
    showMsg(msg, `${t('booked')}: ${b.employer_name} ${fmtTime(b.start)}`, true);
    $('slotbox').hidden = true;
    location.hash = '#interviews';
  } catch (e) {
    keys.delete('book' + s.id); // a refused booking may be tried again later
    showMsg(msg, e.message);
    const alts = (e.body && e.body.details && e.body.details.alternatives) || [];
    if (alts.length) msg.append(el('div', { class: 'slots' }, ...alts.map((a) => {
      const b = el('button', { class: 'secondary', 'data-alt': a.slot_id || a.id }, fmtTime(a.start));
      b.onclick = guard(b, () => book({ ...a, id: a.slot_id || a.id }, jobID));
      return b;
    })));
  }
}

// --- interviews: invitations, bookings, join, reschedule, cancel ---
const statusKey = { held: 'statusHeld', booked: 'statusBooked', cancelled: 'statusCancelled', expired: 'statusExpired' };
async function loadBookings() {
  const res = await api('GET', '/me/bookings');
  const now = Date.now();
  const list = res.bookings.filter((b) => b.status === 'held' || b.status === 'booked' || new Date(b.end) > now - 86400e3);
  $('bookings').replaceChildren(...list.map((b) => {
    const over = new Date(b.end) < now;
    const acts = el('span', { class: 'actions' });
    if (b.status === 'held' && !over) {
      const ok = el('button', { class: 'small', 'data-confirm': b.id }, t('accept'));
      ok.onclick = guard(ok, async () => { try { await api('POST', `/bookings/${b.id}/confirm`, undefined, { key: keyFor('confirm' + b.id) }); await loadBookings(); } catch (e) { showMsg(msg, e.message); } });
      acts.append(ok, cancelButton(b, t('decline')));
    }
    if (b.status === 'booked' && b.join_url) acts.append(el('a', { class: 'btn small', href: local(b.join_url), 'data-join': b.id }, t('join')));
    if (b.status === 'booked' && !over) {
      acts.append(el('button', { class: 'small secondary', 'data-resched': b.id, onclick: () => pickReschedule(b) }, t('reschedule')), cancelButton(b, t('cancel')));
    }
    return el('li', { class: 'card', 'data-booking': b.id },
      el('span', { class: 'grow' }, `${fmtDateTime(b.start)}–${fmtTime(b.end)} ${b.employer_name} · ${t('lane')}${b.lane} `,
        el('span', { class: 'chip' + (b.status === 'booked' ? ' ok' : '') }, over && b.status === 'booked' ? t('past') : t(statusKey[b.status] || 'status'))),
      acts);
  }));
  if (!list.length) $('bookings').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

// cancelButton asks once more in place (no blocking dialog).
function cancelButton(b, label) {
  const c = el('button', { class: 'small danger', 'data-cancel': b.id }, label);
  let armed = 0;
  c.onclick = guard(c, async () => {
    if (Date.now() - armed > 5000) { armed = Date.now(); c.textContent = t('cancelConfirm'); return; }
    try {
      await api('POST', `/bookings/${b.id}/cancel`, { reason: '' }, { key: keyFor('cancel' + b.id) });
      showMsg(msg, t('cancelled'), true); await loadBookings();
    } catch (e) { showMsg(msg, e.message); }
  });
  return c;
}

async function pickReschedule(b) {
  try {
    const day = new Date(b.start).toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' });
    const res = await api('GET', `/booths/${b.booth_id}/slots?date=${day}`);
    $('reschedbox').hidden = false;
    $('reslots').replaceChildren(...res.slots.filter((s) => new Date(s.start) > Date.now()).map((s) => {
      const x = el('button', { class: 'secondary', 'data-reslot': s.id }, `${fmtTime(s.start)} · ${t('lane')}${s.lane}`);
      x.onclick = guard(x, async () => {
        try {
          await api('POST', `/bookings/${b.id}/reschedule`, { slot_id: s.id }, { key: keyFor(`resched${b.id}-${s.id}`) });
          $('reschedbox').hidden = true; showMsg(msg, t('rescheduled'), true); await loadBookings();
        } catch (e) { showMsg(msg, e.message); }
      });
      return x;
    }));
    if (!$('reslots').children.length) $('reslots').replaceChildren(el('span', { class: 'muted' }, t('none')));
    $('reschedbox').scrollIntoView({ block: 'nearest' });
  } catch (e) { showMsg(msg, e.message); }
}

// --- training and live classes ---
async function loadCourses() {
  const res = await api('GET', '/courses');
  $('courses').replaceChildren(...res.courses.map((c) => el('li', { class: 'card', 'data-course': c.id },
    el('div', { class: 'grow' },
      el('h3', {}, c.title, ' ', el('span', { class: 'chip' }, t('kind_' + c.kind))),
      c.description ? el('p', { class: 'muted' }, c.description) : '',
      el('ul', { class: 'list' }, ...(c.sessions || []).map((s) => {
        const seat = el('button', { class: 'small secondary', 'data-seat': s.id }, t('takeSeat'));
        seat.onclick = guard(seat, async () => {
          try { await api('POST', `/group-sessions/${s.id}/seats`, undefined, { key: keyFor('seat' + s.id) }); seat.textContent = t('seatTaken'); }
          catch (e) { if (e.status === 409 && /已报名|already/.test(e.message)) seat.textContent = t('seatTaken'); else showMsg(msg, e.message); }
        });
        const watch = el('button', { class: 'small', 'data-watch': s.id }, t('watchLive'));
        watch.onclick = guard(watch, async () => {
          try { const j = await api('GET', `/group-sessions/${s.id}/join`); location.href = local(j.join_url); } catch (e) { showMsg(msg, e.message); }
        });
        return el('li', {}, el('span', {}, `${fmtDateTime(s.start)}–${fmtTime(s.end)} · ${t('seatsLeft')} ${s.capacity - s.seats_taken}`), el('span', { class: 'actions' }, seat, watch));
      }))))));
  if (!res.courses.length) $('courses').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

// --- services: consultations and policies ---
async function loadConsults() {
  const [mine, free] = await Promise.all([api('GET', '/me/consultations'), api('GET', '/consultations')]);
  $('myconsults').replaceChildren(...mine.consultations.map((c) => el('li', { class: 'card' },
    el('span', {}, `${fmtDateTime(c.start)} ${c.topic} · ${c.adviser}`),
    c.join_url ? el('a', { class: 'btn small', href: local(c.join_url) }, t('joinConsult')) : '')));
  if (!mine.consultations.length) $('myconsults').replaceChildren(el('li', { class: 'muted' }, t('none')));
  const open = free.consultations.filter((c) => !c.booked);
  $('consults').replaceChildren(...open.map((c) => {
    const b = el('button', { class: 'small', 'data-consult': c.id }, t('consultBook'));
    b.onclick = guard(b, async () => {
      const question = $('question').value.trim();
      if (!fieldError($('question'), question ? '' : t('errRequired'))) return;
      try {
        await api('POST', `/consultations/${c.id}/book`, { question, recording_consent: $('consent').checked }, { key: keyFor('consult' + c.id) });
        showMsg(msg, t('consultBooked'), true); await loadConsults();
      } catch (e) { showMsg(msg, e.message); }
    });
    return el('li', { class: 'card' }, el('span', {}, `${fmtDateTime(c.start)} ${c.topic} · ${c.adviser}`), b);
  }));
  if (!open.length) $('consults').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

async function loadPolicies() {
  const res = await api('GET', '/me/policies').catch(() => api('GET', '/policies'));
  $('policies').replaceChildren(...res.policies.map((p) => el('li', { class: 'card' },
    el('details', { class: 'grow' }, el('summary', {}, p.title, ' ', ...p.categories.map((c) => el('span', { class: 'chip' }, t('cat_' + c)))),
      el('p', {}, p.body), el('p', { class: 'muted' }, fmtDateTime(p.published_at))))));
  if (!res.policies.length) $('policies').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

// --- me: entry pass, profile, log ---
async function loadPass() {
  if (!fair) return;
  const res = await api('GET', '/me/fair-registrations');
  const reg = res.registrations.find((r) => r.fair_id === fair.id);
  if (reg) showPass(reg.qr_code, reg.checked_in_at, reg.id);
  $('getpass').onclick = guard($('getpass'), async () => {
    try { const r = await api('POST', `/fairs/${fair.id}/registrations`, undefined, { key: keyFor('pass' + fair.id) }); showPass(r.qr_code, null, r.id); } catch (e) { showMsg(msg, e.message); }
  });
}
function showPass(code, checkedIn, id) {
  // The image is what the entrance scanner reads; the text is the fallback.
  const img = id ? el('img', { src: `/api/v1/me/fair-registrations/${id}/qr.png`, alt: code, width: 200, height: 200, class: 'qr' }) : '';
  $('pass').replaceChildren(img, el('div', { class: 'pass', 'data-pass': code }, code),
    el('p', { class: 'muted' }, checkedIn ? `${t('checkedIn')} ${fmtDateTime(checkedIn)}` : t('passHint')));
}

const EDU = ['', 'primary', 'junior', 'senior', 'college', 'bachelor', 'master'];
async function loadProfile() {
  profile = await api('GET', '/me/profile');
  const p = profile;
  $('pf-edu').replaceChildren(...EDU.map((v) => el('option', { value: v, selected: (p.education || '') === v }, t('edu_' + (v || 'none')))));
  if (p.education && !EDU.includes(p.education)) $('pf-edu').append(el('option', { value: p.education, selected: true }, p.education));
  $('pf-name').value = p.name || ''; $('pf-county').value = p.county || '';
  $('pf-skills').value = (p.skills || []).join(lang === 'en' ? ', ' : '，');
  $('pf-exp').value = p.experience_years ?? ''; $('pf-salary').value = p.desired_salary ?? '';
  $('pf-job').value = p.desired_job || ''; $('pf-avail').value = p.availability || '';
  $('pf-consent').checked = !!p.consent_profile_visible; $('pf-rec').checked = !!p.consent_recording;
}
$('profile').onsubmit = guard($('pf-save'), async () => {
  const name = $('pf-name').value.trim();
  if (!fieldError($('pf-name'), name ? '' : t('errRequired'))) return;
  const exp = $('pf-exp').value.trim(); const sal = $('pf-salary').value.trim();
  if (!fieldError($('pf-exp'), exp === '' || (/^\d+$/.test(exp) && +exp <= 60) ? '' : t('errNumber'))) return;
  if (!fieldError($('pf-salary'), sal === '' || (/^\d+$/.test(sal) && +sal <= 1000000) ? '' : t('errNumber'))) return;
  const body = {
    name, county: $('pf-county').value.trim(), education: $('pf-edu').value,
    skills: $('pf-skills').value.split(/[,，、;；\s]+/).map((s) => s.trim()).filter(Boolean),
    desired_job: $('pf-job').value.trim(), availability: $('pf-avail').value.trim(),
    consent_profile_visible: $('pf-consent').checked, consent_recording: $('pf-rec').checked,
  };
  if (exp !== '') body.experience_years = +exp;
  if (sal !== '') body.desired_salary = +sal;
  try { profile = await api('PUT', '/me/profile', body); showMsg(msg, t('saved'), true); $('me').textContent = name; } catch (e) { showMsg(msg, e.message); }
});

async function loadLog() {
  const res = await api('GET', '/me/log');
  $('log').replaceChildren(...res.entries.map((e) => {
    let extra = '';
    try { const d = typeof e.data === 'string' ? JSON.parse(e.data) : e.data; if (d && d.outcome) extra = ' · ' + t('outcome_' + d.outcome); } catch { /* no data */ }
    return el('li', { class: 'card', 'data-log': e.kind }, el('span', {}, t('log_' + e.kind) + extra), el('span', { class: 'muted' }, fmtDateTime(e.at)));
  }));
  if (!res.entries.length) $('log').replaceChildren(el('li', { class: 'muted' }, t('none')));
}

start();
