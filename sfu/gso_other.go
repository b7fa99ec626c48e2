//go:build !linux

package sfu

const (
	gsoSupported = false
	gsoCmsgLen   = 24
)

func putSegmentCmsg([]byte, uint16) {}
