package wire

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestSCRAM(t *testing.T) {
	h := newToyHandler()
	v, err := SCRAMVerifier("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseSCRAMVerifier(v); err != nil {
		t.Fatalf("own verifier does not parse: %v", err)
	}
	h.passwords = map[string]string{"bob": v, "broken": "md5abc"}
	_, _, addr := startServer(t, Config{Handler: h})
	ctx := context.Background()

	conn, err := pgconn.Connect(ctx, "postgres://bob:s3cret@"+addr+"/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	for _, cs := range []string{
		"postgres://bob:wrong@" + addr + "/db?sslmode=disable",
		"postgres://broken:x@" + addr + "/db?sslmode=disable",
	} {
		_, err = pgconn.Connect(ctx, cs)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "28P01" || pe.Severity != "FATAL" {
			t.Fatalf("got %v", err)
		}
	}
	var pe *pgconn.PgError
	if _, err = pgconn.Connect(ctx, "postgres://bob:wrong@"+addr+"/db?sslmode=disable"); !errors.As(err, &pe) ||
		pe.Message != `password authentication failed for user "bob"` {
		t.Fatalf("got %v", err)
	}
	if _, err = pgconn.Connect(ctx, "postgres://reject@"+addr+"/db?sslmode=disable"); !errors.As(err, &pe) ||
		pe.Code != "28000" || pe.Message != "go away" {
		t.Fatalf("got %v", err)
	}
}

// TestSCRAMRFC7677 runs the server side against the RFC 7677 example
// exchange (user "user", password "pencil").
func TestSCRAMRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	salted, _ := pbkdf2.Key(sha256.New, "pencil", salt, 4096, 32)
	stored := sha256.Sum256(hmacSHA256(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	v := "SCRAM-SHA-256$4096:" + b64(salt) + "$" + b64(stored[:]) + ":" + b64(hmacSHA256(salted, "Server Key"))
	secret, err := parseSCRAMVerifier(v)
	if err != nil {
		t.Fatal(err)
	}
	s := &scramServer{secret: secret}
	if _, err := s.clientFirst("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"); err != nil {
		t.Fatal(err)
	}
	// Replace our random nonce by the one in the RFC.
	s.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	s.serverFirst = "r=" + s.nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	final, ok, err := s.clientFinal("c=biws,r=" + s.nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	if err != nil || !ok || final != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("%q %v %v", final, ok, err)
	}
	_, ok, err = s.clientFinal("c=biws,r=" + s.nonce + ",p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	if ok || err != nil {
		t.Fatalf("wrong proof accepted: %v %v", ok, err)
	}
	if _, _, err = s.clientFinal("c=eSws,r=" + s.nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="); err == nil {
		t.Fatal("channel binding mismatch accepted")
	}
	for _, bad := range []string{"", "md5xyz", "SCRAM-SHA-256$x:AA==$AA==:AA==", "SCRAM-SHA-256$4096:AA==$AA==:AA=="} {
		if _, err := parseSCRAMVerifier(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for _, bad := range []string{"p=tls-server-end-point,,n=,r=abc", "n,a=x,n=,r=abc", "n,,n=,r=", "x"} {
		if _, err := (&scramServer{secret: secret}).clientFirst(bad); err == nil {
			t.Errorf("client-first %q accepted", bad)
		}
	}
	if _, err := (&scramServer{secret: secret}).clientFirst("y,,n=,r=abc"); err != nil {
		t.Errorf("y,, rejected: %v", err)
	}
}

func selfSignedTLS(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestTLS(t *testing.T) {
	h := newToyHandler()
	v, _ := SCRAMVerifier("pw")
	h.passwords = map[string]string{"bob": v}
	_, _, addr := startServer(t, Config{Handler: h, TLSConfig: selfSignedTLS(t)})
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, "postgres://bob:pw@"+addr+"/db?sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, ok := conn.Conn().(*tls.Conn); !ok {
		t.Fatalf("not TLS: %T", conn.Conn())
	}
	if _, err := conn.Exec(ctx, "ROWS 2").ReadAll(); err != nil {
		t.Fatal(err)
	}
	// Cancel over TLS (pgconn encrypts the cancel connection too).
	go func() {
		time.Sleep(100 * time.Millisecond)
		conn.CancelRequest(ctx)
	}()
	_, err = conn.Exec(ctx, "SLEEP").ReadAll()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("got %v", err)
	}
	// Plain connections still work when the client does not ask for TLS.
	plain, err := pgconn.Connect(ctx, "postgres://bob:pw@"+addr+"/db?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	plain.Close(ctx)
}
