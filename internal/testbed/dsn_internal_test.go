package testbed

import "testing"

func TestFromEnvDSN(t *testing.T) {
	pg, err := pgFromDSN("postgres://alice:s3cret@db.local:6543/app?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if *pg != (PG{Host: "db.local", Port: 6543, User: "alice", Password: "s3cret", Database: "app"}) {
		t.Errorf("pg = %+v", *pg)
	}
	my, err := mysqlFromDSN("bob:pw@tcp(10.0.0.1:3307)/shop")
	if err != nil {
		t.Fatal(err)
	}
	if *my != (MySQLServer{Host: "10.0.0.1", Port: 3307, User: "bob", Password: "pw", Database: "shop"}) {
		t.Errorf("my = %+v", *my)
	}
	if my.DSN() != "bob:pw@tcp(10.0.0.1:3307)/shop?parseTime=true" {
		t.Errorf("dsn = %s", my.DSN())
	}
	if _, err := mysqlFromDSN("not a dsn"); err == nil {
		t.Error("bad dsn accepted")
	}
}
