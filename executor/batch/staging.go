package batch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"

	"github.com/flowgate/flowgate/connectors/file"
	"github.com/flowgate/flowgate/connectors/s3"
)

// store keeps staged export files.
type store interface {
	// put stores data under name and returns its URI.
	put(ctx context.Context, name string, data []byte) (string, error)
	open(ctx context.Context, uri string) (io.ReadCloser, error)
	remove(ctx context.Context, uri string) error
}

// localStore is a directory on this machine.
type localStore struct{ dir string }

func (s localStore) put(_ context.Context, name string, data []byte) (string, error) {
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("staging directory: %w", err)
	}
	// Write then rename so a crash never leaves a half file under the name.
	tmp := p + ".part"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("write staged file: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("write staged file: %w", err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: abs}).String(), nil
}

func localPath(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" {
		return "", fmt.Errorf("not a local staged file: %s", uri)
	}
	return u.Path, nil
}

func (s localStore) open(_ context.Context, uri string) (io.ReadCloser, error) {
	p, err := localPath(uri)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

func (s localStore) remove(_ context.Context, uri string) error {
	p, err := localPath(uri)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// s3Store is a bucket and prefix of an s3 datasource.
type s3Store struct {
	client *awss3.Client
	bucket string
	prefix string
}

func (s s3Store) put(ctx context.Context, name string, data []byte) (string, error) {
	key := path.Join(s.prefix, name)
	_, err := s.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return "", fmt.Errorf("upload s3://%s/%s: %w", s.bucket, key, err)
	}
	return "s3://" + s.bucket + "/" + key, nil
}

func (s s3Store) key(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "s3://"+s.bucket+"/")
	if !ok {
		return "", fmt.Errorf("staged file %s is not in bucket %s", uri, s.bucket)
	}
	return rest, nil
}

func (s s3Store) open(ctx context.Context, uri string) (io.ReadCloser, error) {
	k, err := s.key(uri)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", uri, err)
	}
	return out.Body, nil
}

func (s s3Store) remove(ctx context.Context, uri string) error {
	k, err := s.key(uri)
	if err != nil {
		return err
	}
	_, err = s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	return err
}

// storeFor picks the store of a staging datasource connection (nil = the
// local staging directory).
func storeFor(conn any, localDir string) (store, error) {
	switch c := conn.(type) {
	case nil:
		return localStore{dir: localDir}, nil
	case *s3.Conn:
		return s3Store{client: c.Client(), bucket: c.Bucket(), prefix: c.Prefix()}, nil
	case *file.Conn:
		return localStore{dir: c.Dir()}, nil
	}
	return nil, fmt.Errorf("staging must be an s3 or file datasource, not %T", conn)
}

// compression of staged files.
const (
	compZstd = "zstd"
	compGzip = "gzip"
	compNone = "none"
)

func fileSuffix(compression string) string {
	switch compression {
	case compZstd:
		return ".csv.zst"
	case compGzip:
		return ".csv.gz"
	}
	return ".csv"
}

// zstdEncoder is shared: EncodeAll is safe for concurrent use.
var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))

func compress(compression string, raw []byte) ([]byte, error) {
	switch compression {
	case compZstd:
		return zstdEncoder.EncodeAll(raw, make([]byte, 0, len(raw)/3)), nil
	case compGzip:
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		if _, err := w.Write(raw); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	return raw, nil
}

// decompressed wraps a staged file's reader; the URI's suffix says how.
func decompressed(uri string, r io.ReadCloser) (io.ReadCloser, error) {
	switch {
	case strings.HasSuffix(uri, ".zst"):
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			r.Close()
			return nil, err
		}
		return readCloser{Reader: d, close: func() error { d.Close(); return r.Close() }}, nil
	case strings.HasSuffix(uri, ".gz"):
		g, err := gzip.NewReader(r)
		if err != nil {
			r.Close()
			return nil, err
		}
		return readCloser{Reader: g, close: func() error { g.Close(); return r.Close() }}, nil
	}
	return r, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
