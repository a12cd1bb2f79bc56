// Package s3 is the S3-compatible object storage datasource type (AWS S3,
// MinIO, Ceph, ...), on aws-sdk-go-v2.
package s3

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/flowgate/flowgate/connectors"
)

// Name is the datasource type name used in CREATE DATASOURCE ... TYPE.
const Name = "s3"

// Type declares the s3 datasource type. access_key is treated as a secret
// too: it is only an identifier to AWS, but masking it costs nothing and
// keeps half of a credential pair out of views and logs.
func Type() connectors.Type {
	return connectors.Type{
		Name:        Name,
		Description: "A bucket (optionally a prefix in it) of S3-compatible object storage.",
		Options: []connectors.Option{
			{Name: "endpoint", Check: checkEndpoint, Example: "http://127.0.0.1:9000",
				Description: "Service URL (http:// or https://); empty means AWS S3 for the region."},
			{Name: "region", Default: "us-east-1", Description: "Region used to sign requests."},
			{Name: "bucket", Required: true, Description: "Bucket name.", Example: "exports"},
			{Name: "access_key", Secret: true, Description: "Access key ID; empty (with secret_key empty) sends unsigned requests."},
			{Name: "secret_key", Secret: true, Description: "Secret access key."},
			{Name: "prefix", Description: "Key prefix all objects of the datasource live under.", Example: "flowgate/"},
			{Name: "path_style", Default: "false", Kind: connectors.KindBool,
				Description: "Address buckets as endpoint/bucket instead of bucket.endpoint; most self-hosted servers (MinIO, ...) need true."},
		},
		Check: func(opts map[string]string) error {
			if (opts["access_key"] == "") != (opts["secret_key"] == "") {
				return errors.New("access_key and secret_key go together: give both or neither")
			}
			return nil
		},
		Open: Open,
	}
}

func checkEndpoint(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be a URL starting with http:// or https://")
	}
	return nil
}
