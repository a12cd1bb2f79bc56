package binlog

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// createUser makes an account for one test and drops it afterwards.
func (r *rig) createUser(name, ident string, grants ...string) {
	r.t.Helper()
	user := fmt.Sprintf("'%s'@'%%'", name)
	r.exec("DROP USER IF EXISTS " + user)
	r.exec("CREATE USER " + user + " " + ident)
	for _, g := range grants {
		r.exec("GRANT " + g + " TO " + user)
	}
	r.t.Cleanup(func() { r.db.Exec("DROP USER IF EXISTS " + user) })
}

func TestDialRoot(t *testing.T) {
	r := newRig(t)
	c := r.dial(r.config())
	if c.Flavor() != FlavorMariaDB {
		t.Fatalf("flavor %s for %q", c.Flavor(), c.ServerVersion())
	}
	ctx := context.Background()
	rows, err := c.Query(ctx, "SELECT 1, NULL, 'x''y'")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || *rows[0][0] != "1" || rows[0][1] != nil || *rows[0][2] != "x'y" {
		t.Fatalf("rows %v", rows)
	}
	if rows, err := c.Query(ctx, "SET @a = 1"); err != nil || len(rows) != 0 {
		t.Fatalf("SET: %v %v", rows, err)
	}
	_, err = c.Query(ctx, "SELECT * FROM mysql.no_such_table_here")
	var se *ServerError
	if !errors.As(err, &se) || se.Code != 1146 || se.State != "42S02" || !strings.Contains(se.Message, "no_such_table_here") {
		t.Fatalf("error %v (%#v)", err, se)
	}
	// The connection is still usable after a server error.
	if _, err := c.Query(ctx, "SELECT 2"); err != nil {
		t.Fatal(err)
	}
}

func TestDialNativePasswordUser(t *testing.T) {
	r := newRig(t)
	const pw = "n4tive-secret"
	r.createUser("bl_native", "IDENTIFIED VIA mysql_native_password USING PASSWORD('"+pw+"')")
	cfg := r.config()
	cfg.User, cfg.Password = "bl_native", pw
	c := r.dial(cfg)
	rows, err := c.Query(context.Background(), "SELECT CURRENT_USER()")
	if err != nil {
		t.Fatal(err)
	}
	if got := *rows[0][0]; got != "bl_native@%" {
		t.Fatalf("current user %q", got)
	}
}

func TestDialEd25519User(t *testing.T) {
	r := newRig(t)
	if r.queryString("SELECT COUNT(*) FROM information_schema.plugins WHERE plugin_name = 'ed25519' AND plugin_status = 'ACTIVE'") == "0" {
		r.exec("INSTALL SONAME 'auth_ed25519'")
	}
	const pw = "ed-secret-\u00e9\u00e8"
	r.createUser("bl_ed", "IDENTIFIED VIA ed25519 USING PASSWORD('"+pw+"')")
	cfg := r.config()
	cfg.User, cfg.Password = "bl_ed", pw
	c := r.dial(cfg)
	rows, err := c.Query(context.Background(), "SELECT CURRENT_USER()")
	if err != nil {
		t.Fatal(err)
	}
	if got := *rows[0][0]; got != "bl_ed@%" {
		t.Fatalf("current user %q", got)
	}

	cfg.Password = "wrong-ed-secret"
	_, err = Dial(context.Background(), cfg)
	var se *ServerError
	if !errors.As(err, &se) || se.Code != 1045 {
		t.Fatalf("wrong ed25519 password: %v", err)
	}
	if strings.Contains(err.Error(), cfg.Password) {
		t.Fatalf("password in error: %v", err)
	}
}

func TestDialWrongPassword(t *testing.T) {
	r := newRig(t)
	r.createUser("bl_wrong", "IDENTIFIED BY 'right-one'")
	cfg := r.config()
	cfg.User, cfg.Password = "bl_wrong", "Sup3r-Secret-Wrong"
	_, err := Dial(context.Background(), cfg)
	var se *ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want *ServerError, got %v", err)
	}
	if se.Code != 1045 || se.State != "28000" || !strings.Contains(se.Message, "Access denied") {
		t.Fatalf("error %#v", se)
	}
	if strings.Contains(err.Error(), cfg.Password) {
		t.Fatalf("password in error: %v", err)
	}
}

func TestDumpWithoutReplicationPrivilege(t *testing.T) {
	r := newRig(t)
	r.createUser("bl_norepl", "IDENTIFIED BY 'pw-norepl'", "SELECT ON *.*")
	cfg := r.config()
	cfg.User, cfg.Password = "bl_norepl", "pw-norepl"
	c := r.dial(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.StartFromPosition(ctx, "binlog.000001", 4)
	if err == nil {
		_, err = c.NextEvent(ctx)
	}
	var se *ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want *ServerError, got %v", err)
	}
	// The server's own message, e.g. "Access denied; you need (at least one
	// of) the REPLICATION SLAVE privilege(s) for this operation".
	if se.Code != 1227 || !strings.Contains(se.Message, "REPLICATION SLAVE") {
		t.Fatalf("error %#v", se)
	}
}

func TestDialTLSRequiredWithoutServerTLS(t *testing.T) {
	r := newRig(t)
	if v := r.queryString("SELECT @@have_ssl"); v == "YES" {
		t.Logf("server has TLS; checking a TLS connection instead")
		cfg := r.config()
		cfg.TLS = TLSRequired
		cfg.TLSConfig = nil
		cfg.TLSConfig = insecureTLS()
		c := r.dial(cfg)
		if !c.tls {
			t.Fatal("not TLS")
		}
		return
	}
	cfg := r.config()
	cfg.TLS = TLSRequired
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "TLS required") {
		t.Fatalf("want TLS required error, got %v", err)
	}
	cfg.TLS = TLSPreferred
	c := r.dial(cfg)
	if c.tls {
		t.Fatal("TLS without server support")
	}
}

// The client_ed25519 signature equals standard Ed25519 when the password is
// a 32-byte seed, which checks the curve arithmetic against crypto/ed25519.
func TestEd25519MatchesStandardForSeedPasswords(t *testing.T) {
	seed := []byte("0123456789abcdef0123456789abcdef")
	msg := []byte("a 32-byte server challenge here!")
	want := ed25519.Sign(ed25519.NewKeyFromSeed(seed), msg)
	got := signEd25519(msg, string(seed))
	if hex.EncodeToString(got) != hex.EncodeToString(want) {
		t.Fatalf("signature\n got %x\nwant %x", got, want)
	}
}

// Fixture: caching_sha2_password scrambles for a known 20-byte challenge,
// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + challenge) (values published
// with go-sql-driver's tests).
func TestScrambleSHA256Fixture(t *testing.T) {
	challenge := []byte{10, 47, 74, 111, 75, 73, 34, 48, 88, 76, 114, 74, 37, 13, 3, 80, 82, 2, 23, 21}
	for pw, want := range map[string]string{
		"secret":  "f490e76f66d9d86665ce54d98c78d0acfe2fb0b08b423da807144873d30b312c",
		"secret2": "abc3934a012cf342e876071c8ee202de51785b430258a7a0138bc79c4d800bc6",
	} {
		if got := hex.EncodeToString(scrambleSHA256(challenge, pw)); got != want {
			t.Errorf("%s: got %s want %s", pw, got, want)
		}
	}
	if scrambleSHA256(challenge, "") != nil || scrambleNative(challenge, "") != nil {
		t.Error("empty password must give an empty answer")
	}
}

func TestMasterStatusAndCallOrder(t *testing.T) {
	r := newRig(t)
	schema := r.srv.NewDatabase(t, "bl_status")
	r.exec("CREATE TABLE `" + schema + "`.t (id INT)")
	c := r.dial(r.config())
	ctx := context.Background()
	if _, err := c.NextEvent(ctx); !errors.Is(err, ErrNotStreaming) {
		t.Fatalf("NextEvent before start: %v", err)
	}
	st, err := c.MasterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var file, pos string
	if err := r.db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, new(sql.NullString), new(sql.NullString)); err != nil {
		t.Fatal(err)
	}
	if st.File != file || strconv.FormatUint(uint64(st.Pos), 10) != pos {
		t.Fatalf("status %+v, server %s:%s", st, file, pos)
	}
	if want := r.queryString("SELECT @@global.gtid_binlog_pos"); st.GTIDSet != want || want == "" {
		t.Fatalf("GTID position %q, server %q", st.GTIDSet, want)
	}
	if err := c.StartFromPosition(ctx, st.File, st.Pos); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(ctx, "SELECT 1"); !errors.Is(err, ErrStreaming) {
		t.Fatalf("Query while streaming: %v", err)
	}
	if err := c.StartFromPosition(ctx, st.File, st.Pos); !errors.Is(err, ErrStreaming) {
		t.Fatalf("second start: %v", err)
	}
}

func TestConfigStringHidesPassword(t *testing.T) {
	cfg := Config{Addr: "db:3306", User: "repl", Password: "hunter2-secret", ServerID: 7}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(&cfg)} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "repl") {
			t.Errorf("%s", s)
		}
	}
}
