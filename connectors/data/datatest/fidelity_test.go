package datatest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// copyTable exports src.fid and imports it into a new dst.fid, then checks
// that both hold the same data and that one changed value shows.
func copyTable(t *testing.T, src, dst *db) {
	t.Helper()
	createFid(t, dst)
	csv := exportAll(t, src, "fid", fidCols, "")
	if n := importAll(t, dst, "fid", fidCols, csv, ""); n != int64(len(fixture)) {
		t.Fatalf("imported %d rows, want %d", n, len(fixture))
	}
	s := spec("fid", fidCols, 1)
	before := sameData(t, src, dst, s)
	if before.Count != int64(len(fixture)) {
		t.Errorf("checksum count %d", before.Count)
	}
	// A single changed value changes the checksum: '' becomes NULL.
	dst.exec(t, "UPDATE fid SET t = NULL WHERE id = 2")
	if after := checksum(t, dst, s); after == before {
		t.Error("NULL instead of '' did not change the checksum")
	}
	dst.exec(t, "UPDATE fid SET t = '' WHERE id = 2")
	if after := checksum(t, dst, s); after != before {
		t.Errorf("restoring the value did not restore the checksum: %+v vs %+v", after, before)
	}
	dst.exec(t, "UPDATE fid SET d = d + 0.0000000001 WHERE id = 5")
	if after := checksum(t, dst, s); after == before {
		t.Error("a changed decimal did not change the checksum")
	}
}

func seed(t *testing.T, d *db) {
	t.Helper()
	createFid(t, d)
	if n := importAll(t, d, "fid", fidCols, fixtureCSV(), ""); n != int64(len(fixture)) {
		t.Fatalf("seed: %d rows", n)
	}
}

func TestPGToPG(t *testing.T) {
	src, dst := newPG(t), newPG(t)
	seed(t, src)
	// PostgreSQL's own COPY output is the interchange format: the fixture
	// comes back byte for byte.
	if got := exportAll(t, src, "fid", fidCols, ""); !bytes.Equal(got, fixtureCSV()) {
		t.Errorf("PostgreSQL export differs from the fixture:\n got %q\nwant %q", got, fixtureCSV())
	}
	// In another session time zone timestamptz is still written in UTC.
	if got := exportAll(t, src, "fid", fidCols, "Asia/Shanghai"); !bytes.Equal(got, fixtureCSV()) {
		t.Errorf("export in Asia/Shanghai differs:\n got %q\nwant %q", got, fixtureCSV())
	}
	copyTable(t, src, dst)
	dst.exec(t, "UPDATE fid SET d = d - 0.0000000001 WHERE id = 5")
	if got := exportAll(t, dst, "fid", fidCols, ""); !bytes.Equal(got, fixtureCSV()) {
		t.Errorf("copy differs from the fixture:\n got %q", got)
	}
}

func TestPGToMySQLAndBack(t *testing.T) {
	pg, my, pg2 := newPG(t), newMySQL(t), newPG(t)
	seed(t, pg)
	copyTable(t, pg, my)
	my.exec(t, "UPDATE fid SET d = d - 0.0000000001 WHERE id = 5")
	copyTable(t, my, pg2)
	// The round trip PG -> MySQL -> PG is lossless for these values.
	pg2.exec(t, "UPDATE fid SET d = d - 0.0000000001 WHERE id = 5")
	if got := exportAll(t, pg2, "fid", fidCols, ""); !bytes.Equal(got, fixtureCSV()) {
		t.Errorf("PG -> MySQL -> PG differs from the fixture:\n got %q\nwant %q", got, fixtureCSV())
	}
}

func TestMySQLToMySQL(t *testing.T) {
	src, dst := newMySQL(t), newMySQL(t)
	seed(t, src)
	copyTable(t, src, dst)
}

func TestSQLiteAndPG(t *testing.T) {
	lite, pg, lite2 := newSQLite(t), newPG(t), newSQLite(t)
	seed(t, lite)
	copyTable(t, lite, pg)
	pg.exec(t, "UPDATE fid SET d = d - 0.0000000001 WHERE id = 5")
	if got := exportAll(t, pg, "fid", fidCols, ""); !bytes.Equal(got, fixtureCSV()) {
		t.Errorf("SQLite -> PG differs from the fixture:\n got %q\nwant %q", got, fixtureCSV())
	}
	copyTable(t, pg, lite2)
}

// MySQL-only values: tinyint(1) and bit(1) booleans, zero dates, NUL in
// text, and a session time zone for TIMESTAMP.
func TestMySQLSpecials(t *testing.T) {
	my, my2, pg := newMySQL(t), newMySQL(t), newPG(t)
	cols := []schema.Column{col("id", schema.Int32), {Name: "bt", Type: schema.Type{Kind: schema.Bool, Native: "bit(1)"}},
		col("dt", schema.Date), col("dtm", schema.Timestamp), col("t", schema.Text), col("e", schema.Enum), col("y", schema.Year)}
	ddl := map[string]string{
		schema.MySQL:    "CREATE TABLE sp (id int PRIMARY KEY, bt bit(1), dt date, dtm datetime(3), t text, e enum('a','b'), y year) CHARSET utf8mb4",
		schema.Postgres: "CREATE TABLE sp (id int PRIMARY KEY, bt boolean, dt date, dtm timestamp(3), t text, e text, y smallint)",
	}
	my.exec(t, ddl[schema.MySQL])
	// Zero dates need a lenient sql_mode.
	my.exec(t, `SET STATEMENT sql_mode = '' FOR INSERT INTO sp VALUES (1, b'1', '0000-00-00', '0000-00-00 00:00:00', 'plain', 'a', 2024),
		(2, b'0', '2024-00-10', '2024-01-02 03:04:05.678', CONCAT('a', CHAR(0), 'b'), 'b', 1901),
		(3, NULL, '2024-02-29', NULL, 'x😀', NULL, NULL)`)

	// Default: zero dates export as NULL.
	csv := exportAll(t, my, "sp", cols, "")
	want := "1,t,,,plain,a,2024\n2,f,,2024-01-02 03:04:05.678,a\x00b,b,1901\n3,,2024-02-29,,x😀,,\n"
	if string(csv) != want {
		t.Errorf("export:\n got %q\nwant %q", csv, want)
	}
	// ZeroDateError names the column.
	_, err := my.exp.Export(ctx(t), data.ExportSpec{Table: "sp", Columns: cols, ZeroDates: data.ZeroDateError}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "column dt holds the zero date") {
		t.Errorf("ZeroDateError: %v", err)
	}

	// MySQL -> MySQL keeps the NUL byte; checksums agree (zero dates = NULL).
	my2.exec(t, ddl[schema.MySQL])
	importAll(t, my2, "sp", cols, csv, "")
	s := spec("sp", cols, 1)
	sameData(t, my, my2, s)

	// NUL into PostgreSQL text: a clear error, nothing loaded.
	pg.exec(t, ddl[schema.Postgres])
	_, err = pg.imp.Import(ctx(t), data.ImportSpec{Table: "sp", Columns: cols}, bytes.NewReader(csv))
	if err == nil || !strings.Contains(err.Error(), "NUL byte (0x00)") {
		t.Fatalf("NUL into PostgreSQL: %v", err)
	}
	t.Logf("NUL error: %v", err)
	if n := checksum(t, pg, s).Count; n != 0 {
		t.Errorf("failed import left %d rows", n)
	}
	// Without the NUL row the copy matches.
	my.exec(t, "DELETE FROM sp WHERE id = 2")
	importAll(t, pg, "sp", cols, exportAll(t, my, "sp", cols, ""), "")
	sameData(t, my, pg, s)
}

// NaN and infinities cannot go into MySQL: a clear error, nothing loaded.
func TestNotFiniteIntoMySQL(t *testing.T) {
	pg, my := newPG(t), newMySQL(t)
	cols := []schema.Column{col("id", schema.Int32), col("f", schema.Float64)}
	pg.exec(t, "CREATE TABLE nf (id int PRIMARY KEY, f double precision)")
	my.exec(t, "CREATE TABLE nf (id int PRIMARY KEY, f double)")
	for _, v := range []string{"NaN", "Infinity", "-Infinity"} {
		pg.exec(t, "TRUNCATE nf")
		pg.exec(t, "INSERT INTO nf VALUES (1, 1.5), (2, '"+v+"')")
		_, err := my.imp.Import(ctx(t), data.ImportSpec{Table: "nf", Columns: cols}, bytes.NewReader(exportAll(t, pg, "nf", cols, "")))
		if !errors.Is(err, data.ErrNotFinite) || !strings.Contains(err.Error(), v+" cannot be stored in MySQL") {
			t.Errorf("%s into MySQL: %v", v, err)
		}
		if n := checksum(t, my, spec("nf", cols, 1)).Count; n != 0 {
			t.Errorf("%s: failed import left %d rows", v, n)
		}
	}
	t.Logf("e.g. %v", func() error {
		_, err := my.imp.Import(ctx(t), data.ImportSpec{Table: "nf", Columns: cols}, strings.NewReader("1,NaN\n"))
		return err
	}())
}

// Timestamps with microseconds read and written in non-UTC session zones.
func TestTimeZones(t *testing.T) {
	pg, my := newPG(t), newMySQL(t)
	cols := []schema.Column{col("id", schema.Int32), col("ts", schema.Timestamp), col("tz", schema.TimestampTZ)}
	pg.exec(t, "CREATE TABLE tzs (id int PRIMARY KEY, ts timestamp(6), tz timestamptz(6))")
	my.exec(t, "CREATE TABLE tzs (id int PRIMARY KEY, ts datetime(6), tz timestamp(6) NULL DEFAULT NULL)")
	pg.exec(t, "SET timezone = 'UTC'")
	pg.exec(t, `INSERT INTO tzs VALUES (1, '2024-03-10 01:59:59.999999', '2024-03-10 01:59:59.999999+00'),
		(2, '2000-01-01 00:00:00.000001', '1999-12-31 23:00:00.000001-01')`)
	csv := exportAll(t, pg, "tzs", cols, "America/New_York")
	want := "1,2024-03-10 01:59:59.999999,2024-03-10 01:59:59.999999+00\n2,2000-01-01 00:00:00.000001,2000-01-01 00:00:00.000001+00\n"
	if string(csv) != want {
		t.Errorf("export in America/New_York:\n got %q\nwant %q", csv, want)
	}
	// Import into MySQL with the session in +08:00: TIMESTAMP values are
	// converted, DATETIME values kept.
	importAll(t, my, "tzs", cols, csv, "+08:00")
	s := spec("tzs", cols, 1)
	sameData(t, pg, my, s)
	s.TimeZone = "+08:00"
	sameData(t, pg, my, s)
	if got := exportAll(t, my, "tzs", cols, "+08:00"); string(got) != want {
		t.Errorf("MySQL export in +08:00:\n got %q\nwant %q", got, want)
	}
	// A lower common precision: milliseconds.
	s.TimeDigits = 3
	r := rows(t, my, s)
	if *r[0][1] != "2024-03-10 01:59:59.999" || *r[0][2] != "2024-03-10 01:59:59.999" {
		t.Errorf("millisecond rows: %s", showRows(r))
	}
}
