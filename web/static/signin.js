// Password sign-in for staff pages (employers, trainers, officers).
import { t } from '/static/i18n.js';
import { api, showMsg, fieldError, guard } from '/static/api.js';

// passwordSignin wires #loginform: roles are the roles this page serves.
export function passwordSignin(roles, msg) {
  const $ = (id) => document.getElementById(id);
  $('loginform').onsubmit = guard($('loginbtn'), async () => {
    const login = $('login').value.trim(); const password = $('password').value;
    if (!fieldError($('login'), login ? '' : t('errRequired'))) return;
    if (!fieldError($('password'), password ? '' : t('errRequired'))) return;
    try {
      const s = await api('POST', '/auth/login', { login, password });
      if (!roles.includes(s.role)) { await api('DELETE', '/session').catch(() => {}); showMsg(msg, t('errForbidden')); return; }
      location.reload();
    } catch (e) { showMsg(msg, e.message); }
  });
}
