package testbed

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server is an in-process, in-memory S3 server (gofakes3) with one bucket.
// It does not check signatures: any AccessKey/SecretKey is accepted.
type S3Server struct {
	Endpoint  string // http://127.0.0.1:port; address buckets path-style
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	Backend   *s3mem.Backend // for tests that look behind the API
}

// S3 starts a fresh S3 server with an empty bucket for t, stopped in
// t.Cleanup. It is cheap, so tests do not share one.
func S3(t testing.TB) *S3Server {
	t.Helper()
	backend := s3mem.New()
	const bucket = "flowgate-test"
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatalf("testbed: create bucket: %v", err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return &S3Server{
		Endpoint:  srv.URL,
		Region:    "us-east-1",
		Bucket:    bucket,
		AccessKey: "testbed-access-key",
		SecretKey: "testbed-secret-key",
		Backend:   backend,
	}
}
