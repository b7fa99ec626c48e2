package sfu

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

const (
	batchSize       = 64
	batchMaxPending = 8192 // packets waiting for the flusher; more are dropped
)

var batchBufPool = sync.Pool{New: func() any { b := make([]byte, 0, maxPacket+64); return &b }}

type outMsg struct {
	buf  *[]byte
	addr netip.AddrPort
}

// batchConn is the ICE UDP mux's socket. Writes are copied into a queue and
// sent by one flusher goroutine with sendmmsg (x/net ipv4 WriteBatch), so a
// fan-out costs one system call per batch instead of one per packet, and
// the subscriber workers never enter the kernel. Reads pass straight through.
type batchConn struct {
	*net.UDPConn
	pc      *ipv4.PacketConn
	dropped *atomic.Uint64

	mu      sync.Mutex
	pending []outMsg
	closed  bool

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	// Owned by the flusher; reused so a batch allocates nothing.
	spare []outMsg
	msgs  [batchSize]ipv4.Message
	bufs  [batchSize][1][]byte
	addrs [batchSize]net.UDPAddr
	ips   [batchSize][16]byte
}

func newBatchConn(c *net.UDPConn, dropped *atomic.Uint64) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), dropped: dropped,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	for i := range b.msgs {
		b.msgs[i].Buffers = b.bufs[i][:]
		b.msgs[i].Addr = &b.addrs[i]
	}
	b.wg.Add(1)
	go b.flusher()
	return b
}

// ReadFromAddrPort and WriteToAddrPort let the ICE mux skip net.Addr allocations.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > maxPacket+64 {
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	bp := batchBufPool.Get().(*[]byte)
	*bp = append((*bp)[:0], p...)
	b.send(bp, addr)
	return len(p), nil
}

// send queues a pooled buffer (from batchBufPool), which the flusher puts
// back after sending; drops it when the queue is full or closed.
func (b *batchConn) send(bp *[]byte, addr netip.AddrPort) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		batchBufPool.Put(bp)
		return
	}
	if len(b.pending) >= batchMaxPending {
		b.mu.Unlock()
		batchBufPool.Put(bp)
		b.dropped.Add(1)
		return
	}
	b.pending = append(b.pending, outMsg{buf: bp, addr: addr})
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return b.UDPConn.WriteTo(p, addr)
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
	return b.UDPConn.Close()
}

func (b *batchConn) flusher() {
	defer b.wg.Done()
	for {
		select {
		case <-b.wake:
		case <-b.done:
			b.flush() // what was queued before Close
			return
		}
		b.flush()
	}
}

func (b *batchConn) flush() {
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
		for len(out) > 0 {
			n := min(len(out), batchSize)
			for i := 0; i < n; i++ {
				m := &out[i]
				b.bufs[i][0] = *m.buf
				a := &b.addrs[i]
				ip := m.addr.Addr()
				if ip.Is4() || ip.Is4In6() {
					v := ip.Unmap().As4()
					copy(b.ips[i][:4], v[:])
					a.IP = b.ips[i][:4]
				} else {
					b.ips[i] = ip.As16()
					a.IP = b.ips[i][:16]
				}
				a.Port = int(m.addr.Port())
			}
			ms := b.msgs[:n]
			for len(ms) > 0 {
				sent, err := b.pc.WriteBatch(ms, 0)
				if err != nil {
					sent = max(sent, 1) // skip the message that failed
				}
				ms = ms[sent:]
			}
			for i := 0; i < n; i++ {
				batchBufPool.Put(out[i].buf)
				out[i] = outMsg{}
			}
			out = out[n:]
		}
		b.spare = batch[:0]
	}
}
