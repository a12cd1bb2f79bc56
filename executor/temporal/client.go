// Package temporal is flowgate's second engine: batch runs become Temporal
// workflows whose partition copies are activities run by any number of
// `flowgate worker` processes, and CDC runs workflows whose pipeline is
// one long activity on a worker (cdc.go), while the gateway keeps the
// catalog (its reads and writes are activities on the gateway's own task
// queue, which only the gateway serves, or the gateway's following of
// heartbeats). docs/scale-out.md describes it.
package temporal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// Version is the version of flowgate's workflows and activities. It is in
// the task queues' names, so a worker of another version never picks up
// this version's tasks (it polls other queues), and a run waits for a
// worker that speaks its version.
const Version = 1

// Options are the client settings shared by the gateway and workers.
type Options struct {
	Address   string // host:port of the frontend
	Namespace string
	TaskQueue string // base name; see DataQueue and GatewayQueue
	// TLS: CAFile verifies the server; CertFile/KeyFile are the client's
	// certificate for mTLS; ServerName overrides the name checked.
	CAFile, CertFile, KeyFile, ServerName string
	Key                                   []byte // the catalog's secret key
	Identity                              string
	Logger                                *slog.Logger
	// CDCHistoryLimit is the history length past which a CDCRun workflow
	// continues as new at its next restart (0: 2,000 events).
	CDCHistoryLimit int
}

// DataQueue is where partition copies run (workers).
func (o Options) DataQueue() string { return fmt.Sprintf("%s-v%d", o.TaskQueue, Version) }

// GatewayQueue is where workflows and catalog activities run (the gateway).
func (o Options) GatewayQueue() string { return fmt.Sprintf("%s-gateway-v%d", o.TaskQueue, Version) }

func (o Options) tls() (*tls.Config, error) {
	if o.CAFile == "" && o.CertFile == "" && o.KeyFile == "" && o.ServerName == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: o.ServerName, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal TLS CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal TLS CA %s holds no PEM certificate", o.CAFile)
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("temporal mTLS needs both --temporal-tls-cert and --temporal-tls-key")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Dial connects to the Temporal frontend with sealed payloads and failure
// messages. An unreachable server is an error naming the address: the
// gateway and workers exit with it rather than start half-working.
func Dial(ctx context.Context, o Options) (client.Client, *Codec, error) {
	codec, err := NewCodec(o.Key)
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err := o.tls()
	if err != nil {
		return nil, nil, err
	}
	dc := codec.DataConverter()
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, client.Options{
		HostPort:      o.Address,
		Namespace:     o.Namespace,
		Identity:      o.Identity,
		DataConverter: dc,
		// Error messages name tables and keys: they are sealed as well.
		FailureConverter:  newFailureConverter(dc),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg},
		Logger:            sdklog.NewStructuredLogger(quiet(logger)),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %w; check --temporal-address, or start with --engine embedded", o.Address, o.Namespace, err)
	}
	return c, codec, nil
}

// quiet drops the SDK's debug and info chatter.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}
