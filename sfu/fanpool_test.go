package sfu

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/srtp/v3"
	"go.uber.org/goleak"
)

// pooledRig is newRig with every subscriber on a direct path (our sealer,
// the batched socket) to one receiving socket, and a fan-out pool.
func pooledRig(t *testing.T, n int) (*rig, *net.UDPConn, func()) {
	t.Helper()
	r := newRig(n)
	sock, uc := listenLoopback(t), listenLoopback(t)
	_ = sock.SetReadBuffer(8 << 20)
	bc := newBatchConn(uc, &r.s.drops.socketQueue)
	r.s.conn = bc
	r.s.quit = make(chan struct{})
	r.s.pool = newFanPool(r.s)
	dst := sock.LocalAddr().(*net.UDPAddr).AddrPort()
	prof := srtp.ProtectionProfileAeadAes128Gcm
	key, salt := randomKeys(t, prof)
	var wg sync.WaitGroup
	for _, eg := range r.egs {
		o := &srtpOut{conn: bc, eg: eg, gcm: newGCMSealer(prof, key, salt)}
		bc.route(o, &dst)
		eg.out.Store(o)
		eg.setPooled(true)
		wg.Add(1)
		go func() { defer wg.Done(); eg.run() }()
	}
	return r, sock, func() {
		for _, eg := range r.egs {
			eg.stop()
		}
		wg.Wait()
		close(r.s.quit)
		r.s.pool.stop()
		r.s.wg.Wait()
		bc.Close()
		sock.Close()
		r.l.cache.clear()
	}
}

// count reads datagrams until want arrived or a second passes quietly.
func count(sock *net.UDPConn, want int) int {
	buf := make([]byte, 2048)
	got := 0
	for got < want {
		_ = sock.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := sock.Read(buf); err != nil {
			break
		}
		got++
	}
	return got
}

// Direct-path subscribers are served by the pool: every viewer gets every
// packet, nothing is dropped, the pool and the subscribers' goroutines end.
func TestFanPoolForwards(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, sock, done := pooledRig(t, 50)
	defer done()
	const packets = 300
	got := make(chan int, 1)
	go func() { got <- count(sock, 50*packets) }() // read as it comes: the socket buffer holds ~3,000
	for seq := uint16(0); seq < packets; seq++ {
		r.ingest(seq, seq == 0, seq%5 == 0)
		if seq%5 == 4 { // a frame: let the queues drain, as at 30 frames a second
			waitUntil(t, "the frame to leave", func() bool { return queuedTotal(r) == 0 })
		}
	}
	for i, eg := range r.egs {
		if !eg.pooled.Load() {
			t.Fatalf("subscriber %d left the pool", i)
		}
	}
	if got := <-got; got != 50*packets {
		t.Fatalf("%d datagrams, want %d (queue drops %d, socket drops %d)", got, 50*packets,
			r.s.drops.videoQueue.Load(), r.s.drops.socketQueue.Load())
	}
}

// A subscriber whose pair stops being UDP (its writes could block in Pion)
// goes back to its own goroutine at the pool's next turn, and its packets
// keep flowing there.
func TestFanPoolHandsBack(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, sock, done := pooledRig(t, 2)
	defer done()
	eg := r.egs[1]
	o := eg.out.Load()
	eg.s.conn.(*batchConn).route(o, nil) // the pair is now ICE over TCP
	r.ws[1].mu.Lock()
	r.ws[1].record = true
	r.ws[1].mu.Unlock()
	for seq := uint16(0); seq < 20; seq++ {
		r.ingest(seq, seq == 0, seq%5 == 0)
	}
	waitUntil(t, "the subscriber to leave the pool", func() bool { return !eg.pooled.Load() })
	waitUntil(t, "Pion's writer to get the packets", func() bool {
		r.ws[1].mu.Lock()
		defer r.ws[1].mu.Unlock()
		return len(r.ws[1].got) == 20
	})
	if got := count(sock, 20); got != 20 {
		t.Fatalf("the direct-path subscriber got %d of 20", got)
	}
}

func queuedTotal(r *rig) int {
	n := 0
	for _, eg := range r.egs {
		n += len(eg.q)
	}
	return n
}
