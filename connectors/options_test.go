package connectors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/all"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/s3"
)

func pgErr(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("want *pgconn.PgError, got %T %v", err, err)
	}
	if pe.Code != "22023" {
		t.Fatalf("code = %s, want 22023 (%s)", pe.Code, pe.Message)
	}
	return pe
}

func TestValidateUnknownOption(t *testing.T) {
	_, err := postgres.Type().Validate(map[string]string{"host": "h", "database": "d", "user": "u", "x": "1"})
	pe := pgErr(t, err)
	if pe.Message != `unknown option "x" for datasource type postgres` {
		t.Errorf("message = %q", pe.Message)
	}
	if !strings.Contains(pe.Hint, "host, port, database, user, password, schema, sslmode, extparam") {
		t.Errorf("hint = %q", pe.Hint)
	}
}

func TestValidateMissingRequired(t *testing.T) {
	_, err := postgres.Type().Validate(map[string]string{"database": "d", "user": "u"})
	pe := pgErr(t, err)
	if pe.Message != `missing required option "host" for datasource type postgres` {
		t.Errorf("message = %q", pe.Message)
	}
	if !strings.Contains(pe.Hint, "host, database, user") {
		t.Errorf("hint = %q", pe.Hint)
	}
	_, err = postgres.Type().Validate(map[string]string{"host": "", "database": "d", "user": "u"})
	if pe := pgErr(t, err); !strings.Contains(pe.Message, "must not be empty") {
		t.Errorf("empty host: %q", pe.Message)
	}
}

func TestValidateDefaults(t *testing.T) {
	got, err := postgres.Type().Validate(map[string]string{"HOST": "h", "database": "d", "user": "u"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"host": "h", "database": "d", "user": "u", "port": "5432", "schema": "public", "sslmode": "prefer"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestValidateBadValues(t *testing.T) {
	base := func(k, v string) map[string]string {
		return map[string]string{"host": "h", "database": "d", "user": "u", k: v}
	}
	for _, tc := range []struct {
		typ  connectors.Type
		opts map[string]string
		want string
	}{
		{postgres.Type(), base("port", "abc"), `invalid value "abc" for option "port" of datasource type postgres: not a port number`},
		{postgres.Type(), base("port", "70000"), "not a port number"},
		{postgres.Type(), base("sslmode", "sometimes"), "must be one of disable, allow, prefer, require, verify-ca, verify-full"},
		{postgres.Type(), base("extparam", "sslmode=disable"), `"sslmode" has its own option`},
		{s3.Type(), map[string]string{"bucket": "b", "path_style": "maybe"}, "not a boolean"},
		{s3.Type(), map[string]string{"bucket": "b", "endpoint": "minio:9000"}, "http:// or https://"},
		{s3.Type(), map[string]string{"bucket": "b", "access_key": "AK"}, "give both or neither"},
	} {
		_, err := tc.typ.Validate(tc.opts)
		if pe := pgErr(t, err); !strings.Contains(pe.Message, tc.want) {
			t.Errorf("%v: message %q does not contain %q", tc.opts, pe.Message, tc.want)
		}
	}
	// A bad secret is not echoed back.
	typ := connectors.Type{Name: "x", Options: []connectors.Option{{Name: "pw", Secret: true, Kind: connectors.KindPort}}}
	_, err := typ.Validate(map[string]string{"pw": "hunter2"})
	if pe := pgErr(t, err); strings.Contains(pe.Message, "hunter2") {
		t.Errorf("secret echoed: %q", pe.Message)
	}
}

func TestValidateNormalises(t *testing.T) {
	got, err := s3.Type().Validate(map[string]string{"bucket": "b", "path_style": "ON"})
	if err != nil {
		t.Fatal(err)
	}
	if got["path_style"] != "true" || got["region"] != "us-east-1" {
		t.Errorf("got %v", got)
	}
	got, err = postgres.Type().Validate(map[string]string{"host": "h", "database": "d", "user": "u", "sslmode": "DISABLE", "port": "05433"})
	if err != nil {
		t.Fatal(err)
	}
	if got["sslmode"] != "disable" || got["port"] != "5433" {
		t.Errorf("got %v", got)
	}
}

func TestValidatePartial(t *testing.T) {
	typ := postgres.Type()
	old, err := typ.Validate(map[string]string{"host": "h", "database": "d", "user": "u", "password": "p"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := typ.ValidatePartial(old, map[string]string{"port": "6432", "schema": ""})
	if err != nil {
		t.Fatal(err)
	}
	if got["port"] != "6432" || got["password"] != "p" || got["schema"] != "public" {
		t.Errorf("got %v", got)
	}
	_, err = typ.ValidatePartial(old, map[string]string{"bogus": "1"})
	if pe := pgErr(t, err); !strings.Contains(pe.Message, `unknown option "bogus"`) {
		t.Errorf("message = %q", pe.Message)
	}
	_, err = typ.ValidatePartial(old, map[string]string{"host": ""})
	pgErr(t, err)
}

func TestMask(t *testing.T) {
	all.Register()
	all.Register() // idempotent
	opts := map[string]string{"host": "h", "password": "secret", "user": "u"}
	m := connectors.Mask(opts, postgres.Type())
	if m["password"] != connectors.Masked || m["host"] != "h" || opts["password"] != "secret" {
		t.Errorf("mask = %v, original = %v", m, opts)
	}
	for key, want := range map[string]bool{"password": true, "secret_key": true, "access_key": true, "host": false, "path": false} {
		if got := connectors.IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%s) = %v", key, got)
		}
	}
	if !s3.Type().IsSecret("SECRET_KEY") {
		t.Error("IsSecret is not case-insensitive")
	}
}

func TestRegistry(t *testing.T) {
	all.Register()
	if got := strings.Join(connectors.Names(), ","); got != "file,kafka,mysql,postgres,s3,sqlite" {
		t.Errorf("names = %s", got)
	}
	if typ, ok := connectors.Lookup("PostgreS"); !ok || typ.Name != "postgres" {
		t.Errorf("lookup = %v %v", typ.Name, ok)
	}
	if _, ok := connectors.Lookup("oracle"); ok {
		t.Error("oracle found")
	}
}

func TestScrubError(t *testing.T) {
	base := errors.New(`cannot parse postgres://u:p%40ss@h/d: bad; also p@ss`)
	err := connectors.ScrubError(base, "p@ss")
	if strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), "p%40ss") {
		t.Errorf("not scrubbed: %v", err)
	}
	if errors.Is(err, base) {
		t.Error("scrubbed error still unwraps to the original")
	}
	clean := errors.New("nothing here")
	if connectors.ScrubError(clean, "p@ss") != clean {
		t.Error("clean error replaced")
	}
}

func TestMaskTextOnlyWholeTokens(t *testing.T) {
	const setMsg = "set became text holding the comma-separated members"
	for _, c := range []struct{ secret, in, want string }{
		{"x", setMsg, setMsg},
		{"a", setMsg, setMsg},
		{"e", "relation \"public.orders\" does not exist", "relation \"public.orders\" does not exist"},
		{"public", `relation "public_orders" does not exist in republic`, `relation "public_orders" does not exist in republic`},
		{"postgres", "FATAL: role \"postgres2\" does not exist (postgresql)", "FATAL: role \"postgres2\" does not exist (postgresql)"},
		{"x", "password=x host=h", "password=******** host=h"},
		{"x", "x", "********"},
		{"public", `schema "public" is missing; public`, `schema "********" is missing; ********`},
		{"s3cr3t", "dsn postgres://u:s3cr3t@h/d", "dsn postgres://u:********@h/d"},
		{"p@ss w", "url postgres://u:p%40ss+w@h or p%40ss%20w and p@ss w.", "url postgres://u:********@h or ******** and ********."},
		{"abc", "abcabc abc_ abc", "abcabc abc_ ********"},
		{"é", "café é", "café ********"},
	} {
		if got := connectors.MaskText(c.in, c.secret); got != c.want {
			t.Errorf("MaskText(%q, %q) = %q, want %q", c.in, c.secret, got, c.want)
		}
	}
}

// A masked PostgreSQL error is still a *pgconn.PgError with its SQLSTATE,
// and cancellation survives masking.
func TestScrubErrorKeepsType(t *testing.T) {
	pe := &pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed: got hunter2",
		Detail: "connection string password=hunter2", Hint: "hunter2 is wrong", Position: 7}
	err := connectors.ScrubError(fmt.Errorf("open: %w", pe), "hunter2")
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("not masked: %v", err)
	}
	var got *pgconn.PgError
	if !errors.As(err, &got) {
		t.Fatalf("%T lost its *pgconn.PgError", err)
	}
	if got.Code != "28P01" || got.Severity != "FATAL" || got.Position != 7 {
		t.Errorf("fields lost: %+v", got)
	}
	for _, f := range []string{got.Message, got.Detail, got.Hint} {
		if strings.Contains(f, "hunter2") || !strings.Contains(f, connectors.Masked) {
			t.Errorf("field not masked: %q", f)
		}
	}
	if pe.Message != "password authentication failed: got hunter2" {
		t.Error("the original error was changed")
	}
	err = connectors.ScrubError(fmt.Errorf("dial hunter2: %w", context.DeadlineExceeded), "hunter2")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline lost: %v", err)
	}
	unchanged := fmt.Errorf("open: %w", pe)
	if connectors.ScrubError(unchanged, "x") != unchanged {
		t.Error("an error without the token was replaced")
	}
}

type closer struct{}

func (closer) Close() error { return nil }

func TestAs(t *testing.T) {
	_, err := connectors.As[connectors.Tester](closer{})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("err = %v", err)
	}
}
