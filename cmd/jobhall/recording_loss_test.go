package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"jobhall/recorder"
)

// TestRecordingThroughTheSFUWithLoss: a publisher sends real VP8 (from
// ffmpeg) over a link that loses 1% or 5% of its packets to the SFU; the
// recorder, attached to the room as the SFU's local subscriber, asks for
// what is missing (the SFU NACKs the publisher, whose NACK responder
// resends), and the file decodes cleanly with (almost) every frame.
func TestRecordingThroughTheSFUWithLoss(t *testing.T) {
	dir := t.TempDir()
	ivf := filepath.Join(dir, "in.ivf")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30", "-t", "6",
		"-c:v", "libvpx", "-g", "60", "-b:v", "1200k", "-y", ivf).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg (installed by the README's test command): %v %s", err, out)
	}
	frames := readIVF(t, ivf)
	for _, loss := range []int{1, 5} {
		t.Run(strconv.Itoa(loss)+"pct", func(t *testing.T) {
			w := newVnetWorld(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const room = "interview-loss"
			rec, err := recorder.New(recorder.Config{Dir: filepath.Join(dir, strconv.Itoa(loss))})
			if err != nil {
				t.Fatal(err)
			}
			sess := rec.StartSession(room, nil)
			remove := w.sfu.Room(room).AddLocalSubscriber(recordingSubscriber{sess})

			const pubIP = "1.2.3.60"
			pubNet := w.host(pubIP)
			w.onWAN(pubNet)
			var mu sync.Mutex
			n := 0
			lost := map[uint64]bool{}
			armed := false // after the first second: let ICE and DTLS settle
			time.AfterFunc(2*time.Second, func() { mu.Lock(); armed = true; mu.Unlock() })
			w.firewall(func(c vnet.Chunk) bool { // uplink loss of media packets
				if c.Network() != "udp" || ipOf(c.SourceAddr()) != pubIP || ipOf(c.DestinationAddr()) != vnetSFU || len(c.UserData()) < 200 {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				if !armed {
					return false
				}
				// The RTP header is in the clear under SRTP: lose each packet
				// once, never its retransmission.
				b := c.UserData()
				key := uint64(binary.BigEndian.Uint32(b[8:12]))<<16 | uint64(binary.BigEndian.Uint16(b[2:4]))
				if lost[key] {
					return false
				}
				n++
				if n%(100/loss) == 0 { // exactly loss% of the media packets, spread out
					lost[key] = true
					return true
				}
				return false
			})
			a := dialPeerWith(t, ctx, w.url, vnetSettings(pubNet, webrtc.NetworkTypeUDP4))
			a.join(room, w.grant(room, "seeker-1", "seeker"))
			a.api = publisherAPI(t, pubNet) // a browser-like publisher answers NACKs

			pc, err := a.api.NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			track, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "cam")
			sender, err := pc.AddTrack(track)
			if err != nil {
				t.Fatal(err)
			}
			go func() { // RTCP in, so the NACK responder runs
				buf := make([]byte, 1500)
				for {
					if _, _, err := sender.Read(buf); err != nil {
						return
					}
				}
			}()
			connected := make(chan struct{})
			var once sync.Once
			pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
				if s == webrtc.PeerConnectionStateConnected {
					once.Do(func() { close(connected) })
				}
			})
			a.mu.Lock()
			a.pub = pc
			a.mu.Unlock()
			offer, _ := pc.CreateOffer(nil)
			gathered := webrtc.GatheringCompletePromise(pc)
			if err := pc.SetLocalDescription(offer); err != nil {
				t.Fatal(err)
			}
			<-gathered
			a.send(map[string]any{"type": "offer", "target": "publisher", "sdp": pc.LocalDescription().SDP})
			select {
			case <-connected:
			case <-ctx.Done():
				t.Fatal("publisher never connected")
			}
			// The room learns of the track from its first packet and the
			// recorder then waits for a keyframe, which this canned stream
			// cannot make on request: prime the track with the first
			// keyframe, then send the whole stream once the room has it.
			if err := track.WriteSample(media.Sample{Data: frames[0], Duration: time.Second / 30}); err != nil {
				t.Fatal(err)
			}
			for w.sfu.Stats().Tracks == 0 {
				select {
				case <-ctx.Done():
					t.Fatal("the room never saw the track")
				case <-time.After(20 * time.Millisecond):
				}
			}
			time.Sleep(200 * time.Millisecond)
			tick := time.NewTicker(time.Second / 30)
			for _, f := range frames {
				<-tick.C
				if err := track.WriteSample(media.Sample{Data: f, Duration: time.Second / 30}); err != nil {
					t.Fatal(err)
				}
			}
			tick.Stop()
			time.Sleep(time.Second) // the last retransmissions
			remove()
			files := sess.Close()
			if len(files) != 1 || files[0].Err != nil {
				t.Fatalf("recordings %+v", files)
			}
			got := countVideoFrames(t, files[0].Path)
			st := w.sfu.Stats()
			t.Logf("%d%% uplink loss: %d of %d frames recorded; firewall dropped %d packets; SFU NACKs %d, retransmits %d, misses %d",
				loss, got, len(frames), w.drops.Load(), st.NACKsReceived, st.Retransmits, st.NACKMisses)
			if w.drops.Load() == 0 {
				t.Fatal("no packet was lost: the test proves nothing")
			}
			if got*100 < len(frames)*98 {
				t.Fatalf("%d of %d frames recorded, want at least 98%%", got, len(frames))
			}
			if out, _ := exec.Command("ffmpeg", "-v", "error", "-i", files[0].Path, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput(); len(out) > 0 {
				t.Fatalf("decode errors: %s", out)
			}
		})
	}
}

// publisherAPI is a Pion API with the default interceptors (NACK
// responder, reports) on a vnet.
func publisherAPI(t *testing.T, n *vnet.Net) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(vnetSettings(n, webrtc.NetworkTypeUDP4)), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir))
}

func readIVF(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame)
	}
}

func countVideoFrames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p struct {
		Streams []struct {
			N string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v", out, err)
	}
	n, _ := strconv.Atoi(p.Streams[0].N)
	return n
}
