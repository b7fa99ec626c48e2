//go:build linux && (amd64 || arm64)

package sfu

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// The socket's batch reads and writes are made with sendmmsg and recvmmsg
// as raw system calls on a non-blocking socket. A raw call skips the
// runtime's syscall bookkeeping: with the SFU on one core, a call that took
// longer than sysmon's 20 µs tick had its P handed to another thread, which
// then fought the caller for the same core (measured: a fifth of the
// broadcast CPU in context switches; docs/BENCHMARKS.md, round 6).
//
// The socket is kept out of Go's poller (a duplicate descriptor; Go's own
// is closed). In its poller every arriving datagram woke the process
// (epoll wakes its waiter per packet, edge-triggered or not): with 100
// publishers each sending a few packets every few milliseconds, that was
// several thousand sleeps and wake-ups a second, each a context switch,
// for 3.7 datagrams per recvmmsg. Instead, while traffic flows the reader
// reads what has arrived every pollEvery, like a NIC's interrupt
// moderation (round 8: interviews −16 % CPU per packet, ≈ 0.5 ms more
// latency on average). After idleAfter without a datagram it waits for the
// next one in Go's poller, through an epoll of its own that holds the
// socket one-shot: armed only while the reader is idle, so the busy socket
// wakes nobody, and an idle SFU neither polls nor blocks a thread.

const (
	pollEvery = time.Millisecond // Go's poller sleeps whole milliseconds on Linux: shorter is no shorter
	idleAfter = 50 * time.Millisecond
	writeWait = 100 // ms per blocking wait for room to send, then the writer looks for Close
)

// mmsghdr is struct mmsghdr on 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

const rawMmsg = true

type rawSock struct {
	v6 bool // an AF_INET6 socket: IPv4 peers as mapped addresses

	// fd stays open while a system call may use it: calls hold mu's read
	// lock, close takes the write lock once closed is set.
	mu     sync.RWMutex
	fd     int // the socket, out of Go's poller
	closed atomic.Bool
	// An epoll holding fd one-shot, itself in Go's poller: the idle
	// reader arms it and waits on it there (waitIdle).
	ep     *os.File
	eprc   syscall.RawConn
	idleFn func(uintptr) bool

	// Owned by the flusher.
	whdr  [batchSize]mmsghdr
	wiov  [batchIovecs]unix.Iovec
	wname [batchSize]unix.RawSockaddrInet6

	// Owned by the socket reader.
	rhdr     [readBatch]mmsghdr
	riov     [readBatch]unix.Iovec
	rname    [readBatch]unix.RawSockaddrInet6
	rbufs    *[readBatch][readBufLen]byte
	bn       int // datagrams of the last batch read
	bi       int // the next one to hand out
	lastData int64
	events   [1]unix.EpollEvent
	wpoll    [1]unix.PollFd // the writer's
}

// newRawSock takes over c's socket: on success c is closed (leaving Go's
// poller) and the socket lives on as the rawSock's own descriptor.
func newRawSock(c *net.UDPConn) *rawSock {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawSock{fd: -1, rbufs: new([readBatch][readBufLen]byte)}
	var derr error
	if err := rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			_, r.v6 = sa.(*unix.SockaddrInet6)
		}
		r.fd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || derr != nil {
		return nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		// Added disarmed (no events): waitIdle arms it.
		if err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, r.fd, &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(r.fd)}); err == nil {
			err = unix.SetNonblock(epfd, true)
		}
		r.ep = os.NewFile(uintptr(epfd), "sfu-idle-epoll") // in Go's poller: an epoll is pollable
		if err == nil {
			r.eprc, err = r.ep.SyscallConn()
		}
	}
	if err == nil {
		err = unix.SetNonblock(r.fd, true) // shared with c's descriptor, but say so
	}
	if err != nil {
		r.close()
		return nil
	}
	r.idleFn = r.idleReady
	_ = c.Close()
	for i := range r.rhdr {
		r.riov[i].Base = &r.rbufs[i][0]
		r.rhdr[i].hdr.Iov = &r.riov[i]
		r.rhdr[i].hdr.Iovlen = 1
		r.rhdr[i].hdr.Name = (*byte)(unsafe.Pointer(&r.rname[i]))
	}
	return r
}

// close closes the descriptors once no system call uses them.
func (r *rawSock) close() {
	r.closed.Store(true)
	if r.ep != nil {
		_ = r.ep.Close() // wakes an idle reader; waits for calls in progress on it
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd >= 0 {
		_ = unix.Close(r.fd)
		r.fd = -1
	}
}

// waitIdle arms the idle epoll and waits in Go's poller until the socket
// has a datagram (or Close). Arming checks the socket at once, so a
// datagram that came after the last read is not missed.
func (r *rawSock) waitIdle() error {
	r.mu.RLock()
	if r.closed.Load() {
		r.mu.RUnlock()
		return net.ErrClosed
	}
	var aerr error
	err := r.eprc.Control(func(ep uintptr) {
		aerr = unix.EpollCtl(int(ep), unix.EPOLL_CTL_MOD, r.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(r.fd)})
	})
	r.mu.RUnlock()
	if err == nil {
		err = aerr
	}
	if err == nil {
		err = r.eprc.Read(r.idleFn)
	}
	if err != nil && r.closed.Load() {
		return net.ErrClosed
	}
	return err
}

// idleReady takes the idle epoll's event, if any (which disarms it);
// false makes Go's poller wait until there is one.
func (r *rawSock) idleReady(ep uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, ep, uintptr(unsafe.Pointer(&r.events[0])), 1, 0, 0, 0)
	return n > 0 || (e != 0 && e != unix.EAGAIN && e != unix.EINTR)
}

// kernelDrops is how many datagrams the kernel dropped for this socket
// (its receive buffer was full: the reader fell more than the buffer
// behind), from SO_MEMINFO.
func (r *rawSock) kernelDrops() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed.Load() {
		return 0
	}
	var info [unix.SK_MEMINFO_VARS]uint32
	n := uint32(unsafe.Sizeof(info))
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(r.fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 || n <= unix.SK_MEMINFO_DROPS*4 {
		return 0
	}
	return uint64(info[unix.SK_MEMINFO_DROPS])
}

// receiveBuffer is c's receive buffer as the kernel set it (0: unknown).
func receiveBuffer(c *net.UDPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		n, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	return n
}

// putName writes addr as the socket's sockaddr into sa and returns its
// length; 0 (no address: the kernel refuses that message, which is then
// skipped) for an IPv6 peer on an IPv4 socket.
func (r *rawSock) putName(sa *unix.RawSockaddrInet6, addr *net.UDPAddr) uint32 {
	ip := addr.IP
	if !r.v6 {
		if ip.To4() == nil {
			return 0
		}
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:], uint16(addr.Port))
		copy(s4.Addr[:], ip.To4())
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], uint16(addr.Port))
	copy(sa.Addr[:], ip.To16())
	return unix.SizeofSockaddrInet6
}

// writeBatch sends ms with one sendmmsg and returns how many were sent; an
// error means the first unsent message failed (as x/net's WriteBatch).
func (r *rawSock) writeBatch(ms []ipv4.Message) (int, error) {
	niov := 0
	for i := range ms {
		m := &ms[i]
		h := &r.whdr[i].hdr
		first := niov
		for _, b := range m.Buffers {
			r.wiov[niov].Base = &b[0]
			r.wiov[niov].SetLen(len(b))
			niov++
		}
		h.Iov = &r.wiov[first]
		h.SetIovlen(niov - first)
		h.Name = (*byte)(unsafe.Pointer(&r.wname[i]))
		h.Namelen = r.putName(&r.wname[i], m.Addr.(*net.UDPAddr))
		h.Control, h.Controllen = nil, 0
		if len(m.OOB) > 0 {
			h.Control = &m.OOB[0]
			h.SetControllen(len(m.OOB))
		}
	}
	sent, errno := r.sendmmsg(len(ms))
	clear(r.wiov[:niov]) // the buffers go back to their pool
	for i := range ms {
		r.whdr[i].hdr.Control = nil
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Err: errno}
	}
	return sent, nil
}

// sendmmsg sends the first n prepared messages, waiting while the send
// buffer is full (a broadcast's keyframe burst to hundreds of viewers).
// The wait is a blocking poll for room: a sleep would let the queue behind
// it overflow.
func (r *rawSock) sendmmsg(n int) (int, syscall.Errno) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for {
		if r.closed.Load() {
			return 0, unix.EBADF
		}
		sent, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.whdr[0])), uintptr(n), 0, 0, 0)
		if e != unix.EAGAIN {
			return int(sent), e
		}
		r.wpoll[0] = unix.PollFd{Fd: int32(r.fd), Events: unix.POLLOUT}
		_, _ = unix.Poll(r.wpoll[:], writeWait)
	}
}

// sendOne sends one datagram outside the batches (oversized ones, or a
// GSO group the device refused); dropped when the send buffer is full.
func (r *rawSock) sendOne(p []byte, addr netip.AddrPort) error {
	var sa unix.Sockaddr
	ip := addr.Addr()
	switch {
	case r.v6:
		sa = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}
	case ip.Unmap().Is4():
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.Unmap().As4()}
	default:
		return &net.OpError{Op: "write", Net: "udp", Err: unix.EAFNOSUPPORT}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed.Load() {
		return net.ErrClosed
	}
	return unix.Sendto(r.fd, p, 0, sa)
}

// readBatch fills the read buffers with what the socket holds, waiting
// for at least one datagram (pollEvery apart while traffic flows, in the
// epoll once idle), and returns how many.
func (r *rawSock) readBatch() (int, error) {
	for i := range r.rhdr {
		r.rhdr[i].hdr.Namelen = unix.SizeofSockaddrInet6
		r.riov[i].SetLen(readBufLen)
		r.rhdr[i].hdr.Flags = 0
	}
	for {
		r.mu.RLock()
		if r.closed.Load() {
			r.mu.RUnlock()
			return 0, net.ErrClosed
		}
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.rhdr[0])), readBatch, 0, 0, 0)
		r.mu.RUnlock()
		if e == 0 {
			r.lastData = sfuClock()
			return int(n), nil
		}
		if e != unix.EAGAIN && e != unix.EINTR {
			return 0, &net.OpError{Op: "read", Net: "udp", Err: e}
		}
		if sfuClock()-r.lastData < int64(idleAfter) {
			time.Sleep(pollEvery)
			continue
		}
		if err := r.waitIdle(); err == net.ErrClosed {
			return 0, err
		} else if err != nil {
			return 0, &net.OpError{Op: "read", Net: "udp", Err: err}
		}
	}
}

// next returns the next datagram and its sender, reading another batch
// (counted in calls and reads) when this one is used up. The datagram is
// valid until the next call.
func (r *rawSock) next(calls, reads *atomic.Uint64) ([]byte, netip.AddrPort, error) {
	for {
		for r.bi < r.bn {
			d, from, ok := r.datagram(r.bi)
			r.bi++
			if ok {
				return d, from, nil
			} // truncated or not IP: skipped
		}
		n, err := r.readBatch()
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		calls.Add(1)
		reads.Add(uint64(n))
		r.bn, r.bi = n, 0
	}
}

// datagram returns the i-th datagram of the last readBatch and its sender;
// ok is false for a truncated one.
func (r *rawSock) datagram(i int) (b []byte, from netip.AddrPort, ok bool) {
	h := &r.rhdr[i]
	if h.hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, netip.AddrPort{}, false
	}
	sa := &r.rname[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		from = netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	case unix.AF_INET6:
		from = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	default:
		return nil, netip.AddrPort{}, false
	}
	return r.rbufs[i][:h.n], from, true
}
