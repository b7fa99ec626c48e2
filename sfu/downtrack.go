package sfu

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

const (
	// Outgoing video packets remembered for NACKs: the history starts at
	// histMin (nackMaxAge at ~3 Mbit/s) and doubles, up to histMax (~10
	// Mbit/s), only when it would overwrite a packet still young enough
	// to be NACKed: most viewers never need more (12 KB less each).
	histMin        = 256
	histMax        = 1024
	maxNACKRetries = 3
	rtcpPerSecond  = 300 // RTCP packets per forwarded track per second; more is a flood
)

// histEntry maps an outgoing sequence number back to its source packet.
// Times are wrapping milliseconds (msClock): only ages under a second are
// compared, and 24 bytes instead of 32 save 4 KB per video track per viewer.
type histEntry struct {
	at    uint32 // last (re)send
	first uint32 // when the packet arrived
	ts    uint32
	out   uint16
	src   uint16
	// VP8 picture ID / TL0PICIDX offsets the packet was sent with.
	picOff uint16
	tl0Off uint8
	layer  int8
	tries  uint8
	ok     bool
}

// msClock turns an sfuClock reading into the history's wrapping
// milliseconds; differences of two are ages (mod 2^32 ms, 49 days).
func msClock(ns int64) uint32 { return uint32(ns / int64(time.Millisecond)) }

// downTrack is one published track on one subscriber's PC. It is the SFU's
// own TrackLocal: the subscriber's egress worker rewrites SSRC, payload
// type, sequence numbers, timestamps and header extensions per subscriber,
// picks the simulcast layer and answers NACKs from the layer caches.
type downTrack struct {
	pt     *publishedTrack
	eg     *egress
	sender *webrtc.RTPSender

	// Set by Bind before bound is stored; read-only afterwards.
	ssrc, rtxSSRC      uint32
	payloadType, rtxPT uint8
	twccID, levelID    uint8
	redPrimary         bool // RED publisher, subscriber without RED: send the Opus primary
	writer             webrtc.TrackLocalWriter
	bound              atomic.Bool
	unbound            atomic.Bool

	want     atomic.Uint32 // bitmask of layers the readers should queue
	resync   atomic.Bool   // a queued video packet was dropped: restart at a keyframe
	curLayer atomic.Int32
	prefW    atomic.Uint32 // largest size the viewer asked for; 0 = any
	prefH    atomic.Uint32
	paused   atomic.Bool

	// inherit, when set, is the downTrack this one replaces on the same
	// sender (a WHEP source switch). Set before d is published; the egress
	// worker takes it over on the first packet.
	inherit *downTrack

	// Owned by the egress worker.
	rw     rewriter
	hdr    rtp.Header
	twcc   [2]byte
	lvl    [1]byte
	hist   []histEntry
	vp8    vp8Munger
	rtxSeq uint16
	// keyAsked is when a keyframe was last asked for a pending switch.
	keyAsked int64
	packets  uint32
	octets   uint32
}

// histAt is seq's slot in the NACK history (its length is a power of two).
func (d *downTrack) histAt(seq uint16) *histEntry { return &d.hist[int(seq)&(len(d.hist)-1)] }

// growHist doubles the NACK history, keeping what it holds.
func (d *downTrack) growHist() {
	old := d.hist
	d.hist = make([]histEntry, 2*len(old))
	for _, h := range old {
		if h.ok {
			*d.histAt(h.out) = h
		}
	}
}

func newDownTrack(pt *publishedTrack, eg *egress) *downTrack {
	d := &downTrack{pt: pt, eg: eg}
	d.rw.init(pt.isVideo(), pt.info.ClockRate)
	d.rw.target = -1
	d.curLayer.Store(-1)
	d.hdr.Extensions = make([]rtp.Extension, 0, 2)
	if pt.isVideo() {
		d.hist = make([]histEntry, histMin)
	}
	return d
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal. The stream id is
// the publisher's participant ID so clients can group tracks by person.
func (d *downTrack) ID() string                { return d.pt.info.TrackID }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.pt.info.ParticipantID }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.pt.kind }

// Bind implements webrtc.TrackLocal: negotiation completed.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return d.bind(bindParams{codecs: ctx.CodecParameters(), exts: ctx.HeaderExtensions(), ssrc: uint32(ctx.SSRC()),
		rtxSSRC: uint32(ctx.SSRCRetransmission()), writer: ctx.WriteStream()})
}

// bindParams is what negotiation settled for one sender.
type bindParams struct {
	codecs        []webrtc.RTPCodecParameters
	exts          []webrtc.RTPHeaderExtensionParameter
	ssrc, rtxSSRC uint32
	writer        webrtc.TrackLocalWriter
}

func (d *downTrack) bind(b bindParams) (webrtc.RTPCodecParameters, error) {
	c, ok := matchCodec(d.pt.codec.RTPCodecCapability, b.codecs)
	if !ok && d.pt.ck == codecRED {
		// RED carries Opus: a subscriber that did not offer RED gets the
		// primary encoding as plain Opus.
		c, ok = matchCodec(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, b.codecs)
		d.redPrimary = ok
	}
	if !ok {
		return webrtc.RTPCodecParameters{}, apperr.New(apperr.Invalid, "subscriber cannot decode %s", d.pt.codec.MimeType)
	}
	d.ssrc = b.ssrc
	d.payloadType = uint8(c.PayloadType)
	if rtx := rtxPayloadType(c.PayloadType, b.codecs); rtx != 0 && b.rtxSSRC != 0 {
		d.rtxPT, d.rtxSSRC = uint8(rtx), b.rtxSSRC
	}
	d.twccID = extID(b.exts, uriTWCC)
	if !d.pt.isVideo() {
		d.levelID = extID(b.exts, uriAudioLevel)
	}
	d.writer = b.writer
	d.bound.Store(true)
	if !d.pt.isVideo() {
		d.want.Store(1)
	}
	d.eg.kickAlloc()
	return c, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.unbind()
	return nil
}

func (d *downTrack) unbind() {
	d.unbound.Store(true)
	d.want.Store(0)
}

func (d *downTrack) live() bool { return d.bound.Load() && !d.unbound.Load() }

// continueFrom makes d's outgoing stream continue prev's (same SSRC, a
// new source): sequence numbers and timestamps go on without a break.
// Egress worker only.
func (d *downTrack) continueFrom(prev *downTrack) {
	if prev.rw.started {
		d.rw.started = true
		d.rw.lastSeq, d.rw.lastTS, d.rw.lastAt = prev.rw.lastSeq, prev.rw.lastTS, prev.rw.lastAt
		d.vp8.continueFrom(&prev.vp8)
	}
	d.rtxSeq, d.packets, d.octets = prev.rtxSeq, prev.packets, prev.octets
}

// readSenderRTCP drains a sender's RTCP: keyframe requests go to the
// publisher (throttled per layer), NACKs and congestion feedback to the
// egress worker of the downTrack cur returns (nil: dropped).
func (s *SFU) readSenderRTCP(sender *webrtc.RTPSender, cur func() *downTrack) {
	var window int64
	count := 0
	buf := make([]byte, 1500) // Pion's ReadRTCP would allocate one per call
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		now := sfuClock()
		if now-window > int64(time.Second) {
			window, count = now, 0
		}
		d := cur()
		// counted reports whether another packet is within the flood bound
		// and has a downTrack to go to.
		counted := func() bool {
			count++
			if count > rtcpPerSecond {
				s.drops.rtcpFlood.Add(1)
				return false
			}
			return d != nil
		}
		bad := eachRTCP(buf[:n], func(tw []byte) {
			if counted() {
				d.eg.pushCtrl(twccItem(tw))
			}
		}, func(p rtcp.Packet) {
			if !counted() {
				return
			}
			switch x := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if l := int(d.curLayer.Load()); l >= 0 {
					d.pt.requestKeyframe(l)
				}
			case *rtcp.TransportLayerNack:
				d.eg.pushCtrl(ctrlItem{dt: d, nack: x})
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				d.eg.pushCtrl(ctrlItem{dt: d, remb: float64(x.Bitrate)})
			}
		})
		s.drops.malformed.Add(uint64(bad))
	}
}

// preferredLimit is the highest layer index the viewer's size asks for.
func (d *downTrack) preferredLimit(now int64) int {
	w, h := d.prefW.Load(), d.prefH.Load()
	top := -1
	for i := maxLayers - 1; i >= 0; i-- {
		if l := d.pt.layer(i); l != nil {
			top = i
			break
		}
	}
	if w == 0 && h == 0 || top <= 0 {
		return top
	}
	topL := d.pt.layer(top)
	tw, th := topL.width.Load(), topL.height.Load()
	for i := 0; i < top; i++ {
		l := d.pt.layer(i)
		if l == nil {
			continue
		}
		lw, lh := l.width.Load(), l.height.Load()
		if lw == 0 && tw != 0 {
			lw, lh = tw>>(top-i), th>>(top-i)
		}
		if lw != 0 && lw >= w && lh >= h {
			return i
		}
	}
	return top
}

// SetVideoPreference records the largest size the viewer shows the track
// from publisher at (its viewport); 0, 0 means no limit. The layer choice
// follows on the next allocation.
func (p *Participant) SetVideoPreference(publisherID, trackID string, width, height int) error {
	if width < 0 || height < 0 || width > 1<<14 || height > 1<<14 {
		return apperr.New(apperr.Invalid, "invalid size %dx%d", width, height)
	}
	if p.eg == nil {
		return apperr.New(apperr.Forbidden, "subscribing is not allowed")
	}
	found := false
	for _, d := range *p.eg.downs.Load() {
		if d.pt.info.ParticipantID == publisherID && d.pt.info.TrackID == trackID {
			d.prefW.Store(uint32(width))
			d.prefH.Store(uint32(height))
			found = true
		}
	}
	if !found {
		return apperr.New(apperr.NotFound, "no track %s/%s", publisherID, trackID)
	}
	p.eg.kickAlloc()
	return nil
}
