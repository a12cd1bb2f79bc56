// Package kafka is the Kafka datasource type (Apache Kafka and everything
// that speaks its protocol: AutoMQ, Redpanda, ...), on franz-go. As a CDC
// source it consumes topics of Alibaba Canal flat messages or CloudCanal
// JSON messages and streams the row changes they carry (cdc.go).
package kafka

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/flowgate/flowgate/connectors"
)

// Name is the datasource type name used in CREATE DATASOURCE ... TYPE.
const Name = "kafka"

// Type declares the kafka datasource type.
func Type() connectors.Type {
	return connectors.Type{
		Name:        Name,
		Description: "A Kafka cluster (or anything speaking the Kafka protocol, such as AutoMQ or Redpanda): a CDC source of topics carrying Canal or CloudCanal change messages.",
		Options: []connectors.Option{
			{Name: "brokers", Required: true, Check: checkBrokers, Example: "127.0.0.1:9092,127.0.0.2:9092",
				Description: "Comma-separated bootstrap brokers, host:port each."},
			{Name: "sasl_mechanism", Default: "none", Kind: connectors.KindEnum, Values: []string{"none", "plain", "scram-sha-256", "scram-sha-512"},
				Description: "SASL authentication; plain and scram-* need user and password."},
			{Name: "user", Description: "SASL user name."},
			{Name: "password", Secret: true, Description: "SASL password."},
			{Name: "tls", Default: "false", Kind: connectors.KindBool, Description: "Connect to the brokers with TLS."},
			{Name: "tls_ca", Check: checkCA, Example: "-----BEGIN CERTIFICATE-----...",
				Description: "PEM certificates of the authorities that sign the brokers' certificates (the text itself, not a path); default the system's roots."},
			{Name: "tls_skip_verify", Default: "false", Kind: connectors.KindBool,
				Description: "Accept any broker certificate (testing only: it gives up the protection TLS offers against a man in the middle)."},
			{Name: "client_id", Default: "flowgate", Description: "Client id the brokers see in their logs and quotas."},
		},
		Check: func(o map[string]string) error {
			if o["sasl_mechanism"] != "none" && (o["user"] == "" || o["password"] == "") {
				return fmt.Errorf("sasl_mechanism %s needs user and password", o["sasl_mechanism"])
			}
			if o["sasl_mechanism"] == "none" && (o["user"] != "" || o["password"] != "") {
				return errors.New("user and password are for SASL: set sasl_mechanism too (plain, scram-sha-256 or scram-sha-512)")
			}
			if o["tls"] != "true" && (o["tls_ca"] != "" || o["tls_skip_verify"] == "true") {
				return errors.New("tls_ca and tls_skip_verify apply only with tls 'on'")
			}
			return nil
		},
		Open: Open,
	}
}

// splitBrokers reads a broker list.
func splitBrokers(v string) []string {
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func checkBrokers(v string) error {
	bs := splitBrokers(v)
	if len(bs) == 0 {
		return errors.New("no broker given")
	}
	for _, b := range bs {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return fmt.Errorf("%q is not host:port", b)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has no valid port", b)
		}
	}
	return nil
}

func checkCA(v string) error {
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(v)) {
		return errors.New("holds no PEM certificate")
	}
	return nil
}
