package scan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flowgate/flowgate/connectors/file"
	"github.com/flowgate/flowgate/connectors/s3"
	"github.com/flowgate/flowgate/executor/batch"
)

// objInfo is one object of a listing; Key is relative to the datasource
// (after an s3 datasource's prefix, inside a file datasource's directory).
type objInfo struct {
	Key   string
	Size  int64
	ETag  string
	MTime time.Time
}

// objWriter is an object being written: nothing is visible under its
// name until Commit (a file is renamed from a temporary name; an s3
// object is uploaded in one PutObject when complete).
type objWriter interface {
	io.Writer
	Commit(ctx context.Context) (uri string, size int64, err error)
	Abort()
}

// objStore is an s3 or file datasource as a set of objects.
type objStore interface {
	list(ctx context.Context, prefix string) ([]objInfo, error)
	create(ctx context.Context, key string) (objWriter, error)
	// local returns a local file holding the object (a download for s3)
	// and a function that removes it when it was a download.
	local(ctx context.Context, key string) (string, func(), error)
	remove(ctx context.Context, key string) error
	uri(key string) string
	keyOf(uri string) (string, bool)
	// cleanTemp removes temporary objects a killed writer left under
	// prefix (a file's temporary name; s3 spools locally and has none).
	cleanTemp(ctx context.Context, prefix string) (int, error)
}

const tmpMark = ".flowgate-tmp-"

func randHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func storeOf(ep *batch.Endpoint, stagingDir string) (objStore, error) {
	switch c := ep.Conn.(type) {
	case *file.Conn:
		return fileStore{dir: c.Dir()}, nil
	case *s3.Conn:
		return s3Store{client: c.Client(), bucket: c.Bucket(), prefix: c.Prefix(), tmp: stagingDir}, nil
	}
	return nil, objectStore(ep)
}

type fileStore struct{ dir string }

func (s fileStore) path(key string) (string, error) {
	p := filepath.Join(s.dir, filepath.FromSlash(key))
	if p != s.dir && !strings.HasPrefix(p, s.dir+string(filepath.Separator)) {
		return "", fmt.Errorf("object %q leaves the datasource's directory", key)
	}
	return p, nil
}

func (s fileStore) uri(key string) string {
	p, _ := s.path(key)
	return (&url.URL{Scheme: "file", Path: p}).String()
}

func (s fileStore) keyOf(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" {
		return "", false
	}
	rel, err := filepath.Rel(s.dir, u.Path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func (s fileStore) list(ctx context.Context, prefix string) ([]objInfo, error) {
	// Walk the deepest directory the prefix names.
	root := s.dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		var err error
		if root, err = s.path(prefix[:i]); err != nil {
			return nil, err
		}
	}
	var out []objInfo
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.Contains(d.Name(), tmpMark) {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, objInfo{Key: key, Size: info.Size(), MTime: info.ModTime().UTC()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

type fileWriter struct {
	f     *os.File
	final string
	uri   string
	size  int64
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

// Commit renames the finished file to its name. It does not fsync: a
// crashed gateway leaves the written bytes to the kernel, and a part is
// only listed as present after the rename; a power loss can still lose a
// part's content (RETRY writes it again).
func (w *fileWriter) Commit(context.Context) (string, int64, error) {
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return "", 0, err
	}
	if err := os.Rename(w.f.Name(), w.final); err != nil {
		os.Remove(w.f.Name())
		return "", 0, err
	}
	return w.uri, w.size, nil
}

func (w *fileWriter) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

func (s fileStore) create(_ context.Context, key string) (objWriter, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p+tmpMark+randHex(), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &fileWriter{f: f, final: p, uri: s.uri(key)}, nil
}

func (s fileStore) cleanTemp(_ context.Context, prefix string) (int, error) {
	root := s.dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		var err error
		if root, err = s.path(prefix[:i]); err != nil {
			return 0, err
		}
	}
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		if !d.IsDir() && strings.Contains(d.Name(), tmpMark) && strings.HasPrefix(filepath.ToSlash(rel), prefix) {
			if err := os.Remove(p); err == nil {
				n++
			}
		}
		return nil
	})
	return n, err
}

func (s fileStore) local(_ context.Context, key string) (string, func(), error) {
	p, err := s.path(key)
	return p, func() {}, err
}

func (s fileStore) remove(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

type s3Store struct {
	client *awss3.Client
	bucket string
	prefix string
	tmp    string
}

func (s s3Store) full(key string) string {
	if s.prefix == "" {
		return key
	}
	return path.Join(s.prefix, key)
}

func (s s3Store) uri(key string) string { return "s3://" + s.bucket + "/" + s.full(key) }

func (s s3Store) keyOf(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, "s3://"+s.bucket+"/")
	if !ok {
		return "", false
	}
	if s.prefix != "" {
		rest, ok = strings.CutPrefix(rest, strings.TrimSuffix(s.prefix, "/")+"/")
	}
	return rest, ok
}

func (s s3Store) list(ctx context.Context, prefix string) ([]objInfo, error) {
	full := s.full(prefix)
	if strings.HasSuffix(prefix, "/") && !strings.HasSuffix(full, "/") {
		full += "/"
	}
	var out []objInfo
	pg := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(full)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.bucket, full, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if s.prefix != "" {
				k = strings.TrimPrefix(k, strings.TrimSuffix(s.prefix, "/")+"/")
			}
			if strings.Contains(k, tmpMark) {
				continue
			}
			oi := objInfo{Key: k, Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)}
			if o.LastModified != nil {
				oi.MTime = o.LastModified.UTC()
			}
			out = append(out, oi)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// s3Writer spools to a local file and uploads it in one PutObject at
// Commit, so the object appears whole or not at all.
type s3Writer struct {
	s    s3Store
	key  string
	f    *os.File
	size int64
}

func (w *s3Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *s3Writer) Commit(ctx context.Context) (string, int64, error) {
	defer w.Abort()
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	full := w.s.full(w.key)
	_, err := w.s.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(w.s.bucket), Key: aws.String(full), Body: w.f, ContentLength: aws.Int64(w.size)})
	if err != nil {
		return "", 0, fmt.Errorf("upload s3://%s/%s: %w", w.s.bucket, full, err)
	}
	return w.s.uri(w.key), w.size, nil
}

func (w *s3Writer) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

func (s s3Store) spoolDir() string {
	if s.tmp == "" {
		return os.TempDir()
	}
	os.MkdirAll(s.tmp, 0o755)
	return s.tmp
}

func (s s3Store) create(_ context.Context, key string) (objWriter, error) {
	f, err := os.CreateTemp(s.spoolDir(), "flowgate-upload-*")
	if err != nil {
		return nil, err
	}
	return &s3Writer{s: s, key: key, f: f}, nil
}

func (s s3Store) local(ctx context.Context, key string) (string, func(), error) {
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.full(key))})
	if err != nil {
		return "", nil, fmt.Errorf("download %s: %w", s.uri(key), err)
	}
	defer out.Body.Close()
	f, err := os.CreateTemp(s.spoolDir(), "flowgate-download-*")
	if err != nil {
		return "", nil, err
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", nil, fmt.Errorf("download %s: %w", s.uri(key), err)
	}
	f.Close()
	return f.Name(), func() { os.Remove(f.Name()) }, nil
}

func (s s3Store) cleanTemp(context.Context, string) (int, error) { return 0, nil }

func (s s3Store) remove(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.full(key))})
	return err
}
