//go:build matchbench

// The quality run reported in docs/MATCHING.md:
//
//	go test -tags matchbench -run TestQualityReport -v ./matching/eval/
package eval

import (
	"math/rand/v2"
	"testing"
	"time"

	"jobhall/matching"
	"jobhall/matching/synth"
)

func TestQualityReport(t *testing.T) {
	// the city's ratio of profiles to posts (1.6M : 300k), scaled down so
	// that the truth (every sampled seeker × every job) stays cheap
	p := synth.Generate(synth.Options{Seed: 11, Seekers: 80_000, Jobs: 15_000})
	ix, err := matching.NewIndex(p.Seekers, p.Jobs, matching.Options{Now: func() time.Time { return p.Now }})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	sample := r.Perm(len(p.Seekers))[:5000]
	for _, c := range []struct {
		name string
		rank Ranker
	}{{"matcher (reciprocal score)", IndexRanker(ix)}, {"keyword baseline", KeywordRanker(p)}} {
		m := Evaluate(p, sample, 10, c.rank)
		t.Logf("%-28s MAP@10 %.3f  P@10 %.3f  coverage %.3f  reciprocity %.3f  seeker-side %.3f  employer-side %.3f  (seekers %d, with truth %d, empty %d)",
			c.name, m.MAP, m.Precision, m.Coverage, m.Reciprocity, m.SeekerSide, m.EmployerSide, m.Seekers, m.WithTruth, m.Empty)
	}
}
