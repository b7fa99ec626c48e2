package sfu

import (
	"encoding/binary"
	"unsafe"
)

// UDP_SEGMENT control message (Linux ≥ 4.18): struct cmsghdr {size_t len;
// int level; int type;} followed by the uint16 segment size, padded.
const (
	gsoSupported = unsafe.Sizeof(uintptr(0)) == 8 // the layout below is the 64-bit one
	gsoCmsgLen   = 24                             // CMSG_SPACE(2)
	solUDP       = 17
	udpSegment   = 103
)

func putSegmentCmsg(b []byte, size uint16) {
	binary.NativeEndian.PutUint64(b[0:8], 16+2) // CMSG_LEN(2)
	binary.NativeEndian.PutUint32(b[8:12], solUDP)
	binary.NativeEndian.PutUint32(b[12:16], udpSegment)
	binary.NativeEndian.PutUint16(b[16:18], size)
	clear(b[18:gsoCmsgLen])
}
