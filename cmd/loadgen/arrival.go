package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"

	"jobhall/internal/rtpfields"
)

// A subscriber's arrivals: when each packet reached its socket, by the
// kernel's receive stamp (SO_TIMESTAMPNS), not when loadgen got round to
// it. With hundreds of subscribers on one core, a keyframe burst to all of
// them queues in loadgen for tens of milliseconds; a phone or a browser
// stamps arrivals on its network thread as they come. Two things use the
// stamps:
//   - the added latency (send time in the payload to arrival), so that
//     loadgen's own backlog is not charged to the SFU;
//   - the transport-wide congestion control feedback, so that the SFU's
//     bandwidth estimator sees the network's delay, not loadgen's.
// Both read the RTP header (internal/rtpfields), which SRTP leaves in the
// clear.

// arrivalRing is one SSRC's recent arrivals, by sequence number.
const arrivalRing = 1024

type arrivalSlot struct {
	seq uint16
	ok  bool
	at  int64 // unix ns
}

// arrivals is shared by the socket readers of one subscribe PeerConnection
// (Pion's ICE reads each socket on its own goroutine) and its track readers.
type arrivals struct {
	twccID atomic.Uint32 // negotiated transport-wide sequence extension id; 0 = none
	start  time.Time

	mu    sync.Mutex
	rings map[uint32]*[arrivalRing]arrivalSlot
	rec   *twcc.Recorder // nil without TWCC feedback
	// Direct receive (direct.go): the SFU's SRTP keys (nil until DTLS
	// connects, or when direct receive is off) and the streams it takes.
	srtp   *srtp.Context
	tracks map[uint32]*directTrack
	hdr    rtp.Header
	dbuf   [1500]byte
}

// maxArrivalSSRCs bounds the map: a subscriber receives a handful of
// streams (and their RTX); more means garbage, not media.
const maxArrivalSSRCs = 32

func newArrivals(feedback bool) *arrivals {
	a := &arrivals{start: time.Now(), rings: map[uint32]*[arrivalRing]arrivalSlot{}}
	if feedback {
		a.rec = twcc.NewRecorder(rand.Uint32())
	}
	return a
}

// take records one datagram's arrival if it is RTP, and takes it when it
// is media of a stream on the direct path (true: Pion must not see it).
func (a *arrivals) take(b []byte, at int64) bool {
	// Not RTCP (payload types 64-95 with the marker bit make the second
	// byte 192-223); STUN and DTLS fail Parse's version test.
	if len(b) > 1 && b[1] >= 192 && b[1] <= 223 {
		return false
	}
	var id uint8
	if a.rec != nil {
		id = uint8(a.twccID.Load())
	}
	f, ok := rtpfields.Parse(b, id)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if f.HasTW {
		a.rec.Record(f.SSRC, f.TWSeq, (at-a.start.UnixNano())/1000)
	}
	if a.directLocked(b, f.SSRC, at) {
		return true
	}
	r := a.rings[f.SSRC]
	if r == nil && len(a.rings) < maxArrivalSSRCs {
		r = new([arrivalRing]arrivalSlot)
		a.rings[f.SSRC] = r
	}
	if r != nil {
		r[f.Seq%arrivalRing] = arrivalSlot{seq: f.Seq, ok: true, at: at}
	}
	return false
}

// at is when packet (ssrc, seq) reached the socket; false when it was not
// seen (a repair that came as RTX on another SSRC, or too old).
func (a *arrivals) at(ssrc uint32, seq uint16) (int64, bool) {
	if a == nil {
		return 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rings[ssrc]
	if r == nil {
		return 0, false
	}
	s := r[seq%arrivalRing]
	return s.at, s.ok && s.seq == seq
}

// feedback is the transport-wide feedback built since the last call.
func (a *arrivals) feedback() []rtcp.Packet {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rec.BuildFeedbackPacket()
}

// arrivalNet is the network of one subscribe PeerConnection: the host's
// stack, with every UDP socket it opens stamping arrivals into a.
type arrivalNet struct {
	*stdnet.Net
	a *arrivals
}

func (n *arrivalNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	raw, err := u.SyscallConn()
	if err != nil {
		return c, nil
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return c, nil // no stamps: arrivals fall back to the reader's clock
	}
	return &stampConn{UDPConn: u, a: n.a}, nil
}

// stampConn reads with the kernel's receive stamp. Pion's ICE reads each
// socket from one goroutine, so oob needs no lock.
type stampConn struct {
	*net.UDPConn
	a   *arrivals
	oob [64]byte
}

// ReadFromAddrPort returns the next datagram the direct path does not take.
func (c *stampConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, oobn, _, addr, err := c.UDPConn.ReadMsgUDPAddrPort(b, c.oob[:])
		if err != nil {
			return n, addr, err
		}
		at, ok := rxStamp(c.oob[:oobn])
		if !ok {
			at = time.Now().UnixNano()
		}
		if !c.a.take(b[:n], at) {
			return n, addr, nil
		}
	}
}

func (c *stampConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// rxStamp reads SCM_TIMESTAMPNS (a struct timespec) from control messages.
func rxStamp(oob []byte) (int64, bool) {
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0, false
		}
		oob = rest
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(data))
			nsec := int64(binary.NativeEndian.Uint64(data[8:]))
			return sec*1e9 + nsec, true
		}
	}
	return 0, false
}

// extmapID is the id an SDP gives a header extension URI (0: none).
func extmapID(s, uri string) uint8 {
	for _, line := range strings.Split(s, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "a=extmap:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != uri {
			continue
		}
		id, _, _ := strings.Cut(f[0], "/") // "5/sendrecv"
		if n, err := strconv.Atoi(id); err == nil && n > 0 && n < 15 {
			return uint8(n)
		}
	}
	return 0
}

// feedbackLoop sends the subscriber's transport-wide feedback every 100 ms
// (as Pion's interceptor and browsers do) and, for the direct path, its
// NACKs every 50 ms, until the peer closes.
func (p *mediaPeer) feedbackLoop() {
	defer p.wg.Done()
	t := time.NewTicker(nackInterval / 2)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		if n := p.arr.nacks(time.Now().UnixNano()); len(n) > 0 {
			_ = p.sub.WriteRTCP(n) // counted by the NACK counter in the interceptor chain
		}
		if tick%2 == 1 || p.arr.rec == nil {
			continue
		}
		if pkts := p.arr.feedback(); len(pkts) > 0 {
			if p.sub.WriteRTCP(pkts) == nil && p.env.stats.measuring.Load() {
				p.env.stats.feedbackSent.Add(int64(len(pkts)))
			}
		}
	}
}
