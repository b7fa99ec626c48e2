// Small JSON client for /api/v1: errors carry the server's message (in the
// page's language), mutations can carry an Idempotency-Key.
import { t, errText } from '/static/i18n.js';

export async function api(method, path, body, opts = {}) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
  if (opts.key) opt.headers['Idempotency-Key'] = opts.key;
  let r;
  try { r = await fetch('/api/v1' + path, opt); } catch { const e = new Error(t('errNetwork')); e.status = 0; throw e; }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!r.ok) {
    const e = new Error(errText(r.status, data && data.message));
    e.status = r.status; e.body = data; throw e;
  }
  return data;
}

// newKey makes an Idempotency-Key: one per user intent, so a double click
// or a retry after a lost answer replays the first result.
export function newKey() {
  return (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random().toString(16).slice(2);
}

export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}

export function showMsg(box, text, ok) {
  box.replaceChildren(el('div', { class: 'msg ' + (ok ? 'ok' : 'err'), role: ok ? 'status' : 'alert' }, text));
  if (!ok && box.scrollIntoView) box.scrollIntoView({ block: 'nearest' });
}

// fieldError marks an input invalid with a message next to it; '' clears.
export function fieldError(input, text) {
  const id = input.id + '-err';
  let m = document.getElementById(id);
  if (!text) { input.removeAttribute('aria-invalid'); if (m) m.remove(); return true; }
  if (!m) { m = el('div', { id, class: 'field-err', role: 'alert' }); input.after(m); }
  m.textContent = text;
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', id);
  input.focus();
  return false;
}

// guard runs fn once at a time per button: a double click does nothing.
export function guard(button, fn) {
  return async (ev) => {
    if (ev) ev.preventDefault();
    if (button.dataset.busy) return;
    button.dataset.busy = '1'; button.disabled = true; button.setAttribute('aria-busy', 'true');
    try { await fn(ev); } finally { delete button.dataset.busy; button.disabled = false; button.removeAttribute('aria-busy'); }
  };
}

export const phoneOK = (s) => /^1[3-9][0-9]{9}$/.test(s);
export const codeOK = (s) => /^[0-9]{6}$/.test(s);
