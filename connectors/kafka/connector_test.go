package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/kafka"
	"github.com/flowgate/flowgate/internal/testbed"
)

func opts(k *testbed.KafkaCluster) map[string]string {
	o := map[string]string{"brokers": k.Addr}
	if k.Mechanism != "" {
		o["sasl_mechanism"], o["user"], o["password"] = k.Mechanism, k.User, k.Password
	}
	if k.CAPEM != "" {
		o["tls"], o["tls_ca"] = "on", k.CAPEM
	}
	return o
}

func TestTestReportsVersionAndCluster(t *testing.T) {
	k := testbed.Kafka(t)
	res, err := connectors.Test(context.Background(), kafka.Type(), opts(k))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ServerVersion, "kafka ") || !strings.Contains(res.ServerVersion, "cluster testbed-kafka") {
		t.Fatalf("server version %q", res.ServerVersion)
	}
	t.Logf("server_version %s", res.ServerVersion)
}

// SASL PLAIN, SCRAM-SHA-256/512 and TLS against kfake's own support; a
// wrong password is the client's error and never shows the password.
func TestSASLAndTLS(t *testing.T) {
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		t.Run(mech, func(t *testing.T) {
			k := testbed.Kafka(t, testbed.KafkaSASL(mech, "flow", "s3cret-pw"), testbed.KafkaTLS())
			if _, err := connectors.Test(context.Background(), kafka.Type(), opts(k)); err != nil {
				t.Fatalf("right password: %v", err)
			}
			o := opts(k)
			o["password"] = "wrong-pw-xyz"
			_, err := connectors.Test(context.Background(), kafka.Type(), o)
			if err == nil {
				t.Fatal("wrong password accepted")
			}
			if strings.Contains(err.Error(), "wrong-pw-xyz") {
				t.Fatalf("error shows the password: %v", err)
			}
			t.Logf("wrong password: %v", err)
			o = opts(k)
			delete(o, "tls_ca") // the system roots do not know the test CA
			if _, err := connectors.Test(context.Background(), kafka.Type(), o); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("unknown CA: %v", err)
			}
		})
	}
}

func TestOptionChecks(t *testing.T) {
	for _, c := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{"brokers": "localhost"}, "not host:port"},
		{map[string]string{"brokers": "h:1", "sasl_mechanism": "plain"}, "needs user and password"},
		{map[string]string{"brokers": "h:1", "user": "u", "password": "p"}, "set sasl_mechanism"},
		{map[string]string{"brokers": "h:1", "tls_skip_verify": "on"}, "only with tls"},
		{map[string]string{"brokers": "h:1", "tls": "on", "tls_ca": "nope"}, "no PEM certificate"},
		{map[string]string{"brokers": "h:1", "sasl_mechanism": "gssapi"}, "must be one of"},
	} {
		_, err := kafka.Type().Validate(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.opts, err, c.want)
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	_, err := connectors.Test(context.Background(), kafka.Type(), map[string]string{"brokers": "127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("error: %v", err)
}
