package srtpkeys

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// Two peers in one process: each one's local keys are the other's remote
// keys, both agree on the profile, and the ICE transport is the PC's.
func TestOf(t *testing.T) {
	defer goleak.VerifyNone(t)
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	a, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, _, _, ok := Of(a); ok {
		t.Fatal("keys before DTLS")
	}
	if _, err := a.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	connected := func(pc *webrtc.PeerConnection) chan struct{} {
		c := make(chan struct{})
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				close(c)
			}
		})
		return c
	}
	ca, cb := connected(a), connected(b)
	// a offers, b answers; each description once gathered (no trickle).
	for _, p := range [][2]*webrtc.PeerConnection{{a, b}, {b, a}} {
		pc, other := p[0], p[1]
		var d webrtc.SessionDescription
		if pc == a {
			d, err = pc.CreateOffer(nil)
		} else {
			d, err = pc.CreateAnswer(nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(d); err != nil {
			t.Fatal(err)
		}
		<-gathered
		if err := other.SetRemoteDescription(*pc.LocalDescription()); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []chan struct{}{ca, cb} {
		select {
		case <-c:
		case <-time.After(20 * time.Second):
			t.Fatal("not connected")
		}
	}
	ka, pa, ia, ok := Of(a)
	if !ok {
		t.Fatal("no keys for a: has Pion's DTLSTransport layout changed?")
	}
	kb, pb, ib, ok := Of(b)
	if !ok {
		t.Fatal("no keys for b")
	}
	if pa != pb || pa == 0 {
		t.Fatalf("profiles %v and %v", pa, pb)
	}
	if len(ka.LocalMasterKey) == 0 || !bytes.Equal(ka.LocalMasterKey, kb.RemoteMasterKey) || !bytes.Equal(ka.LocalMasterSalt, kb.RemoteMasterSalt) ||
		!bytes.Equal(kb.LocalMasterKey, ka.RemoteMasterKey) || bytes.Equal(ka.LocalMasterKey, ka.RemoteMasterKey) {
		t.Fatalf("keys do not pair: a %+v, b %+v", ka, kb)
	}
	if ia != a.SCTP().Transport().ICETransport() || ib != b.SCTP().Transport().ICETransport() {
		t.Fatal("not the PCs' ICE transports")
	}
}
