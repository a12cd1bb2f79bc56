package wire

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown was called.
var ErrServerClosed = errors.New("wire: server closed")

const (
	defaultMaxMessageSize = 16 << 20
	defaultMaxPrepared    = 10000
	defaultStartupTimeout = time.Minute
)

// Config configures a Server. Only Handler is required.
type Config struct {
	Handler Handler
	// TLSConfig enables SSLRequest -> TLS; nil answers 'N'.
	TLSConfig *tls.Config
	// MaxMessageSize bounds one frontend message body (default 16 MiB);
	// a larger message ends the connection with FATAL 54000.
	MaxMessageSize int
	// MaxPrepared bounds prepared statements and, separately, portals per
	// session (default 10000); more is a 53400 error.
	MaxPrepared int
	// StartupTimeout bounds TLS handshake, startup and authentication
	// (default 1 minute).
	StartupTimeout time.Duration
	// IdleTimeout closes sessions idle (outside a transaction) for longer
	// than this with FATAL 57P05. Zero disables it.
	IdleTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// OnSessionOpen / OnSessionClose are called after authentication and
	// when an authenticated session ends (for metrics).
	OnSessionOpen  func(SessionInfo)
	OnSessionClose func(SessionInfo)
}

// Server accepts PostgreSQL protocol connections and hands them to Handler.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	byPID     map[uint32]*conn
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	active  atomic.Int64
	nextPID atomic.Uint32
}

// NewServer returns a server using cfg, with defaults filled in.
func NewServer(cfg Config) *Server {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = defaultMaxMessageSize
	}
	if cfg.MaxPrepared <= 0 {
		cfg.MaxPrepared = defaultMaxPrepared
	}
	if cfg.StartupTimeout <= 0 {
		cfg.StartupTimeout = defaultStartupTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		byPID:     map[uint32]*conn{},
		closing:   make(chan struct{}),
	}
}

// ActiveSessions is the number of authenticated sessions currently open.
func (s *Server) ActiveSessions() int { return int(s.active.Load()) }

func (s *Server) shuttingDown() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Serve accepts connections on ln until Shutdown; it then returns
// ErrServerClosed. ln is closed when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shuttingDown() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return ErrServerClosed
			}
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("wire: accept error, retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.shuttingDown() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.run()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// isTemporary tells transient accept errors (EMFILE, timeouts) that should
// not stop Serve.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &te) && te.Temporary() || errors.As(err, &ne) && ne.Timeout()
}

// Shutdown stops accepting, lets each session finish its current statement
// and closes it. When ctx ends first, remaining connections are closed
// forcibly and ctx.Err() is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.shutdownIfStarting()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.forceClose()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *Server) registerPID(c *conn) {
	s.mu.Lock()
	s.byPID[c.pid] = c
	s.mu.Unlock()
}

func (s *Server) unregisterPID(c *conn) {
	s.mu.Lock()
	if s.byPID[c.pid] == c {
		delete(s.byPID, c.pid)
	}
	s.mu.Unlock()
}

// cancel handles a CancelRequest: it cancels the statement running in the
// session with this process id when the secret matches.
func (s *Server) cancel(pid uint32, secret []byte) {
	s.mu.Lock()
	c := s.byPID[pid]
	s.mu.Unlock()
	if c == nil || subtle.ConstantTimeCompare(secret, c.secret[:]) != 1 {
		s.log.Debug("wire: cancel request for unknown session", "pid", pid)
		return
	}
	c.cancelCurrent()
}
