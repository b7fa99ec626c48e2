package store

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"jobhall/internal/apperr"
)

// metaSuffix names the sidecar holding an object's checksum and hold flag.
const metaSuffix = ".meta.json"

type localMeta struct {
	SHA256    string `json:"sha256"`
	LegalHold bool   `json:"legal_hold"`
}

// Local keeps objects as files under Root (keys are slash-separated paths).
// When a recording is already at its key's path (recordings folder = Root),
// Put only checksums it.
type Local struct {
	Root string
}

func (l *Local) path(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if key == "" || strings.HasSuffix(key, metaSuffix) || clean == "/" {
		return "", apperr.New(apperr.Invalid, "bad object key %q", key)
	}
	return filepath.Join(l.Root, filepath.FromSlash(clean)), nil
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, key, localPath string) (Object, error) {
	dst, err := l.path(key)
	if err != nil {
		return Object{}, err
	}
	sum, _, err := fileSHA256(localPath)
	if err != nil {
		return Object{}, apperr.Wrap(err, apperr.Internal, "read %s", localPath)
	}
	same := false
	if a, err1 := os.Stat(localPath); err1 == nil {
		if b, err2 := os.Stat(dst); err2 == nil && os.SameFile(a, b) {
			same = true
		}
	}
	if !same {
		if err := copyFile(localPath, dst); err != nil {
			return Object{}, apperr.Wrap(err, apperr.Internal, "store %s", key)
		}
		got, _, err := fileSHA256(dst)
		if err != nil {
			return Object{}, apperr.Wrap(err, apperr.Internal, "verify %s", key)
		}
		if got != sum {
			_ = os.Remove(dst)
			return Object{}, apperr.Wrap(ErrChecksum, apperr.Internal, "%s: sha256 %s, want %s", key, got, sum)
		}
	}
	m, _ := l.meta(dst)
	m.SHA256 = sum
	if err := l.writeMeta(dst, m); err != nil {
		return Object{}, err
	}
	return l.Stat(ctx, key)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func (l *Local) meta(p string) (localMeta, error) {
	var m localMeta
	b, err := os.ReadFile(p + metaSuffix)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

func (l *Local) writeMeta(p string, m localMeta) error {
	b, _ := json.Marshal(m)
	tmp := p + metaSuffix + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return apperr.Wrap(err, apperr.Internal, "write metadata of %s", p)
	}
	if err := os.Rename(tmp, p+metaSuffix); err != nil {
		return apperr.Wrap(err, apperr.Internal, "write metadata of %s", p)
	}
	return nil
}

// Open implements Store.
func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, apperr.Wrap(err, apperr.NotFound, "no object %s", key)
	}
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "open %s", key)
	}
	return f, nil
}

// Stat implements Store.
func (l *Local) Stat(_ context.Context, key string) (Object, error) {
	p, err := l.path(key)
	if err != nil {
		return Object{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return Object{}, apperr.Wrap(err, apperr.NotFound, "no object %s", key)
	}
	if err != nil {
		return Object{}, apperr.Wrap(err, apperr.Internal, "stat %s", key)
	}
	m, _ := l.meta(p)
	return Object{Key: key, Size: st.Size(), SHA256: m.SHA256, Modified: st.ModTime(), LegalHold: m.LegalHold}, nil
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, key string) error {
	o, err := l.Stat(ctx, key)
	if err != nil {
		return err
	}
	if o.LegalHold {
		return apperr.Wrap(ErrLegalHold, apperr.Conflict, "delete %s", key)
	}
	p, _ := l.path(key)
	if err := os.Remove(p); err != nil {
		return apperr.Wrap(err, apperr.Internal, "delete %s", key)
	}
	_ = os.Remove(p + metaSuffix)
	return nil
}

// SetLegalHold implements Store.
func (l *Local) SetLegalHold(ctx context.Context, key string, on bool) error {
	if _, err := l.Stat(ctx, key); err != nil {
		return err
	}
	p, _ := l.path(key)
	m, _ := l.meta(p)
	m.LegalHold = on
	return l.writeMeta(p, m)
}

// List implements Store.
func (l *Local) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := filepath.WalkDir(l.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		name := d.Name()
		if d.IsDir() || strings.HasSuffix(name, metaSuffix) || strings.HasSuffix(name, ".tmp") ||
			strings.HasSuffix(name, ".part") || strings.HasSuffix(name, ".recording") {
			return nil
		}
		rel, err := filepath.Rel(l.Root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		o, err := l.Stat(ctx, key)
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "list %s", l.Root)
	}
	return out, nil
}
