//go:build recbench

package recorder

import (
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestBenchmark100Rooms records 100 interview rooms (2 participants each,
// VP8 320x240 30 fps + Opus 20 ms, fed in-process at real-time rates) and
// reports the recorder's CPU: process CPU while recording minus process CPU
// of the same feeders writing into discarding sinks.
//
//	go test -tags recbench -run TestBenchmark100Rooms -v ./recorder/   (REC_BENCH_SECS, default 30)
func TestBenchmark100Rooms(t *testing.T) {
	const rooms = 100
	secs := 30
	if v, err := strconv.Atoi(os.Getenv("REC_BENCH_SECS")); err == nil && v > 0 {
		secs = v
	}
	m := genMedia(t)
	video := packetizeVideo(m.video, 1200)
	audio := packetizeAudio(m.audio)
	var bytes int
	for _, f := range video {
		for _, p := range f {
			bytes += len(p.p.Payload)
		}
	}
	for _, p := range audio {
		bytes += len(p.p.Payload)
	}
	t.Logf("per participant: %.0f kbps, %d video packets/s, 50 audio packets/s",
		float64(bytes*8)/3/1000, len(flatten(video))/3)

	dur := time.Duration(secs) * time.Second
	// Baseline: feeders only.
	base := runFeeders(t, 2*rooms, dur, video, audio, func(int) (TrackWriter, TrackWriter) {
		return discard{}, discard{}
	})

	r, _ := newRecorder(t)
	sessions := make([]*Session, rooms)
	for i := range sessions {
		sessions[i] = r.StartSession("bench-"+strconv.Itoa(i), nil)
	}
	rec := runFeeders(t, 2*rooms, dur, video, audio, func(i int) (TrackWriter, TrackWriter) {
		s := sessions[i/2]
		pid := "p" + strconv.Itoa(i)
		return s.AddTrack(videoTrack(pid), func() {}), s.AddTrack(audioTrack(pid), nil)
	})
	start := cpuNow()
	var files int
	for _, s := range sessions {
		for _, f := range s.Close() {
			if f.Err == nil {
				files++
			}
		}
	}
	closeCPU := cpuNow() - start
	load, _ := os.ReadFile("/proc/loadavg")
	recCPU := rec - base
	t.Logf("rooms %d, files %d, %v of media per file", rooms, files, dur)
	t.Logf("process CPU: feeders only %.2f s, feeders + recorder %.2f s, finalize %.2f s", base.Seconds(), rec.Seconds(), closeCPU.Seconds())
	t.Logf("recorder CPU: %.3f cores (%.1f µs per media second per file); load average %s",
		recCPU.Seconds()/dur.Seconds(), recCPU.Seconds()/dur.Seconds()/float64(files)*1e6, load)
	if files != 2*rooms {
		t.Errorf("%d good files, want %d", files, 2*rooms)
	}
}

type discard struct{}

func (discard) WriteRTP(*rtp.Packet) error      { return nil }
func (discard) Close()                          {}
func (discard) SetRetransmitter(func([]uint16)) {}
func (discard) SenderReport(time.Time, uint32)  {}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runFeeders runs n publishers for dur at real time (one goroutine each,
// a 20 ms tick: one Opus packet, and the 30 fps video frames due) and
// returns the process CPU spent meanwhile.
func runFeeders(t *testing.T, n int, dur time.Duration, video [][]timedPacket, audio []timedPacket,
	open func(i int) (TrackWriter, TrackWriter)) time.Duration {
	t.Helper()
	writers := make([][2]TrackWriter, n)
	for i := range writers {
		v, a := open(i)
		if v == nil || a == nil {
			t.Fatal("AddTrack refused")
		}
		writers[i] = [2]TrackWriter{v, a}
	}
	start := cpuNow()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vw, aw := writers[i][0], writers[i][1]
			var p rtp.Packet
			var vseq, aseq uint16
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			end := time.Now().Add(dur)
			frame := 0
			for k := 0; time.Now().Before(end); k++ {
				<-tick.C
				loop := uint32(k / len(audio))
				ap := audio[k%len(audio)].p
				p = rtp.Packet{Header: ap.Header, Payload: ap.Payload}
				p.SequenceNumber, p.Timestamp = aseq, ap.Timestamp+loop*uint32(len(audio))*960
				aseq++
				_ = aw.WriteRTP(&p)
				for ; frame*50 <= k*30; frame++ { // frames due by this tick
					fr := video[frame%len(video)]
					vloop := uint32(frame / len(video))
					for _, vp := range fr {
						p = rtp.Packet{Header: vp.p.Header, Payload: vp.p.Payload}
						p.SequenceNumber, p.Timestamp = vseq, vp.p.Timestamp+vloop*uint32(len(video))*3000
						vseq++
						_ = vw.WriteRTP(&p)
					}
				}
			}
		}()
	}
	wg.Wait()
	return cpuNow() - start
}
