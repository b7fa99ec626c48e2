// Package matching scores seeker–job pairs and serves the top-K jobs for a
// seeker (the feed) and the top-K candidates for a job, with reasons in
// Chinese and English. It is storage-agnostic: callers load Seeker and Job
// values (from PostgreSQL in production) into an Index held in memory.
//
// Scoring (score.go): hard filters first (job active, commute distance,
// education, experience, salary overlap, certificates); pairs that pass get a
// seeker-side score (salary fit, distance, title match, freshness) and an
// employer-side score (skills, occupation code, experience, text match),
// combined by their harmonic mean so that both sides must like the match.
//
// Retrieval (index.go): inverted lists keyed by (geo cell, term) where terms
// are skills, occupation codes and title tokens; a query visits only the
// cells within commute range and the lists of its own terms, bounded by a
// candidate budget, so no query scans all pairs.
//
// Concurrency: an Index is safe for concurrent use; queries take a read lock,
// AddJob/AddSeeker/SetJobActive take the write lock. No goroutines are started.
package matching
