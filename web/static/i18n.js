// One translation table per language; Simplified Chinese first.
const T = {
  zh: {
    app: '职聚厅 jobhall', seeker: '我是求职者', employer: '我是招聘单位', switchLang: 'English',
    intro: '线上线下同步招聘会：预约面试、视频面试、就业档案。',
    signin: '选择身份登录（演示）', fair: '招聘会', booths: '展位', search: '搜索单位', slots: '可预约时段',
    book: '预约', booked: '预约成功', join: '进入面试', myBookings: '我的面试', schedule: '今日面试安排',
    none: '暂无', lane: '面试席', loading: '加载中…', leave: '离开', room: '面试间', you: '我',
    recording: '● 录制中', waiting: '等待对方进入…', connecting: '连接中…', connected: '已连接', left: '已离开面试',
    camError: '无法打开摄像头或麦克风，仅观看对方。', wsError: '连接中断', log: '我的就业档案',
    back: '返回', signout: '退出',
  },
  en: {
    app: 'jobhall', seeker: "I'm looking for work", employer: "I'm an employer", switchLang: '中文',
    intro: 'On-site + remote job fairs: book interviews, interview by video, keep an employment log.',
    signin: 'Sign in as (demo)', fair: 'Job fair', booths: 'Booths', search: 'Search employers', slots: 'Free slots',
    book: 'Book', booked: 'Booked', join: 'Join interview', myBookings: 'My interviews', schedule: "Today's schedule",
    none: 'None yet', lane: 'Lane', loading: 'Loading…', leave: 'Leave', room: 'Interview room', you: 'You',
    recording: '● Recording', waiting: 'Waiting for the other party…', connecting: 'Connecting…', connected: 'Connected', left: 'You left the interview',
    camError: 'Camera or microphone unavailable: watching only.', wsError: 'Connection lost', log: 'My employment log',
    back: 'Back', signout: 'Sign out',
  },
};
export const lang = new URLSearchParams(location.search).get('lang') || localStorage.getItem('lang') || 'zh';
export function t(key) { return (T[lang] && T[lang][key]) || T.zh[key] || key; }
export function applyI18n(root = document) {
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  const sw = document.getElementById('lang');
  if (sw) sw.onclick = (e) => { e.preventDefault(); localStorage.setItem('lang', lang === 'en' ? 'zh' : 'en'); const u = new URL(location); u.searchParams.delete('lang'); location.href = u; };
}
export function fmtTime(iso) {
  return new Date(iso).toLocaleTimeString(lang === 'en' ? 'en-GB' : 'zh-CN', { hour: '2-digit', minute: '2-digit', timeZone: 'Asia/Shanghai' });
}
