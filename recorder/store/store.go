// Package store archives finished recordings: a local folder by default, or
// any S3-compatible object store. Every upload is verified by SHA-256 after
// it lands; objects can be put on legal hold, and ApplyRetention deletes
// what is older than the retention period unless it is on hold.
//
// A Store is safe for concurrent use. It keeps no state beyond the backing
// folder or bucket (checksums and holds live beside the objects), so several
// processes may share one.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"time"

	"jobhall/internal/apperr"
)

// Object describes one archived recording.
type Object struct {
	Key       string
	Size      int64
	SHA256    string // hex; verified after upload
	Modified  time.Time
	LegalHold bool
}

// Store is where recordings are kept.
type Store interface {
	// Put stores the file at localPath under key and verifies, by reading
	// the stored object back, that its SHA-256 matches the file's.
	Put(ctx context.Context, key, localPath string) (Object, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes key; it refuses (ErrLegalHold) while key is on hold.
	Delete(ctx context.Context, key string) error
	SetLegalHold(ctx context.Context, key string, on bool) error
	// List returns the objects under prefix. LegalHold is filled in only
	// where it is cheap (local); use Stat for the truth.
	List(ctx context.Context, prefix string) ([]Object, error)
}

// ErrLegalHold is returned when deleting an object on legal hold.
var ErrLegalHold = apperr.New(apperr.Conflict, "object is on legal hold")

// ErrChecksum is returned when a stored object does not match its source.
var ErrChecksum = apperr.New(apperr.Internal, "stored object does not match its checksum")

// ApplyRetention deletes every object older than maxAge at now, except those
// on legal hold. It returns the deleted keys; it goes on past single
// failures and returns the first error.
func ApplyRetention(ctx context.Context, s Store, maxAge time.Duration, now time.Time) ([]string, error) {
	objs, err := s.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var deleted []string
	var first error
	for _, o := range objs {
		if now.Sub(o.Modified) < maxAge {
			continue
		}
		switch err := s.Delete(ctx, o.Key); {
		case err == nil:
			deleted = append(deleted, o.Key)
		case apperr.CodeOf(err) == apperr.Conflict: // on hold
		case first == nil:
			first = err
		}
	}
	return deleted, first
}

// fileSHA256 hashes a file.
func fileSHA256(path string) (sum string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return readerSHA256(f)
}

func readerSHA256(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
