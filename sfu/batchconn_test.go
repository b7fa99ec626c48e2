package sfu

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// listenLoopback is a UDP socket on 127.0.0.1 with a free port.
func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBatchConnGSO queues packets for two receivers, interleaved, with runs
// of equal sizes (GSO groups), a shorter packet ending a group and a
// larger one starting a new one; each receiver must get exactly its
// packets, in order, and the runs must have left as fewer messages.
func TestBatchConnGSO(t *testing.T) {
	defer goleak.VerifyNone(t)
	sc := listenLoopback(t)
	var dropped atomic.Uint64
	b := newBatchConn(sc, &dropped)
	defer b.Close()
	ra, rb := listenLoopback(t), listenLoopback(t)
	defer ra.Close()
	defer rb.Close()
	addr := func(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

	type want struct {
		to   *net.UDPConn
		data []byte
	}
	var sent []want
	n := 0
	queue := func(c *net.UDPConn, size int) {
		p := bytes.Repeat([]byte{byte(n)}, size)
		copy(p, fmt.Sprintf("%04d", n))
		n++
		sent = append(sent, want{c, p})
	}
	for i := 0; i < 5; i++ {
		queue(ra, 1000)
	}
	queue(ra, 700) // ends the group
	queue(ra, 1000)
	queue(ra, 1200) // larger: a new group
	queue(ra, 1200)
	for i := 0; i < 3; i++ {
		queue(rb, 1000)
	}
	queue(ra, 1200)
	for i := 0; i < 70; i++ { // more than one GSO message holds
		queue(rb, 500)
	}
	// Queue everything at once, as one flush would find it.
	b.mu.Lock()
	for _, w := range sent {
		bp := getBuf(len(w.data))
		*bp = append((*bp)[:0], w.data...)
		b.pending = append(b.pending, outMsg{buf: bp, addr: addr(w.to)})
	}
	b.mu.Unlock()
	b.wake <- struct{}{}

	for _, r := range []*net.UDPConn{ra, rb} {
		var exp [][]byte
		for _, w := range sent {
			if w.to == r {
				exp = append(exp, w.data)
			}
		}
		buf := make([]byte, 2000)
		for i, e := range exp {
			_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, err := r.Read(buf)
			if err != nil {
				t.Fatalf("packet %d of %d: %v", i, len(exp), err)
			}
			if !bytes.Equal(buf[:k], e) {
				t.Fatalf("packet %d: got %d bytes starting %q, want %d bytes starting %q", i, k, buf[:4], len(e), e[:4])
			}
		}
	}
	// The flusher counts after sendmmsg returns, which may be after the
	// receivers have read everything.
	deadline := time.Now().Add(5 * time.Second)
	for b.datagrams.Load() < uint64(len(sent)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	d, m := b.datagrams.Load(), b.messages.Load()
	if d != uint64(len(sent)) {
		t.Fatalf("%d datagrams counted, want %d", d, len(sent))
	}
	if gsoSupported && !b.gsoOff.Load() && m >= d/4 {
		t.Fatalf("%d messages for %d datagrams: GSO grouping did not happen", m, d)
	}
	t.Logf("%d datagrams in %d messages (GSO off: %v)", d, m, b.gsoOff.Load())
}

// Batched reads and writes on the real socket allocate nothing per call.
func TestBatchConnNoAllocs(t *testing.T) {
	uc := listenLoopback(t)
	var dropped atomic.Uint64
	b := newBatchConn(uc, &dropped)
	defer b.Close()
	dst := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 200)
	buf := make([]byte, 1500)
	for range 50 { // warm the pools
		_, _ = b.WriteToAddrPort(pkt, dst)
		_, _, _ = b.ReadFromAddrPort(buf)
	}
	allocs := testing.AllocsPerRun(200, func() {
		_, _ = b.WriteToAddrPort(pkt, dst) // the flusher sends it
		if n, _, err := b.ReadFromAddrPort(buf); err != nil || n != len(pkt) {
			t.Fatalf("read %d, %v", n, err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per write and read, want 0", allocs)
	}
}

// On a dual-stack socket (the SFU's when it listens on every address)
// IPv4 peers are IPv4-mapped addresses both ways.
func TestBatchConnDualStack(t *testing.T) {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Uint64
	b := newBatchConn(uc, &dropped)
	defer b.Close()
	port := uc.LocalAddr().(*net.UDPAddr).Port
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	if _, err := b.WriteToAddrPort([]byte("over ipv4"), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := b.ReadFromAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "over ipv4" || from.Addr().Unmap() != dst.Addr() || from.Port() != uint16(port) {
		t.Fatalf("read %q from %v", buf[:n], from)
	}
}

// A trickle (a few datagrams a millisecond, as interviews send) is held
// briefly and leaves in fewer system calls than datagrams; nothing is lost
// or reordered, and Close sends what a hold still keeps.
func TestBatchConnHoldsTrickle(t *testing.T) {
	defer goleak.VerifyNone(t)
	sc, rc := listenLoopback(t), listenLoopback(t)
	defer rc.Close()
	var dropped atomic.Uint64
	b := newBatchConn(sc, &dropped)
	dst := rc.LocalAddr().(*net.UDPAddr).AddrPort()
	const n = 8
	calls0 := b.sendCalls.Load()
	for i := range n {
		if _, err := b.WriteToAddrPort([]byte{byte(i)}, dst); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	buf := make([]byte, 100)
	for i := range n {
		_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := rc.Read(buf)
		if err != nil || k != 1 || buf[0] != byte(i) {
			t.Fatalf("datagram %d: %v %v", i, buf[:k], err)
		}
	}
	// Counted after sendmmsg returns, which may be after the reads.
	deadline := time.Now().Add(5 * time.Second)
	for b.datagrams.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if calls := b.sendCalls.Load() - calls0; calls >= n {
		t.Errorf("%d datagrams a trickle apart took %d sendmmsg calls: not held", n, calls)
	} else {
		t.Logf("%d datagrams in %d sendmmsg calls", n, calls)
	}

	// Close during a hold: the datagram still leaves.
	if _, err := b.WriteToAddrPort([]byte("last"), dst); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, err := rc.Read(buf); err != nil || string(buf[:k]) != "last" {
		t.Fatalf("after Close: %q, %v", buf[:k], err)
	}
}

// TestBatchConnPacedReads: the socket has left Go's poller; while traffic
// flows the reader takes what arrived since its last read in one call,
// once idle it still wakes for the next datagram, Close ends a reader
// blocked while idle, and oversized datagrams still leave (outside the
// queue).
func TestBatchConnPacedReads(t *testing.T) {
	defer goleak.VerifyNone(t)
	sc := listenLoopback(t)
	var dropped atomic.Uint64
	b := newBatchConn(sc, &dropped)
	if !rawMmsg {
		t.Skip("no raw batch socket on this platform")
	}
	if b.raw == nil {
		t.Fatal("the raw batch socket was not set up")
	}
	if _, err := sc.WriteTo([]byte("x"), sc.LocalAddr()); err == nil {
		t.Fatal("Go's own socket is still open")
	}
	to := b.LocalAddr().(*net.UDPAddr)
	peer := listenLoopback(t)
	defer peer.Close()
	type got struct {
		n   int
		err error
	}
	reads := make(chan got, 256)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := b.ReadFromAddrPort(buf)
			reads <- got{n, err}
			if err != nil {
				return
			}
		}
	}()
	next := func() got {
		t.Helper()
		select {
		case g := <-reads:
			return g
		case <-time.After(10 * time.Second):
			t.Fatal("no datagram read")
		}
		return got{}
	}
	// Idle from the start: the first datagram wakes the reader.
	if _, err := peer.WriteTo([]byte("first"), to); err != nil {
		t.Fatal(err)
	}
	if g := next(); g.err != nil || g.n != 5 {
		t.Fatalf("first read %+v", g)
	}
	// Busy: a burst right after is read in far fewer calls than datagrams.
	calls := b.readCalls.Load()
	const burst = 64
	for i := 0; i < burst; i++ {
		if _, err := peer.WriteTo([]byte("burst"), to); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < burst; i++ {
		if g := next(); g.err != nil || g.n != 5 {
			t.Fatalf("burst read %d: %+v", i, g)
		}
	}
	if c := b.readCalls.Load() - calls; c > burst/2 {
		t.Errorf("%d datagrams took %d reads", burst, c)
	}
	// Idle again, longer than idleAfter: the next datagram still arrives.
	time.Sleep(2 * idleAfter)
	if _, err := peer.WriteTo([]byte("again"), to); err != nil {
		t.Fatal(err)
	}
	if g := next(); g.err != nil || g.n != 5 {
		t.Fatalf("read after idle %+v", g)
	}
	// An oversized datagram goes out on its own.
	big := bytes.Repeat([]byte{1}, maxPacket+100)
	if n, err := b.WriteToAddrPort(big, peer.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil || n != len(big) {
		t.Fatalf("oversized write: %d, %v", n, err)
	}
	buf := make([]byte, 4096)
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _, err := peer.ReadFrom(buf); err != nil || n != len(big) {
		t.Fatalf("oversized datagram: %d, %v", n, err)
	}
	// Close ends the reader, idle in its epoll by now.
	time.Sleep(2 * idleAfter)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if g := next(); g.err == nil {
		t.Fatalf("read after Close: %+v", g)
	}
}

// TestBatchConnBurstYields: one producer queues more datagrams than the
// queue holds, on one processor; it yields to the flusher as the queue
// grows, so nothing is dropped.
func TestBatchConnBurstYields(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	sc, rc := listenLoopback(t), listenLoopback(t)
	defer rc.Close()
	var dropped atomic.Uint64
	b := newBatchConn(sc, &dropped)
	defer b.Close()
	to := rc.LocalAddr().(*net.UDPAddr).AddrPort()
	p := bytes.Repeat([]byte{1}, 100)
	const n = 2 * batchMaxPending
	for i := 0; i < n; i++ {
		if _, err := b.WriteToAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
	}
	if d := dropped.Load(); d != 0 {
		t.Errorf("%d of %d datagrams dropped", d, n)
	}
	if y := b.yields.Load(); y == 0 {
		t.Error("the producer never yielded")
	}
}

// TestBatchConnKernelDrops: datagrams the kernel drops because the receive
// buffer is full are counted (the paced reader's one new way to lose).
func TestBatchConnKernelDrops(t *testing.T) {
	defer goleak.VerifyNone(t)
	sc := listenLoopback(t)
	if err := sc.SetReadBuffer(1); err != nil { // the kernel's minimum
		t.Fatal(err)
	}
	var dropped atomic.Uint64
	b := newBatchConn(sc, &dropped)
	defer b.Close()
	if !rawMmsg {
		t.Skip("no raw batch socket on this platform")
	}
	if d := b.raw.kernelDrops(); d != 0 {
		t.Fatalf("%d drops before any traffic", d)
	}
	peer := listenLoopback(t)
	defer peer.Close()
	p := bytes.Repeat([]byte{1}, 1000)
	for i := 0; i < 200; i++ { // nobody reads
		if _, err := peer.WriteTo(p, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if d := b.raw.kernelDrops(); d == 0 {
		t.Error("no drops counted after overflowing the receive buffer")
	}
}

// TestReceiveBuffer reads back what the kernel made of a requested size
// (Linux doubles it for its own bookkeeping), which New warns about when
// small.
func TestReceiveBuffer(t *testing.T) {
	c := listenLoopback(t)
	defer c.Close()
	if err := c.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if got := receiveBuffer(c); rawMmsg && got < 64<<10 {
		t.Errorf("receive buffer %d bytes, asked for %d", got, 64<<10)
	}
}
