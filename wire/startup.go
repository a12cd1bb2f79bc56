package wire

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

const (
	sslRequestCode    = 80877103
	gssEncRequestCode = 80877104
	cancelRequestCode = 80877102
	protocolVersion30 = 3 << 16
	maxStartupPacket  = 10000 // MAX_STARTUP_PACKET_LENGTH in PostgreSQL
)

var errStartupPacket = errors.New("invalid startup packet")

// readStartupPacket reads one length-prefixed startup-phase packet and
// returns its body (starting with the 4-byte code).
func readStartupPacket(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(hdr[:])))
	if n < 8 || n > maxStartupPacket {
		return nil, fmt.Errorf("%w: length %d", errStartupPacket, n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// parseStartupParams decodes the NUL-terminated name/value pairs after the
// protocol version.
func parseStartupParams(b []byte) (map[string]string, error) {
	params := map[string]string{}
	for {
		if len(b) == 1 && b[0] == 0 {
			return params, nil
		}
		name, rest, ok1 := cutNUL(b)
		value, rest, ok2 := cutNUL(rest)
		if !ok1 || !ok2 || name == "" {
			return nil, fmt.Errorf("%w: expected terminator as last byte", errStartupPacket)
		}
		params[name] = value
		b = rest
	}
}

func cutNUL(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}

// writeRaw sends a message before the Backend exists.
func (c *conn) writeRaw(msg pgproto3.BackendMessage) {
	if buf, err := msg.Encode(nil); err == nil {
		c.nc.Write(buf)
	}
}

// startup runs SSL negotiation, the startup packet, authentication and
// session creation. It returns false when the connection must close.
func (c *conn) startup() bool {
	c.nc.SetDeadline(time.Now().Add(c.srv.cfg.StartupTimeout))
	isTLS := false
	var version uint32
	var params map[string]string
	for params == nil {
		body, err := readStartupPacket(c.nc)
		if err != nil {
			c.log.Debug("wire: bad startup packet", "err", err)
			return false
		}
		code := binary.BigEndian.Uint32(body)
		switch code {
		case sslRequestCode:
			if isTLS || len(body) != 4 {
				return false
			}
			if c.srv.cfg.TLSConfig == nil {
				c.nc.Write([]byte{'N'})
				continue
			}
			if _, err := c.nc.Write([]byte{'S'}); err != nil {
				return false
			}
			tc := tls.Server(c.nc, c.srv.cfg.TLSConfig)
			if err := tc.Handshake(); err != nil {
				c.log.Debug("wire: TLS handshake failed", "err", err)
				return false
			}
			c.nc, isTLS = tc, true
		case gssEncRequestCode:
			c.nc.Write([]byte{'N'})
		case cancelRequestCode:
			var cr pgproto3.CancelRequest
			if err := cr.Decode(body); err == nil {
				c.srv.cancel(cr.ProcessID, cr.SecretKey)
			}
			return false
		default:
			if code>>16 != 3 {
				c.log.Debug("wire: unsupported protocol in startup packet", "code", code)
				c.writeRaw(errorResponse(pgErr("FATAL", "0A000",
					"unsupported frontend protocol %d.%d: server supports 3.0 to 3.0", code>>16, code&0xffff)))
				return false
			}
			params, err = parseStartupParams(body[4:])
			if err != nil {
				c.writeRaw(errorResponse(pgErr("FATAL", "08P01", "%s", err.Error())))
				return false
			}
			version = code
		}
	}

	c.be = pgproto3.NewBackend(c.nc, c.nc)
	c.be.SetMaxBodyLen(c.srv.cfg.MaxMessageSize)

	// We speak 3.0 only: newer minors and _pq_ extensions are declined, and
	// the client carries on at 3.0.
	var unknown []string
	for k := range params {
		if strings.HasPrefix(k, "_pq_.") {
			unknown = append(unknown, k)
			delete(params, k)
		}
	}
	if version != protocolVersion30 || len(unknown) > 0 {
		slices.Sort(unknown)
		c.send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: protocolVersion30, UnrecognizedOptions: unknown})
	}

	user := params["user"]
	if user == "" {
		c.fatal(pgErr("FATAL", "28000", "no PostgreSQL user name specified in startup packet"))
		return false
	}
	db := params["database"]
	if db == "" {
		db = user
	}
	if !c.authenticate(user) {
		return false
	}

	c.pid = c.srv.nextPID.Add(1)
	if _, err := rand.Read(c.secret[:]); err != nil {
		c.fatal(pgErr("FATAL", "XX000", "cannot generate cancel key"))
		return false
	}
	c.info = SessionInfo{
		User:            user,
		Database:        db,
		ApplicationName: params["application_name"],
		RemoteAddr:      c.nc.RemoteAddr(),
		ProcessID:       c.pid,
		StartupParams:   params,
		Notify:          c.notify,
	}
	sess, err := c.srv.cfg.Handler.NewSession(c.ctx, c.info)
	if err != nil {
		pe := toPgError(nil, err)
		pe.Severity = "FATAL"
		c.fatal(pe)
		return false
	}
	c.sess = sess
	c.nc.SetDeadline(time.Time{})
	if !c.state.CompareAndSwap(stateStarting, stateRunning) {
		// Shutdown raced with startup.
		return false
	}
	c.srv.registerPID(c)
	c.srv.active.Add(1)
	if f := c.srv.cfg.OnSessionOpen; f != nil {
		f(c.info)
	}

	ps := sess.ParameterStatus()
	for _, k := range slices.Sorted(maps.Keys(ps)) {
		c.send(&pgproto3.ParameterStatus{Name: k, Value: ps[k]})
	}
	c.sent = maps.Clone(ps)
	c.send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.secret[:]})
	c.send(&pgproto3.ReadyForQuery{TxStatus: sess.TxStatus()})
	return c.flush() == nil
}

// authenticate asks the Handler and runs the chosen method.
func (c *conn) authenticate(user string) bool {
	dec, err := c.srv.cfg.Handler.Auth(c.ctx, user, c.nc.RemoteAddr())
	if err != nil {
		pe := toPgError(nil, err)
		pe.Severity = "FATAL"
		c.fatal(pe)
		return false
	}
	switch dec.Method {
	case AuthTrust:
	case AuthSCRAM:
		if !c.scramAuth(user, dec.SCRAMVerifier) {
			return false
		}
	default:
		msg := dec.RejectMessage
		if msg == "" {
			msg = fmt.Sprintf("connection rejected for user %q", user)
		}
		c.fatal(pgErr("FATAL", "28000", "%s", msg))
		return false
	}
	c.send(&pgproto3.AuthenticationOk{})
	return true
}

func (c *conn) scramAuth(user, verifier string) bool {
	failed := pgErr("FATAL", "28P01", "password authentication failed for user %q", user)
	secret, err := parseSCRAMVerifier(verifier)
	if err != nil {
		c.log.Error("wire: unusable SCRAM verifier", "user", user, "err", err)
		c.fatal(failed)
		return false
	}
	srv := &scramServer{secret: secret}

	c.send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{scramMechanism}})
	if c.flush() != nil {
		return false
	}
	c.be.SetAuthType(pgproto3.AuthTypeSASL)
	msg, err := c.be.Receive()
	if err != nil {
		return false
	}
	first, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		c.fatal(pgErr("FATAL", "08P01", "expected SASL response, got message type %T", msg))
		return false
	}
	if first.AuthMechanism != scramMechanism {
		c.fatal(pgErr("FATAL", "08P01", "client selected an invalid SASL authentication mechanism"))
		return false
	}
	serverFirst, err := srv.clientFirst(string(first.Data))
	if err != nil {
		c.fatal(pgErr("FATAL", "08P01", "%s", err.Error()))
		return false
	}
	c.send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	if c.flush() != nil {
		return false
	}
	c.be.SetAuthType(pgproto3.AuthTypeSASLContinue)
	msg, err = c.be.Receive()
	if err != nil {
		return false
	}
	final, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		c.fatal(pgErr("FATAL", "08P01", "expected SASL response, got message type %T", msg))
		return false
	}
	serverFinal, good, err := srv.clientFinal(string(final.Data))
	if err != nil {
		c.fatal(pgErr("FATAL", "08P01", "%s", err.Error()))
		return false
	}
	if !good {
		c.fatal(failed)
		return false
	}
	c.send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	return true
}

// fatal sends a FATAL error; the caller then closes the connection.
func (c *conn) fatal(pe *pgconn.PgError) {
	if c.be == nil {
		c.writeRaw(errorResponse(pe))
		return
	}
	c.send(errorResponse(pe))
	c.flush()
}
