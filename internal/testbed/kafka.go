package testbed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// KafkaCluster is an in-process Kafka-protocol cluster (franz-go's kfake)
// on a real TCP port of 127.0.0.1, keeping its data in a directory so that
// Stop and Start on the same port behave like a broker restart.
type KafkaCluster struct {
	Addr string // 127.0.0.1:port
	Port int
	// SASL: Mechanism is "" (none), "plain", "scram-sha-256" or
	// "scram-sha-512"; User and Password are its superuser.
	Mechanism, User, Password string
	// CAPEM is the PEM certificate the TLS listener's certificate is
	// signed with; "" without TLS.
	CAPEM string

	dir  string
	opts []kfake.Opt
	tls  *tls.Config
	mu   sync.Mutex
	c    *kfake.Cluster
}

// KafkaOption configures Kafka.
type KafkaOption func(*KafkaCluster)

// KafkaSASL makes the cluster require SASL (mechanism plain,
// scram-sha-256 or scram-sha-512) with one superuser.
func KafkaSASL(mechanism, user, password string) KafkaOption {
	return func(k *KafkaCluster) { k.Mechanism, k.User, k.Password = mechanism, user, password }
}

// KafkaTLS makes the cluster listen with TLS, its certificate for
// 127.0.0.1 signed by a throwaway CA (CAPEM).
func KafkaTLS() KafkaOption {
	return func(k *KafkaCluster) { k.tls = &tls.Config{} }
}

// Kafka starts a single-broker cluster for t, closed in t.Cleanup.
func Kafka(t testing.TB, opts ...KafkaOption) *KafkaCluster {
	t.Helper()
	k, stop, err := StartKafka(opts...)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(stop)
	return k
}

// StartKafka starts a single-broker cluster outside a test (the bench
// uses it); stop closes it and removes its data.
func StartKafka(opts ...KafkaOption) (k *KafkaCluster, stop func(), err error) {
	k = &KafkaCluster{}
	for _, o := range opts {
		o(k)
	}
	dir, err := os.MkdirTemp("", "testbed-kafka-")
	if err != nil {
		return nil, nil, fmt.Errorf("kafka dir: %w", err)
	}
	fail := func(format string, args ...any) (*KafkaCluster, func(), error) {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf(format, args...)
	}
	k.dir = dir
	// The port must survive a restart of the cluster, so it is fixed here.
	k.Port, err = freePort()
	if err != nil {
		return fail("kafka port: %w", err)
	}
	k.Addr = fmt.Sprintf("127.0.0.1:%d", k.Port)
	k.opts = []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(k.Port), kfake.DataDir(dir), kfake.ClusterID("testbed-kafka"),
		kfake.GroupMinSessionTimeout(500 * time.Millisecond), kfake.DefaultNumPartitions(1)}
	if k.Mechanism != "" {
		method := map[string]string{"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512"}[k.Mechanism]
		if method == "" {
			return fail("unknown SASL mechanism %q", k.Mechanism)
		}
		k.opts = append(k.opts, kfake.EnableSASL(), kfake.Superuser(method, k.User, k.Password))
	}
	if k.tls != nil {
		cfg, caPEM, err := selfSignedTLS()
		if err != nil {
			return fail("kafka TLS: %w", err)
		}
		k.tls, k.CAPEM = cfg, caPEM
		k.opts = append(k.opts, kfake.TLS(cfg))
	}
	if err := k.Start(); err != nil {
		return fail("start kafka: %w", err)
	}
	return k, func() {
		k.Stop()
		os.RemoveAll(dir)
	}, nil
}

// Start starts the cluster (again) on its port with its data.
func (k *KafkaCluster) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		return nil
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment after Stop
		if k.c, err = kfake.NewCluster(k.opts...); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Stop closes the cluster; its data stays for Start.
func (k *KafkaCluster) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// ClientOpts are the options a client needs to reach the cluster.
func (k *KafkaCluster) ClientOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(k.Addr)}
	switch k.Mechanism {
	case "plain":
		opts = append(opts, kgo.SASL(plain.Auth{User: k.User, Pass: k.Password}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.User, Pass: k.Password}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.User, Pass: k.Password}.AsSha512Mechanism()))
	}
	if k.CAPEM != "" {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(k.CAPEM))
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	}
	return opts
}

// Client is a client of the cluster for t (a producer unless opts say
// otherwise), closed in t.Cleanup.
func (k *KafkaCluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(k.ClientOpts(), opts...)...)
	if err != nil {
		t.Fatalf("testbed: kafka client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic with partitions.
func (k *KafkaCluster) CreateTopic(t testing.TB, name string, partitions int32) {
	t.Helper()
	cl := k.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("testbed: create topic %s: %v", name, err)
	}
}

// DatasourceOptions is the OPTIONS (...) list of a flowgate kafka
// datasource for the cluster, as SQL.
func (k *KafkaCluster) DatasourceOptions() string {
	o := fmt.Sprintf("brokers '%s'", k.Addr)
	if k.Mechanism != "" {
		o += fmt.Sprintf(", sasl_mechanism '%s', user '%s', password '%s'", k.Mechanism, k.User, k.Password)
	}
	if k.CAPEM != "" {
		o += fmt.Sprintf(", tls 'on', tls_ca '%s'", k.CAPEM)
	}
	return o
}

// selfSignedTLS makes a CA and a server certificate for 127.0.0.1.
func selfSignedTLS() (*tls.Config, string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testbed kafka CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, "", err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), nil
}
