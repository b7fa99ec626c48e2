package eval

import (
	"testing"
	"time"

	"jobhall/matching"
	"jobhall/matching/synth"
)

// TestMatcherBeatsKeywordBaseline is a small, deterministic run of the
// harness; docs/MATCHING.md reports the larger run (matchbench tag).
func TestMatcherBeatsKeywordBaseline(t *testing.T) {
	p := synth.Generate(synth.Options{Seed: 3, Seekers: 3000, Jobs: 600})
	ix, err := matching.NewIndex(p.Seekers, p.Jobs, matching.Options{Now: func() time.Time { return p.Now }})
	if err != nil {
		t.Fatal(err)
	}
	sample := make([]int, len(p.Seekers))
	for i := range sample {
		sample[i] = i
	}
	ours := Evaluate(p, sample, 10, IndexRanker(ix))
	base := Evaluate(p, sample, 10, KeywordRanker(p))
	t.Logf("matcher: %+v", ours)
	t.Logf("keyword: %+v", base)
	if ours.MAP <= base.MAP || ours.Precision <= base.Precision || ours.Reciprocity <= base.Reciprocity {
		t.Fatalf("matcher does not beat the keyword baseline")
	}
	if ours.WithTruth == 0 || ours.Coverage <= 0 {
		t.Fatalf("degenerate population: %+v", ours)
	}
}
