//go:build linux && (amd64 || arm64)

package sfu

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// The socket's batch reads and writes are made with sendmmsg and recvmmsg
// as raw system calls on the non-blocking socket (waiting for readiness in
// Go's poller when it would block). A raw call skips the runtime's syscall
// bookkeeping: with the SFU on one core, a call that took longer than
// sysmon's 20 µs tick had its P handed to another thread, which then
// fought the caller for the same core (measured: a fifth of the broadcast
// CPU in context switches; docs/BENCHMARKS.md, round 6).

// mmsghdr is struct mmsghdr on 64-bit Linux.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

const rawMmsg = true

type rawSock struct {
	rc syscall.RawConn
	v6 bool // an AF_INET6 socket: IPv4 peers as mapped addresses

	// Owned by the flusher.
	whdr  [batchSize]mmsghdr
	wiov  [batchIovecs]unix.Iovec
	wname [batchSize]unix.RawSockaddrInet6

	// Owned by the socket reader.
	rhdr  [readBatch]mmsghdr
	riov  [readBatch]unix.Iovec
	rname [readBatch]unix.RawSockaddrInet6
	rbufs *[readBatch][readBufLen]byte
	bn    int // datagrams of the last batch read
	bi    int // the next one to hand out

	// The poller callbacks and their results, made once: a closure passed
	// to RawConn escapes, which would allocate on every call.
	wfn, rfn   func(fd uintptr) bool
	wn, wcount int
	rn         int
	werr, rerr syscall.Errno
}

func newRawSock(c *net.UDPConn) *rawSock {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawSock{rc: rc, rbufs: new([readBatch][readBufLen]byte)}
	r.wfn, r.rfn = r.sendmmsg, r.recvmmsg
	_ = rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			_, r.v6 = sa.(*unix.SockaddrInet6)
		}
	})
	for i := range r.rhdr {
		r.riov[i].Base = &r.rbufs[i][0]
		r.rhdr[i].hdr.Iov = &r.riov[i]
		r.rhdr[i].hdr.Iovlen = 1
		r.rhdr[i].hdr.Name = (*byte)(unsafe.Pointer(&r.rname[i]))
	}
	return r
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
	r.wcount = len(ms)
	err := r.rc.Write(r.wfn)
	sent, errno := r.wn, r.werr
	clear(r.wiov[:niov]) // the buffers go back to their pool
	for i := range ms {
		r.whdr[i].hdr.Control = nil
	}
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Err: errno}
	}
	return sent, nil
}

func (r *rawSock) sendmmsg(fd uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&r.whdr[0])), uintptr(r.wcount), 0, 0, 0)
	if e == unix.EAGAIN {
		return false // wait until writable
	}
	r.wn, r.werr = int(n), e
	return true
}

func (r *rawSock) recvmmsg(fd uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.rhdr[0])), readBatch, 0, 0, 0)
	if e == unix.EAGAIN {
		return false // wait until readable
	}
	r.rn, r.rerr = int(n), e
	return true
}

// readBatch fills the read buffers with what the socket holds (waiting for
// at least one datagram) and returns how many.
func (r *rawSock) readBatch() (int, error) {
	for i := range r.rhdr {
		r.rhdr[i].hdr.Namelen = unix.SizeofSockaddrInet6
		r.riov[i].SetLen(readBufLen)
		r.rhdr[i].hdr.Flags = 0
	}
	err := r.rc.Read(r.rfn)
	got, errno := r.rn, r.rerr
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: err}
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: errno}
	}
	return got, nil
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
