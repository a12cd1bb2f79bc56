package datatest

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/mysql"
	"github.com/flowgate/flowgate/connectors/postgres"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/connectors/sqlite"
	"github.com/flowgate/flowgate/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// db is one opened datasource with its data capabilities and a way to run
// native SQL.
type db struct {
	dialect string
	conn    connectors.Connector
	exp     data.Exporter
	imp     data.Importer
	sum     data.Checksummer
	exec    func(t *testing.T, q string, args ...any)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func wrap(t *testing.T, dialect string, c connectors.Connector) *db {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	d := &db{dialect: dialect, conn: c}
	var err error
	if d.exp, err = connectors.As[data.Exporter](c); err != nil {
		t.Fatal(err)
	}
	if d.imp, err = connectors.As[data.Importer](c); err != nil {
		t.Fatal(err)
	}
	if d.sum, err = connectors.As[data.Checksummer](c); err != nil {
		t.Fatal(err)
	}
	return d
}

func open(t *testing.T, typ connectors.Type, opts map[string]string) connectors.Connector {
	t.Helper()
	full, err := typ.Validate(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := typ.Open(full)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPG(t *testing.T) *db {
	pg := testbed.Postgres(t)
	c := open(t, postgres.Type(), map[string]string{"host": pg.Host, "port": strconv.Itoa(pg.Port),
		"database": pg.NewDatabase(t, "fgdata"), "user": pg.User, "password": pg.Password, "sslmode": "disable"})
	d := wrap(t, schema.Postgres, c)
	pool := c.(*postgres.Conn).Pool()
	d.exec = func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(context.Background(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return d
}

func newMySQL(t *testing.T) *db {
	my := testbed.MySQL(t)
	c := open(t, mysql.Type(), map[string]string{"host": my.Host, "port": strconv.Itoa(my.Port),
		"database": my.NewDatabase(t, "fgdata"), "user": my.User, "password": my.Password})
	d := wrap(t, schema.MySQL, c)
	sdb := c.(*mysql.Conn).DB()
	d.exec = func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := sdb.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return d
}

func newSQLite(t *testing.T) *db {
	path := filepath.Join(t.TempDir(), "data.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA journal_mode=WAL"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	c := open(t, sqlite.Type(), map[string]string{"path": path})
	d := wrap(t, schema.SQLite, c)
	sdb := c.(*sqlite.Conn).DB()
	d.exec = func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := sdb.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return d
}

func col(name string, k schema.Kind) schema.Column {
	return schema.Column{Name: name, Type: schema.Type{Kind: k}}
}

// fidCols is the fidelity table, the same canonical columns everywhere.
var fidCols = []schema.Column{
	col("id", schema.Int64), col("b", schema.Bool), col("i16", schema.Int16),
	{Name: "d", Type: schema.Type{Kind: schema.Decimal, Precision: 38, Scale: 10}},
	col("f64", schema.Float64), col("f32", schema.Float32), col("t", schema.Text), col("vc", schema.Varchar),
	col("bin", schema.Blob), col("dt", schema.Date), col("ts", schema.Timestamp), col("tstz", schema.TimestampTZ),
	col("tm", schema.Time), col("js", schema.JSON),
}

var fidDDL = map[string]string{
	schema.Postgres: `CREATE TABLE fid (id bigint PRIMARY KEY, b boolean, i16 smallint, d numeric(38,10), f64 double precision,
		f32 real, t text, vc varchar(200), bin bytea, dt date, ts timestamp(6), tstz timestamptz(6), tm time(6), js json)`,
	schema.MySQL: `CREATE TABLE fid (id bigint PRIMARY KEY, b tinyint(1), i16 smallint, d decimal(38,10), f64 double,
		f32 float, t longtext, vc varchar(200), bin longblob, dt date, ts datetime(6), tstz timestamp(6) NULL DEFAULT NULL,
		tm time(6), js json) CHARSET utf8mb4`,
	// SQLite's NUMERIC affinity would round a 38-digit decimal to REAL:
	// such columns must be TEXT there.
	schema.SQLite: `CREATE TABLE fid (id INTEGER PRIMARY KEY, b BOOLEAN, i16 SMALLINT, d TEXT, f64 DOUBLE,
		f32 FLOAT, t TEXT, vc VARCHAR(200), bin BLOB, dt DATE, ts TIMESTAMP, tstz TIMESTAMP, tm TIME, js TEXT)`,
}

func all256() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return string(data.AppendHex(nil, b))
}

// fixture is flowgate CSV exactly as PostgreSQL 15's COPY writes these
// rows ("" = NULL in the table below, "\"\"" = the empty string).
var fixture = [][]string{
	{"1", "", "", "", "", "", "", "", "", "", "", "", "", ""},
	{"2", "f", "0", "0.0000000000", "0", "0", `""`, `""`, `\x`, "2024-01-01", "2024-01-01 00:00:00", "2024-01-01 00:00:00+00", "00:00:00", "{}"},
	{"3", "t", "32767", "9999999999999999999999999999.9999999999", "1.7976931348623157e+308", "3.4028235e+38",
		"a,b\"c\nd\\e\r\nf\tg", `\.`, all256(), "0001-01-01", "0001-01-01 00:00:00", "1970-01-02 00:00:00+00", "23:59:59.999999",
		`{"a": [1, 2.5, "x\"y"], "b": null}`},
	{"4", "t", "-32768", "-9999999999999999999999999999.9999999999", "2.2250738585072014e-308", "1.1754944e-38",
		"😀𝄞 中文 ü", `"quoted"`, `\x00ff`, "9999-12-31", "9999-12-31 23:59:59.999999", "2038-01-19 03:14:07.999999+00", "12:00:00.5", "[1,2,3]"},
	{"5", "", "", "0.0000000001", "0.30000000000000004", "0.1", " lead and trail ", "", "", "", "2024-02-29 12:34:56.123456",
		"2024-02-29 12:34:56.123456+00", "", ""},
	{"6", "", "", "-0.5000000000", "1e-14", "1.6777216e+07", "NULL", `\N`, "", "", "", "", "", ""},
	{"7", "", "", "", "1.2345678901234568e+20", "-2.5", `\`, ",", "", "", "", "", "", ""},
	{"8", "", "", "", "-1e+35", "", `"`, "", "", "", "", "", "", ""},
}

// fixtureCSV renders the fixture: "" is NULL, `""` the empty string.
func fixtureCSV() []byte {
	var b []byte
	for _, row := range fixture {
		for i, v := range row {
			if i > 0 {
				b = append(b, ',')
			}
			switch v {
			case "":
			case `""`:
				b = append(b, `""`...)
			case `\.`:
				b = append(b, v...) // PostgreSQL quotes it only alone on a line
			default:
				b = data.AppendField(b, []byte(v))
			}
		}
		b = append(b, '\n')
	}
	return b
}

func createFid(t *testing.T, d *db) {
	t.Helper()
	d.exec(t, fidDDL[d.dialect])
}

func exportAll(t *testing.T, d *db, table string, cols []schema.Column, tz string) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := d.exp.Export(ctx(t), data.ExportSpec{Table: table, Columns: cols, OrderBy: []string{cols[0].Name}, TimeZone: tz}, &buf)
	if err != nil {
		t.Fatalf("%s export: %v", d.dialect, err)
	}
	if c := int64(bytes.Count(buf.Bytes(), []byte("\n"))); c < n {
		t.Fatalf("%s export: %d rows reported, %d newlines", d.dialect, n, c)
	}
	return buf.Bytes()
}

func importAll(t *testing.T, d *db, table string, cols []schema.Column, csv []byte, tz string) int64 {
	t.Helper()
	n, err := d.imp.Import(ctx(t), data.ImportSpec{Table: table, Columns: cols, TimeZone: tz}, bytes.NewReader(csv))
	if err != nil {
		t.Fatalf("%s import: %v", d.dialect, err)
	}
	return n
}

func spec(table string, cols []schema.Column, nkey int) data.ChecksumSpec {
	return data.ChecksumSpec{Table: table, Key: cols[:nkey], Columns: cols}
}

func checksum(t *testing.T, d *db, s data.ChecksumSpec) data.Sum {
	t.Helper()
	sum, err := d.sum.Checksum(ctx(t), s)
	if err != nil {
		t.Fatalf("%s checksum: %v", d.dialect, err)
	}
	return sum
}

func rows(t *testing.T, d *db, s data.ChecksumSpec) [][]*string {
	t.Helper()
	r, err := d.sum.Rows(ctx(t), s, 0)
	if err != nil {
		t.Fatalf("%s rows: %v", d.dialect, err)
	}
	return r
}

func showRows(rs [][]*string) string {
	var b strings.Builder
	for _, r := range rs {
		for i, v := range r {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				b.WriteString(strconv.Quote(*v))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// sameData asserts both tables hold the same rows: equal normalized rows
// and equal checksums.
func sameData(t *testing.T, a, b *db, s data.ChecksumSpec) data.Sum {
	t.Helper()
	ra, rb := rows(t, a, s), rows(t, b, s)
	if !reflect.DeepEqual(ra, rb) {
		t.Errorf("normalized rows differ\n%s:\n%s%s:\n%s", a.dialect, showRows(ra), b.dialect, showRows(rb))
	}
	sa, sb := checksum(t, a, s), checksum(t, b, s)
	if sa != sb {
		t.Errorf("checksums differ: %s %+v, %s %+v", a.dialect, sa, b.dialect, sb)
	}
	return sa
}
