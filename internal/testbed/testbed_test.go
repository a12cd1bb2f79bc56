package testbed_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowgate/flowgate/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

func TestPostgres(t *testing.T) {
	pg := testbed.Postgres(t)
	if testbed.Postgres(t) != pg {
		t.Fatal("second call started another server")
	}
	name := pg.NewDatabase(t, "tb")
	conn := pg.Connect(t, name)
	var level string
	if err := conn.QueryRow(context.Background(), "SHOW wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" && testingThrowaway(testbed.EnvPostgresDSN) {
		t.Errorf("wal_level = %s", level)
	}
}

func TestMySQL(t *testing.T) {
	my := testbed.MySQL(t)
	name := my.NewDatabase(t, "tb")
	db := my.Open(t, name)
	var format string
	if err := db.QueryRow("SELECT @@binlog_format").Scan(&format); err != nil {
		t.Fatal(err)
	}
	if format != "ROW" && testingThrowaway(testbed.EnvMySQLDSN) {
		t.Errorf("binlog_format = %s", format)
	}
	if _, err := db.Exec("CREATE TABLE t (id int primary key)"); err != nil {
		t.Fatal(err)
	}
}

func TestS3(t *testing.T) {
	s := testbed.S3(t)
	if s.Endpoint == "" || s.Bucket == "" {
		t.Fatalf("%+v", s)
	}
	if ok, err := s.Backend.BucketExists(s.Bucket); err != nil || !ok {
		t.Fatalf("bucket exists = %v, %v", ok, err)
	}
}

func TestPostgresWith(t *testing.T) {
	shared := testbed.Postgres(t)
	pg := testbed.PostgresWith(t, "wal_level=replica", "max_replication_slots=3")
	if pg.Host == shared.Host && pg.Port == shared.Port {
		t.Fatal("PostgresWith returned the shared server")
	}
	if again := testbed.PostgresWith(t, "wal_level=replica", "max_replication_slots=3"); again != pg {
		t.Error("the same settings started another server")
	}
	ctx := context.Background()
	conn := pg.Connect(t, pg.NewDatabase(t, "tbw"))
	var level, slots string
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), current_setting('max_replication_slots')").Scan(&level, &slots); err != nil {
		t.Fatal(err)
	}
	if level != "replica" || slots != "3" {
		t.Errorf("wal_level = %s, max_replication_slots = %s; want replica, 3", level, slots)
	}
	// The shared server keeps its own settings.
	if err := testbed.Postgres(t).Connect(t, "").QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" && testingThrowaway(testbed.EnvPostgresDSN) {
		t.Errorf("shared server wal_level = %s", level)
	}
}

func TestOwnPostgresStopsAndStarts(t *testing.T) {
	o := testbed.OwnPostgres(t)
	c := o.Connect(t, "")
	if _, err := c.Exec(context.Background(), "CREATE TABLE kept (id int)"); err != nil {
		t.Fatal(err)
	}
	o.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if c2, err := pgx.Connect(ctx, o.DSN()); err == nil {
		c2.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	o.Start(t)
	c3 := o.Connect(t, "")
	if _, err := c3.Exec(context.Background(), "INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestMySQLWith(t *testing.T) {
	shared := testbed.MySQL(t)
	my := testbed.MySQLWith(t, "--binlog-format=STATEMENT", "--server-id=7")
	if my.Host == shared.Host && my.Port == shared.Port {
		t.Fatal("MySQLWith returned the shared server")
	}
	if again := testbed.MySQLWith(t, "--binlog-format=STATEMENT", "--server-id=7"); again != my {
		t.Error("the same settings started another server")
	}
	var format string
	var id int
	if err := my.Open(t, "").QueryRow("SELECT @@binlog_format, @@server_id").Scan(&format, &id); err != nil {
		t.Fatal(err)
	}
	if format != "STATEMENT" || id != 7 {
		t.Errorf("binlog_format = %s, server_id = %d; want STATEMENT, 7", format, id)
	}
	// The shared server keeps its own settings.
	if err := shared.Open(t, "").QueryRow("SELECT @@binlog_format").Scan(&format); err != nil {
		t.Fatal(err)
	}
	if format != "ROW" && testingThrowaway(testbed.EnvMySQLDSN) {
		t.Errorf("shared server binlog_format = %s", format)
	}
}

func TestOwnMySQLStopsAndStarts(t *testing.T) {
	o := testbed.OwnMySQL(t)
	db := o.Open(t, o.NewDatabase(t, "own"))
	if _, err := db.Exec("CREATE TABLE kept (id int)"); err != nil {
		t.Fatal(err)
	}
	o.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("reached a stopped server")
	}
	o.Start(t)
	if _, err := db.Exec("INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
