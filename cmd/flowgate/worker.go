package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/all"
	"github.com/flowgate/flowgate/executor/temporal"
)

// temporalFlags are the Temporal client settings of the gateway and of
// `flowgate worker`.
type temporalFlags struct {
	address, namespace, taskQueue         string
	caFile, certFile, keyFile, serverName string
}

func (t *temporalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.address, "temporal-address", envOr("FLOWGATE_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (FLOWGATE_TEMPORAL_ADDRESS)")
	fs.StringVar(&t.namespace, "temporal-namespace", envOr("FLOWGATE_TEMPORAL_NAMESPACE", "default"), "Temporal namespace (FLOWGATE_TEMPORAL_NAMESPACE)")
	fs.StringVar(&t.taskQueue, "temporal-task-queue", envOr("FLOWGATE_TEMPORAL_TASK_QUEUE", "flowgate"), "base name of the task queues: <name>-v<version> for workers, <name>-gateway-v<version> for the gateway (FLOWGATE_TEMPORAL_TASK_QUEUE)")
	fs.StringVar(&t.caFile, "temporal-tls-ca", envOr("FLOWGATE_TEMPORAL_TLS_CA", ""), "CA certificate (PEM) that signed Temporal's; turns TLS on (FLOWGATE_TEMPORAL_TLS_CA)")
	fs.StringVar(&t.certFile, "temporal-tls-cert", envOr("FLOWGATE_TEMPORAL_TLS_CERT", ""), "client certificate (PEM) for mTLS (FLOWGATE_TEMPORAL_TLS_CERT)")
	fs.StringVar(&t.keyFile, "temporal-tls-key", envOr("FLOWGATE_TEMPORAL_TLS_KEY", ""), "client private key (PEM) for mTLS (FLOWGATE_TEMPORAL_TLS_KEY)")
	fs.StringVar(&t.serverName, "temporal-tls-server-name", envOr("FLOWGATE_TEMPORAL_TLS_SERVER_NAME", ""), "name to verify in Temporal's certificate; turns TLS on (FLOWGATE_TEMPORAL_TLS_SERVER_NAME)")
}

func (t *temporalFlags) options(key []byte, log *slog.Logger) temporal.Options {
	o := temporal.Options{Address: t.address, Namespace: t.namespace, TaskQueue: t.taskQueue, CAFile: t.caFile, CertFile: t.certFile,
		KeyFile: t.keyFile, ServerName: t.serverName, Key: key, Logger: log}
	// A tuning knob without a flag: the history length past which a CDC
	// run's workflow continues as new at its next restart.
	if n, err := strconv.Atoi(os.Getenv("FLOWGATE_TEMPORAL_CDC_HISTORY_LIMIT")); err == nil && n > 0 {
		o.CDCHistoryLimit = n
	}
	return o
}

// workerMain is `flowgate worker`: it copies partitions for gateways of
// the same version on the same task queue. It never opens a catalog; the
// secret key must be the gateway's (datasource options arrive sealed).
func workerMain(args []string) int {
	var (
		tf                      temporalFlags
		secretKeyFile, logLevel string
	)
	fs := flag.NewFlagSet("flowgate worker", flag.ContinueOnError)
	tf.register(fs)
	fs.StringVar(&secretKeyFile, "secret-key-file", envOr("FLOWGATE_SECRET_KEY_FILE", ""), "the gateway's secret key file (FLOWGATE_SECRET_KEY_FILE; FLOWGATE_SECRET_KEY holds the key itself)")
	fs.StringVar(&logLevel, "log-level", envOr("FLOWGATE_LOG_LEVEL", "info"), "debug, info, warn or error (FLOWGATE_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "flowgate worker:", err)
		return 2
	}
	log, err := newLogger(logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowgate worker:", err)
		return 2
	}
	slog.SetDefault(log)
	key, err := workerKey(secretKeyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowgate worker:", err)
		return 2
	}
	if err := servePprof(); err != nil {
		fmt.Fprintln(os.Stderr, "flowgate worker:", err)
		return 2
	}
	all.Register()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := temporal.RunWorker(ctx, tf.options(key, log)); err != nil {
		fmt.Fprintln(os.Stderr, "flowgate worker:", err)
		return 1
	}
	return 0
}

// workerKey reads the gateway's key; unlike the gateway, a worker never
// creates one.
func workerKey(file string) ([]byte, error) {
	if file == "" && os.Getenv("FLOWGATE_SECRET_KEY") == "" {
		return nil, errors.New("--secret-key-file is required: the gateway's key file (datasource options reach workers sealed with it)")
	}
	if file == "" {
		return loadKey(config{})
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w (a worker needs the gateway's key file)", err)
	}
	k, err := catalog.ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", file, err)
	}
	return k, nil
}
