package binlog

// The test MariaDB has neither TLS nor caching_sha2_password, so these tests
// run the client against a small server written here from the protocol
// documentation: greeting, SSLRequest and TLS, caching_sha2_password fast
// and full authentication (cleartext over TLS, RSA without), one query.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

type fakeServer struct {
	ln        net.Listener
	tlsConfig *tls.Config // nil: no TLS offered
	key       *rsa.PrivateKey
	password  string
	fullAuth  bool // demand full authentication even when the scramble is right
	errc      chan error
}

func startFakeServer(t *testing.T, fs *fakeServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs.ln = ln
	fs.errc = make(chan error, 1)
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			fs.errc <- err
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		fs.errc <- fs.serve(nc)
	}()
	return ln.Addr().String()
}

// fakePackets frames packets with the server's view of sequence numbers.
type fakePackets struct {
	nc  net.Conn
	seq byte
}

func (p *fakePackets) read() ([]byte, error) {
	var h [4]byte
	if _, err := readFull(p.nc, h[:]); err != nil {
		return nil, err
	}
	if h[3] != p.seq {
		return nil, fmt.Errorf("client sequence %d, want %d", h[3], p.seq)
	}
	p.seq++
	b := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := readFull(p.nc, b)
	return b, err
}

func (p *fakePackets) write(b []byte) error {
	_, err := p.nc.Write(append([]byte{byte(len(b)), byte(len(b) >> 8), byte(len(b) >> 16), p.seq}, b...))
	p.seq++
	return err
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := nc.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var okPacket = []byte{0x00, 0, 0, 2, 0, 0, 0}

func (fs *fakeServer) serve(nc net.Conn) error {
	p := &fakePackets{nc: nc}
	challenge := make([]byte, 20)
	rand.Read(challenge)
	for i := range challenge {
		challenge[i] = challenge[i]%94 + 33 // printable, never NUL, like servers
	}
	caps := uint32(capLongPassword | capLongFlag | capProtocol41 | capTransactions |
		capSecureConnection | capMultiResults | capPluginAuth | capPluginAuthLenenc)
	if fs.tlsConfig != nil {
		caps |= capSSL
	}
	g := []byte{10}
	g = append(g, "8.0.36-fake\x00"...)
	g = binary.LittleEndian.AppendUint32(g, 7)
	g = append(g, challenge[:8]...)
	g = append(g, 0)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps))
	g = append(g, 255)
	g = binary.LittleEndian.AppendUint16(g, 2)
	g = binary.LittleEndian.AppendUint16(g, uint16(caps>>16))
	g = append(g, 21)
	g = append(g, make([]byte, 10)...)
	g = append(g, challenge[8:]...)
	g = append(g, 0)
	g = append(g, pluginCachingSHA2+"\x00"...)
	if err := p.write(g); err != nil {
		return err
	}
	resp, err := p.read()
	if err != nil {
		return err
	}
	secure := false
	if len(resp) == 32 && binary.LittleEndian.Uint32(resp)&capSSL != 0 {
		tc := tls.Server(nc, fs.tlsConfig)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("server TLS handshake: %w", err)
		}
		p.nc, secure = tc, true
		if resp, err = p.read(); err != nil {
			return err
		}
	}
	c := cursor{b: resp}
	c.skip(32)
	user := string(c.nulString())
	scramble := c.lenencBytes()
	plugin := string(c.nulString())
	if c.err != nil || user != "app" || plugin != pluginCachingSHA2 {
		return fmt.Errorf("handshake response: user %q plugin %q err %v", user, plugin, c.err)
	}
	// The server's check of the fast-path scramble: it knows
	// SHA256(SHA256(password)) and recovers SHA256(password) from the
	// scramble.
	stage2 := sha256.Sum256(func() []byte { s := sha256.Sum256([]byte(fs.password)); return s[:] }())
	h := sha256.New()
	h.Write(stage2[:])
	h.Write(challenge)
	mask := h.Sum(nil)
	if len(scramble) != 32 {
		return fmt.Errorf("scramble of %d bytes", len(scramble))
	}
	stage1 := make([]byte, 32)
	for i := range stage1 {
		stage1[i] = scramble[i] ^ mask[i]
	}
	if s := sha256.Sum256(stage1); !bytes.Equal(s[:], stage2[:]) {
		return p.write(append([]byte{0xff, 0x15, 0x04}, "#28000Access denied for user 'app' (fast)"...))
	}
	if !fs.fullAuth {
		if err := p.write([]byte{0x01, sha2FastAuthOK}); err != nil {
			return err
		}
		return fs.finish(p)
	}
	if err := p.write([]byte{0x01, sha2FullAuth}); err != nil {
		return err
	}
	got, err := p.read()
	if err != nil {
		return err
	}
	if secure {
		if string(got) != fs.password+"\x00" {
			return p.write(append([]byte{0xff, 0x15, 0x04}, "#28000Access denied for user 'app' (clear)"...))
		}
		return fs.finish(p)
	}
	if !bytes.Equal(got, []byte{sha2RequestPublicKey}) {
		return fmt.Errorf("want public key request, got %x", got)
	}
	der, _ := x509.MarshalPKIXPublicKey(&fs.key.PublicKey)
	if err := p.write(append([]byte{0x01}, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)); err != nil {
		return err
	}
	enc, err := p.read()
	if err != nil {
		return err
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), nil, fs.key, enc, nil)
	if err != nil {
		return fmt.Errorf("decrypt password: %w", err)
	}
	for i := range plain {
		plain[i] ^= challenge[i%len(challenge)]
	}
	if string(plain) != fs.password+"\x00" {
		return p.write(append([]byte{0xff, 0x15, 0x04}, "#28000Access denied for user 'app' (rsa)"...))
	}
	return fs.finish(p)
}

// finish sends OK and answers the client's SELECT @@version.
func (fs *fakeServer) finish(p *fakePackets) error {
	if err := p.write(okPacket); err != nil {
		return err
	}
	p.seq = 0
	q, err := p.read()
	if err != nil {
		return err
	}
	if string(q) != "\x03SELECT @@version" {
		return fmt.Errorf("query %q", q)
	}
	eof := []byte{0xfe, 0, 0, 2, 0}
	col := []byte{3, 'd', 'e', 'f', 0, 0, 0, 9, '@', '@', 'v', 'e', 'r', 's', 'i', 'o', 'n', 0,
		0x0c, 45, 0, 80, 0, 0, 0, 253, 0, 0, 0x1f, 0, 0}
	for _, b := range [][]byte{{1}, col, eof, append([]byte{11}, "8.0.36-fake"...), eof} {
		if err := p.write(b); err != nil {
			return err
		}
	}
	return nil
}

func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake mysql"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

func TestCachingSHA2AgainstFakeServer(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := selfSignedTLS(t)
	const pw = "sha2-Secret!"
	for _, tc := range []struct {
		name     string
		tls      bool
		fullAuth bool
		password string
		wantErr  string
	}{
		{name: "fast path", password: pw},
		{name: "full auth over RSA", fullAuth: true, password: pw},
		{name: "full auth over TLS", tls: true, fullAuth: true, password: pw},
		{name: "fast path over TLS", tls: true, password: pw},
		{name: "wrong password", password: "not-the-password", wantErr: "Access denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeServer{key: rsaKey, password: pw, fullAuth: tc.fullAuth}
			cfg := Config{User: "app", Password: tc.password, ConnectTimeout: 10 * time.Second}
			if tc.tls {
				fs.tlsConfig = serverTLS
				cfg.TLS, cfg.TLSConfig = TLSRequired, clientTLS
			}
			cfg.Addr = startFakeServer(t, fs)
			c, err := Dial(context.Background(), cfg)
			if tc.wantErr != "" {
				var se *ServerError
				if !errors.As(err, &se) || !strings.Contains(se.Message, tc.wantErr) || se.Code != 1045 {
					t.Fatalf("want server error %q, got %v", tc.wantErr, err)
				}
				if strings.Contains(err.Error(), tc.password) {
					t.Fatalf("password in error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v (server: %v)", err, <-fs.errc)
			}
			defer c.Close()
			if c.Flavor() != FlavorMySQL || c.ServerVersion() != "8.0.36-fake" || c.tls != tc.tls {
				t.Fatalf("flavor %s version %q tls %v", c.Flavor(), c.ServerVersion(), c.tls)
			}
			if err := <-fs.errc; err != nil {
				t.Fatalf("server: %v", err)
			}
		})
	}
}

func TestTLSVerifiesServerCertificate(t *testing.T) {
	serverTLS, _ := selfSignedTLS(t)
	fs := &fakeServer{password: "x", tlsConfig: serverTLS}
	addr := startFakeServer(t, fs)
	// No RootCAs: the self-signed certificate must be refused.
	_, err := Dial(context.Background(), Config{Addr: addr, User: "app", Password: "x", TLS: TLSRequired})
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("want unknown authority error, got %v", err)
	}
}
