// One translation table per language; Simplified Chinese first. Every
// string a page shows comes from here (cmd/jobhall's page test checks that
// both tables have the same keys and that no page shows a raw key).
const T = {
  zh: {
    app: '职聚厅 jobhall', seeker: '我是求职者', employer: '我是招聘单位', trainer: '我是培训师', officer: '我是工作人员', switchLang: 'English',
    intro: '线上线下同步招聘会：预约面试、视频面试、就业档案。',
    signin: '选择身份登录（演示）', fair: '招聘会', booths: '参会单位', search: '搜索职位或单位', slots: '可预约时段',
    book: '预约', booked: '预约成功', join: '进入面试', myBookings: '我的面试', schedule: '今日面试安排',
    none: '暂无', lane: '面试席', loading: '加载中…', leave: '离开', room: '面试间', you: '我',
    recording: '● 录制中', waiting: '等待对方进入…', connecting: '连接中…', connected: '已连接', left: '已离开面试',
    camError: '无法打开摄像头或麦克风，仅观看对方。', wsError: '连接中断', log: '我的就业档案',
    back: '返回', signout: '退出',
    lobby: '等候中，您前面排第', lobbyWaiting: '等候进入的求职者', admit: '请进', admitNext: '请下一位', reject: '婉拒', away: '网络中断',
    reconnecting: '网络不稳定，正在重连…', ended: '本场已结束', rejected: '主持人暂时无法接待您', removed: '您已被移出房间',
    closed: '连接已断开', mutedYou: '已将您静音', timeWarning: '面试即将结束，剩余', endsAt: '结束时间',
    watch: '观看直播',
    selftest: '网络自检', selftestIntro: '检查您的网络能否进行视频面试，大约需要半分钟。', selftestAgain: '重新检测',
    checkDirect: '直连（UDP）', checkTurnUDP: '经中继（UDP）', checkTurnTCP: '经中继（TCP，适用于限制较多的网络）',
    checking: '检测中…', works: '可用', blocked: '不可用', notOffered: '本服务器未提供',
    verdictDirect: '您的网络可以直接进行视频面试。', verdictRelay: '您的网络可以通过中继进行视频面试，画面可能稍有延迟。',
    verdictNone: '您的网络无法建立视频连接。请换一个网络（例如手机流量）后重试，或联系现场工作人员。',
    micOff: '关闭麦克风', micOn: '打开麦克风', camOff: '关闭摄像头', camOn: '打开摄像头', chatPlaceholder: '输入消息，回车发送',
    // sign-in
    phone: '手机号', phonePh: '11位手机号', sendCode: '获取验证码', code: '验证码', codePh: '6位数字', signinBtn: '登录',
    codeSent: '验证码已发送，5分钟内有效。', demoCodeHint: '演示服务器不发短信：验证码在服务器日志里。', resendIn: '秒后可重发',
    phoneSignin: '手机号登录', demoPick: '演示：直接选择一位求职者', orDemo: '或',
    login: '账号', password: '密码', passwordSignin: '账号密码登录', demoEmployer: '演示：选择一家单位',
    // validation
    errPhone: '请输入正确的11位手机号（以1开头）。', errCode: '验证码是6位数字。', errRequired: '请填写此项。',
    errPast: '时间已过，请选择以后的时间。', errOrder: '结束时间必须晚于开始时间。', errNumber: '请输入有效的数字。',
    errNetwork: '网络不通，请检查网络后重试。', errServer: '服务器暂时出错，请稍后再试。', errSignin: '请先登录。',
    errForbidden: '您没有权限这样做。', errConflict: '与已有安排冲突，请换一个时间。', errNotFound: '没有找到，可能已被删除。',
    errRate: '操作太频繁，请稍后再试。', errBusy: '正在处理，请勿重复点击。', errCapacity: '人数必须是1到10000。', errInvalid: '输入有误，请检查后重试。',
    // seeker tabs
    tabJobs: '职位', tabInterviews: '面试', tabLearn: '培训', tabServices: '服务', tabMe: '我的', mainNav: '主菜单',
    feed: '为您推荐', matchWhy: '推荐理由', apply: '申请', applied: '已申请', bookFor: '预约面试', salary: '月薪', yuan: '元',
    reasonCounty: '就在您所在的', reasonSkill: '技能匹配：', reasonSalary: '薪资达到您的期望', reasonJob: '符合您想做的工作', reasonNew: '新发布',
    queueOnsite: '现场排队', queueRemote: '远程排队', queued: '已排队，您前面还有', people: '人',
    invitations: '面试邀请', accept: '接受', decline: '拒绝', reschedule: '改约', cancel: '取消预约', cancelConfirm: '确定取消这场面试吗？',
    cancelled: '已取消', rescheduled: '已改约', pickNew: '选择新的时间', statusHeld: '待确认', statusBooked: '已预约',
    statusCancelled: '已取消', statusExpired: '已过期', statusInvited: '邀请', past: '已结束',
    courses: '培训课程', liveClasses: '直播课', takeSeat: '报名', seatTaken: '已报名', watchLive: '进入直播', seatsLeft: '剩余名额',
    kind_skills: '技能培训', kind_entrepreneurship: '创业培训', kind_labour_rights: '劳动权益',
    policies: '政策资讯', consultations: '预约咨询', consultBook: '预约', consultQuestion: '想咨询的问题', consultConsent: '同意录音（可不选）',
    consultBooked: '咨询已预约', myConsultations: '我的咨询', joinConsult: '进入咨询',
    cat_employment_subsidy: '就业补贴', cat_training_allowance: '培训补贴', cat_entrepreneurship: '创业扶持', cat_social_insurance: '社会保险',
    cat_poverty_alleviation: '帮扶政策', cat_other: '其他',
    profile: '个人资料与简历', name: '姓名', county: '所在区县', education: '学历', skills: '技能（用逗号分隔）', experience: '工作年限',
    desiredJob: '想做的工作', desiredSalary: '期望月薪（元）', availability: '何时能上岗', consentProfile: '允许招聘单位查看我的资料',
    consentRecording: '同意面试录像存入我的就业档案', save: '保存', saved: '已保存',
    edu_none: '未填写', edu_primary: '小学', edu_junior: '初中', edu_senior: '高中/中专', edu_college: '大专', edu_bachelor: '本科', edu_master: '硕士及以上',
    fairPass: '入场二维码', getPass: '领取入场码', passHint: '在入口出示此码签到。',
    log_booking_made: '预约面试', log_interview_started: '面试开始', log_interview_ended: '面试结束', log_recording_saved: '面试录像已存档',
    log_invited: '收到面试邀请', log_booking_rescheduled: '面试改约', log_booking_cancelled: '取消面试', log_outcome_recorded: '面试结果',
    log_no_show: '未到场', log_application_submitted: '投递简历', log_group_session_joined: '报名课程', log_queue_joined: '排队面试',
    log_fair_registered: '报名招聘会', log_fair_checked_in: '入场签到', log_handed_off: '转介到其他单位', log_walkin_outcome: '现场面试结果',
    log_training_certificate: '培训证书', log_followup: '帮扶回访', log_consultation_booked: '预约咨询', log_booth_checked_in: '展位扫码',
    log_interview_scheduled: '安排面试',
    outcome_hire_intent: '有录用意向', outcome_second_round: '进入复试', outcome_not_suitable: '不合适', outcome_no_show: '未到场',
    // pre-join and call
    prejoin: '进入前检查', prejoinIntro: '请确认能看到自己、说话时音量条在动。', camera: '摄像头', microphone: '麦克风', network: '网络',
    checkOK: '正常', checkBad: '不可用', speakNow: '请说句话试试', enterRoom: '进入面试', enterAudio: '只用语音进入', noWebRTC: '此浏览器不支持视频通话，请用手机自带浏览器、Chrome、Firefox 或 Safari 的新版本打开。',
    netGood: '网络良好', netFair: '网络一般', netPoor: '网络较差', netUnknown: '网络检测中', netPoorHint: '网络较差，建议切换为只用语音。',
    audioOnly: '只用语音', videoBack: '恢复视频', audioOnlyOn: '已切换为只用语音：不再发送和显示视频。',
    lobbyBig: '请稍候，面试官很快请您进入', yourTurn: '您前面还有', screenShare: '共享屏幕', stopShare: '停止共享', endAll: '结束直播',
    endConfirm: '确定为所有人结束吗？', viewers: '观众', questions: '观众提问',
    // booth host
    host: '展位工作台', timetable: '今日时间表', walkins: '排队的求职者', onsite: '现场', remote: '远程', callNext: '叫下一位',
    queueEmpty: '目前没有人排队', candidate: '当前求职者', notes: '面试记录', notesPh: '记录要点（可选）', outcome: '面试结果',
    handoff: '转介到其他展位', handoffTo: '目标展位', handoffBtn: '转介', handedOff: '已转介', outcomeSaved: '结果已记录',
    cardHidden: '求职者未授权查看资料。', scanQR: '扫码加入排队', qrCode: '二维码内容', qrPh: 'JH1-…', add: '加入',
    arrive: '到场签到', arrived: '已签到到场', booth: '展位',
    // trainer
    trainerHome: '培训直播', newCourse: '新建课程', courseTitle: '课程名称', courseDesc: '简介', courseKind: '类别', create: '创建',
    newSession: '安排直播', course: '课程', date: '日期', startTime: '开始时间', duration: '时长（分钟）', capacity: '名额',
    sessions: '我的直播', goLive: '在浏览器中直播', obs: '用 OBS 推流', whipURL: 'WHIP 地址', bearer: '推流密钥（Bearer Token）',
    copy: '复制', copied: '已复制', viewerLink: '观众观看链接', attendance: '出勤', created: '已创建',
    // officer
    dashboard: '招聘会实况', fairId: '招聘会编号', openFair: '打开', employersPresent: '到场单位', posts: '岗位数',
    attendees: '入场人数', interviewsRunning: '正在面试', interviewsDone: '已面试', hireIntents: '录用意向', bookingsCount: '预约数',
    noShows: '未到场', byCounty: '按区县', perHour: '每小时面试数', heatmap: '展位负荷', alerts: '预警', ack: '确认', acked: '已确认',
    noAlerts: '暂无预警', live: '实时', manage: '招聘会管理', createFair: '创建招聘会', fairName: '名称', venue: '地点', day: '日期',
    mode: '方式', mode_onsite: '现场', mode_online: '线上', mode_both: '线上线下', bookingOpens: '开始预约', bookingCloses: '截止预约',
    registrations: '单位报名审核', approve: '通过', rejectReg: '不通过', hallPosition: '展位号', lanes: '面试席数',
    assignBooth: '分配展位', employerId: '单位编号', assign: '分配', newEmployer: '登记单位', industry: '行业', verify: '认证',
    bookingWindow: '预约开关', openBooking: '开放预约', closeBooking: '关闭预约', bookingIsOpen: '预约已开放', bookingIsClosed: '预约已关闭',
    checkin: '入场签到', checkinBtn: '签到', checkedIn: '签到成功', scanCamera: '用摄像头扫码', closeFair: '结束招聘会并生成报告',
    report: '报告', total: '合计', asOf: '更新于', status: '状态', done: '完成',
  },
  en: {
    app: 'jobhall', seeker: "I'm looking for work", employer: "I'm an employer", trainer: "I'm a trainer", officer: "I'm an officer", switchLang: '中文',
    intro: 'On-site + remote job fairs: book interviews, interview by video, keep an employment log.',
    signin: 'Sign in as (demo)', fair: 'Job fair', booths: 'Employers at the fair', search: 'Search jobs or employers', slots: 'Free slots',
    book: 'Book', booked: 'Booked', join: 'Join interview', myBookings: 'My interviews', schedule: "Today's schedule",
    none: 'None yet', lane: 'Lane', loading: 'Loading…', leave: 'Leave', room: 'Interview room', you: 'You',
    recording: '● Recording', waiting: 'Waiting for the other party…', connecting: 'Connecting…', connected: 'Connected', left: 'You left the interview',
    camError: 'Camera or microphone unavailable: watching only.', wsError: 'Connection lost', log: 'My employment log',
    back: 'Back', signout: 'Sign out',
    lobby: 'Waiting; your place in line:', lobbyWaiting: 'Waiting to come in', admit: 'Admit', admitNext: 'Admit next', reject: 'Decline', away: 'away',
    reconnecting: 'Weak network, reconnecting…', ended: 'This session has ended', rejected: 'The host cannot see you now', removed: 'You were removed from the room',
    closed: 'Disconnected', mutedYou: 'muted you', timeWarning: 'The interview ends soon; seconds left:', endsAt: 'Ends at',
    watch: 'Watch live',
    selftest: 'Connection check', selftestIntro: 'Checks whether your network can carry a video interview; it takes about half a minute.', selftestAgain: 'Check again',
    checkDirect: 'Direct (UDP)', checkTurnUDP: 'Through the relay (UDP)', checkTurnTCP: 'Through the relay (TCP, for strict networks)',
    checking: 'checking…', works: 'works', blocked: 'blocked', notOffered: 'not offered by this server',
    verdictDirect: 'Your network can carry a video interview directly.', verdictRelay: 'Your network can carry a video interview through the relay; video may lag a little.',
    verdictNone: 'Your network cannot carry video. Try another network (for example mobile data) or ask the staff at the hall.',
    micOff: 'Mute microphone', micOn: 'Unmute microphone', camOff: 'Turn camera off', camOn: 'Turn camera on', chatPlaceholder: 'Type a message, Enter to send',
    phone: 'Mobile number', phonePh: '11 digits', sendCode: 'Get code', code: 'Code', codePh: '6 digits', signinBtn: 'Sign in',
    codeSent: 'Code sent; valid for 5 minutes.', demoCodeHint: 'The demo server sends no SMS: the code is in the server log.', resendIn: 's until you can resend',
    phoneSignin: 'Sign in with your phone', demoPick: 'Demo: pick a seeker', orDemo: 'or',
    login: 'Login', password: 'Password', passwordSignin: 'Sign in with a password', demoEmployer: 'Demo: pick an employer',
    errPhone: 'Enter a valid 11-digit mobile number starting with 1.', errCode: 'The code is 6 digits.', errRequired: 'Please fill this in.',
    errPast: 'That time has passed; pick a later one.', errOrder: 'The end must be after the start.', errNumber: 'Enter a valid number.',
    errNetwork: 'No network; check your connection and try again.', errServer: 'Server error; please try again shortly.', errSignin: 'Please sign in first.',
    errForbidden: 'You may not do this.', errConflict: 'This clashes with something already booked; pick another time.', errNotFound: 'Not found; it may have been removed.',
    errRate: 'Too many attempts; wait a moment.', errBusy: 'Working on it; no need to click twice.', errCapacity: 'Seats must be 1 to 10000.', errInvalid: 'Something in the form is not right; please check it.',
    tabJobs: 'Jobs', tabInterviews: 'Interviews', tabLearn: 'Training', tabServices: 'Services', tabMe: 'Me', mainNav: 'Main menu',
    feed: 'Jobs for you', matchWhy: 'Why', apply: 'Apply', applied: 'Applied', bookFor: 'Book interview', salary: 'Monthly pay', yuan: 'CNY',
    reasonCounty: 'In your county:', reasonSkill: 'Skills match:', reasonSalary: 'Pays what you asked for', reasonJob: 'The kind of work you want', reasonNew: 'New',
    queueOnsite: 'Queue on site', queueRemote: 'Queue remotely', queued: 'In the queue; people ahead of you:', people: '',
    invitations: 'Invitations', accept: 'Accept', decline: 'Decline', reschedule: 'Reschedule', cancel: 'Cancel booking', cancelConfirm: 'Cancel this interview?',
    cancelled: 'Cancelled', rescheduled: 'Rescheduled', pickNew: 'Pick a new time', statusHeld: 'To confirm', statusBooked: 'Booked',
    statusCancelled: 'Cancelled', statusExpired: 'Expired', statusInvited: 'Invitation', past: 'Over',
    courses: 'Training courses', liveClasses: 'Live classes', takeSeat: 'Sign up', seatTaken: 'Signed up', watchLive: 'Join live class', seatsLeft: 'Seats left',
    kind_skills: 'Skills', kind_entrepreneurship: 'Entrepreneurship', kind_labour_rights: 'Labour rights',
    policies: 'Policy news', consultations: 'Book a consultation', consultBook: 'Book', consultQuestion: 'Your question', consultConsent: 'I agree to recording (optional)',
    consultBooked: 'Consultation booked', myConsultations: 'My consultations', joinConsult: 'Join consultation',
    cat_employment_subsidy: 'Employment subsidy', cat_training_allowance: 'Training allowance', cat_entrepreneurship: 'Entrepreneurship support',
    cat_social_insurance: 'Social insurance', cat_poverty_alleviation: 'Poverty alleviation', cat_other: 'Other',
    profile: 'Profile and resume', name: 'Name', county: 'County', education: 'Education', skills: 'Skills (comma-separated)', experience: 'Years of experience',
    desiredJob: 'Work you want', desiredSalary: 'Desired monthly pay (CNY)', availability: 'When you can start', consentProfile: 'Let employers see my profile',
    consentRecording: 'Keep interview recordings in my employment log', save: 'Save', saved: 'Saved',
    edu_none: 'Not given', edu_primary: 'Primary school', edu_junior: 'Junior middle school', edu_senior: 'Senior high / vocational', edu_college: 'College',
    edu_bachelor: "Bachelor's", edu_master: "Master's or higher",
    fairPass: 'Entry QR code', getPass: 'Get my entry code', passHint: 'Show this code at the entrance to check in.',
    log_booking_made: 'Interview booked', log_interview_started: 'Interview started', log_interview_ended: 'Interview ended', log_recording_saved: 'Recording archived',
    log_invited: 'Invited to interview', log_booking_rescheduled: 'Interview rescheduled', log_booking_cancelled: 'Interview cancelled', log_outcome_recorded: 'Interview outcome',
    log_no_show: 'Did not attend', log_application_submitted: 'Applied', log_group_session_joined: 'Signed up for a class', log_queue_joined: 'Joined a queue',
    log_fair_registered: 'Registered for a fair', log_fair_checked_in: 'Checked in at the fair', log_handed_off: 'Referred to another employer', log_walkin_outcome: 'Walk-in outcome',
    log_training_certificate: 'Training certificate', log_followup: 'Follow-up', log_consultation_booked: 'Consultation booked', log_booth_checked_in: 'Scanned at a booth',
    log_interview_scheduled: 'Interview scheduled',
    outcome_hire_intent: 'Intends to hire', outcome_second_round: 'Second round', outcome_not_suitable: 'Not suitable', outcome_no_show: 'No-show',
    prejoin: 'Before you join', prejoinIntro: 'Check that you can see yourself and that the bar moves when you speak.', camera: 'Camera', microphone: 'Microphone', network: 'Network',
    checkOK: 'OK', checkBad: 'unavailable', speakNow: 'Say something', enterRoom: 'Join interview', enterAudio: 'Join with audio only', noWebRTC: 'This browser cannot make video calls: open the link in a recent Chrome, Firefox or Safari, or your phone\'s own browser.',
    netGood: 'Good network', netFair: 'Fair network', netPoor: 'Poor network', netUnknown: 'Checking network', netPoorHint: 'Poor network: switching to audio only may help.',
    audioOnly: 'Audio only', videoBack: 'Turn video back on', audioOnlyOn: 'Audio only: video is no longer sent or shown.',
    lobbyBig: 'Please wait; the interviewer will let you in soon', yourTurn: 'People ahead of you:', screenShare: 'Share screen', stopShare: 'Stop sharing', endAll: 'End for everyone',
    endConfirm: 'End this for everyone?', viewers: 'Viewers', questions: 'Questions from viewers',
    host: 'Booth desk', timetable: "Today's timetable", walkins: 'Walk-in queue', onsite: 'on site', remote: 'remote', callNext: 'Call next',
    queueEmpty: 'Nobody is waiting', candidate: 'Current candidate', notes: 'Notes', notesPh: 'Key points (optional)', outcome: 'Outcome',
    handoff: 'Hand off to another booth', handoffTo: 'Booth', handoffBtn: 'Hand off', handedOff: 'Handed off', outcomeSaved: 'Outcome recorded',
    cardHidden: 'The seeker has not shared their profile.', scanQR: 'Scan a code into the queue', qrCode: 'QR code text', qrPh: 'JH1-…', add: 'Add',
    arrive: 'Check in at the booth', arrived: 'Checked in', booth: 'Booth',
    trainerHome: 'Live training', newCourse: 'New course', courseTitle: 'Title', courseDesc: 'Description', courseKind: 'Kind', create: 'Create',
    newSession: 'Schedule a live session', course: 'Course', date: 'Date', startTime: 'Start time', duration: 'Length (minutes)', capacity: 'Seats',
    sessions: 'My live sessions', goLive: 'Go live in the browser', obs: 'Stream with OBS', whipURL: 'WHIP URL', bearer: 'Stream key (Bearer token)',
    copy: 'Copy', copied: 'Copied', viewerLink: 'Viewer link', attendance: 'Attendance', created: 'Created',
    dashboard: 'Fair live', fairId: 'Fair number', openFair: 'Open', employersPresent: 'Employers present', posts: 'Posts',
    attendees: 'Checked in', interviewsRunning: 'Interviews now', interviewsDone: 'Interviews held', hireIntents: 'Hire intentions', bookingsCount: 'Bookings',
    noShows: 'No-shows', byCounty: 'By county', perHour: 'Interviews per hour', heatmap: 'Booth load', alerts: 'Alerts', ack: 'Acknowledge', acked: 'Acknowledged',
    noAlerts: 'No alerts', live: 'live', manage: 'Fair management', createFair: 'Create a fair', fairName: 'Name', venue: 'Venue', day: 'Day',
    mode: 'Mode', mode_onsite: 'On site', mode_online: 'Online', mode_both: 'On site + online', bookingOpens: 'Booking opens', bookingCloses: 'Booking closes',
    registrations: 'Employer registrations', approve: 'Approve', rejectReg: 'Reject', hallPosition: 'Booth number', lanes: 'Lanes',
    assignBooth: 'Assign a booth', employerId: 'Employer number', assign: 'Assign', newEmployer: 'Register an employer', industry: 'Industry', verify: 'Verify',
    bookingWindow: 'Booking', openBooking: 'Open booking', closeBooking: 'Close booking', bookingIsOpen: 'Booking is open', bookingIsClosed: 'Booking is closed',
    checkin: 'Entrance check-in', checkinBtn: 'Check in', checkedIn: 'Checked in', scanCamera: 'Scan with the camera', closeFair: 'Close the fair and freeze the report',
    report: 'Report', total: 'Total', asOf: 'As of', status: 'Status', done: 'Done',
  },
};
export const lang = (() => {
  const q = new URLSearchParams(location.search).get('lang');
  let l = q || (() => { try { return localStorage.getItem('lang'); } catch { return null; } })() || 'zh';
  return T[l] ? l : 'zh';
})();
export const tables = T;
export function t(key) { const v = T[lang][key]; return v !== undefined ? v : (T.zh[key] !== undefined ? T.zh[key] : key); }
export function applyI18n(root = document) {
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  root.querySelectorAll('[data-i18n]').forEach((e) => { e.textContent = t(e.dataset.i18n); });
  root.querySelectorAll('[data-i18n-placeholder]').forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  root.querySelectorAll('[data-i18n-label]').forEach((e) => { e.setAttribute('aria-label', t(e.dataset.i18nLabel)); });
  const sw = document.getElementById('lang');
  if (sw) sw.onclick = (e) => {
    e.preventDefault();
    try { localStorage.setItem('lang', lang === 'en' ? 'zh' : 'en'); } catch { /* private mode */ }
    const u = new URL(location); u.searchParams.set('lang', lang === 'en' ? 'zh' : 'en'); location.href = u;
  };
}
const loc = () => (lang === 'en' ? 'en-GB' : 'zh-CN');
export function fmtTime(iso) {
  return new Date(iso).toLocaleTimeString(loc(), { hour: '2-digit', minute: '2-digit', timeZone: 'Asia/Shanghai' });
}
export function fmtDateTime(iso) {
  return new Date(iso).toLocaleString(loc(), { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'Asia/Shanghai' });
}
// errText turns an API error into one sentence in the page's language. The
// server writes "中文 / English" messages; other messages fall back to a
// plain sentence by status.
export function errText(status, message) {
  const m = (message || '').trim();
  if (m.includes(' / ')) {
    const i = m.indexOf(' / ');
    return lang === 'en' ? m.slice(i + 3) : m.slice(0, i);
  }
  const byStatus = { 0: 'errNetwork', 400: 'errInvalid', 422: 'errInvalid', 401: 'errSignin', 403: 'errForbidden', 404: 'errNotFound', 409: 'errConflict', 429: 'errRate' };
  if (status >= 500) return t('errServer');
  if (lang === 'en' && m && !/[\u4e00-\u9fff]/.test(m)) return m;
  if (lang === 'zh' && m && /[\u4e00-\u9fff]/.test(m)) return m;
  return t(byStatus[status] || 'errServer') + (m && lang === 'en' ? ` (${m})` : '');
}
