package s3_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/s3"
	"github.com/flowgate/flowgate/internal/testbed"
)

func opts(srv *testbed.S3Server) map[string]string {
	return map[string]string{"endpoint": srv.Endpoint, "region": srv.Region, "bucket": srv.Bucket,
		"access_key": srv.AccessKey, "secret_key": srv.SecretKey, "path_style": "true"}
}

func TestOK(t *testing.T) {
	srv := testbed.S3(t)
	res, err := connectors.Test(context.Background(), s3.Type(), opts(srv))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ServerVersion, "s3 ") {
		t.Errorf("server version %q", res.ServerVersion)
	}
	t.Logf("server_version %s", res.ServerVersion)
}

func TestMissingBucket(t *testing.T) {
	srv := testbed.S3(t)
	o := opts(srv)
	o["bucket"] = "no-such-bucket"
	_, err := connectors.Test(context.Background(), s3.Type(), o)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
		t.Errorf("err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
		t.Errorf("error contains the secret key: %q", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := testbed.S3(t)
	o := opts(srv)
	o["endpoint"] = "http://127.0.0.1:1"
	_, err := connectors.Test(context.Background(), s3.Type(), o)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v", err)
	}
}
