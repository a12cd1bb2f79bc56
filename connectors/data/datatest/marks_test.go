package datatest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// Each database: a marked import commits rows and mark together; the same
// mark again is refused before loading; a failed import leaves neither rows
// nor mark.
func TestMarks(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *db{"postgres": newPG, "mysql": newMySQL, "sqlite": newSQLite} {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			createFid(t, d)
			imp := func(file string, csv []byte) (int64, error) {
				return d.imp.Import(ctx(t), data.ImportSpec{Table: "fid", Columns: fidCols,
					Mark: &data.Marker{RunID: "run-1", FileID: file}}, strings.NewReader(string(csv)))
			}
			if ids, err := d.imp.ImportedMarks(ctx(t), data.MarkScope{}, "run-1"); err != nil || len(ids) != 0 {
				t.Fatalf("marks before any import: %v %v", ids, err)
			}
			if n, err := imp("part-0", fixtureCSV()); err != nil || n != int64(len(fixture)) {
				t.Fatalf("first import: %d %v", n, err)
			}
			_, err := imp("part-0", fixtureCSV())
			if !errors.Is(err, data.ErrAlreadyImported) {
				t.Fatalf("second import of the same mark: %v", err)
			}
			s := spec("fid", fidCols, 1)
			if n := checksum(t, d, s).Count; n != int64(len(fixture)) {
				t.Errorf("after the refused import: %d rows", n)
			}
			// Bad data in the last record: the whole file fails.
			bad := fmt.Sprintf("100,t,1,,,,,,,,,,,\n101,t,not-a-number,,,,,,,,,,,\n")
			if _, err := imp("part-1", []byte(bad)); err == nil {
				t.Fatal("bad data was accepted")
			} else {
				t.Logf("bad data: %v", err)
			}
			// A duplicate key fails too (MySQL LOCAL would only warn).
			if _, err := imp("part-2", []byte("1,t,1,,,,,,,,,,,\n")); err == nil {
				t.Fatal("a duplicate key was accepted")
			} else {
				t.Logf("duplicate: %v", err)
			}
			if n := checksum(t, d, s).Count; n != int64(len(fixture)) {
				t.Errorf("failed imports left rows: %d", n)
			}
			ids, err := d.imp.ImportedMarks(ctx(t), data.MarkScope{}, "run-1")
			if err != nil || !reflect.DeepEqual(ids, []string{"part-0"}) {
				t.Errorf("marks: %v %v", ids, err)
			}
			if ids, _ := d.imp.ImportedMarks(ctx(t), data.MarkScope{}, "run-2"); len(ids) != 0 {
				t.Errorf("marks of another run: %v", ids)
			}
			// Marks written where versions before flowgate's own schema kept
			// them (the target schema's flowgate_import_marks) are read too.
			if name != "sqlite" {
				d.exec(t, "CREATE TABLE flowgate_import_marks (run_id varchar(255) NOT NULL, file_id varchar(255) NOT NULL, at varchar(40) NOT NULL, PRIMARY KEY (run_id, file_id))")
				d.exec(t, "INSERT INTO flowgate_import_marks VALUES ('run-1', 'legacy-0', 'then')")
				ids, err := d.imp.ImportedMarks(ctx(t), data.MarkScope{}, "run-1")
				if err != nil || !reflect.DeepEqual(ids, []string{"part-0", "legacy-0"}) {
					t.Errorf("marks in both places: %v %v", ids, err)
				}
			}
		})
	}
}

// SplitPoints cut a composite-key table into ranges whose checksums and
// rows agree across PostgreSQL, MySQL and SQLite and add up to the whole.
func TestRanges(t *testing.T) {
	pg, my, lite := newPG(t), newMySQL(t), newSQLite(t)
	cols := []schema.Column{col("a", schema.Int32), col("b", schema.Varchar), col("v", schema.Float64), col("ts", schema.Timestamp)}
	pg.exec(t, "CREATE TABLE r (a int, b varchar(20), v double precision, ts timestamp(6), PRIMARY KEY (a, b))")
	my.exec(t, "CREATE TABLE r (a int, b varchar(20), v double, ts datetime(6), PRIMARY KEY (a, b))")
	lite.exec(t, "CREATE TABLE r (a INT, b VARCHAR(20), v DOUBLE, ts TIMESTAMP, PRIMARY KEY (a, b))")
	pg.exec(t, `INSERT INTO r SELECT i / 10, lpad((i % 10)::text, 3, '0'), i * 1.1, timestamp '2024-01-01' + i * interval '1.000001 second'
		FROM generate_series(1, 1000) i`)
	csv := exportAll(t, pg, "r", cols, "")
	importAll(t, my, "r", cols, csv, "")
	importAll(t, lite, "r", cols, csv, "")
	whole := spec("r", cols, 2)
	total := sameData(t, pg, my, whole)
	sameData(t, pg, lite, whole)

	for _, src := range []*db{pg, my, lite} {
		points, err := src.sum.SplitPoints(ctx(t), whole, 4)
		if err != nil {
			t.Fatalf("%s split: %v", src.dialect, err)
		}
		if len(points) != 3 {
			t.Fatalf("%s: %d split points: %v", src.dialect, len(points), points)
		}
		if !reflect.DeepEqual(points[0], []string{"25", "001"}) {
			t.Errorf("%s: first split point %v", src.dialect, points[0])
		}
		bounds := append([][]string{nil}, points...)
		bounds = append(bounds, nil)
		var count int64
		for i := 0; i+1 < len(bounds); i++ {
			s := whole
			s.Lower, s.Upper = bounds[i], bounds[i+1]
			sum := sameData(t, pg, my, s)
			sameData(t, pg, lite, s)
			count += sum.Count
			if sum.Count < 240 || sum.Count > 260 {
				t.Errorf("%s range %d has %d rows", src.dialect, i, sum.Count)
			}
		}
		if count != total.Count {
			t.Errorf("%s: ranges hold %d rows, table %d", src.dialect, count, total.Count)
		}
		// An export bounded by the same ranges (a batch partition) writes
		// exactly the rows of each range, and all of them together.
		var exported int64
		for i := 0; i+1 < len(bounds); i++ {
			s := whole
			s.Lower, s.Upper = bounds[i], bounds[i+1]
			var buf bytes.Buffer
			n, err := src.exp.Export(ctx(t), data.ExportSpec{Table: "r", Columns: cols, Key: cols[:2], Lower: bounds[i], Upper: bounds[i+1]}, &buf)
			if err != nil {
				t.Fatalf("%s bounded export %d: %v", src.dialect, i, err)
			}
			if want := checksum(t, src, s).Count; n != want || int64(bytes.Count(buf.Bytes(), []byte("\n"))) != want {
				t.Errorf("%s bounded export %d: %d rows reported, %d lines, range has %d", src.dialect, i, n, bytes.Count(buf.Bytes(), []byte("\n")), want)
			}
			exported += n
		}
		if exported != total.Count {
			t.Errorf("%s: bounded exports wrote %d rows, table has %d", src.dialect, exported, total.Count)
		}
	}
	// One changed float is found in its range only.
	my.exec(t, "UPDATE r SET v = v + 1e-9 WHERE a = 60 AND b = '005'")
	s := whole
	s.Lower, s.Upper = []string{"50", "000"}, []string{"75", "000"}
	if checksum(t, pg, s) == checksum(t, my, s) {
		t.Error("the changed float was not noticed")
	}
	s.Lower, s.Upper = []string{"0", "000"}, []string{"50", "000"}
	sameData(t, pg, my, s)
}
