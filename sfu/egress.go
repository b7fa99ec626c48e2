package sfu

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

const (
	egressQueueLen = 256 // packets; ~0.7 s of one 2.5 Mbit/s video + audio
	ctrlQueueLen   = 32  // RTCP items; a viewer sends ~10-20 a second
	audioReserve   = 64  // queue slots only audio may use
	wakeBacklog    = 32  // queued packets that wake the worker even without a frame's end
	audioWait      = 2 * time.Millisecond
	allocInterval  = 250 * time.Millisecond
	switchAskAgain = time.Second // a pending layer switch repeats its keyframe request
	srInterval     = time.Second
	nackMaxAge     = 800 * time.Millisecond // older packets are too late to help
	wireOverhead   = 12 + 16 + 8 + 20       // RTP header, SRTP tag, UDP, IPv4
)

// qItem is 16 bytes (the layer travels in the packet): the queue's 256
// slots are allocated up front for every subscriber.
type qItem struct {
	dt *downTrack
	p  *pkt
}

type ctrlItem struct {
	dt   *downTrack
	nack *rtcp.TransportLayerNack
	tw   *[]byte // a TWCC feedback packet, raw, in a getBuf buffer
	remb float64
}

// twccItem copies one TWCC feedback packet for the worker.
func twccItem(b []byte) ctrlItem {
	bp := getBuf(len(b))
	*bp = append((*bp)[:0], b...)
	return ctrlItem{tw: bp}
}

// egress sends everything one subscriber receives. Track readers put
// packets in its bounded queue (never waiting on it for video, briefly for
// audio); its worker rewrites and writes them, answers NACKs, runs the
// bandwidth estimate and picks each track's layer. The worker is the SFU's
// fan-out pool while the subscriber is on the direct path (writes only
// queue), else the subscriber's own goroutine; either way a stalled
// subscriber only fills its own queue.
type egress struct {
	p    *Participant
	s    *SFU
	q    chan qItem    // the worker never blocks on it: readers' sends wake nobody
	wake chan struct{} // the worker's only wait: everything below rings it
	ctrl chan ctrlItem
	done chan struct{} // closed at stop (audio senders waiting on q give up)

	// Set by others, taken by the worker at its next wake-up. One channel
	// to wait on instead of a five-way select: a select parks on (and locks)
	// every channel it names, once per video frame per viewer.
	kicked, tickDue, stopped atomic.Bool
	pooled                   atomic.Bool // rings go to the SFU's fan-out pool (direct path up)
	queued                   atomic.Bool // in the pool's ready queue

	downs atomic.Pointer[[]*downTrack] // replaced copy-on-write by the participant loop
	out   atomic.Pointer[srtpOut]      // direct SRTP path once DTLS is up; nil = Pion's writer

	// mu guards the worker's state below: held for each wake-up's work,
	// by the subscriber's own goroutine or by a fan-out pool worker.
	mu    sync.Mutex
	timer *time.Timer // the allocation tick
	bwe   bwe
	twseq uint16
	// scratch holds a payload rewritten for this subscriber (VP8 picture
	// IDs, RTX); each use ends with the write that sends it.
	scratch        [maxPacket]byte
	noUpgradeUntil int64
	backoff        int64
	lastUpgrade    int64
	lastSR         int64
	c              egressCounters // flushed to the SFU's counters on each tick
}

type egressCounters struct {
	forwarded, bytes, retransmits, nacks, nackMiss, writeErrs, switches uint64
}

func newEgress(p *Participant) *egress {
	e := &egress{
		p: p, s: p.sfu,
		q:    make(chan qItem, egressQueueLen),
		wake: make(chan struct{}, 1),
		ctrl: make(chan ctrlItem, ctrlQueueLen),
		done: make(chan struct{}),
	}
	e.downs.Store(&[]*downTrack{})
	e.bwe.init(float64(p.sfu.cfg.InitialBitrate), float64(p.sfu.cfg.MaxBitrate))
	return e
}

func (e *egress) kickAlloc() {
	e.kicked.Store(true)
	e.ring()
}

func (e *egress) pushCtrl(c ctrlItem) {
	select {
	case e.ctrl <- c:
		e.ring()
	default:
		if c.tw != nil {
			putBuf(c.tw)
		}
		e.s.drops.rtcpFlood.Add(1)
	}
}

// enqueue is called by a track reader. Video never waits: on a full queue
// the packet is dropped, the track restarts at the next keyframe and one is
// requested. Audio may use the reserved slots and waits at most audioWait
// per packet over all subscribers (t nil: not at all).
//
// The worker is woken only when wake is set (the reader sets it at a
// frame's end, for audio, and at a new frame when the last one's end was
// lost) or the queue holds wakeBacklog packets: one wake-up per frame
// instead of per packet, and the frame's packets reach the batch writer in
// a row, where UDP GSO sends them as one message.
func (e *egress) enqueue(dt *downTrack, p *pkt, video, wake bool, t *time.Timer, deadline *time.Time) {
	p.retain()
	it := qItem{dt: dt, p: p}
	if video {
		if len(e.q) < cap(e.q)-audioReserve {
			select {
			case e.q <- it:
				if wake || len(e.q) >= wakeBacklog {
					e.ring()
				}
				return
			default:
			}
		}
		e.ring()
		e.s.drops.videoQueue.Add(1)
		if !dt.resync.Swap(true) {
			dt.pt.requestKeyframe(int(p.layer))
		}
		p.release()
		return
	}
	select {
	case e.q <- it:
		e.ring()
		return
	default:
	}
	e.ring()
	if t == nil {
		p.release()
		e.s.drops.audioQueue.Add(1)
		return
	}
	if deadline.IsZero() {
		*deadline = time.Now().Add(audioWait)
	}
	if rem := time.Until(*deadline); rem > 0 {
		t.Reset(rem)
		select {
		case e.q <- it:
			t.Stop()
			return
		case <-t.C:
		case <-e.done:
			t.Stop()
		}
	}
	p.release()
	e.s.drops.audioQueue.Add(1)
}

// ring wakes the worker to drain the queue: a direct-path subscriber's
// through the SFU's fan-out pool (one ready-queue entry instead of a
// goroutine wake-up per frame), others through their own goroutine. A
// subscriber already queued in the pool is not queued twice.
func (e *egress) ring() {
	if e.pooled.Load() {
		if e.queued.Swap(true) {
			return
		}
		select {
		case e.s.pool.ready <- e:
			return
		default:
			e.queued.Store(false) // pool backlog full: the own goroutine takes it
		}
	}
	e.wakeOwn()
}

func (e *egress) wakeOwn() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// directOK reports whether the subscriber's writes go to the direct path,
// which only queues them (so a pool worker never blocks on a subscriber).
func (e *egress) directOK() bool {
	o := e.out.Load()
	return o != nil && o.dst.Load() != nil
}

// setPooled turns the pool on or off for the subscriber (see ring).
func (e *egress) setPooled(on bool) {
	if e.s.pool == nil {
		return
	}
	e.pooled.Store(on)
	e.ring()
}

func (e *egress) stop() {
	e.stopped.Store(true)
	close(e.done)
	e.wakeOwn() // the own goroutine must see it to end
}

// run is the subscriber's own goroutine; it ends when the egress stops.
func (e *egress) run() {
	e.mu.Lock()
	e.timer = time.AfterFunc(allocInterval, func() {
		e.tickDue.Store(true)
		e.ring()
	})
	t := e.timer
	e.mu.Unlock()
	defer t.Stop()
	for range e.wake {
		e.mu.Lock()
		more := e.stepLocked()
		e.mu.Unlock()
		if !more {
			return
		}
	}
}

// poolStep is a pool worker's turn with the subscriber. It never waits:
// if the own goroutine is busy with it, or its writes could block (the
// selected pair is no longer UDP), the own goroutine takes over.
func (e *egress) poolStep() {
	if !e.directOK() {
		e.pooled.Store(false)
		e.wakeOwn()
		return
	}
	if !e.mu.TryLock() {
		e.wakeOwn()
		return
	}
	e.stepLocked()
	e.mu.Unlock()
}

// stepLocked is one wake-up's work; false once stopped. Caller holds mu.
func (e *egress) stepLocked() bool {
	if e.stopped.Load() {
		for {
			select {
			case it := <-e.q:
				it.p.release()
			default:
				e.flush()
				return false
			}
		}
	}
	if e.tickDue.Swap(false) {
		e.tick()
		if e.timer != nil {
			e.timer.Reset(allocInterval)
		}
	}
	if e.kicked.Swap(false) {
		e.allocate(sfuClock())
	}
	e.drainCtrl()
	e.drainQueue()
	return true
}

// drainCtrl handles what RTCP queued (NACKs first: before new packets).
func (e *egress) drainCtrl() {
	for range ctrlQueueLen {
		select {
		case c := <-e.ctrl:
			e.control(c)
		default:
			return
		}
	}
	e.ring() // more came meanwhile
}

// drainQueue forwards what is queued, at most 64 packets before control,
// allocation and ticks have a turn (it rings again for the rest).
func (e *egress) drainQueue() {
	for i := 0; i < 64; i++ {
		select {
		case it := <-e.q:
			e.forward(it)
		default:
			return
		}
	}
	if len(e.q) > 0 {
		e.ring()
	}
}

func (e *egress) forward(it qItem) {
	dt, p := it.dt, it.p
	if !dt.live() {
		p.release()
		return
	}
	if dt.inherit != nil {
		dt.continueFrom(dt.inherit)
		dt.inherit = nil
	}
	if dt.resync.Load() && dt.resync.Swap(false) {
		dt.rw.needKey = true
	}
	prev := dt.rw.cur
	seq, ts, ok := dt.rw.accept(p, int(p.layer))
	if dt.rw.cur != prev {
		e.layerChanged(dt)
		if prev >= 0 && dt.rw.cur >= 0 {
			e.c.switches++
		}
	}
	if !ok {
		p.release()
		return
	}
	payload := p.payload()
	if dt.redPrimary {
		if payload, ok = redPrimary(payload); !ok || len(payload) == 0 {
			p.release()
			return
		}
	}
	var picOff uint16
	var tl0Off uint8
	if dt.pt.ck == codecVP8 {
		if dt.rw.relocked {
			dt.vp8.relock = true
		}
		picOff, tl0Off = dt.vp8.next(payload)
		payload = mungeVP8(payload, e.scratch[:], picOff, tl0Off)
	}
	dt.rw.relocked = false
	e.write(dt, p, seq, ts, payload, dt.ssrc, dt.payloadType)
	if dt.hist != nil {
		first := msClock(p.arrival)
		h := dt.histAt(seq)
		if h.ok && first-h.first < uint32(nackMaxAge/time.Millisecond) && len(dt.hist) < histMax {
			dt.growHist()
			h = dt.histAt(seq)
		}
		*h = histEntry{out: seq, src: p.seq, ts: ts, layer: p.layer, ok: true, first: first, picOff: picOff, tl0Off: tl0Off}
	}
	p.release()
}

// layerChanged follows a switch or pause: only the current and target
// layers are queued from now on.
func (e *egress) layerChanged(dt *downTrack) {
	dt.curLayer.Store(int32(dt.rw.cur))
	var m uint32
	if dt.rw.cur >= 0 {
		m |= 1 << dt.rw.cur
	}
	if dt.rw.target >= 0 {
		m |= 1 << dt.rw.target
	}
	dt.want.Store(m)
	if dt.pt.wantsPaused(m) {
		e.s.kickDynacast()
	}
}

// write sends one packet to the subscriber. No allocation: the header and
// extension buffers live in the downTrack.
func (e *egress) write(dt *downTrack, p *pkt, seq uint16, ts uint32, payload []byte, ssrc uint32, pt uint8) {
	h := &dt.hdr
	h.Version, h.Padding, h.Marker = 2, false, p.marker
	h.PayloadType, h.SequenceNumber, h.Timestamp, h.SSRC = pt, seq, ts, ssrc
	h.Extension, h.Extensions = false, h.Extensions[:0]
	if dt.twccID != 0 {
		binary.BigEndian.PutUint16(dt.twcc[:], e.twseq)
		_ = h.SetExtension(dt.twccID, dt.twcc[:])
	}
	if dt.levelID != 0 && !dt.rw.video {
		dt.lvl[0] = p.audioLevel
		if p.voice {
			dt.lvl[0] |= 0x80
		}
		_ = h.SetExtension(dt.levelID, dt.lvl[:])
	}
	if o := e.out.Load(); o == nil || !o.write(h, payload) {
		if _, err := dt.writer.WriteRTP(h, payload); err != nil {
			e.c.writeErrs++
			return
		}
	}
	if dt.twccID != 0 {
		e.bwe.onSent(e.twseq, len(payload)+wireOverhead, sfuClock())
		e.twseq++
	}
	dt.packets++
	dt.octets += uint32(len(payload))
	e.c.forwarded++
	e.c.bytes += uint64(len(payload))
}

func (e *egress) control(c ctrlItem) {
	now := sfuClock()
	switch {
	case c.nack != nil:
		e.answerNACK(c.dt, c.nack, now)
	case c.tw != nil:
		cut := e.bwe.onFeedback(*c.tw, now)
		putBuf(c.tw)
		if cut {
			// Congested: back off upgrades, longer after a failed upgrade.
			if now-e.lastUpgrade < int64(3*time.Second) && e.backoff > 0 {
				e.backoff = min(2*e.backoff, int64(30*time.Second))
			} else {
				e.backoff = int64(4 * time.Second)
			}
			e.noUpgradeUntil = now + e.backoff
			e.allocate(now)
		}
	case c.remb > 0:
		e.bwe.onREMB(c.remb, now)
	}
}

// answerNACK resends lost packets from the layer caches, over RTX when the
// subscriber negotiated it; each packet at most maxNACKRetries times and
// not twice within 20 ms.
func (e *egress) answerNACK(dt *downTrack, n *rtcp.TransportLayerNack, now int64) {
	if dt.hist == nil || !dt.live() {
		return
	}
	nowMs := msClock(now)
	for _, pair := range n.Nacks {
		lost := pair.PacketID
		for i := -1; i < 16; i++ {
			seq := lost
			if i >= 0 {
				if pair.LostPackets&(1<<i) == 0 {
					continue
				}
				seq = lost + uint16(i) + 1
			}
			e.c.nacks++
			h := dt.histAt(seq)
			if !h.ok || h.out != seq || h.tries >= maxNACKRetries || nowMs-h.at < 20 && h.tries > 0 ||
				nowMs-h.first > uint32(nackMaxAge/time.Millisecond) {
				e.c.nackMiss++
				continue
			}
			l := dt.pt.layer(int(h.layer))
			if l == nil {
				e.c.nackMiss++
				continue
			}
			p := l.cache.get(h.src)
			if p == nil {
				e.c.nackMiss++
				continue
			}
			if dt.twccID != 0 && !e.bwe.rtxBudget(p.size()+wireOverhead, now) {
				p.release()
				e.c.nackMiss++
				continue
			}
			h.tries++
			h.at = nowMs
			pl := p.payload()
			if dt.rtxSSRC != 0 {
				binary.BigEndian.PutUint16(e.scratch[:2], seq)
				nb := copy(e.scratch[2:], pl)
				if dt.pt.ck == codecVP8 {
					mungeVP8(pl, e.scratch[2:], h.picOff, h.tl0Off)
				}
				e.write(dt, p, dt.rtxSeq, h.ts, e.scratch[:2+nb], dt.rtxSSRC, dt.rtxPT)
				dt.rtxSeq++
			} else {
				if dt.pt.ck == codecVP8 {
					pl = mungeVP8(pl, e.scratch[:], h.picOff, h.tl0Off)
				}
				e.write(dt, p, seq, h.ts, pl, dt.ssrc, dt.payloadType)
			}
			e.c.retransmits++
			p.release()
		}
	}
}

func (e *egress) tick() {
	now := sfuClock()
	e.allocate(now)
	if now-e.lastSR >= int64(srInterval) {
		e.lastSR = now
		e.sendReports(now)
	}
	e.flush()
}

func (e *egress) flush() {
	c := &e.c
	s := e.s
	s.forwarded.Add(c.forwarded)
	s.bytesOut.Add(c.bytes)
	s.retransmits.Add(c.retransmits)
	s.nacks.Add(c.nacks)
	s.nackMiss.Add(c.nackMiss)
	s.writeErrs.Add(c.writeErrs)
	s.switches.Add(c.switches)
	*c = egressCounters{}
}

// sendReports sends an RTCP sender report per forwarded track, mapping the
// rewritten timeline to wall-clock time (lip sync at the receiver).
func (e *egress) sendReports(now int64) {
	var pkts []rtcp.Packet
	wall := time.Now()
	for _, dt := range *e.downs.Load() {
		if !dt.live() || dt.packets == 0 || !dt.rw.started {
			continue
		}
		rtpTS := dt.rw.lastTS + uint32((now-dt.rw.lastAt)*dt.rw.clock/int64(time.Second))
		pkts = append(pkts, &rtcp.SenderReport{SSRC: dt.ssrc, NTPTime: ntpTime(wall), RTPTime: rtpTS,
			PacketCount: dt.packets, OctetCount: dt.octets})
	}
	if len(pkts) > 0 && e.p != nil {
		_ = e.p.sub.WriteRTCP(pkts)
	}
}

func ntpTime(t time.Time) uint64 {
	s := uint64(t.Unix()) + 2208988800
	f := uint64(t.Nanosecond()) << 32 / 1e9
	return s<<32 | f
}

// allocate picks each video track's layer from the bandwidth estimate, the
// viewer's preferred size and the layers the publisher actually sends:
// every track first gets its lowest layer if it fits, then tracks are
// upgraded in turn. A track whose lowest layer does not fit is paused (audio
// keeps flowing) and resumes when it fits again.
func (e *egress) allocate(now int64) {
	downs := *e.downs.Load()
	budget := e.bwe.estimate(now)
	for _, dt := range downs {
		if dt.live() && !dt.rw.video {
			if l := dt.pt.layer(0); l != nil {
				budget -= float64(l.rate())
			}
		}
	}
	type choice struct {
		dt     *downTrack
		target int
		limit  int
	}
	var chosen [8]choice
	cs := chosen[:0]
	for _, dt := range downs {
		if !dt.live() || !dt.rw.video {
			continue
		}
		limit := dt.preferredLimit(now)
		low := -1
		for i := 0; i <= limit; i++ {
			if l := dt.pt.layer(i); l != nil && l.usable(now) {
				low = i
				break
			}
		}
		if low < 0 && limit >= 0 {
			// Nothing measured yet: aim at the best layer so the first
			// keyframe gets through.
			low = limit
			for low > 0 && dt.pt.layer(low) == nil {
				low--
			}
		}
		target := -1
		if low >= 0 {
			cost := float64(dt.pt.layer(low).rate())
			need := cost * 0.8 // keep the current stream a little below its rate
			if dt.rw.cur < 0 {
				need = cost * 1.1
			}
			if budget >= need {
				target = low
				budget -= cost
			}
		}
		cs = append(cs, choice{dt: dt, target: target, limit: limit})
	}
	for i := range cs {
		c := &cs[i]
		if c.target < 0 {
			continue
		}
		base := float64(c.dt.pt.layer(c.target).rate())
		for l := c.limit; l > c.target; l-- {
			lay := c.dt.pt.layer(l)
			if lay == nil || !lay.usable(now) {
				continue
			}
			up := l > c.dt.rw.cur
			if up && now < e.noUpgradeUntil {
				continue
			}
			extra := float64(lay.rate()) - base
			need := extra
			if up {
				need = extra*1.15 + base*0.15
			}
			if budget >= need {
				budget -= extra
				c.target = l
				break
			}
		}
	}
	for _, c := range cs {
		dt := c.dt
		changed := c.target != dt.rw.target
		if changed {
			if c.target > dt.rw.cur {
				e.lastUpgrade = now
			}
			dt.rw.target = c.target
			dt.paused.Store(c.target < 0)
			e.layerChanged(dt)
		}
		// A start or switch waiting for its keyframe asks at once, then
		// again each second: a PLI can be lost, and a browser sends
		// keyframes only when asked.
		if c.target >= 0 && c.target != dt.rw.cur && (changed || now-dt.keyAsked >= int64(switchAskAgain)) {
			dt.keyAsked = now
			dt.pt.requestKeyframe(c.target)
		}
	}
}
