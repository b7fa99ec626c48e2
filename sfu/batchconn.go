package sfu

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

const (
	batchSize       = 64   // sendmmsg messages per system call
	batchMaxPending = 8192 // packets waiting for the flusher; more are dropped
	yieldAbove      = 1024 // every this many queued, a producer yields to the flusher
	// UDP GSO: equal-size packets to one destination leave as one message
	// that the kernel (or the NIC) splits. Linux allows 64 segments.
	gsoMaxSegs  = 64
	gsoMaxBytes = 60000
	batchIovecs = 4 * batchSize // packets per system call, over all messages
	readBatch   = 32            // datagrams per recvmmsg
	readBufLen  = 4096          // larger datagrams are not ours (media ≤ 1500, DTLS fragments ≤ MTU)
	// When traffic trickles (the last flush and the queue both under
	// holdBelow datagrams, as with interviews: a few packets per publisher
	// every few milliseconds), the flusher holds the queue up to flushHold
	// so that one sendmmsg carries several frames. Each call costs a system
	// call and wakes the receiving side once; at that rate the calls, not
	// the datagrams, were the cost (issue #4, BENCHMARKS round 7). A busy
	// socket (a broadcast) is never held.
	flushHold = 1500 * time.Microsecond
	holdBelow = 16
)

// Buffers for queued datagrams in two sizes: most media packets (≤ 1,200
// bytes from browsers, plus the SRTP tag) fit the smaller size class, and
// a 200-viewer fan-out keeps thousands in flight (a third less memory).
const (
	smallBuf = 1280 // a Go size class
	largeBuf = maxPacket + 64
)

var (
	smallBufPool = sync.Pool{New: func() any { b := make([]byte, 0, smallBuf); return &b }}
	largeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, largeBuf); return &b }}
)

// getBuf returns a pooled buffer with room for n bytes (n ≤ largeBuf).
func getBuf(n int) *[]byte {
	if n <= smallBuf {
		return smallBufPool.Get().(*[]byte)
	}
	return largeBufPool.Get().(*[]byte)
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(bp *[]byte) {
	if cap(*bp) == smallBuf {
		smallBufPool.Put(bp)
	} else {
		largeBufPool.Put(bp)
	}
}

type outMsg struct {
	buf  *[]byte
	addr netip.AddrPort
}

// batchConn is the ICE UDP mux's socket. Writes are copied into a queue and
// sent by one flusher goroutine with sendmmsg (x/net ipv4 WriteBatch), so a
// fan-out costs one system call per batch instead of one per packet, and
// the subscriber workers never enter the kernel. Consecutive queued packets
// to one destination with equal sizes (a video frame's packets, written in
// a row by the subscriber's egress worker) go out as one UDP GSO message
// (UDP_SEGMENT), so the kernel's per-packet send path runs once per group.
// Reads: batches with recvmmsg, paced while busy (mmsg_linux.go); media
// and SRTCP on the direct paths are handled on the reader.
type batchConn struct {
	*net.UDPConn // closed when raw took its socket over (mmsg_linux.go)
	laddr        net.Addr
	pc           *ipv4.PacketConn
	raw          *rawSock // raw sendmmsg/recvmmsg (Linux); nil: one read per call, x/net's WriteBatch
	dropped      *atomic.Uint64

	mu      sync.Mutex
	pending []outMsg
	closed  bool

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	// Subscribers' sessions by their selected remote address, for the
	// direct SRTCP path (srtpOut.readRTCP); direct says whether any exists.
	rmu    sync.RWMutex
	routes map[netip.AddrPort]*srtpOut
	direct atomic.Bool
	rbuf   [maxPacket]byte // the socket reader's: decrypted SRTCP
	// Publishers' sessions by their selected remote address, for the
	// direct SRTP path (srtpIn.readRTP).
	inRoutes map[netip.AddrPort]*srtpIn
	directIn atomic.Bool

	// Datagrams sent and sendmmsg messages that carried them (fewer with
	// GSO); gsoOff is set when the kernel refused a GSO message.
	datagrams, messages atomic.Uint64
	sendCalls           atomic.Uint64
	yields              atomic.Uint64 // producers that yielded to the flusher (yieldAbove)
	readCalls, reads    atomic.Uint64
	gsoOff              atomic.Bool

	// Owned by the flusher; reused so a batch allocates nothing.
	spare     []outMsg
	lastFlush int // datagrams the last flush sent
	msgs      [batchSize]ipv4.Message
	iov       [batchIovecs][]byte
	oob       [batchSize][gsoCmsgLen]byte
	addrs     [batchSize]net.UDPAddr
	ips       [batchSize][16]byte
}

func newBatchConn(c *net.UDPConn, dropped *atomic.Uint64) *batchConn {
	b := &batchConn{UDPConn: c, laddr: c.LocalAddr(), pc: ipv4.NewPacketConn(c), dropped: dropped,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	for i := range b.msgs {
		b.msgs[i].Addr = &b.addrs[i]
	}
	b.gsoOff.Store(!gsoSupported)
	if rawMmsg {
		b.raw = newRawSock(c)
	}
	b.wg.Add(1)
	go b.flusher()
	return b
}

// ReadFromAddrPort and WriteToAddrPort let the ICE mux skip net.Addr
// allocations. Media and SRTCP on a direct path are handled here and never
// reach the mux; with raw batch reads the rest is copied into p.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for {
		var d []byte
		var from netip.AddrPort
		if b.raw != nil {
			var err error
			if d, from, err = b.raw.next(&b.readCalls, &b.reads); err != nil {
				return 0, netip.AddrPort{}, err
			}
		} else {
			n, addr, err := b.UDPConn.ReadFromUDPAddrPort(p)
			if err != nil {
				return n, addr, err
			}
			d, from = p[:n], addr
		}
		if !b.handled(d, from) {
			return copy(p, d), from, nil // d is p itself without raw reads
		}
	}
}

// handled takes SRTCP from direct-path subscribers and SRTP from
// direct-path publishers; false: the mux's (STUN, DTLS, anything else).
func (b *batchConn) handled(d []byte, from netip.AddrPort) bool {
	if len(d) < 12 || d[0]&0xc0 != 0x80 {
		return false // not RTP or RTCP
	}
	if isRTCP(d) {
		if !b.direct.Load() {
			return false
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		b.rmu.RLock()
		o := b.routes[from]
		b.rmu.RUnlock()
		return o != nil && o.readRTCP(d, b.rbuf[:])
	}
	if !b.directIn.Load() {
		return false
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	b.rmu.RLock()
	in := b.inRoutes[from]
	b.rmu.RUnlock()
	return in != nil && in.readRTP(d)
}

// routeIn points a publisher's direct path at addr (nil: nowhere).
func (b *batchConn) routeIn(in *srtpIn, addr *netip.AddrPort) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if !in.gone {
		b.directIn.Store(setRoute(&b.inRoutes, &in.dst, in, addr) > 0)
	}
}

// route points o at addr (nil: nowhere) for both directions: writes go to
// addr and SRTCP read from addr goes to o.
func (b *batchConn) route(o *srtpOut, addr *netip.AddrPort) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if !o.gone {
		b.direct.Store(setRoute(&b.routes, &o.dst, o, addr) > 0)
	}
}

// setRoute moves v's entry in routes from its current address (cur) to
// addr and returns how many routes there are. Caller holds rmu.
func setRoute[T comparable](routes *map[netip.AddrPort]T, cur *atomic.Pointer[netip.AddrPort], v T, addr *netip.AddrPort) int {
	if old := cur.Load(); old != nil && (*routes)[*old] == v {
		delete(*routes, *old)
	}
	cur.Store(addr)
	if addr != nil {
		if *routes == nil {
			*routes = map[netip.AddrPort]T{}
		}
		(*routes)[*addr] = v
	}
	return len(*routes)
}

func (b *batchConn) LocalAddr() net.Addr { return b.laddr }

// Deadlines: writes are queued and never block; the mux sets no read
// deadline. With raw, Go's socket is closed, so they are no-ops.
func (b *batchConn) SetDeadline(t time.Time) error { return b.deadline(b.UDPConn.SetDeadline, t) }
func (b *batchConn) SetReadDeadline(t time.Time) error {
	return b.deadline(b.UDPConn.SetReadDeadline, t)
}
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	return b.deadline(b.UDPConn.SetWriteDeadline, t)
}

func (b *batchConn) deadline(set func(time.Time) error, t time.Time) error {
	if b.raw != nil {
		return nil
	}
	return set(t)
}

// writeOne sends p alone, outside the queue.
func (b *batchConn) writeOne(p []byte, addr netip.AddrPort) (int, error) {
	if b.raw != nil {
		if err := b.raw.sendOne(p, addr); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return b.UDPConn.WriteToUDPAddrPort(p, addr)
}

func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > maxPacket+64 {
		return b.writeOne(p, addr)
	}
	bp := getBuf(len(p))
	*bp = append((*bp)[:0], p...)
	b.send(bp, addr)
	return len(p), nil
}

// send queues a pooled buffer (from getBuf), which the flusher puts
// back after sending; drops it when the queue is full or closed.
func (b *batchConn) send(bp *[]byte, addr netip.AddrPort) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		putBuf(bp)
		return
	}
	if len(b.pending) >= batchMaxPending {
		b.mu.Unlock()
		putBuf(bp)
		b.dropped.Add(1)
		return
	}
	b.pending = append(b.pending, outMsg{buf: bp, addr: addr})
	n := len(b.pending)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	if n%yieldAbove == 0 {
		// A burst (a keyframe to hundreds of viewers, read in one batch):
		// let the flusher run before the queue overflows. On one core it
		// otherwise waits until every producer has queued its part.
		b.yields.Add(1)
		runtime.Gosched()
	}
}

func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.UnknownNetworkError(addr.Network())}
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
	if b.raw != nil {
		b.raw.close()
		return nil
	}
	return b.UDPConn.Close()
}

func (b *batchConn) flusher() {
	defer b.wg.Done()
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	for {
		select {
		case <-b.wake:
		case <-b.done:
			b.flush() // what was queued before Close
			return
		}
		if b.lastFlush < holdBelow && b.queued() < holdBelow {
			hold.Reset(flushHold)
			select {
			case <-hold.C:
			case <-b.done:
				hold.Stop()
				b.flush()
				return
			}
		}
		// Let the workers that are ready run first, while they add to the
		// queue: a wake-up makes the flusher the next goroutine to run, so
		// without this each worker's frame left in its own system call
		// (1.3 messages per sendmmsg in the interview benchmark).
		for range 4 {
			n := b.queued()
			runtime.Gosched()
			if b.queued() == n {
				break
			}
		}
		b.flush()
	}
}

func (b *batchConn) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

func (b *batchConn) flush() {
	b.lastFlush = 0
	for {
		b.mu.Lock()
		out := b.pending
		b.pending = b.spare[:0]
		b.mu.Unlock()
		batch := out
		if len(out) == 0 {
			b.spare = batch
			return
		}
		b.lastFlush += len(out)
		for len(out) > 0 {
			used := b.writeSome(out)
			for i := range out[:used] {
				putBuf(out[i].buf)
				out[i] = outMsg{}
			}
			out = out[used:]
		}
		b.spare = batch[:0]
	}
}

// writeSome sends a prefix of out with one or more sendmmsg calls and
// returns its length.
func (b *batchConn) writeSome(out []outMsg) int {
	gso := !b.gsoOff.Load()
	used, nm, niov := 0, 0, 0
	for used < len(out) && nm < batchSize && niov < batchIovecs {
		m := &out[used]
		seg := len(*m.buf)
		k, total := 1, seg
		if gso {
			// A group: equal sizes, the last one may be shorter.
			for used+k < len(out) && k < gsoMaxSegs && niov+k < batchIovecs {
				next := &out[used+k]
				l := len(*next.buf)
				if next.addr != m.addr || l > seg || l == 0 || total+l > gsoMaxBytes {
					break
				}
				total += l
				k++
				if l < seg {
					break
				}
			}
		}
		for j := 0; j < k; j++ {
			b.iov[niov+j] = *out[used+j].buf
		}
		msg := &b.msgs[nm]
		msg.Buffers = b.iov[niov : niov+k]
		msg.OOB = nil
		if k > 1 {
			putSegmentCmsg(b.oob[nm][:], uint16(seg))
			msg.OOB = b.oob[nm][:]
		}
		b.setAddr(nm, m.addr)
		nm++
		niov += k
		used += k
	}
	ms := b.msgs[:nm]
	for len(ms) > 0 {
		var sent int
		var err error
		if b.raw != nil {
			sent, err = b.raw.writeBatch(ms)
		} else {
			sent, err = b.pc.WriteBatch(ms, 0)
		}
		b.sendCalls.Add(1)
		if err != nil {
			sent = max(sent, 0)
			if sent >= len(ms) {
				break
			}
			if failed := &ms[sent]; len(failed.OOB) > 0 {
				// No GSO on this path (e.g. a device without checksum
				// offload): stop using it and send the group one by one.
				b.gsoOff.Store(true)
				a := failed.Addr.(*net.UDPAddr).AddrPort()
				for _, p := range failed.Buffers {
					_, _ = b.writeOne(p, a)
				}
			}
			sent++ // skip the message that failed
		}
		ms = ms[sent:]
	}
	for i := range b.msgs[:nm] {
		b.msgs[i].Buffers, b.msgs[i].OOB = nil, nil
	}
	clear(b.iov[:niov])
	b.datagrams.Add(uint64(used))
	b.messages.Add(uint64(nm))
	return used
}

func (b *batchConn) setAddr(i int, addr netip.AddrPort) {
	a := &b.addrs[i]
	ip := addr.Addr()
	if ip.Is4() || ip.Is4In6() {
		v := ip.Unmap().As4()
		copy(b.ips[i][:4], v[:])
		a.IP = b.ips[i][:4]
	} else {
		b.ips[i] = ip.As16()
		a.IP = b.ips[i][:16]
	}
	a.Port = int(addr.Port())
}
