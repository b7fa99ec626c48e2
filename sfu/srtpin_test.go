package sfu_test

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// dropper loses every tenth video packet of a publisher's primary stream
// after its NACK responder kept it (it sits under the responder), as a
// lossy uplink would; retransmissions (RTX, another SSRC) pass.
type dropper struct {
	interceptor.NoOp
	n atomic.Int64
}

func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType != webrtc.MimeTypeVP8 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == info.SSRC && d.n.Add(1)%10 == 3 {
			return len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

// Over real UDP a publisher's media takes the direct SRTP path, and loss
// on its uplink is still repaired: the SFU's NACKs name the lost packets,
// the publisher's RTX repairs come back over the same path, and the
// subscriber receives every frame's packets.
func TestDirectPathRepairsPublisherLoss(t *testing.T) {
	defer goleak.VerifyNone(t)
	e := newEnv(t)
	defer e.close()
	drop := &dropper{}
	e.apiFor = func(id string) *webrtc.API {
		if id != "A" {
			return e.api
		}
		return newClientAPIWith(t, drop)
	}
	room := e.sfu.Room("interview-rtx")
	a := e.join(room, "A", true, false)
	b := e.join(room, "B", false, true)
	var mu sync.Mutex
	got := map[uint32]bool{}
	b.onPacket = func(rt *recvTrack, p *rtp.Packet) bool {
		if rt.kind == webrtc.RTPCodecTypeVideo && len(p.Payload) >= 4 {
			mu.Lock()
			got[binary.BigEndian.Uint32(p.Payload[len(p.Payload)-4:])] = true
			mu.Unlock()
		}
		return true
	}
	a.publish()
	e.waitFor("B to receive A's video", func() bool { return b.receiving("A", 2, minPackets) })
	e.waitFor("300 more of A's video packets dropped at the source or sent", func() bool { return drop.n.Load() > 400 })
	e.waitFor("every dropped packet repaired at B", func() bool {
		mu.Lock()
		defer mu.Unlock()
		// Packets 100..300 (past the start, before the newest): all there.
		for n := uint32(100); n < 300; n++ {
			if !got[n] {
				return false
			}
		}
		return true
	})
	if st := e.sfu.Stats(); st.DirectRTP == 0 || st.DirectRTX == 0 {
		t.Fatalf("direct path: %d packets, %d repairs; want both", st.DirectRTP, st.DirectRTX)
	}
	if a.nackCount() == 0 {
		t.Fatal("A was never asked for a lost packet")
	}
}
