package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

var allModes = []pgx.QueryExecMode{
	pgx.QueryExecModeCacheStatement,
	pgx.QueryExecModeCacheDescribe,
	pgx.QueryExecModeDescribeExec,
	pgx.QueryExecModeExec,
	pgx.QueryExecModeSimpleProtocol,
}

// runModes runs f once per query exec mode, like pgxtest.RunWithQueryExecModes.
func runModes(t *testing.T, addr string, f func(t *testing.T, conn *pgx.Conn, mode pgx.QueryExecMode)) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			cfg, err := pgx.ParseConfig(connString(addr, "alice"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = mode
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			f(t, conn, mode)
		})
	}
}

func TestPgx(t *testing.T) {
	_, _, addr := startServer(t, Config{})
	ctx := context.Background()

	t.Run("rows", func(t *testing.T) {
		runModes(t, addr, func(t *testing.T, conn *pgx.Conn, _ pgx.QueryExecMode) {
			rows, _ := conn.Query(ctx, "ROWS 3")
			var got []string
			for rows.Next() {
				var i int32
				var s string
				if err := rows.Scan(&i, &s); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprint(i, s))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if tag := rows.CommandTag().String(); tag != "SELECT 3" {
				t.Errorf("tag %q", tag)
			}
			if want := []string{"1row 1", "2row 2", "3row 3"}; !reflect.DeepEqual(got, want) {
				t.Errorf("got %v", got)
			}
		})
	})

	t.Run("types", func(t *testing.T) {
		ts := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
		cases := []struct {
			typ string
			in  any
		}{
			{"bool", true},
			{"int2", int16(-7)},
			{"int4", int32(42)},
			{"int8", int64(9_000_000_000_000)},
			{"float4", float32(1.5)},
			{"float8", float64(-2.25)},
			{"numeric", float64(123.25)},
			{"text", "héllo wörld"},
			{"varchar", "v'q"},
			{"name", "nm"},
			{"bpchar", "ab"},
			{"oid", uint32(12345)},
			{"timestamptz", ts},
			{"timestamp", ts},
			{"date", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
			{"json", map[string]any{"a": float64(1), "b": "x"}},
			{"jsonb", map[string]any{"k": []any{true, nil}}},
			{"json", `{"a":  1}`},
			{"jsonb", `{"k": [true, null]}`},
			{"bytea", []byte{0, 1, 0xff}},
			{"uuid", pgtype.UUID{Bytes: [16]byte{0xa0, 0xee, 0xbc, 0x99, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Valid: true}},
			{"interval", 90*time.Minute + 1500*time.Microsecond},
			{"text[]", []string{"a", "b c", "", `q"x`}},
			{"int4[]", []int32{1, -2, 3}},
			{"int8[]", []int64{1 << 40}},
			{"timestamptz", pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}},
			{"date", pgtype.Date{InfinityModifier: pgtype.NegativeInfinity, Valid: true}},
		}
		runModes(t, addr, func(t *testing.T, conn *pgx.Conn, mode pgx.QueryExecMode) {
			for _, c := range cases {
				_, isMap := c.in.(map[string]any)
				if isMap && (mode == pgx.QueryExecModeExec || mode == pgx.QueryExecModeSimpleProtocol) {
					// pgx cannot text-encode a map for an unknown parameter
					// type; the string cases below cover JSON in these modes.
					continue
				}
				dst := reflect.New(reflect.TypeOf(c.in))
				err := conn.QueryRow(ctx, "ECHO $1::"+c.typ, c.in).Scan(dst.Interface())
				if err != nil {
					t.Errorf("%s %v: %v", c.typ, c.in, err)
					continue
				}
				got := dst.Elem().Interface()
				if tm, ok := got.(time.Time); ok {
					if !tm.Equal(c.in.(time.Time)) {
						t.Errorf("%s: got %v want %v", c.typ, tm, c.in)
					}
					continue
				}
				if !reflect.DeepEqual(got, c.in) {
					t.Errorf("%s: got %#v want %#v", c.typ, got, c.in)
				}
			}
			// Several parameters and a NULL in one statement.
			var a *int32
			var b string
			var d []string
			if err := conn.QueryRow(ctx, "ECHO $1::int4, $2::text, $3::text[]", nil, "x", []string{"y"}).Scan(&a, &b, &d); err != nil {
				t.Fatal(err)
			}
			if a != nil || b != "x" || !reflect.DeepEqual(d, []string{"y"}) {
				t.Errorf("got %v %q %v", a, b, d)
			}
			// Vectors have no pgx codec and come back as text.
			var v1, v2 string
			if err := conn.QueryRow(ctx, "ECHO '1 2 3'::int2vector, '23 25'::oidvector").Scan(&v1, &v2); err != nil {
				t.Fatal(err)
			}
			if v1 != "1 2 3" || v2 != "23 25" {
				t.Errorf("vectors %q %q", v1, v2)
			}
		})
	})

	t.Run("error", func(t *testing.T) {
		runModes(t, addr, func(t *testing.T, conn *pgx.Conn, _ pgx.QueryExecMode) {
			_, err := conn.Exec(ctx, "FAIL")
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v", err)
			}
			if pe.Code != "42P01" || pe.Severity != "ERROR" || pe.Position != 1 || pe.Detail != "some detail" ||
				pe.Hint != "some hint" || pe.TableName != "fail" || pe.SchemaName != "public" || pe.Routine != "toy" || pe.Line != 7 {
				t.Errorf("fields not copied: %+v", pe)
			}
			// Syntax errors from Prepare, then the connection still works.
			_, err = conn.Exec(ctx, "BOGUS")
			if !errors.As(err, &pe) || pe.Code != "42601" {
				t.Errorf("got %v", err)
			}
			var n int32
			if err := conn.QueryRow(ctx, "ECHO 7::int4").Scan(&n); err != nil || n != 7 {
				t.Errorf("after error: %v %d", err, n)
			}
		})
	})

	t.Run("parameter status", func(t *testing.T) {
		runModes(t, addr, func(t *testing.T, conn *pgx.Conn, _ pgx.QueryExecMode) {
			if v := conn.PgConn().ParameterStatus("application_name"); v != "test" {
				t.Errorf("application_name %q", v)
			}
			if _, err := conn.Exec(ctx, "SET application_name = 'changed'"); err != nil {
				t.Fatal(err)
			}
			if v := conn.PgConn().ParameterStatus("application_name"); v != "changed" {
				t.Errorf("after SET application_name %q", v)
			}
		})
	})

	t.Run("notices", func(t *testing.T) {
		for _, mode := range allModes {
			t.Run(mode.String(), func(t *testing.T) {
				var mu sync.Mutex
				var got []string
				cfg, _ := pgx.ParseConfig(connString(addr, "alice"))
				cfg.DefaultQueryExecMode = mode
				cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
					mu.Lock()
					got = append(got, n.Message)
					mu.Unlock()
				}
				conn, err := pgx.ConnectConfig(ctx, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				if _, err := conn.Exec(ctx, "NOTICE 50"); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(got) != 50 {
					t.Errorf("got %d notices", len(got))
				}
			})
		}
	})

	t.Run("named prepared", func(t *testing.T) {
		runModes(t, addr, func(t *testing.T, conn *pgx.Conn, mode pgx.QueryExecMode) {
			if mode == pgx.QueryExecModeSimpleProtocol {
				return
			}
			sd, err := conn.Prepare(ctx, "s1", "ECHO $1::int8, $2::text")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sd.ParamOIDs, []uint32{20, 25}) || len(sd.Fields) != 2 {
				t.Errorf("description %+v", sd)
			}
			for i := range 3 {
				var a int64
				var b string
				if err := conn.QueryRow(ctx, "s1", int64(i), "x").Scan(&a, &b); err != nil || a != int64(i) {
					t.Errorf("%d: %v %d", i, err, a)
				}
			}
			if err := conn.Deallocate(ctx, "s1"); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("batch", func(t *testing.T) {
		runModes(t, addr, func(t *testing.T, conn *pgx.Conn, _ pgx.QueryExecMode) {
			b := &pgx.Batch{}
			b.Queue("ROWS 2")
			b.Queue("ECHO $1::int4", int32(5))
			b.Queue("NOOP")
			res := conn.SendBatch(ctx, b)
			if _, err := res.Exec(); err != nil {
				t.Fatal(err)
			}
			var n int32
			if err := res.QueryRow().Scan(&n); err != nil || n != 5 {
				t.Fatal(err, n)
			}
			if _, err := res.Exec(); err != nil {
				t.Fatal(err)
			}
			if err := res.Close(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestCancelRequest(t *testing.T) {
	_, h, addr := startServer(t, Config{})
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, connString(addr, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	go func() {
		time.Sleep(100 * time.Millisecond)
		conn.CancelRequest(ctx)
	}()
	_, err = conn.Exec(ctx, "SLEEP").ReadAll()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" || pe.Message != "canceling statement due to user request" {
		t.Fatalf("got %v", err)
	}
	if cause := <-h.canceled; cause != errQueryCanceled.Error() {
		t.Errorf("cause %q", cause)
	}
	// The session continues.
	if _, err := conn.Exec(ctx, "ROWS 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	// A cancel with the session's pid and a wrong key cancels nothing and
	// gets no answer: the server closes the cancel connection.
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SLEEP 500ms").ReadAll()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	wrong := bytes.Clone(conn.SecretKey())
	wrong[0] ^= 0xff
	req, err := (&pgproto3.CancelRequest{ProcessID: conn.PID(), SecretKey: wrong}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := dialRaw(t, addr)
	if _, err := bad.conn.Write(req); err != nil {
		t.Fatal(err)
	}
	if got := closedWithin(t, bad.conn, 5*time.Second, "cancel with a wrong key"); len(got) != 0 {
		t.Errorf("cancel with a wrong key answered %q", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SLEEP 500ms after a cancel with a wrong key: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SLEEP 500ms did not end")
	}
	select {
	case cause := <-h.canceled:
		t.Fatalf("a cancel with a wrong key canceled the statement: %s", cause)
	default:
	}
	// The session continues.
	if _, err := conn.Exec(ctx, "ROWS 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
}

func TestDisconnectMidQuery(t *testing.T) {
	srv, h, addr := startServer(t, Config{})
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, connString(addr, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	pid := conn.PID()
	go func() {
		time.Sleep(100 * time.Millisecond)
		conn.Conn().Close()
	}()
	conn.Exec(ctx, "SLEEP").ReadAll()
	select {
	case <-h.canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("statement not canceled after disconnect")
	}
	select {
	case got := <-h.closed:
		if got != pid {
			t.Errorf("closed pid %d, want %d", got, pid)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session not closed")
	}
	waitFor(t, func() bool { return srv.ActiveSessions() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
