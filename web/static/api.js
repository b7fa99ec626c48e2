// Small JSON client for /api/v1: errors carry the server's message.
export async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
  const r = await fetch('/api/v1' + path, opt);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!r.ok) { const e = new Error((data && data.message) || r.statusText); e.status = r.status; e.body = data; throw e; }
  return data;
}
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}
export function showMsg(box, text, ok) { box.replaceChildren(el('div', { class: 'msg ' + (ok ? 'ok' : 'err'), role: 'status' }, text)); }
