package sfu

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/rtpfields"
	"jobhall/internal/srtpkeys"
)

// srtpIn is a publisher's direct SRTP path, the mirror of srtpOut: the
// socket reader recognises SRTP from the publish PC's selected pair, takes
// the packets of the layers it knows by SSRC, decrypts them with the
// session's remote keys into a pooled packet, counts them in the PC's
// feedback interceptor (NACK, TWCC, receiver reports) and hands them to
// the layer's reader. That skips Pion's UDP mux worker, ICE, the DTLS/SRTP
// demultiplexer, the SRTP session and its read buffer, and TrackRemote.Read
// (three goroutine hand-offs, a copy and a lock each). Everything else
// (RTX, probes, unknown SSRCs, packets that do not decrypt, SRTCP) goes on
// to Pion, whose reader keeps feeding the layer (see layer.pump).
type srtpIn struct {
	conn *batchConn
	fi   *feedbackInterceptor
	s    *SFU
	dst  atomic.Pointer[netip.AddrPort] // the selected pair's remote; nil = not UDP
	gone bool                           // detached for good; guarded by conn.rmu

	// The socket reader's (one goroutine): gcm for the AEAD-AES-GCM
	// profiles (no per-SSRC map, header parse or allocation), ctx for the
	// others.
	ctx *srtp.Context
	gcm *gcmOpener

	mu     sync.Mutex
	byssrc map[uint32]*inLayer
	snap   atomic.Pointer[map[uint32]*inLayer] // the socket reader's view

	lastScan int64 // socket reader only: when unknown SSRCs last sent it looking for repair streams
}

type inLayer struct {
	l    *layer
	fb   *fbStream // this SSRC's feedback stream
	prim *fbStream // RTX only: the repaired stream's (its NACK slot is filled)
	rtx  bool      // a repair stream (RFC 4588) of l
}

// newSRTPIn sets up the direct path for a connected publish PC, or returns
// nil (no batched socket, no keys yet, no feedback interceptor).
func newSRTPIn(s *SFU, pc *webrtc.PeerConnection, fi *feedbackInterceptor) *srtpIn {
	conn, ok := s.conn.(*batchConn)
	if !ok || fi == nil {
		return nil
	}
	ld := pc.LocalDescription()
	if ld == nil {
		return nil
	}
	keys, profile, ice, ok := srtpkeys.Of(pc)
	if !ok {
		return nil
	}
	in := &srtpIn{conn: conn, fi: fi, s: s, byssrc: map[uint32]*inLayer{}}
	cryptex := strings.Contains(ld.SDP, "a=cryptex")
	if gcmProfile(profile) {
		in.gcm = newGCMOpener(profile, keys.RemoteMasterKey, keys.RemoteMasterSalt, cryptex)
	}
	if in.gcm == nil {
		opts := []srtp.ContextOption{srtp.SRTPReplayProtection(replayWindow)}
		if cryptex {
			opts = append(opts, srtp.Cryptex(srtp.CryptexModeEnabled))
		}
		ctx, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, profile, opts...)
		if err != nil {
			return nil
		}
		in.ctx = ctx
	}
	in.snap.Store(&map[uint32]*inLayer{})
	ice.OnSelectedCandidatePairChange(in.setPair)
	if pair, err := ice.GetSelectedCandidatePair(); err == nil {
		in.setPair(pair)
	}
	return in
}

func (in *srtpIn) setPair(pair *webrtc.ICECandidatePair) { in.conn.routeIn(in, udpRemote(pair)) }

// add takes l's SSRC onto the direct path once its feedback stream exists
// (Pion binds it before OnTrack, so it does by then).
func (in *srtpIn) add(l *layer) {
	fb := in.fi.stream(l.ssrc)
	if fb == nil || l.ssrc == 0 {
		return
	}
	in.mu.Lock()
	in.byssrc[l.ssrc] = &inLayer{l: l, fb: fb}
	in.publishLocked()
	in.mu.Unlock()
	in.scanRepair() // a repair stream from the SDP is known at once
}

// remove takes l and its repair stream off the direct path (its reader
// ended).
func (in *srtpIn) remove(l *layer) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for ssrc, il := range in.byssrc {
		if il.l == l {
			delete(in.byssrc, ssrc)
		}
	}
	in.publishLocked()
}

// scanRepair takes onto the direct path the repair (RTX) streams Pion has
// learned for the layers on it: from the SDP's FID groups at once, for
// simulcast layers from their first repair packet (which Pion keeps, as
// the primary stream no longer reaches Pion's reader).
func (in *srtpIn) scanRepair() {
	in.mu.Lock()
	defer in.mu.Unlock()
	added := false
	for _, il := range in.byssrc {
		if il.rtx {
			continue
		}
		rtx := uint32(il.l.remote.RtxSSRC())
		if rtx == 0 || in.byssrc[rtx] != nil {
			continue
		}
		if fb := in.fi.stream(rtx); fb != nil {
			in.byssrc[rtx] = &inLayer{l: il.l, fb: fb, prim: il.fb, rtx: true}
			added = true
		}
	}
	if added {
		in.publishLocked()
	}
}

func (in *srtpIn) publishLocked() {
	m := make(map[uint32]*inLayer, len(in.byssrc))
	for k, v := range in.byssrc {
		m[k] = v
	}
	in.snap.Store(&m)
}

// repairScanEvery bounds how often unknown SSRCs make the socket reader
// look for newly learned repair streams.
const repairScanEvery = 100 * time.Millisecond

// closedIn marks a participant that left: no direct path may be set up.
var closedIn = &srtpIn{}

// detach stops the direct path for good (the participant is leaving).
func (in *srtpIn) detach() {
	in.conn.routeIn(in, nil)
	in.conn.rmu.Lock()
	in.gone = true
	in.conn.rmu.Unlock()
}

// readRTP takes one SRTP packet from the publisher's address; false means
// it is not for the direct path (Pion gets it). Socket reader only.
func (in *srtpIn) readRTP(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	il := (*in.snap.Load())[binary.BigEndian.Uint32(b[8:12])]
	if il == nil {
		if now := sfuClock(); now-in.lastScan > int64(repairScanEvery) {
			in.lastScan = now
			in.scanRepair()
		}
		return false
	}
	p := getPkt()
	if ok, drop := in.decrypt(p, b); !ok {
		p.release()
		// A replay is dropped here: Pion's context never saw the first copy.
		return drop
	}
	dec := p.buf[:p.n]
	in.s.directRTP.Add(1)
	now := in.fi.now()
	if f, ok := rtpfields.Parse(dec, il.fb.twccID); ok {
		il.fb.packet(f, now)
	}
	if il.rtx {
		if !unwrapRTX(p, il, now) {
			p.release() // a padding-only probe: counted for TWCC above, nothing to forward
			return true
		}
		in.s.directRTX.Add(1)
	}
	il.l.push(p)
	return true
}

// decrypt opens b into p (setting p.n); if not, drop says it is a replay
// or older than the replay window.
func (in *srtpIn) decrypt(p *pkt, b []byte) (ok, drop bool) {
	if in.gcm != nil {
		n, res := in.gcm.openRTP(p.buf[:], b)
		p.n = n
		return res == opened, res == replayed
	}
	dec, err := in.ctx.DecryptRTP(p.buf[:0], b, nil)
	if err != nil || len(dec) == 0 || &dec[0] != &p.buf[0] {
		return false, err != nil && strings.HasSuffix(err.Error(), "duplicated packet")
	}
	p.n = len(dec)
	return true, false
}

// unwrapRTX turns a repair packet back into the packet it repairs (RFC
// 4588: the original sequence number leads the payload; payload type and
// SSRC are the primary stream's) and fills its NACK slot. False: no
// original inside (a bandwidth probe).
func unwrapRTX(p *pkt, il *inLayer, now int64) bool {
	b := p.buf[:p.n]
	hl, ok := rtpfields.HeaderLen(b)
	if !ok {
		return false
	}
	if payload, ok := rtpfields.Payload(b, hl); !ok || len(payload) < 2+1 {
		return false
	}
	osn := binary.BigEndian.Uint16(b[hl : hl+2])
	b[1] = b[1]&0x80 | uint8(il.l.pt.codec.PayloadType)&0x7f
	binary.BigEndian.PutUint16(b[2:4], osn)
	binary.BigEndian.PutUint32(b[8:12], il.l.ssrc)
	copy(b[hl:], b[hl+2:])
	p.n -= 2
	il.prim.packet(rtpfields.Fields{Seq: osn, TS: binary.BigEndian.Uint32(b[4:8]), SSRC: il.l.ssrc}, now)
	return true
}
