package sfu

import (
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/pion/dtls/v3"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// srtpOut is a subscriber's direct SRTP path: the egress worker encrypts
// each packet with the session's keys into a pooled buffer and hands it to
// the batch writer, skipping Pion's per-packet layers (interceptor writer,
// SRTP session lock, mux endpoint, ICE conn, UDP mux conn, and the batch
// writer's copy). RTCP still goes through Pion. Used only on UDP through
// the SFU's own batched socket; otherwise writes go through Pion.
type srtpOut struct {
	ctx  *srtp.Context // egress worker only (it is not goroutine-safe)
	conn *batchConn
	dst  atomic.Pointer[netip.AddrPort] // the selected pair's remote; nil = not UDP
}

// newSRTPOut derives the keys from pc's DTLS connection. Pion exposes no
// API for them, so the connection is read from DTLSTransport by reflection
// (Pion is pinned; TestDirectSRTP fails if its layout changes).
func newSRTPOut(pc *webrtc.PeerConnection, conn *batchConn) *srtpOut {
	if conn == nil || pc.SCTP() == nil {
		return nil
	}
	if ld := pc.LocalDescription(); ld == nil || strings.Contains(ld.SDP, "a=cryptex") {
		return nil // header encryption: leave it to Pion
	}
	dt := pc.SCTP().Transport()
	if dt == nil || dt.State() != webrtc.DTLSTransportStateConnected {
		return nil
	}
	f := reflect.ValueOf(dt).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*dtls.Conn)(nil)) {
		return nil
	}
	dc := *(**dtls.Conn)(unsafe.Pointer(f.UnsafeAddr()))
	if dc == nil {
		return nil
	}
	state, ok := dc.ConnectionState()
	if !ok {
		return nil
	}
	var profile srtp.ProtectionProfile
	switch p, _ := dc.SelectedSRTPProtectionProfile(); p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		profile = srtp.ProtectionProfileAeadAes256Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return nil
	}
	isClient := reflect.ValueOf(&state).Elem().FieldByName("isClient")
	if !isClient.IsValid() || isClient.Kind() != reflect.Bool {
		return nil
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClient.Bool()); err != nil {
		return nil
	}
	ctx, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
	if err != nil {
		return nil
	}
	o := &srtpOut{ctx: ctx, conn: conn}
	ice := dt.ICETransport()
	ice.OnSelectedCandidatePairChange(o.setPair)
	if pair, err := ice.GetSelectedCandidatePair(); err == nil {
		o.setPair(pair)
	}
	return o
}

func (o *srtpOut) setPair(pair *webrtc.ICECandidatePair) {
	if pair == nil || pair.Local == nil || pair.Remote == nil || pair.Local.Protocol != webrtc.ICEProtocolUDP {
		o.dst.Store(nil)
		return
	}
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		o.dst.Store(nil)
		return
	}
	a := netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port)
	o.dst.Store(&a)
}

// write encrypts and queues one packet; false means "use Pion's path".
// No allocation: the buffer comes from the batch writer's pool.
func (o *srtpOut) write(h *rtp.Header, payload []byte) bool {
	dst := o.dst.Load()
	if dst == nil {
		return false
	}
	bp := batchBufPool.Get().(*[]byte)
	b := (*bp)[:cap(*bp)]
	n, err := h.MarshalTo(b)
	if err != nil || n+len(payload)+16 > len(b) {
		batchBufPool.Put(bp)
		return false
	}
	n += copy(b[n:], payload)
	out, err := o.ctx.EncryptRTP(b[:0], b[:n], h)
	if err != nil || &out[0] != &b[0] {
		batchBufPool.Put(bp)
		return err == nil // encrypted elsewhere (grown): drop rather than double-send
	}
	*bp = out
	o.conn.send(bp, *dst)
	return true
}
