// Package eval measures recommendation quality offline against a synthetic
// population whose true fit is known (matching/synth): MAP@K, precision@K,
// coverage and reciprocity, for the matching index and a plain keyword
// baseline.
package eval

import (
	"slices"
	"strings"

	"jobhall/matching"
	"jobhall/matching/synth"
)

// Ranker returns up to k job indices (into Population.Jobs) for seeker index si, best first.
type Ranker func(si, k int) []int

// Metrics of one ranker over a set of seekers.
type Metrics struct {
	Seekers      int     // evaluated seekers
	WithTruth    int     // of them, with at least one relevant job (MAP and precision average over these)
	MAP          float64 // mean average precision at K
	Precision    float64 // mean precision at K
	Coverage     float64 // share of open jobs recommended at least once
	Reciprocity  float64 // share of recommendations both sides really accept (mutual)
	SeekerSide   float64 // share of recommendations the seeker really wants
	EmployerSide float64 // share of recommendations the employer really accepts
	Empty        int     // seekers given no recommendation
}

// Evaluate runs rank for every seeker in sample and scores the lists against the truth.
func Evaluate(p *synth.Population, sample []int, k int, rank Ranker) Metrics {
	var m Metrics
	recommended := make([]bool, len(p.Jobs))
	var recs, empAccept, seekWant, mutual int
	for _, si := range sample {
		m.Seekers++
		list := rank(si, k)
		if len(list) == 0 {
			m.Empty++
		}
		nRel := 0
		for ji := range p.Jobs {
			if p.Relevant(si, ji) {
				nRel++
			}
		}
		hits, ap := 0, 0.0
		for i, ji := range list {
			recommended[ji] = true
			recs++
			if p.EmployerLikes(si, ji) {
				empAccept++
			}
			if p.SeekerLikes(si, ji) {
				seekWant++
			}
			if p.Relevant(si, ji) {
				mutual++
				hits++
				ap += float64(hits) / float64(i+1)
			}
		}
		if nRel == 0 {
			continue
		}
		m.WithTruth++
		m.MAP += ap / float64(min(k, nRel))
		m.Precision += float64(hits) / float64(k)
	}
	if m.WithTruth > 0 {
		m.MAP /= float64(m.WithTruth)
		m.Precision /= float64(m.WithTruth)
	}
	open, covered := 0, 0
	for ji, j := range p.Jobs {
		if j.Active {
			open++
			if recommended[ji] {
				covered++
			}
		}
	}
	if open > 0 {
		m.Coverage = float64(covered) / float64(open)
	}
	if recs > 0 {
		m.Reciprocity = float64(mutual) / float64(recs)
		m.EmployerSide = float64(empAccept) / float64(recs)
		m.SeekerSide = float64(seekWant) / float64(recs)
	}
	return m
}

// IndexRanker ranks with the matching index (the seeker feed). Ids in the
// population are index+1.
func IndexRanker(ix *matching.Index) Ranker {
	return func(si, k int) []int {
		pg, err := ix.TopJobs(int64(si+1), matching.Query{K: k})
		if err != nil {
			return nil
		}
		out := make([]int, len(pg.Items))
		for i, m := range pg.Items {
			out[i] = int(m.JobID - 1)
		}
		return out
	}
}

// KeywordRanker is the baseline: open jobs ranked by how many distinct
// tokens of the seeker's desired title, skills and summary appear in the
// job's title, description and skills; ties go to the newer post.
func KeywordRanker(p *synth.Population) Ranker {
	post := map[string][]int32{}
	for ji, j := range p.Jobs {
		if !j.Active {
			continue
		}
		for _, t := range matching.TokenSet(j.Title + " " + j.Description + " " + strings.Join(j.Skills, " ")) {
			post[t] = append(post[t], int32(ji))
		}
	}
	count := make([]int32, len(p.Jobs))
	return func(si, k int) []int {
		s := &p.Seekers[si]
		var touched []int32
		for _, t := range matching.TokenSet(s.DesiredTitle + " " + strings.Join(s.Skills, " ") + " " + s.Summary) {
			for _, ji := range post[t] {
				if count[ji] == 0 {
					touched = append(touched, ji)
				}
				count[ji]++
			}
		}
		slices.SortFunc(touched, func(a, b int32) int {
			if count[a] != count[b] {
				return int(count[b] - count[a])
			}
			return p.Jobs[b].PublishedAt.Compare(p.Jobs[a].PublishedAt)
		})
		out := make([]int, 0, k)
		for i, ji := range touched {
			if i < k {
				out = append(out, int(ji))
			}
			count[ji] = 0
		}
		return out
	}
}
