package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	"jobhall/internal/apperr"
)

const (
	holdTag   = "legal-hold"
	shaMeta   = "sha256" // user metadata: x-amz-meta-sha256
	minPart   = 5 << 20  // S3's smallest multipart part
	defPart   = 16 << 20
	defTries  = 4
	defBackof = 500 * time.Millisecond
)

// S3Config configures an S3-compatible store.
type S3Config struct {
	Endpoint  string // host:port
	Secure    bool   // https
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	Prefix    string // prepended to every key, e.g. "recordings/"

	PartSize int64         // multipart part size (≥ 5 MiB); files larger than one part upload in parts
	Attempts int           // tries per operation (default 4)
	Backoff  time.Duration // first retry delay, doubled each time (default 500 ms)
	Timeout  time.Duration // per-request HTTP timeout (default 30 s; 0 = default)
	Logger   *slog.Logger
}

// S3 is a Store on an S3-compatible object store. Legal hold is an object
// tag (portable; S3 Object Lock needs a lock-enabled bucket), honoured by
// Delete and ApplyRetention.
type S3 struct {
	c   *minio.Client
	tr  *http.Transport
	cfg S3Config
	log *slog.Logger
}

// NewS3 connects to the store; it creates the bucket if it does not exist.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, apperr.New(apperr.Invalid, "s3: endpoint and bucket are required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = defPart
	}
	cfg.PartSize = max(cfg.PartSize, minPart)
	if cfg.Attempts <= 0 {
		cfg.Attempts = defTries
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = defBackof
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = cfg.Timeout
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.Secure,
		Region:     cfg.Region,
		Transport:  tr,
		MaxRetries: 1, // we retry whole operations, with our own bounds
	})
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Invalid, "s3 client")
	}
	s := &S3{c: c, tr: tr, cfg: cfg, log: cfg.Logger.With("component", "store", "bucket", cfg.Bucket)}
	err = s.retry(ctx, "create bucket", func(ctx context.Context) error {
		ok, err := c.BucketExists(ctx, cfg.Bucket)
		if err != nil || ok {
			return err
		}
		return c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *S3) key(k string) string { return s.cfg.Prefix + strings.TrimPrefix(k, "/") }

// retry runs op up to Attempts times with exponential backoff; "not found"
// and other client errors are final.
func (s *S3) retry(ctx context.Context, what string, op func(context.Context) error) error {
	delay := s.cfg.Backoff
	var err error
	for i := range s.cfg.Attempts {
		if err = op(ctx); err == nil || !transient(err) {
			break
		}
		if i == s.cfg.Attempts-1 {
			break
		}
		s.log.Warn("s3 operation failed; retrying", "op", what, "attempt", i+1, "err", err)
		select {
		case <-ctx.Done():
			return apperr.Wrap(ctx.Err(), apperr.Unavailable, "s3 %s", what)
		case <-time.After(delay):
		}
		delay *= 2
	}
	if err == nil {
		return nil
	}
	if apperr.As(err).Code != apperr.Internal || errors.Is(err, ErrChecksum) {
		return err
	}
	code := apperr.Unavailable
	switch r := minio.ToErrorResponse(err); {
	case r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey":
		code = apperr.NotFound
	case r.StatusCode == 0 && r.Code != "", r.StatusCode >= 400 && r.StatusCode < 500:
		code = apperr.Invalid // configuration or request: retrying cannot help
	}
	return apperr.Wrap(err, code, "s3 %s", what)
}

func transient(err error) bool {
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code != apperr.Internal {
		return false // ours: hold, not found, invalid
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.StatusCode == 0 && r.Code != "": // the client refused the request (bad name etc.)
		return false
	case r.StatusCode == 0: // network: refused, reset, timeout
		return true
	case r.StatusCode >= 500, r.StatusCode == http.StatusTooManyRequests, r.StatusCode == http.StatusRequestTimeout:
		return true
	}
	return errors.Is(err, ErrChecksum)
}

// Put implements Store: a multipart upload for files larger than PartSize,
// then the object is read back and its SHA-256 compared; a mismatch deletes
// it and tries again.
func (s *S3) Put(ctx context.Context, key, localPath string) (Object, error) {
	sum, size, err := fileSHA256(localPath)
	if err != nil {
		return Object{}, apperr.Wrap(err, apperr.Internal, "read %s", localPath)
	}
	k := s.key(key)
	err = s.retry(ctx, "put "+k, func(ctx context.Context) error {
		f, err := os.Open(localPath)
		if err != nil {
			return apperr.Wrap(err, apperr.Internal, "read %s", localPath)
		}
		defer f.Close()
		_, err = s.c.PutObject(ctx, s.cfg.Bucket, k, f, size, minio.PutObjectOptions{
			PartSize:     uint64(s.cfg.PartSize),
			ContentType:  contentType(key),
			UserMetadata: map[string]string{shaMeta: sum},
		})
		if err != nil {
			return err
		}
		got, n, err := s.remoteSHA256(ctx, k)
		if err != nil {
			return err
		}
		if got != sum || n != size {
			_ = s.c.RemoveObject(ctx, s.cfg.Bucket, k, minio.RemoveObjectOptions{})
			return apperr.Wrap(ErrChecksum, apperr.Internal, "%s: stored sha256 %s (%d bytes), want %s (%d)", k, got, n, sum, size)
		}
		return nil
	})
	if err != nil {
		return Object{}, err
	}
	return s.Stat(ctx, key)
}

func (s *S3) remoteSHA256(ctx context.Context, k string) (string, int64, error) {
	o, err := s.c.GetObject(ctx, s.cfg.Bucket, k, minio.GetObjectOptions{})
	if err != nil {
		return "", 0, err
	}
	defer o.Close()
	return readerSHA256(o)
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".webm"):
		return "video/webm"
	case strings.HasSuffix(key, ".mkv"):
		return "video/x-matroska"
	case strings.HasSuffix(key, ".mp4"):
		return "video/mp4"
	case strings.HasSuffix(key, ".jpg"):
		return "image/jpeg"
	}
	return "application/octet-stream"
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	var o *minio.Object
	err := s.retry(ctx, "get "+key, func(ctx context.Context) error {
		var err error
		if o, err = s.c.GetObject(ctx, s.cfg.Bucket, s.key(key), minio.GetObjectOptions{}); err != nil {
			return err
		}
		if _, err = o.Stat(); err != nil {
			_ = o.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	var out Object
	err := s.retry(ctx, "stat "+key, func(ctx context.Context) error {
		info, err := s.c.StatObject(ctx, s.cfg.Bucket, s.key(key), minio.StatObjectOptions{})
		if err != nil {
			return err
		}
		hold, err := s.hold(ctx, s.key(key))
		if err != nil {
			return err
		}
		out = Object{Key: key, Size: info.Size, Modified: info.LastModified, LegalHold: hold}
		for k, v := range info.UserMetadata {
			if strings.EqualFold(k, shaMeta) || strings.EqualFold(k, "x-amz-meta-"+shaMeta) {
				out.SHA256 = v
			}
		}
		return nil
	})
	return out, err
}

func (s *S3) hold(ctx context.Context, k string) (bool, error) {
	t, err := s.c.GetObjectTagging(ctx, s.cfg.Bucket, k, minio.GetObjectTaggingOptions{})
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchTagSet" || r.Code == "NoSuchTagSetError" {
			return false, nil
		}
		return false, err
	}
	return t.ToMap()[holdTag] == "on", nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	return s.retry(ctx, "delete "+key, func(ctx context.Context) error {
		hold, err := s.hold(ctx, s.key(key))
		if err != nil {
			return err
		}
		if hold {
			return apperr.Wrap(ErrLegalHold, apperr.Conflict, "delete %s", key)
		}
		return s.c.RemoveObject(ctx, s.cfg.Bucket, s.key(key), minio.RemoveObjectOptions{})
	})
}

// SetLegalHold implements Store.
func (s *S3) SetLegalHold(ctx context.Context, key string, on bool) error {
	return s.retry(ctx, "legal hold "+key, func(ctx context.Context) error {
		if !on {
			return s.c.RemoveObjectTagging(ctx, s.cfg.Bucket, s.key(key), minio.RemoveObjectTaggingOptions{})
		}
		t, err := tags.NewTags(map[string]string{holdTag: "on"}, true)
		if err != nil {
			return err
		}
		return s.c.PutObjectTagging(ctx, s.cfg.Bucket, s.key(key), t, minio.PutObjectTaggingOptions{})
	})
}

// List implements Store. LegalHold is not filled in (one request per
// object); Delete checks it.
func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := s.retry(ctx, "list", func(ctx context.Context) error {
		out = out[:0]
		for o := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.key(prefix), Recursive: true}) {
			if o.Err != nil {
				return o.Err
			}
			out = append(out, Object{Key: strings.TrimPrefix(o.Key, s.cfg.Prefix), Size: o.Size, Modified: o.LastModified})
		}
		return nil
	})
	return out, err
}

// Close drops idle keep-alive connections.
func (s *S3) Close() {
	s.tr.CloseIdleConnections()
}
