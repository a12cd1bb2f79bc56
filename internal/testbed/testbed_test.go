package testbed_test

import (
	"context"
	"testing"

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
