package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/cdc"
)

// Conn is an opened kafka datasource: its validated options. Clients are
// made per use (Test, each stream), since a consumer's client belongs to
// its group.
type Conn struct {
	opts    map[string]string
	brokers []string
	secrets []string
}

var (
	_ connectors.Connector = (*Conn)(nil)
	_ connectors.Tester    = (*Conn)(nil)
	_ cdc.ChangeSource     = (*Conn)(nil)
	_ cdc.Subscriber       = (*Conn)(nil)
	_ cdc.TimeSeeker       = (*Conn)(nil)
)

// Open keeps validated options; nothing connects before a use.
func Open(opts map[string]string) (connectors.Connector, error) {
	return &Conn{opts: opts, brokers: splitBrokers(opts["brokers"]), secrets: []string{opts["password"]}}, nil
}

// Close does nothing: clients are closed by their users.
func (c *Conn) Close() error { return nil }

// clientOpts are the connection options every client of c uses.
func (c *Conn) clientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.brokers...),
		kgo.ClientID(c.opts["client_id"]),
		kgo.DialTimeout(10 * time.Second),
		kgo.MetadataMinAge(time.Second),
	}
	user, pass := c.opts["user"], c.opts["password"]
	switch c.opts["sasl_mechanism"] {
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	}
	if c.opts["tls"] == "true" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.opts["tls_skip_verify"] == "true"}
		if pem := c.opts["tls_ca"]; pem != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(pem)) {
				return nil, fmt.Errorf("tls_ca holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
		// kgo sets ServerName per broker from its host when it is empty.
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}

// admin makes a client for metadata and offsets; close both with the
// returned function.
func (c *Conn) admin(extra ...kgo.Opt) (*kadm.Client, func(), error) {
	opts, err := c.clientOpts()
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, nil, c.scrub(err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func (c *Conn) scrub(err error) error { return connectors.ScrubError(err, c.secrets...) }

// Test asks the cluster for its metadata and the brokers' API versions:
// the server version reports the Kafka version the API versions match,
// the cluster id and the number of brokers.
func (c *Conn) Test(ctx context.Context) (connectors.TestResult, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectors.DefaultTestTimeout)
		defer cancel()
	}
	adm, done, err := c.admin(kgo.RequestRetries(1))
	if err != nil {
		return connectors.TestResult{}, err
	}
	defer done()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return connectors.TestResult{}, c.scrub(describeErr(c.brokers, err))
	}
	version := "unknown version"
	if vs, err := adm.ApiVersions(ctx); err == nil {
		for _, v := range vs.Sorted() {
			if v.Err == nil {
				version = strings.TrimPrefix(v.VersionGuess(), "v")
				break
			}
		}
	}
	cluster := md.Cluster
	if cluster == "" {
		cluster = "(none)"
	}
	return connectors.TestResult{ServerVersion: fmt.Sprintf("kafka %s, cluster %s, %d broker(s)", version, cluster, len(md.Brokers))}, nil
}

// describeErr adds the broker list to errors that say too little alone.
func describeErr(brokers []string, err error) error {
	var op *net.OpError
	if ok := asOpErr(err, &op); ok {
		return fmt.Errorf("brokers %s: %w", strings.Join(brokers, ","), err)
	}
	return fmt.Errorf("brokers %s: %w", strings.Join(brokers, ","), err)
}

func asOpErr(err error, target **net.OpError) bool {
	for e := err; e != nil; {
		if o, ok := e.(*net.OpError); ok {
			*target = o
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// topicPartitions lists the partitions of topics; a missing topic is an
// error naming it (SQLSTATE 42704).
func topicPartitions(ctx context.Context, adm *kadm.Client, topics []string) (map[string][]int32, error) {
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string][]int32{}
	for _, t := range topics {
		d, ok := td[t]
		if !ok || d.Err != nil {
			return nil, missingTopic(t, d.Err)
		}
		ps := make([]int32, 0, len(d.Partitions))
		for p := range d.Partitions {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out[t] = ps
	}
	return out, nil
}
