package sfu

import (
	"time"
)

var clockBase = time.Now()

// sfuClock is a monotonic clock in nanoseconds.
func sfuClock() int64 { return int64(time.Since(clockBase)) }

// rewriter turns packets from one or more layers of a track into one
// continuous outgoing stream: video starts and switches layers only at a
// keyframe, and sequence numbers and timestamps continue across switches,
// pauses and drops so the receiver's jitter buffer never sees a break.
// It is owned by one goroutine.
type rewriter struct {
	video    bool
	clock    int64 // Hz
	cur      int   // layer being forwarded; -1 none
	target   int   // layer wanted; -1 = paused
	started  bool
	needKey  bool // drop until the next keyframe of cur (or target); audio: continue after a gap
	relocked bool // the last accepted packet started a new lock (cleared by the caller)

	seqOff    uint16
	tsOff     uint32
	lockSeq   uint16 // first source seq after the last (re)lock
	highSeq   uint16 // highest source seq forwarded since the lock
	lastSeq   uint16 // last outgoing seq (highest)
	lastTS    uint32
	lastAt    int64 // sfuClock of lastTS
	switches  int
	keyframes int // keyframes forwarded (for tests and stats)
}

func (r *rewriter) init(video bool, clock uint32) {
	r.video, r.clock = video, int64(clock)
	r.cur, r.target = -1, 0
	r.needKey = video
}

// accept decides whether p (from layer l) is forwarded and returns its
// outgoing sequence number and timestamp.
func (r *rewriter) accept(p *pkt, l int) (seq uint16, ts uint32, ok bool) {
	if !r.video {
		if r.cur < 0 {
			r.cur = l
			r.relock(p, true)
		} else if r.needKey && l == r.cur {
			// After a gap (mute, queue drop) the sequence goes on unbroken.
			r.needKey = false
			r.relock(p, false)
		}
		if l != r.cur {
			return 0, 0, false
		}
		return r.out(p)
	}
	if r.target < 0 {
		// Paused: stop at once; resuming waits for a keyframe.
		r.cur = -1
		return 0, 0, false
	}
	if l != r.cur {
		if l != r.target || !p.keyframe || !p.frameStart {
			return 0, 0, false
		}
		r.cur = l
		r.needKey = false
		r.relock(p, true)
		r.switches++
	} else if r.needKey {
		if !p.keyframe || !p.frameStart {
			return 0, 0, false
		}
		r.needKey = false
		r.relock(p, false)
	} else if int16(p.seq-r.lockSeq) < 0 {
		return 0, 0, false // late packet from before the lock point
	}
	if p.keyframe && p.frameStart {
		r.keyframes++
	}
	return r.out(p)
}

func (r *rewriter) out(p *pkt) (uint16, uint32, bool) {
	seq, ts := p.seq+r.seqOff, p.ts+r.tsOff
	if int16(p.seq-r.highSeq) > 0 {
		r.highSeq = p.seq
		r.lastSeq, r.lastTS, r.lastAt = seq, ts, p.arrival
	}
	return seq, ts, true
}

// relock makes p follow the last outgoing packet. A new layer (or the first
// packet) also moves the timestamp by the wall time since the last packet.
func (r *rewriter) relock(p *pkt, newTimeline bool) {
	if !r.started {
		r.started = true
		r.seqOff, r.tsOff = 0, 0
	} else {
		r.seqOff = r.lastSeq + 1 - p.seq
		if newTimeline {
			d := (p.arrival - r.lastAt) * r.clock / int64(time.Second)
			if d < 1 {
				d = 1
			}
			r.tsOff = r.lastTS + uint32(d) - p.ts
		}
	}
	r.lockSeq, r.highSeq = p.seq, p.seq
	r.relocked = true
	r.lastSeq, r.lastTS, r.lastAt = p.seq+r.seqOff, p.ts+r.tsOff, p.arrival
}
