package synth

import (
	"reflect"
	"testing"
)

func TestDeterministicAndTruthful(t *testing.T) {
	a := Generate(Options{Seed: 4, Seekers: 500, Jobs: 100})
	b := Generate(Options{Seed: 4, Seekers: 500, Jobs: 100})
	if !reflect.DeepEqual(a.Seekers, b.Seekers) || !reflect.DeepEqual(a.Jobs, b.Jobs) {
		t.Fatal("same seed, different population")
	}
	rel := 0
	for si := range a.Seekers {
		for ji := range a.Jobs {
			if a.Relevant(si, ji) {
				rel++
				if !a.Jobs[ji].Active || !a.SeekerLikes(si, ji) || !a.EmployerLikes(si, ji) {
					t.Fatal("relevant but not mutual")
				}
				if f, g := a.SeekerTruth[si].Family, a.JobTruth[ji].Family; f != g && !Related(f, g) {
					t.Fatal("relevant across unrelated families")
				}
			}
		}
	}
	if rel == 0 {
		t.Fatal("no relevant pairs")
	}
}
