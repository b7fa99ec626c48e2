//go:build !linux || !(amd64 || arm64)

package sfu

import (
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// Elsewhere the socket is read one datagram per call and written with
// x/net's WriteBatch (sendmmsg where the platform has it).

const rawMmsg = false

type rawSock struct{}

func newRawSock(*net.UDPConn) *rawSock                  { return nil }
func (*rawSock) writeBatch([]ipv4.Message) (int, error) { return 0, nil }
func (*rawSock) sendOne([]byte, netip.AddrPort) error   { return nil }
func (*rawSock) close()                                 {}
func (*rawSock) kernelDrops() uint64                    { return 0 }
func receiveBuffer(*net.UDPConn) int                    { return 0 }
func (*rawSock) next(_, _ *atomic.Uint64) ([]byte, netip.AddrPort, error) {
	return nil, netip.AddrPort{}, nil
}
