package sfu

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/srtpkeys"
)

// srtpOut is a subscriber's direct SRTP path: the egress worker encrypts
// each packet with the session's keys into a pooled buffer and hands it to
// the batch writer, skipping Pion's per-packet layers (interceptor writer,
// SRTP session lock, mux endpoint, ICE conn, UDP mux conn, and the batch
// writer's copy). Used only on UDP through the SFU's own batched socket;
// otherwise writes go through Pion. With the AEAD-AES-GCM profiles the
// packets are sealed by gcmSealer rather than Pion's Context (no per-SSRC
// map, header re-parse or payload copy); other profiles keep the Context.
//
// The subscriber's RTCP (TWCC feedback, NACKs, PLIs, receiver reports) takes
// the direct path too: the socket reader recognises SRTCP from the selected
// pair's address, decrypts it with the session's remote keys and hands it to
// the egress worker, skipping Pion's UDP mux worker, ICE and DTLS/SRTP
// demultiplexers, SRTCP session, read buffers and the per-sender RTCP
// readers (about one goroutine hand-off each). For the GCM profiles
// gcmRTCPOpener decrypts them (Pion's Context for the others). Packets
// that do not decrypt go on to Pion unchanged.
type srtpOut struct {
	ctx  *srtp.Context // egress worker only (it is not goroutine-safe); nil when gcm seals
	gcm  *gcmSealer    // egress worker only; replaces ctx for the GCM profiles
	conn *batchConn
	dst  atomic.Pointer[netip.AddrPort] // the selected pair's remote; nil = not UDP
	eg   *egress
	gone bool // detached for good; guarded by conn.rmu

	// The socket reader's (one goroutine): SRTCP from the subscriber,
	// opened by rtcp for the GCM profiles and by in for the others.
	in     *srtp.Context
	rtcp   *gcmRTCPOpener
	window int64
	count  int
}

// newSRTPOut derives the keys from pc's DTLS connection (srtpkeys.Of).
func newSRTPOut(pc *webrtc.PeerConnection, conn *batchConn, eg *egress) *srtpOut {
	if conn == nil {
		return nil
	}
	if ld := pc.LocalDescription(); ld == nil || strings.Contains(ld.SDP, "a=cryptex") {
		return nil // header encryption: leave it to Pion
	}
	keys, profile, ice, ok := srtpkeys.Of(pc)
	if !ok {
		return nil
	}
	o := &srtpOut{conn: conn, eg: eg}
	if gcmProfile(profile) {
		o.gcm = newGCMSealer(profile, keys.LocalMasterKey, keys.LocalMasterSalt)
		o.rtcp = newGCMRTCPOpener(profile, keys.RemoteMasterKey, keys.RemoteMasterSalt)
	}
	var err error
	if o.gcm == nil { // Pion's contexts only where ours do not apply (each holds its own AES state)
		if o.ctx, err = srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, profile); err != nil {
			return nil
		}
	}
	if o.rtcp == nil {
		o.in, err = srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, profile,
			srtp.SRTCPReplayProtection(replayWindow))
		if err != nil {
			return nil
		}
	}
	ice.OnSelectedCandidatePairChange(o.setPair)
	if pair, err := ice.GetSelectedCandidatePair(); err == nil {
		o.setPair(pair)
	}
	return o
}

// udpRemote is a selected pair's remote address when the pair is UDP.
func udpRemote(pair *webrtc.ICECandidatePair) *netip.AddrPort {
	if pair != nil && pair.Local != nil && pair.Remote != nil && pair.Local.Protocol == webrtc.ICEProtocolUDP {
		if ip, err := netip.ParseAddr(pair.Remote.Address); err == nil {
			ap := netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port)
			return &ap
		}
	}
	return nil
}

func (o *srtpOut) setPair(pair *webrtc.ICECandidatePair) {
	a := udpRemote(pair)
	o.conn.route(o, a)
	if o.eg.out.Load() == o {
		o.eg.setPooled(a != nil)
	}
	if a == nil && o.eg.p != nil {
		o.eg.p.needPionRTCP() // RTCP now reaches Pion: read it there
	}
}

// detach stops both directions for good (the subscriber is leaving).
func (o *srtpOut) detach() {
	o.conn.route(o, nil)
	o.conn.rmu.Lock()
	o.gone = true
	o.conn.rmu.Unlock()
}

// closedOut marks an egress whose subscriber left: writes go to Pion's
// (closed) path and no direct session may be installed any more.
var closedOut = &srtpOut{}

// readRTCP takes one SRTCP packet from the subscriber's address; false
// means it is not this session's (Pion gets it). Socket reader only.
// buf is the socket reader's scratch for the clear packet (b stays intact
// for Pion when decryption fails).
func (o *srtpOut) readRTCP(b, buf []byte) bool {
	dec, ok := o.openRTCP(b, buf)
	if !ok {
		return false
	}
	s := o.eg.s
	s.directRTCP.Add(1)
	now := sfuClock()
	if now-o.window > int64(time.Second) {
		o.window, o.count = now, 0
	}
	downs := *o.eg.downs.Load()
	if o.count += rtcpCount(dec); o.count > rtcpPerSecond*max(len(downs), 1) {
		s.drops.rtcpFlood.Add(1)
		return true
	}
	bad := eachRTCP(dec, func(tw []byte) { o.eg.pushCtrl(twccItem(tw)) }, func(p rtcp.Packet) {
		switch x := p.(type) {
		case *rtcp.PictureLossIndication:
			o.keyframe(downs, x.MediaSSRC)
		case *rtcp.FullIntraRequest:
			o.keyframe(downs, x.MediaSSRC)
		case *rtcp.TransportLayerNack:
			if d := downBySSRC(downs, x.MediaSSRC); d != nil {
				o.eg.pushCtrl(ctrlItem{dt: d, nack: x})
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			o.eg.pushCtrl(ctrlItem{remb: float64(x.Bitrate)})
		}
	})
	s.drops.malformed.Add(uint64(bad))
	return true
}

// openRTCP decrypts b into buf. Replays, like every other failure, go on
// to Pion as they did with Pion's Context here.
func (o *srtpOut) openRTCP(b, buf []byte) ([]byte, bool) {
	if o.rtcp != nil {
		n, res := o.rtcp.openRTCP(buf, b)
		return buf[:n], res == opened
	}
	dec, err := o.in.DecryptRTCP(buf[:0], b, nil)
	return dec, err == nil
}

func (o *srtpOut) keyframe(downs []*downTrack, ssrc uint32) {
	if d := downBySSRC(downs, ssrc); d != nil {
		if l := int(d.curLayer.Load()); l >= 0 {
			d.pt.requestKeyframe(l)
		}
	}
}

func downBySSRC(downs []*downTrack, ssrc uint32) *downTrack {
	for _, d := range downs {
		// live first: bound is stored after Bind sets ssrc.
		if d.live() && d.ssrc == ssrc {
			return d
		}
	}
	return nil
}

// rtcpCount counts the packets of a compound RTCP packet without parsing.
func rtcpCount(b []byte) int {
	n := 0
	for len(b) >= 4 {
		n++
		l := 4 * (int(binary.BigEndian.Uint16(b[2:4])) + 1)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return n
}

// isRTCP tells RTCP from RTP on one port (RFC 5761: packet types 192–223).
func isRTCP(b []byte) bool {
	return len(b) >= 8 && b[0]&0xc0 == 0x80 && b[1] >= 192 && b[1] <= 223
}

// write encrypts and queues one packet; false means "use Pion's path".
// No allocation: the buffer comes from the batch writer's pool.
func (o *srtpOut) write(h *rtp.Header, payload []byte) bool {
	dst := o.dst.Load()
	if dst == nil {
		return false
	}
	bp := getBuf(h.MarshalSize() + len(payload) + gcmTagLen)
	b := (*bp)[:cap(*bp)]
	if o.gcm != nil {
		n, ok := o.gcm.sealRTP(b, h, payload)
		if !ok {
			putBuf(bp)
			return false
		}
		*bp = b[:n]
		o.conn.send(bp, *dst)
		return true
	}
	n, err := h.MarshalTo(b)
	if err != nil || n+len(payload)+16 > len(b) {
		putBuf(bp)
		return false
	}
	n += copy(b[n:], payload)
	out, err := o.ctx.EncryptRTP(b[:0], b[:n], h)
	if err != nil || &out[0] != &b[0] {
		putBuf(bp)
		return err == nil // encrypted elsewhere (grown): drop rather than double-send
	}
	*bp = out
	o.conn.send(bp, *dst)
	return true
}
