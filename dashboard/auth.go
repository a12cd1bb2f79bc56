package dashboard

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowgate/flowgate/catalog"
)

// Logins: the password is checked against the user's stored SCRAM-SHA-256
// verifier (SaltedPassword from the stored salt and iterations, then
// StoredKey = H(HMAC(SaltedPassword, "Client Key")) compared in constant
// time), as the wire protocol's exchange would; the password itself is
// never stored or logged. A login gets a random session token held in
// memory only: a restart logs everyone out.

const cookieName = "flowgate_session"

// maxSessions bounds the memory logins can take; the oldest go first.
const maxSessions = 10000

type session struct {
	user     string
	verifier [32]byte // SHA-256 of the verifier at login: a password change ends the session
	expires  time.Time
	created  time.Time
}

type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, now: now}
}

func (ss *sessions) create(user, verifier string) (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.m {
		if now.After(s.expires) {
			delete(ss.m, k)
		}
	}
	for len(ss.m) >= maxSessions {
		var oldest string
		var at time.Time
		for k, s := range ss.m {
			if oldest == "" || s.created.Before(at) {
				oldest, at = k, s.created
			}
		}
		delete(ss.m, oldest)
	}
	s := &session{user: user, verifier: sha256.Sum256([]byte(verifier)), expires: now.Add(ss.ttl), created: now}
	ss.m[token] = s
	return token, s.expires, nil
}

func (ss *sessions) get(token string) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[token]
	if !ok {
		return nil, false
	}
	if ss.now().After(s.expires) {
		delete(ss.m, token)
		return nil, false
	}
	return s, true
}

func (ss *sessions) drop(token string) {
	ss.mu.Lock()
	delete(ss.m, token)
	ss.mu.Unlock()
}

// who says who is asking: a trusted loopback client, or the user of a
// live session whose password has not changed since the login.
func (s *Server) who(r *http.Request) (*viewer, bool) {
	if s.cfg.TrustLoopback && loopback(r.RemoteAddr) {
		return &viewer{Trusted: true}, true
	}
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, false
	}
	sess, ok := s.sessions.get(c.Value)
	if !ok {
		return nil, false
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	u, err := s.cfg.Catalog.GetUser(ctx, sess.user)
	if err != nil || u.SCRAMVerifier == "" || sha256.Sum256([]byte(u.SCRAMVerifier)) != sess.verifier {
		// Dropped, or the password changed (or was removed): log in again.
		s.sessions.drop(c.Value)
		return nil, false
	}
	return &viewer{User: u.Name, Role: u.Role}, true
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkPassword verifies password against a PostgreSQL-format SCRAM-SHA-256
// verifier "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>".
func checkPassword(verifier, password string) bool {
	iter, salt, stored, err := parseVerifier(verifier)
	if err != nil {
		return false
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return false
	}
	h := hmac.New(sha256.New, salted)
	h.Write([]byte("Client Key"))
	got := sha256.Sum256(h.Sum(nil))
	return subtle.ConstantTimeCompare(got[:], stored) == 1
}

var errVerifier = errors.New("invalid SCRAM verifier")

func parseVerifier(v string) (iter int, salt, stored []byte, err error) {
	mech, rest, ok := strings.Cut(v, "$")
	if !ok || mech != "SCRAM-SHA-256" {
		return 0, nil, nil, errVerifier
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return 0, nil, nil, errVerifier
	}
	iterS, saltS, ok1 := strings.Cut(params, ":")
	storedS, _, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return 0, nil, nil, errVerifier
	}
	iter, err = strconv.Atoi(iterS)
	// The catalog's verifiers use 4096; the bound keeps a bad row from
	// making a login arbitrarily slow.
	if err != nil || iter < 1 || iter > 1_000_000 {
		return 0, nil, nil, errVerifier
	}
	salt, err1 := base64.StdEncoding.DecodeString(saltS)
	stored, err2 := base64.StdEncoding.DecodeString(storedS)
	if err1 != nil || err2 != nil || len(salt) == 0 || len(stored) != sha256.Size {
		return 0, nil, nil, errVerifier
	}
	return iter, salt, stored, nil
}

// dummyVerifier is checked for unknown users and users without a password,
// so a wrong name costs the same time as a wrong password.
var dummyVerifier = func() string {
	var salt [16]byte
	rand.Read(salt[:])
	return "SCRAM-SHA-256$4096:" + base64.StdEncoding.EncodeToString(salt[:]) + "$" +
		base64.StdEncoding.EncodeToString(make([]byte, 32)) + ":" + base64.StdEncoding.EncodeToString(make([]byte, 32))
}()

// loginSlots bounds concurrent password checks (each is 4096 rounds of
// PBKDF2), so a flood of logins cannot take the gateway's CPU.
var loginSlots = make(chan struct{}, 4)

// failedLoginDelay slows guessing down.
const failedLoginDelay = 500 * time.Millisecond

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.who(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", nil, map[string]any{"Title": "Log in", "Next": safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	name, password := r.PostForm.Get("user"), r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	ctx, cancel := s.ctx(r)
	defer cancel()
	select {
	case loginSlots <- struct{}{}:
	case <-ctx.Done():
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	u, err := s.cfg.Catalog.GetUser(ctx, name)
	verifier := dummyVerifier
	if err == nil && u.SCRAMVerifier != "" {
		verifier = u.SCRAMVerifier
	} else if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		<-loginSlots
		s.log.Error("dashboard: login: read user", "err", err)
		http.Error(w, "reading the catalog failed", http.StatusInternalServerError)
		return
	}
	ok := checkPassword(verifier, password) && err == nil && u.SCRAMVerifier != ""
	<-loginSlots
	if !ok {
		s.log.Info("dashboard: login refused", "user", name, "client", r.RemoteAddr)
		select {
		case <-time.After(failedLoginDelay):
		case <-ctx.Done():
		}
		s.render(w, r, http.StatusUnauthorized, "login", nil, map[string]any{"Title": "Log in", "Next": next, "User": name,
			"Error": "Wrong user name or password (a user without a password cannot log in: ALTER USER name PASSWORD '...')."})
		return
	}
	token, expires, err := s.sessions.create(u.Name, u.SCRAMVerifier)
	if err != nil {
		http.Error(w, "could not create a session", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", Expires: expires, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS || r.TLS != nil})
	s.log.Info("dashboard: login", "user", u.Name, "client", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin logout refused", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessions.drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS || r.TLS != nil})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// crossOrigin refuses a form posted from another site (Sec-Fetch-Site,
// else Origin against Host); clients that send neither are not browsers.
var crossOrigin = http.NewCrossOriginProtection()

func sameOrigin(r *http.Request) bool { return crossOrigin.Check(r) == nil }

// safeNext keeps a redirect target on this site: a path, never "//host".
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
