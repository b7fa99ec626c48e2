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
    lobby: '等候中，您前面排第', lobbyWaiting: '等候进入的求职者', admit: '请进', reject: '婉拒', away: '网络中断',
    reconnecting: '网络不稳定，正在重连…', ended: '本场面试已结束', rejected: '主持人暂时无法接待您', removed: '您已被移出房间',
    closed: '连接已断开', mutedYou: '已将您静音', timeWarning: '面试即将结束，剩余', endsAt: '结束时间',
    watch: '观看直播',
    selftest: '网络自检', selftestIntro: '检查您的网络能否进行视频面试，大约需要半分钟。', selftestAgain: '重新检测',
    checkDirect: '直连（UDP）', checkTurnUDP: '经中继（UDP）', checkTurnTCP: '经中继（TCP，适用于限制较多的网络）',
    checking: '检测中…', works: '可用', blocked: '不可用', notOffered: '本服务器未提供',
    verdictDirect: '您的网络可以直接进行视频面试。', verdictRelay: '您的网络可以通过中继进行视频面试，画面可能稍有延迟。',
    verdictNone: '您的网络无法建立视频连接。请换一个网络（例如手机流量）后重试，或联系现场工作人员。',
    micOff: '关闭麦克风', micOn: '打开麦克风', camOff: '关闭摄像头', camOn: '打开摄像头', chatPlaceholder: '输入消息，回车发送',
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
    lobby: 'Waiting; your place in line:', lobbyWaiting: 'Waiting to come in', admit: 'Admit', reject: 'Decline', away: 'away',
    reconnecting: 'Weak network, reconnecting…', ended: 'The interview has ended', rejected: 'The host cannot see you now', removed: 'You were removed from the room',
    closed: 'Disconnected', mutedYou: 'muted you', timeWarning: 'The interview ends soon; seconds left:', endsAt: 'Ends at',
    watch: 'Watch live',
    selftest: 'Connection check', selftestIntro: 'Checks whether your network can carry a video interview; it takes about half a minute.', selftestAgain: 'Check again',
    checkDirect: 'Direct (UDP)', checkTurnUDP: 'Through the relay (UDP)', checkTurnTCP: 'Through the relay (TCP, for strict networks)',
    checking: 'checking…', works: 'works', blocked: 'blocked', notOffered: 'not offered by this server',
    verdictDirect: 'Your network can carry a video interview directly.', verdictRelay: 'Your network can carry a video interview through the relay; video may lag a little.',
    verdictNone: 'Your network cannot carry video. Try another network (for example mobile data) or ask the staff at the hall.',
    micOff: 'Mute microphone', micOn: 'Unmute microphone', camOff: 'Turn camera off', camOn: 'Turn camera on', chatPlaceholder: 'Type a message, Enter to send',
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
