// The officer's live dashboard of a fair and its management: counters
// (refreshed every 5 s), interviews per hour and the booth load heatmap as
// inline SVG, alerts pushed over server-sent events with acknowledge, and
// the forms to create a fair, register and verify employers, review
// registrations, assign booths, open and close booking and check seekers in
// by their QR code.
import { applyI18n, t, lang, fmtTime, fmtDateTime } from '/static/i18n.js';
import { api, el, showMsg, fieldError, guard, newKey } from '/static/api.js';
import { passwordSignin } from '/static/signin.js';

applyI18n();
const $ = (id) => document.getElementById(id);
const msg = $('msg');
const page = (window.jhPage = { ready: false, stats: {}, alerts: 0, sse: '' });
const FAIR = 'jh.officer.fair';
let fairID = 0;
let fairInfo = null;
let bookings = new Map();
let after = 0;
let boothNames = new Map();
const NS = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs = {}, ...kids) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); for (const k of kids) e.append(k); return e; };
const hourOf = (iso) => +new Date(iso).toLocaleString('en-GB', { hour: '2-digit', hour12: false, timeZone: (fairInfo && fairInfo.time_zone) || 'Asia/Shanghai' });

async function start() {
  let me;
  try {
    me = await api('GET', '/session');
    if (!['officer', 'admin'].includes(me.role)) throw new Error('not an officer');
  } catch {
    $('signin').hidden = false; passwordSignin(['officer', 'admin'], msg); page.ready = true; return;
  }
  $('app').hidden = false; $('me').textContent = me.name;
  $('signout').onclick = async () => { await api('DELETE', '/session').catch(() => {}); location.reload(); };
  $('f-mode').replaceChildren(...['both', 'onsite', 'online'].map((m) => el('option', { value: m }, t('mode_' + m))));
  const q = new URLSearchParams(location.search).get('fair');
  let id = +(q || (() => { try { return localStorage.getItem(FAIR); } catch { return 0; } })() || 0);
  const cur = await api('GET', '/fairs/current').catch(() => null);
  if (!id && cur) id = cur.id;
  if (cur && cur.id === id) fairInfo = cur;
  if ('BarcodeDetector' in window) $('ck-cam').hidden = false;
  alertsStream();
  if (id) await openFair(id);
  setInterval(refresh, 5000);
  page.ready = true;
}

async function openFair(id) {
  fairID = id; $('fairid').value = id;
  try { localStorage.setItem(FAIR, String(id)); } catch { /* private mode */ }
  bookings = new Map(); after = 0; boothNames = new Map();
  $('report').href = `/api/v1/fairs/${id}/report.html`;
  await loadBooths();
  await Promise.all([refresh(), loadRegs(), loadAlerts()]);
  showWindow();
}

$('fairpick').onsubmit = guard($('fairgo'), async () => {
  const id = +$('fairid').value.trim();
  if (!fieldError($('fairid'), Number.isInteger(id) && id > 0 ? '' : t('errNumber'))) return;
  fairInfo = null;
  await openFair(id);
});

async function loadBooths() {
  for (let off = 0; off < 1000; off += 100) {
    const r = await api('GET', `/fairs/${fairID}/booths?limit=100&offset=${off}`).catch(() => null);
    if (!r) return;
    for (const b of r.booths) boothNames.set(b.id, { name: `${b.hall_position} ${b.employer_name}`, lanes: b.lanes });
    if (r.booths.length < 100) return;
  }
}

async function loadBookings() {
  for (let i = 0; i < 20; i++) {
    const r = await api('GET', `/fairs/${fairID}/bookings?limit=500&after=${after}`);
    for (const b of r.bookings) bookings.set(b.id, b);
    if (r.bookings.length) after = r.bookings[r.bookings.length - 1].id;
    if (!r.next_after) break;
  }
}

let refreshing = false;
let lastFull = 0;
async function refresh() {
  if (!fairID || refreshing) return;
  refreshing = true;
  try {
    if (Date.now() - lastFull > 30000) { bookings = new Map(); after = 0; lastFull = Date.now(); } // statuses change too
    const [st] = await Promise.all([api('GET', `/fairs/${fairID}/stats`), loadBookings()]);
    showStats(st);
  } catch (e) { showMsg(msg, e.message); } finally { refreshing = false; }
}

function showStats(st) {
  $('fairname').textContent = `${st.name} · ${st.day}`;
  $('asof').textContent = fmtTime(st.as_of);
  const now = Date.now();
  const live = [...bookings.values()].filter((b) => b.status === 'booked');
  const running = live.filter((b) => new Date(b.start) <= now && now < new Date(b.end)).length;
  const vals = {
    employers_present: st.totals.employers_present, posts: st.totals.posts, attendees: st.totals.attendees,
    running, interviews: st.totals.interviews, hire_intents: st.totals.hire_intents, bookings: st.bookings, no_shows: st.no_shows,
  };
  page.stats = vals;
  const labels = { employers_present: 'employersPresent', posts: 'posts', attendees: 'attendees', running: 'interviewsRunning',
    interviews: 'interviewsDone', hire_intents: 'hireIntents', bookings: 'bookingsCount', no_shows: 'noShows' };
  $('stats').replaceChildren(...Object.entries(vals).map(([k, v]) => el('div', { class: 'stat', 'data-stat': k }, el('b', {}, String(v)), el('span', { class: 'muted' }, t(labels[k])))));
  $('counties').replaceChildren(
    el('thead', {}, el('tr', {}, el('th', {}, t('county')), ...['employersPresent', 'posts', 'attendees', 'interviewsDone', 'hireIntents'].map((k) => el('th', { class: 'n' }, t(k))))),
    el('tbody', {}, ...[...st.by_county, { ...st.totals, key: t('total') }].map((r) => el('tr', {}, el('td', {}, r.key || '—'),
      ...[r.employers_present, r.posts, r.attendees, r.interviews, r.hire_intents].map((n) => el('td', { class: 'n' }, String(n)))))));
  perHour(live);
  heatmap(live);
}

// perHour: a bar per hour of the fair day, booked interviews by start.
function perHour(list) {
  const counts = new Map();
  for (const b of list) { const h = hourOf(b.start); counts.set(h, (counts.get(h) || 0) + 1); }
  const hours = counts.size ? [...counts.keys()] : [9];
  const lo = Math.min(8, ...hours); const hi = Math.max(17, ...hours);
  const max = Math.max(1, ...counts.values());
  const W = 36; const H = 140; const n = hi - lo + 1;
  const nowH = hourOf(new Date().toISOString());
  const s = svg('svg', { viewBox: `0 0 ${n * W + 10} ${H + 40}`, width: n * W + 10, height: H + 40, role: 'img', 'aria-label': t('perHour') });
  for (let h = lo; h <= hi; h++) {
    const c = counts.get(h) || 0; const bh = Math.round((c / max) * H); const x = (h - lo) * W + 5;
    s.append(svg('rect', { x: x + 4, y: H - bh + 14, width: W - 8, height: bh, fill: h === nowH ? '#f9a825' : '#0a5cc2', 'data-hour': h }, svg('title', {}, `${h}:00 · ${c}`)));
    s.append(svg('text', { x: x + W / 2, y: H + 30, 'text-anchor': 'middle', 'font-size': 11, fill: '#525b66' }, String(h)));
    if (c) s.append(svg('text', { x: x + W / 2, y: H - bh + 10, 'text-anchor': 'middle', 'font-size': 11, fill: '#1b1f23' }, String(c)));
  }
  $('perhour').replaceChildren(s);
}

// heatmap: the busiest booths (rows) by hour (columns), shaded by bookings
// per lane in that hour.
function heatmap(list) {
  const per = new Map();
  for (const b of list) {
    const row = per.get(b.booth_id) || new Map();
    const h = hourOf(b.start); row.set(h, (row.get(h) || 0) + 1); per.set(b.booth_id, row);
  }
  const rows = [...per.entries()].sort((a, b) => [...b[1].values()].reduce((x, y) => x + y, 0) - [...a[1].values()].reduce((x, y) => x + y, 0)).slice(0, 15);
  if (!rows.length) { $('heat').replaceChildren(el('p', { class: 'muted' }, t('none'))); return; }
  const lo = 8; const hi = 18; const C = 30; const R = 20; const L = 170;
  const s = svg('svg', { viewBox: `0 0 ${L + (hi - lo + 1) * C} ${rows.length * R + 24}`, width: L + (hi - lo + 1) * C, height: rows.length * R + 24, role: 'img', 'aria-label': t('heatmap') });
  rows.forEach(([booth, hours], i) => {
    const info = boothNames.get(booth) || { name: String(booth), lanes: 1 };
    s.append(svg('text', { x: 4, y: i * R + 15, 'font-size': 11, fill: '#1b1f23' }, info.name.slice(0, 14)));
    for (let h = lo; h <= hi; h++) {
      const c = hours.get(h) || 0; const load = Math.min(1, c / (2 * Math.max(1, info.lanes))); // two 30-min slots per lane per hour
      s.append(svg('rect', { x: L + (h - lo) * C, y: i * R + 2, width: C - 2, height: R - 2, rx: 3, fill: c ? `rgba(179,38,30,${0.15 + 0.85 * load})` : '#eef1f4' }, svg('title', {}, `${info.name} ${h}:00 · ${c}`)));
    }
  });
  for (let h = lo; h <= hi; h++) s.append(svg('text', { x: L + (h - lo) * C + C / 2, y: rows.length * R + 18, 'text-anchor': 'middle', 'font-size': 10, fill: '#525b66' }, String(h)));
  $('heat').replaceChildren(s);
}

// --- alerts: the list, live over SSE, acknowledge ---
async function loadAlerts() {
  try {
    const r = await api('GET', '/alerts');
    const list = (r.alerts || []).filter((a) => !a.fair_id || a.fair_id === fairID);
    page.alerts = list.length;
    $('alertcount').textContent = list.length;
    $('alerts').replaceChildren(...list.map((a) => {
      const b = el('button', { class: 'small secondary', 'data-ack': a.id, disabled: !!a.acked_at }, t(a.acked_at ? 'acked' : 'ack'));
      b.onclick = guard(b, async () => { try { await api('POST', `/alerts/${a.id}/ack`, undefined, { key: 'ack-' + a.id }); await loadAlerts(); } catch (e) { showMsg(msg, e.message); } });
      return el('li', { class: 'card', 'data-alert': a.rule }, el('span', { class: 'grow' }, el('span', { class: 'chip bad' }, a.rule), ' ', a.message, ' ', el('span', { class: 'muted' }, fmtDateTime(a.raised_at))), b);
    }));
    if (!list.length) $('alerts').replaceChildren(el('li', { class: 'muted' }, t('noAlerts')));
  } catch (e) { showMsg(msg, e.message); }
}
function alertsStream() {
  const es = new EventSource('/api/v1/alerts/stream');
  let timer = null;
  const again = () => { clearTimeout(timer); timer = setTimeout(loadAlerts, 200); };
  for (const type of ['open', 'raised', 'cleared', 'acked']) es.addEventListener(type, (ev) => { page.sse = type; again(); });
  es.onopen = () => { page.sse = page.sse || 'connected'; };
}

// --- management ---
async function loadRegs() {
  try {
    const r = await api('GET', `/fairs/${fairID}/employer-registrations`);
    const pending = r.registrations.filter((g) => g.status === 'pending');
    $('regs').replaceChildren(...pending.map((g) => {
      const pos = el('input', { id: 'pos-' + g.id, maxlength: 20, placeholder: t('hallPosition'), 'aria-label': t('hallPosition') });
      const ok = el('button', { class: 'small', 'data-approve': g.id }, t('approve'));
      const no = el('button', { class: 'small danger', 'data-reject': g.id }, t('rejectReg'));
      const review = (decision) => async () => {
        if (decision === 'approve' && !fieldError(pos, pos.value.trim() ? '' : t('errRequired'))) return;
        try {
          await api('POST', `/employer-registrations/${g.id}/review`, { decision, note: '', hall_position: pos.value.trim(), lanes: g.lanes || 1 }, { key: newKey() });
          await loadRegs(); await loadBooths();
        } catch (e) { showMsg(msg, e.message); }
      };
      ok.onclick = guard(ok, review('approve')); no.onclick = guard(no, review('reject'));
      return el('li', { class: 'card' }, el('span', { class: 'grow' }, g.employer_name, ' ', el('span', { class: 'chip' + (g.verified ? ' ok' : ' warn') }, `${t('lanes')} ${g.lanes}`)), pos, ok, no);
    }));
    if (!pending.length) $('regs').replaceChildren(el('li', { class: 'muted' }, t('none')));
  } catch (e) { showMsg(msg, e.message); }
}

function showWindow(w) {
  const info = w || fairInfo;
  if (!info) { $('bw-state').textContent = ''; return; }
  const opens = new Date(info.booking_opens); const closes = new Date(info.booking_closes); const now = new Date();
  const open = opens <= now && now < closes;
  $('bw-state').textContent = `${t(open ? 'bookingIsOpen' : 'bookingIsClosed')} · ${fmtDateTime(opens)} – ${fmtDateTime(closes)}`;
  $('bw-state').dataset.open = String(open);
}
async function setWindow(open) {
  const now = Date.now();
  const opens = new Date(open ? now - 60e3 : Math.min(now - 120e3, fairInfo ? +new Date(fairInfo.booking_opens) : now - 120e3));
  const closes = new Date(open ? Math.max(now + 3600e3, fairInfo ? +new Date(fairInfo.booking_closes) : 0) : now);
  try {
    const r = await api('PUT', `/fairs/${fairID}/booking-window`, { opens: opens.toISOString(), closes: closes.toISOString() }, { key: newKey() });
    fairInfo = { ...(fairInfo || {}), booking_opens: r.booking_opens, booking_closes: r.booking_closes };
    showWindow();
  } catch (e) { showMsg(msg, e.message); }
}
$('bw-open').onclick = guard($('bw-open'), () => setWindow(true));
$('bw-close').onclick = guard($('bw-close'), () => setWindow(false));

$('checkinform').onsubmit = guard($('ck-btn'), async () => {
  const qr = $('ck-qr').value.trim();
  if (!fieldError($('ck-qr'), /^JH1-/.test(qr) ? '' : t('errRequired'))) return;
  try {
    const r = await api('POST', `/fairs/${fairID}/checkin`, { qr_code: qr }, { key: newKey() });
    showMsg(msg, `${t('checkedIn')}: ${r.name}`, true); $('ck-qr').value = ''; refresh();
  } catch (e) { showMsg(msg, e.message); }
});
// Optional camera scanning where the browser has a barcode detector.
$('ck-cam').onclick = async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    const v = $('ck-video'); v.hidden = false; v.srcObject = stream; await v.play();
    const det = new window.BarcodeDetector({ formats: ['qr_code'] });
    const scan = async () => {
      const codes = await det.detect(v).catch(() => []);
      if (codes.length) { stream.getTracks().forEach((tr) => tr.stop()); v.hidden = true; $('ck-qr').value = codes[0].rawValue; $('ck-btn').click(); return; }
      requestAnimationFrame(scan);
    };
    scan();
  } catch (e) { showMsg(msg, e.message); }
};

$('boothform').onsubmit = guard($('b-go'), async () => {
  const emp = +$('b-emp').value.trim(); const pos = $('b-pos').value.trim(); const lanes = +$('b-lanes').value;
  if (!fieldError($('b-emp'), Number.isInteger(emp) && emp > 0 ? '' : t('errNumber'))) return;
  if (!fieldError($('b-pos'), pos ? '' : t('errRequired'))) return;
  if (!fieldError($('b-lanes'), Number.isInteger(lanes) && lanes >= 1 && lanes <= 20 ? '' : t('errNumber'))) return;
  try { await api('POST', `/fairs/${fairID}/booths`, { employer_id: emp, hall_position: pos, lanes }, { key: newKey() }); showMsg(msg, t('done'), true); await loadBooths(); } catch (e) { showMsg(msg, e.message); }
});

$('empform').onsubmit = guard($('e-go'), async () => {
  const name = $('e-name').value.trim();
  if (!fieldError($('e-name'), name ? '' : t('errRequired'))) return;
  try {
    const e = await api('POST', '/employers', { name, industry: $('e-ind').value.trim(), county: $('e-county').value.trim() }, { key: newKey() });
    await api('POST', `/employers/${e.id}/verify`, undefined, { key: newKey() });
    $('b-emp').value = e.id; showMsg(msg, `${t('employerId')} ${e.id} · ${t('verify')} ✓`, true);
  } catch (e) { showMsg(msg, e.message); }
});

$('fairform').onsubmit = guard($('f-go'), async () => {
  const name = $('f-name').value.trim(); const venue = $('f-venue').value.trim(); const day = $('f-day').value;
  const opens = $('f-opens').value; const closes = $('f-closes').value;
  if (!fieldError($('f-name'), name ? '' : t('errRequired'))) return;
  if (!fieldError($('f-venue'), venue ? '' : t('errRequired'))) return;
  if (!fieldError($('f-day'), day ? '' : t('errRequired'))) return;
  const today = new Date().toLocaleDateString('sv-SE');
  if (!fieldError($('f-day'), day >= today ? '' : t('errPast'))) return;
  if (!fieldError($('f-opens'), opens ? '' : t('errRequired'))) return;
  if (!fieldError($('f-closes'), closes ? '' : t('errRequired'))) return;
  if (!fieldError($('f-closes'), new Date(closes) > new Date(opens) ? '' : t('errOrder'))) return;
  if (!fieldError($('f-closes'), new Date(closes) > new Date() ? '' : t('errPast'))) return;
  try {
    const f = await api('POST', '/fairs', { name, venue, day, mode: $('f-mode').value, time_zone: 'Asia/Shanghai',
      booking_opens: new Date(opens).toISOString(), booking_closes: new Date(closes).toISOString() }, { key: newKey() });
    fairInfo = f; showMsg(msg, `${t('created')}: ${f.name} (#${f.id})`, true); await openFair(f.id);
  } catch (e) { showMsg(msg, e.message); }
});

let closeArmed = 0;
$('closefair').onclick = guard($('closefair'), async () => {
  if (Date.now() - closeArmed > 5000) { closeArmed = Date.now(); $('closefair').textContent = t('endConfirm'); return; }
  try { await api('POST', `/fairs/${fairID}/close`, undefined, { key: 'close-' + fairID }); showMsg(msg, t('done'), true); refresh(); } catch (e) { showMsg(msg, e.message); }
});

void lang;
start();
