package binlog

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// TLSMode says whether the connection is upgraded to TLS.
type TLSMode int

const (
	TLSDisabled  TLSMode = iota // plain TCP
	TLSPreferred                // TLS when the server offers it, plain otherwise
	TLSRequired                 // fail when the server does not offer TLS
)

// Flavor is the server family; they differ in GTIDs and a few settings.
type Flavor int

const (
	FlavorMySQL Flavor = iota
	FlavorMariaDB
)

func (f Flavor) String() string {
	if f == FlavorMariaDB {
		return "mariadb"
	}
	return "mysql"
}

// Config describes a replication connection.
type Config struct {
	Addr     string // host:port
	User     string
	Password string
	// ServerID identifies this replica to the server; it must be non-zero
	// and differ from the server's and every other replica's (a second
	// replica with the same id makes the server drop the first).
	ServerID uint32

	TLS       TLSMode
	TLSConfig *tls.Config // nil: verify against the system roots for Addr's host
	// ServerPublicKey encrypts the password for caching_sha2_password full
	// authentication without TLS. When nil the key is requested from the
	// server, which trusts the network path.
	ServerPublicKey *rsa.PublicKey

	// HeartbeatPeriod asks the server for a heartbeat event after this much
	// idle time; 0 leaves the server's default (none).
	HeartbeatPeriod time.Duration
	// ConnectTimeout bounds Dial; 0 means 10 seconds.
	ConnectTimeout time.Duration
	// AnnotateRows asks MariaDB to send ANNOTATE_ROWS events (the statement
	// behind the following row events). MySQL ignores it.
	AnnotateRows bool
	// MaxPacketSize bounds one event or reply; 0 means 1 GiB, the most a
	// server sends.
	MaxPacketSize int
}

// Capability flags (client/server protocol).
const (
	capLongPassword     = 1 << 0
	capLongFlag         = 1 << 2
	capProtocol41       = 1 << 9
	capSSL              = 1 << 11
	capTransactions     = 1 << 13
	capSecureConnection = 1 << 15
	capMultiResults     = 1 << 17
	capPluginAuth       = 1 << 19
	capPluginAuthLenenc = 1 << 21
)

const (
	comQuit           = 0x01
	comQuery          = 0x03
	comBinlogDump     = 0x12
	comRegisterSlave  = 0x15
	comBinlogDumpGTID = 0x1e
)

// charsetUTF8MB4 is utf8mb4_general_ci, known to every server version.
const charsetUTF8MB4 = 45

// Conn is one replication connection. Its methods must not be called
// concurrently, except Close, which also unblocks a waiting NextEvent.
type Conn struct {
	cfg     Config
	nc      net.Conn
	pc      *packetConn
	tls     bool
	version string // from SELECT @@version, e.g. 10.11.6-MariaDB
	flavor  Flavor
	connID  uint32

	// mu is held while a call uses the socket, so Close knows whether it
	// may still say goodbye (COM_QUIT) without interleaving packets.
	mu        sync.Mutex
	streaming bool
	dec       *Decoder
	broken    error // set when the stream is out of step; every call returns it

	closeOnce sync.Once
	closeErr  error
}

// String describes the configuration without the password, so that logging
// a Config never leaks it.
func (cfg Config) String() string {
	pw := ""
	if cfg.Password != "" {
		pw = "<redacted>"
	}
	return fmt.Sprintf("binlog.Config{Addr:%s User:%s Password:%s ServerID:%d TLS:%d HeartbeatPeriod:%s}",
		cfg.Addr, cfg.User, pw, cfg.ServerID, cfg.TLS, cfg.HeartbeatPeriod)
}

// GoString is String, for %#v.
func (cfg Config) GoString() string { return cfg.String() }

// Dial connects, authenticates and reads the server version.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.Addr == "" {
		return nil, errors.New("binlog: Config.Addr is empty")
	}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("binlog: dial %s: %w", cfg.Addr, err)
	}
	c := &Conn{cfg: cfg, nc: nc, pc: newPacketConn(nc, cfg.MaxPacketSize)}
	if err := c.withContext(ctx, c.handshake); err != nil {
		nc.Close()
		return nil, fmt.Errorf("binlog: connect %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	rows, err := c.Query(ctx, "SELECT @@version")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("binlog: server version: %w", err)
	}
	if len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] != nil {
		c.version = *rows[0][0]
	}
	if strings.Contains(strings.ToLower(c.version), "mariadb") {
		c.flavor = FlavorMariaDB
	}
	return c, nil
}

// Flavor is MariaDB or MySQL, from the server version.
func (c *Conn) Flavor() Flavor { return c.flavor }

// ServerVersion is @@version, e.g. "10.11.6-MariaDB-0+deb12u1".
func (c *Conn) ServerVersion() string { return c.version }

// Close closes the socket; a NextEvent blocked in another goroutine returns.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		// Say goodbye only when no other call is using the socket and it is
		// not carrying events; failure does not matter.
		if c.mu.TryLock() {
			if !c.streaming && c.broken == nil {
				c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				c.pc.resetSeq()
				c.pc.writePacket([]byte{comQuit})
			}
			defer c.mu.Unlock()
		}
		c.closeErr = c.nc.Close()
	})
	return c.closeErr
}

// aLongTimeAgo is a deadline in the past: it makes a blocked read return.
var aLongTimeAgo = time.Unix(1, 0)

// withContext runs fn with the socket deadline following ctx: its deadline,
// or its cancellation (which sets a past deadline). A failure that left a
// packet half read marks the connection broken.
func (c *Conn) withContext(ctx context.Context, fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.nc.SetDeadline(aLongTimeAgo)
		close(fired)
	})
	err := fn()
	if !stop() {
		// The cancellation ran (or is running): wait so that clearing the
		// deadline below is not undone.
		<-fired
	}
	c.nc.SetDeadline(time.Time{})
	if err != nil {
		if isTimeout(err) {
			// The socket deadline may fire a moment before ctx notices.
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = ctxErr
			} else if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
				err = context.DeadlineExceeded
			}
		}
		if c.pc.partial {
			c.broken = fmt.Errorf("binlog: connection unusable after an interrupted read: %w", err)
		}
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handshake reads the server greeting, upgrades to TLS when configured and
// authenticates.
func (c *Conn) handshake() error {
	p, err := c.pc.readPacket()
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if len(p) > 0 && p[0] == 0xff {
		return parseErrPacket(p)
	}
	g, err := parseGreeting(p)
	if err != nil {
		return err
	}
	c.connID = g.connID

	want := uint32(capLongPassword | capLongFlag | capProtocol41 | capTransactions |
		capSecureConnection | capMultiResults | capPluginAuth | capPluginAuthLenenc)
	if g.caps&capProtocol41 == 0 {
		return fmt.Errorf("server %q does not speak protocol 4.1: %w", g.version, ErrUnsupported)
	}
	caps := want & g.caps
	switch c.cfg.TLS {
	case TLSRequired:
		if g.caps&capSSL == 0 {
			return errors.New("TLS required but the server does not offer it")
		}
		caps |= capSSL
	case TLSPreferred:
		if g.caps&capSSL != 0 {
			caps |= capSSL
		}
	}

	var head []byte
	head = binary.LittleEndian.AppendUint32(head, caps)
	head = binary.LittleEndian.AppendUint32(head, maxPayload)
	head = append(head, charsetUTF8MB4)
	head = append(head, make([]byte, 23)...)
	if caps&capSSL != 0 {
		if err := c.upgradeTLS(head); err != nil {
			return err
		}
	}

	plugin := g.plugin
	if plugin != pluginNative && plugin != pluginCachingSHA2 {
		// Answer with the common plugin; the server switches to the one
		// the account needs and sends that plugin's own challenge.
		plugin = pluginNative
	}
	resp, err := authResponse(plugin, g.challenge, c.cfg.Password, c.tls)
	if err != nil {
		return err
	}
	msg := append(head, c.cfg.User...)
	msg = append(msg, 0)
	switch {
	case caps&capPluginAuthLenenc != 0:
		msg = appendLenenc(msg, uint64(len(resp)))
		msg = append(msg, resp...)
	default:
		if len(resp) > 255 {
			return errors.New("auth response too long for the server")
		}
		msg = append(msg, byte(len(resp)))
		msg = append(msg, resp...)
	}
	if caps&capPluginAuth != 0 {
		msg = append(msg, plugin...)
		msg = append(msg, 0)
	}
	if err := c.pc.writePacket(msg); err != nil {
		return fmt.Errorf("write handshake response: %w", err)
	}
	return c.authenticate(plugin, g.challenge)
}

// upgradeTLS sends the SSLRequest (the first 32 bytes of the handshake
// response) and runs the TLS handshake on the socket.
func (c *Conn) upgradeTLS(head []byte) error {
	if err := c.pc.writePacket(head); err != nil {
		return fmt.Errorf("write SSL request: %w", err)
	}
	var cfg *tls.Config
	if c.cfg.TLSConfig != nil {
		cfg = c.cfg.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		host, _, err := net.SplitHostPort(c.cfg.Addr)
		if err != nil {
			host = c.cfg.Addr
		}
		cfg.ServerName = host
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.nc = tc
	c.pc.nc = tc
	c.pc.br.Reset(tc)
	c.tls = true
	return nil
}

type greeting struct {
	version   string
	connID    uint32
	caps      uint32
	challenge []byte
	plugin    string
}

// parseGreeting decodes the initial handshake packet, protocol version 10.
func parseGreeting(p []byte) (greeting, error) {
	var g greeting
	c := cursor{b: p}
	if v := c.u8(); v != 10 {
		return g, fmt.Errorf("handshake protocol version %d: %w", v, ErrUnsupported)
	}
	g.version = string(c.nulString())
	g.connID = c.u32()
	auth1 := c.bytes(8)
	c.skip(1)
	g.caps = uint32(c.u16())
	if c.err != nil {
		return g, fmt.Errorf("malformed greeting: %w", c.err)
	}
	var auth2 []byte
	if len(c.b) > 0 {
		c.skip(1) // character set
		c.skip(2) // status flags
		g.caps |= uint32(c.u16()) << 16
		authLen := int(c.u8())
		c.skip(10) // reserved; MariaDB keeps its extended capabilities here
		if g.caps&capSecureConnection != 0 {
			n := max(13, authLen-8)
			n = min(n, len(c.b))
			auth2 = c.bytes(n)
		}
		if g.caps&capPluginAuth != 0 {
			g.plugin = string(c.nulString())
		}
	}
	if c.err != nil {
		return g, fmt.Errorf("malformed greeting: %w", c.err)
	}
	ch := append(append([]byte{}, auth1...), auth2...)
	// The challenge is sent NUL-terminated; the terminator is not part of it.
	if len(ch) > 0 && ch[len(ch)-1] == 0 {
		ch = ch[:len(ch)-1]
	}
	g.challenge = ch
	return g, nil
}
