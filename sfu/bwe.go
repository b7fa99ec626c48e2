package sfu

import (
	"math"
	"time"
)

// bwe is a small send-side bandwidth estimator for one subscriber
// transport, fed by transport-wide congestion control feedback. It follows
// GCC's ideas without its per-packet cost: a ring of send times indexed by
// the transport sequence number; on each feedback the queuing delay (one-way
// delay above its recent minimum), its trend and the loss fraction decide
// whether to cut the estimate to what was actually delivered, hold, or
// grow. Owned by the egress worker goroutine.
type bwe struct {
	est    float64 // bps
	maxEst float64

	sent [bweRing]sentPkt

	feedback   bool  // feedback seen at least once
	minDelay   int64 // ns, baseline one-way delay (arbitrary offset)
	bucketMin  int64
	bucketAt   int64
	prevQD     int64
	lastUpdate int64
	lastCut    int64
	lastCong   int64
	overuse    int     // consecutive feedbacks showing over-use
	loss       float64 // loss fraction over the last window of ~100 packets
	winRecv    int
	winLost    int

	ackStart int64 // arrival time window for the delivered rate
	ackBytes int64
	ackRate  float64 // bps delivered to the receiver

	remb   float64
	rembAt int64

	sendStart, sendBytes int64
	sendRate             float64 // bps we sent over the last window
	rtxTokens            float64
	rtxAt                int64
}

const (
	bweRing  = 256  // sent packets awaiting TWCC feedback: ~1 s at 2 Mbit/s, ~0.5 s at 5; feedback comes every 50-100 ms
	lossCut  = 0.2  // cut the estimate above this loss fraction
	lossGrow = 0.05 // grow only below it; hold in between
)

type sentPkt struct {
	at   int64
	size uint16
	seq  uint16
	ok   bool
}

func (b *bwe) init(initial, max float64) {
	b.est, b.maxEst = initial, max
	b.minDelay = math.MaxInt64
	b.bucketMin = math.MaxInt64
}

func (b *bwe) onSent(seq uint16, size int, now int64) {
	s := &b.sent[seq&(bweRing-1)]
	s.at, s.size, s.seq, s.ok = now, uint16(size), seq, true
	if b.sendStart == 0 {
		b.sendStart = now
	}
	b.sendBytes += int64(size)
	if el := now - b.sendStart; el >= int64(500*time.Millisecond) {
		b.sendRate = float64(b.sendBytes*8) * float64(time.Second) / float64(el)
		b.sendStart, b.sendBytes = now, 0
	}
}

// rtxBudget reports whether a retransmission of size bytes fits: at most a
// quarter of the estimate goes to retransmissions, so repairs never feed
// the congestion that caused the loss.
func (b *bwe) rtxBudget(size int, now int64) bool {
	rate := b.estimate(now) / 4 / 8 // bytes per second
	b.rtxTokens += float64(now-b.rtxAt) / float64(time.Second) * rate
	b.rtxAt = now
	if b.rtxTokens > rate/5 {
		b.rtxTokens = rate / 5
	}
	if b.rtxTokens < float64(size) {
		return false
	}
	b.rtxTokens -= float64(size)
	return true
}

// estimate is the current estimate in bps, REMB-capped when one is fresh.
func (b *bwe) estimate(now int64) float64 {
	e := b.est
	if b.remb > 0 && now-b.rembAt < int64(3*time.Second) && b.remb < e {
		e = b.remb
	}
	return e
}

func (b *bwe) onREMB(bps float64, now int64) { b.remb, b.rembAt = bps, now }

// onFeedback processes one TWCC feedback packet (raw RTCP, see twcc); it
// reports whether the estimate was cut for congestion.
func (b *bwe) onFeedback(raw []byte, now int64) bool {
	fb, ok := parseTWCC(raw)
	if !ok {
		return false
	}
	arrival := int64(fb.ref) * 64 * int64(time.Millisecond)
	seq := fb.base
	var recv, lost int
	var qdSum, qdMax int64
	for fb.next() {
		s := &b.sent[seq&(bweRing-1)]
		known := s.ok && s.seq == seq
		seq++
		if fb.sym == twccNotReceived {
			if known {
				lost++
			}
			continue
		}
		arrival += fb.delta
		if !known {
			continue
		}
		recv++
		d := arrival - s.at
		if d < b.minDelay {
			b.minDelay = d
		}
		if d < b.bucketMin {
			b.bucketMin = d
		}
		qd := d - b.minDelay
		qdSum += qd
		if qd > qdMax {
			qdMax = qd
		}
		if b.ackStart == 0 {
			b.ackStart = arrival
		}
		b.ackBytes += int64(s.size)
		if el := arrival - b.ackStart; el >= int64(500*time.Millisecond) {
			r := float64(b.ackBytes*8) * float64(time.Second) / float64(el)
			if b.ackRate == 0 {
				b.ackRate = r
			} else {
				b.ackRate = 0.5*b.ackRate + 0.5*r
			}
			b.ackStart, b.ackBytes = arrival, 0
		}
		s.ok = false
	}
	if recv+lost == 0 {
		return false
	}
	b.feedback = true
	// Let the baseline follow clock drift: every 5 s adopt the last bucket's minimum.
	if now-b.bucketAt > int64(5*time.Second) {
		if b.bucketMin != math.MaxInt64 {
			b.minDelay = b.bucketMin
		}
		b.bucketMin, b.bucketAt = math.MaxInt64, now
	}
	// Judge loss over ~100 packets: single feedbacks are too noisy and
	// random loss up to ~10% is NACK's job, not a reason to cut.
	b.winRecv += recv
	b.winLost += lost
	if b.winRecv+b.winLost >= 100 {
		b.loss = float64(b.winLost) / float64(b.winRecv+b.winLost)
		b.winRecv, b.winLost = 0, 0
	}
	qd := int64(0)
	if recv > 0 {
		qd = qdSum / int64(recv)
	}
	rising := qd > b.prevQD
	b.prevQD = qd
	// A queue that is draining (falling delay) is not new congestion, and
	// one noisy feedback is not either: over-use must persist.
	if rising && (qd > int64(30*time.Millisecond) || qdMax > int64(150*time.Millisecond)) {
		b.overuse++
	} else if qd < int64(15*time.Millisecond) {
		b.overuse = 0
	}
	overuse := b.overuse >= 2
	dt := float64(now-b.lastUpdate) / float64(time.Second)
	if b.lastUpdate == 0 || dt > 1 {
		dt = 0.1
	}
	b.lastUpdate = now
	switch {
	case overuse || b.loss > lossCut:
		// One cut per congestion episode: the cut already lands on what
		// was delivered, so wait for fresh evidence.
		if now-b.lastCut < int64(time.Second) {
			return false
		}
		// Delay over-use: down to what got through (GCC's 0.85 of the
		// incoming rate), but at most halve. Loss: GCC's (1 - p/2).
		// When we sent more than got through, the delivered rate is the
		// capacity; when we were app-limited, just back off.
		target := b.est
		if overuse {
			target = b.est * 0.85
			if b.ackRate > 0 && b.sendRate > 1.1*b.ackRate {
				target = 0.85 * b.ackRate
			}
		}
		if b.loss > lossCut {
			target = math.Min(target, b.est*(1-0.5*b.loss))
		}
		b.overuse = 0
		b.loss, b.winRecv, b.winLost = 0, 0, 0
		if target < b.est {
			b.est = math.Max(target, 50_000)
			b.lastCut, b.lastCong = now, now
			return true
		}
	case b.loss < lossGrow && qd < int64(15*time.Millisecond):
		rate := 1.5 // per second, far from the last congestion
		if now-b.lastCong < int64(10*time.Second) {
			rate = 1.08
		}
		next := b.est * math.Pow(rate, dt)
		// Grow towards what is actually delivered, not beyond reason.
		if ceiling := math.Max(2*b.ackRate, b.ackRate+500_000); b.ackRate > 0 && next > ceiling {
			next = math.Max(b.est, ceiling)
		}
		b.est = math.Min(next, b.maxEst)
	}
	return false
}
