package tests

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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// writePEM writes one PEM block to path.
func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// makeCerts writes a CA and a server certificate for 127.0.0.1/localhost
// signed by it; it returns the CA, certificate and key paths.
func makeCerts(t testing.TB) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writePEM(t, ca, "CERTIFICATE", caDER)
	writePEM(t, cert, "CERTIFICATE", srvDER)
	writePEM(t, key, "EC PRIVATE KEY", keyDER)
	return ca, cert, key
}

// The binary's --tls-cert/--tls-key: psql with sslmode=require and pgx
// with sslmode=verify-full against the test CA both get TLS, and the
// session reports it; verify-full against another CA is refused.
func TestTLSThroughTheBinary(t *testing.T) {
	ca, cert, key := makeCerts(t)
	g := startGateway(t, "--tls-cert", cert, "--tls-key", key)

	out, err := exec.Command(psqlPath(t), "-X", "-At",
		fmt.Sprintf("host=127.0.0.1 port=%d user=admin dbname=flowgate sslmode=require connect_timeout=10", g.port),
		"-c", "SELECT 'over tls'", "-c", `\conninfo`).CombinedOutput()
	if err != nil {
		t.Fatalf("psql sslmode=require: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "over tls") || !strings.Contains(string(out), "SSL connection") {
		t.Fatalf("psql did not report an SSL connection:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dsn := fmt.Sprintf("postgres://admin@127.0.0.1:%d/flowgate?sslmode=verify-full&sslrootcert=%s", g.port, ca)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgx verify-full: %v", err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM dataflow.datasources").Scan(&n); err != nil {
		t.Fatal(err)
	}
	tc, isTLS := c.PgConn().Conn().(*tls.Conn)
	if !isTLS || !tc.ConnectionState().HandshakeComplete {
		t.Fatalf("pgx connection is %T, not TLS", c.PgConn().Conn())
	}

	// A client that trusts another CA must not connect.
	otherCA, _, _ := makeCerts(t)
	bad := fmt.Sprintf("postgres://admin@127.0.0.1:%d/flowgate?sslmode=verify-full&sslrootcert=%s", g.port, otherCA)
	if c2, err := pgx.Connect(ctx, bad); err == nil {
		c2.Close(ctx)
		t.Fatal("verify-full against another CA connected")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("verify-full against another CA: %v", err)
	}
}
