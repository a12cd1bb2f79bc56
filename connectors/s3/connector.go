package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/flowgate/flowgate/connectors"
)

// Conn is an opened s3 datasource.
type Conn struct {
	client   *s3.Client
	bucket   string
	prefix   string
	endpoint string
	secrets  []string
}

var (
	_ connectors.Connector = (*Conn)(nil)
	_ connectors.Tester    = (*Conn)(nil)
)

// Open builds a client for validated options. It deliberately does not use
// config.LoadDefaultConfig: a datasource's credentials are its options, not
// whatever the gateway's environment or instance metadata happens to hold.
func Open(opts map[string]string) (connectors.Connector, error) {
	o := s3.Options{
		Region:       opts["region"],
		UsePathStyle: opts["path_style"] == "true",
		Credentials:  aws.AnonymousCredentials{},
	}
	if opts["access_key"] != "" {
		o.Credentials = credentials.NewStaticCredentialsProvider(opts["access_key"], opts["secret_key"], "")
	}
	if opts["endpoint"] != "" {
		o.BaseEndpoint = aws.String(opts["endpoint"])
	}
	return &Conn{
		client:   s3.New(o),
		bucket:   opts["bucket"],
		prefix:   opts["prefix"],
		endpoint: opts["endpoint"],
		secrets:  []string{opts["access_key"], opts["secret_key"]},
	}, nil
}

// Client is the S3 client, for the executor.
func (c *Conn) Client() *s3.Client { return c.client }

// Bucket is the datasource's bucket.
func (c *Conn) Bucket() string { return c.bucket }

// Prefix is the key prefix objects live under.
func (c *Conn) Prefix() string { return c.prefix }

// Close does nothing: the client holds no connection of its own.
func (c *Conn) Close() error { return nil }

// Test checks that the bucket exists and the credentials may use it.
func (c *Conn) Test(ctx context.Context) (connectors.TestResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectors.DefaultTestTimeout)
		defer cancel()
	}
	out, err := c.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.bucket)})
	if err != nil {
		var nf *types.NotFound
		if errors.As(err, &nf) {
			err = fmt.Errorf("bucket %q does not exist: %w", c.bucket, err)
		} else {
			err = fmt.Errorf("bucket %q: %w", c.bucket, err)
		}
		return connectors.TestResult{}, connectors.ScrubError(err, c.secrets...)
	}
	return connectors.TestResult{ServerVersion: c.serverVersion(out.ResultMetadata)}, nil
}

// serverVersion names the service: its Server header when it sends one,
// else the endpoint host.
func (c *Conn) serverVersion(md middleware.Metadata) string {
	if raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		if s := raw.Header.Get("Server"); s != "" {
			return "s3 " + s
		}
	}
	host := "aws"
	if u, err := url.Parse(c.endpoint); err == nil && u.Host != "" {
		host = u.Host
	}
	return "s3 " + host
}
