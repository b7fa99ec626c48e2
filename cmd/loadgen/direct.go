package main

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/rtpfields"
	"jobhall/internal/srtpkeys"
)

// Direct receive: a subscriber's media packets are decrypted and measured
// on its socket's reader as they arrive, instead of going through Pion's
// ICE, DTLS/SRTP demultiplexer, SRTP session, interceptors and track
// reader (three goroutine hand-offs and about 15 µs per packet on this
// machine, which limits one loadgen core to about 250 viewers of a
// 1.5 Mbit/s broadcast). Pion still sets the session up and gets every
// packet the direct path does not know: a track's first packets (until
// OnTrack names its SSRC), RTCP, STUN and DTLS. With Pion no longer seeing
// the media, the subscriber sends its own NACKs (below); it sends no
// receiver reports for those streams (the SFU does not use them).

// directTrack is one received stream on the direct path: a primary
// stream, or the RTX stream that repairs one. Guarded by arrivals.mu.
type directTrack struct {
	recv func(seq uint16, payload []byte, at int64) // measures a (repaired) packet
	prim *directTrack                               // RTX only: the stream it repairs

	// NACK generation (primary streams).
	started bool
	highest uint16
	lost    map[uint16]*lostPacket
}

type lostPacket struct {
	nacked int   // NACKs sent for it
	last   int64 // when the last was sent (unix ns)
}

const (
	maxGap       = 100                    // a bigger jump is a restart, not loss
	nackTries    = 3                      // NACKs per lost packet before giving up
	nackInterval = 100 * time.Millisecond // between NACKs for the same packet
	maxLost      = 512                    // lost packets remembered per stream
)

// enableDirect gives the arrivals the SFU's SRTP keys once pc's DTLS is
// connected; false when they cannot be read (Pion then keeps every
// packet). Header encryption (cryptex) is left to Pion.
func (a *arrivals) enableDirect(pc *webrtc.PeerConnection) bool {
	if ld := pc.LocalDescription(); ld == nil || strings.Contains(ld.SDP, "a=cryptex") {
		return false
	}
	keys, profile, _, ok := srtpkeys.Of(pc)
	if !ok {
		return false
	}
	ctx, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, profile)
	if err != nil {
		return false
	}
	a.mu.Lock()
	a.srtp = ctx
	a.mu.Unlock()
	return true
}

// addTrack puts a stream (and its RTX stream, when rtx is not 0) on the
// direct path.
func (a *arrivals) addTrack(ssrc, rtx uint32, recv func(seq uint16, payload []byte, at int64)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tracks == nil {
		a.tracks = map[uint32]*directTrack{}
	}
	t := &directTrack{recv: recv, lost: map[uint16]*lostPacket{}}
	a.tracks[ssrc] = t
	if rtx != 0 {
		a.tracks[rtx] = &directTrack{recv: recv, prim: t}
	}
}

// directLocked takes b if it is SRTP of a stream on the direct path and
// decrypts; false leaves it to Pion.
func (a *arrivals) directLocked(b []byte, ssrc uint32, at int64) bool {
	t := a.tracks[ssrc]
	if t == nil || a.srtp == nil {
		return false
	}
	dec, err := a.srtp.DecryptRTP(a.dbuf[:0], b, &a.hdr)
	if err != nil || len(dec) < 12 {
		return false
	}
	hl, ok := rtpfields.HeaderLen(dec)
	if !ok {
		return true
	}
	payload, ok := rtpfields.Payload(dec, hl)
	if !ok {
		return true // malformed: counted nowhere, as Pion would drop it
	}
	seq := a.hdr.SequenceNumber
	if t.prim != nil { // RTX: the original sequence number leads the payload
		if len(payload) < 2 {
			return true // a padding probe
		}
		seq, payload = binary.BigEndian.Uint16(payload), payload[2:]
		if len(payload) == 0 {
			return true
		}
		delete(t.prim.lost, seq)
	} else {
		t.arrivedLocked(seq)
	}
	t.recv(seq, payload, at)
	return true
}

// arrivedLocked notes seq for NACK generation: a forward jump marks the
// packets skipped as lost, an earlier one fills its gap.
func (t *directTrack) arrivedLocked(seq uint16) {
	if !t.started {
		t.started, t.highest = true, seq
		return
	}
	d := int16(seq - t.highest)
	if d <= 0 {
		delete(t.lost, seq)
		return
	}
	if d <= maxGap {
		for q := t.highest + 1; q != seq && len(t.lost) < maxLost; q++ {
			t.lost[q] = &lostPacket{}
		}
	}
	t.highest = seq
}

// nacks are the NACKs due now: each lost packet is asked for up to
// nackTries times, nackInterval apart.
func (a *arrivals) nacks(now int64) []rtcp.Packet {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []rtcp.Packet
	var seqs []uint16
	for ssrc, t := range a.tracks {
		if t.prim != nil || len(t.lost) == 0 {
			continue
		}
		seqs = seqs[:0]
		for q, l := range t.lost {
			if int16(t.highest-q) > maxLost || l.nacked >= nackTries {
				delete(t.lost, q)
				continue
			}
			if l.nacked == 0 || now-l.last >= int64(nackInterval) {
				l.nacked++
				l.last = now
				seqs = append(seqs, q)
			}
		}
		if len(seqs) > 0 {
			// Oldest first (furthest behind highest): NACK pairs need
			// ascending runs, across the wrap too.
			slices.SortFunc(seqs, func(x, y uint16) int { return cmp.Compare(t.highest-y, t.highest-x) })
			out = append(out, &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
		}
	}
	return out
}
