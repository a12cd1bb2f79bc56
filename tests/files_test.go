package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pqfile "github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/parquet-go/parquet-go"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/flowgate/flowgate/internal/testbed"
)

func s3DS(name string, s *testbed.S3Server, prefix string) string {
	return fmt.Sprintf("CREATE DATASOURCE %s TYPE s3 OPTIONS (endpoint %s, region %s, bucket %s, access_key %s, secret_key %s, path_style 'true', prefix %s)",
		name, sqlString(s.Endpoint), sqlString(s.Region), sqlString(s.Bucket), sqlString(s.AccessKey), sqlString(s.SecretKey), sqlString(prefix))
}

// s3Objects lists the bucket's keys with their contents.
func s3Objects(t testing.TB, s *testbed.S3Server) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	res, err := s.Backend.ListBucket(s.Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Contents {
		obj, err := s.Backend.GetObject(s.Bucket, o.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Contents)
		obj.Contents.Close()
		out[o.Key] = b
	}
	return out
}

func keysOf(m map[string][]byte) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

const filesOrdersDDL = `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2), note text, updated_at timestamp NOT NULL, day date)`

// TestFilesExportWindows: the seed's hourly export of a table's window into
// an s3 datasource, a backfill with RUN ... WITH, formats, write modes.
func TestFilesExportWindows(t *testing.T) {
	ctx := context.Background()
	rig := newPGRig(t, "fxsrc", "fxdst")
	src := rig.src
	mustPG(t, src, filesOrdersDDL,
		`INSERT INTO orders SELECT i, i % 5, i * 1.25, CASE WHEN i % 10 = 0 THEN NULL ELSE '备注 ' || i END,
			'2023-04-23 17:00:00'::timestamp + i * interval '1 minute', date '2023-04-23' FROM generate_series(1, 180) i`)
	s3 := testbed.S3(t)
	g, c := rig.start(t, pgx.QueryExecModeSimpleProtocol)
	_ = g
	mustExec(t, c, s3DS("archive", s3, "exports"))
	dir := filepath.Join("/var/tmp", fmt.Sprintf("flowgate-files-%d", os.Getpid()))
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	mustExec(t, c, "CREATE DATASOURCE disk TYPE file OPTIONS (path "+sqlString(dir)+")")

	// Bad input at CREATE.
	_, err := c.Exec(ctx, `CREATE SYNC JOB b1 FROM src.orders TO archive OBJECT 'orders/${nope}' MODE BATCH`)
	if pe := wantCode(t, err, "22023"); !strings.Contains(pe.Hint, "${startTime}") || pe.Position == 0 {
		t.Errorf("unknown variable: %q hint %q pos %d", pe.Message, pe.Hint, pe.Position)
	}
	_, err = c.Exec(ctx, `CREATE SYNC JOB b2 FROM src.orders TO archive OBJECT 'o' MODE BATCH WITH (window_start = '-10 minutes', window_end = '-70 minutes')`)
	wantCode(t, err, "22023")
	_, err = c.Exec(ctx, `CREATE SYNC JOB b3 FROM src.orders TO archive OBJECT 'o' MODE BATCH WITH (encoding = 'KLINGON')`)
	if pe := wantCode(t, err, "22023"); !strings.Contains(pe.Message+pe.Hint, "GB18030") {
		t.Errorf("unknown encoding does not list the encodings: %s %s", pe.Message, pe.Hint)
	}
	_, err = c.Exec(ctx, `CREATE SYNC JOB b4 FROM src.orders TO archive OBJECT 'o' MODE BATCH WITH (date_format = 'yyyy-MM-dd QQ')`)
	if pe := wantCode(t, err, "22023"); !strings.Contains(pe.Message, `"Q"`) {
		t.Errorf("unknown pattern letter: %s", pe.Message)
	}
	_, err = c.Exec(ctx, `CREATE SYNC JOB b5 FROM src.orders TO dst OBJECT 'o' MODE BATCH`)
	wantCode(t, err, "42809")
	_, err = c.Exec(ctx, `CREATE SYNC JOB b6 FROM src.orders TO dst.orders MODE BATCH WITH (error_limit = 3)`)
	wantCode(t, err, "22023")

	mustExec(t, c, `CREATE SYNC JOB hourly FROM src.orders TO archive OBJECT 'orders/${date}/orders_${startTime}_${endTime}'
		WHERE 'updated_at >= ${startTime} AND updated_at < ${endTime}' MODE BATCH SCHEDULE CRON '0 * * * *'
		WITH (window_start = '-70 minutes', window_end = '-10 minutes', file_format = 'csv', write_mode = 'truncate',
		      null_format = 'null', date_format = 'yyyy-MM-dd HH:mm:ss', header = on, export_batch_rows = 40)`)
	r := runJob(t, c, `RUN SYNC JOB hourly WAIT WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:50:00')`)
	if r.Status != "completed" {
		t.Fatalf("backfill: %s %s", r.Status, deref(r.Message))
	}
	objs := s3Objects(t, s3)
	want := []string{"exports/orders/20230423/orders_20230423175000_20230423185000_0001.csv", "exports/orders/20230423/orders_20230423175000_20230423185000_0002.csv"}
	if strings.Join(keysOf(objs), ",") != strings.Join(want, ",") {
		t.Fatalf("objects %v, want %v", keysOf(objs), want)
	}
	all := string(objs[want[0]]) + string(objs[want[1]])
	lines := strings.Split(strings.TrimSpace(all), "\n")
	// Rows 50..109 (17:50 to 18:49), two header lines.
	if len(lines) != 62 || lines[0] != "id,customer,amount,note,updated_at,day" || !strings.Contains(all, "\n51,1,63.75,备注 51,2023-04-23 17:51:00,2023-04-23 00:00:00\n") ||
		!strings.Contains(all, "\n60,0,75.00,null,2023-04-23 18:00:00,") {
		t.Fatalf("csv content:\n%s", all)
	}
	if n := count(t, c, `SELECT count(*) FROM dataflow.export_files WHERE run_id = $1 AND uri LIKE 's3://flowgate-test/exports/orders/20230423/%' AND state = 'present'`, r.RunID); n != 2 {
		t.Errorf("%d export files listed", n)
	}
	if got := stagesOf(t, c, r.RunID); strings.Join(got, ",") != "PreAction:completed,ExportTable:completed" {
		t.Errorf("stages %v", got)
	}
	// The objects are what the run writes: 60 rows read, 60 written.
	if r.RowsRead != 60 || r.RowsWritten != 60 {
		t.Errorf("run rows read %d, written %d; want 60 and 60", r.RowsRead, r.RowsWritten)
	}

	// nonconflict refuses when the objects exist, naming one.
	mustExec(t, c, `ALTER SYNC JOB hourly SET (write_mode = 'nonconflict')`)
	r = runJob(t, c, `RUN SYNC JOB hourly WAIT WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:50:00')`)
	if r.Status != "failed" || !strings.Contains(deref(r.Message), "orders_20230423175000_20230423185000_0001.csv") {
		t.Errorf("nonconflict: %s %s", r.Status, deref(r.Message))
	}
	// ALTER checks file keys as CREATE does.
	_, err = c.Exec(ctx, `ALTER SYNC JOB hourly SET (encoding = 'KLINGON')`)
	wantCode(t, err, "22023")
	// append adds parts, never overwriting.
	mustExec(t, c, `ALTER SYNC JOB hourly SET (write_mode = 'append')`)
	r = runJob(t, c, `RUN SYNC JOB hourly WAIT WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:50:00')`)
	if r.Status != "completed" || len(s3Objects(t, s3)) != 4 {
		t.Errorf("append: %s %s, %d objects", r.Status, deref(r.Message), len(s3Objects(t, s3)))
	}
	// truncate replaces them all.
	mustExec(t, c, `ALTER SYNC JOB hourly SET (write_mode = 'truncate')`)
	runJob(t, c, `RUN SYNC JOB hourly WAIT WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:50:00')`)
	if strings.Join(keysOf(s3Objects(t, s3)), ",") != strings.Join(want, ",") {
		t.Errorf("truncate left %v", keysOf(s3Objects(t, s3)))
	}

	// GBK txt with a tab delimiter to a file datasource; a character GBK
	// cannot hold is a bad record (error_limit 1 lets it through).
	mustPG(t, src, `UPDATE orders SET note = 'emoji 😀' WHERE id = 55`)
	mustExec(t, c, `CREATE SYNC JOB gbk FROM src.orders TO disk OBJECT '${table}/${date}' WHERE 'updated_at >= ${startTime} AND updated_at < ${endTime}' MODE BATCH
		WITH (file_format = 'txt', field_delimiter = E'\t', encoding = 'GBK', error_limit = 1)`)
	r = runJob(t, c, `RUN SYNC JOB gbk WAIT WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:00:00')`)
	if r.Status != "completed" {
		t.Fatalf("gbk: %s %s", r.Status, deref(r.Message))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "orders", "20230423_0001.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := simplifiedchinese.GBK.NewDecoder().Bytes(raw)
	if !strings.Contains(string(dec), "51\t1\t63.75\t备注 51\t2023-04-23 17:51:00\t2023-04-23\n") || strings.Count(string(dec), "\n") != 9 || bytes.Contains(raw, []byte("备注")) {
		t.Fatalf("gbk txt:\n%s", dec)
	}
	var pos, msg string
	mustScan(t, c.QueryRow(ctx, `SELECT position, error FROM dataflow.run_errors WHERE run_id = $1`, r.RunID), &pos, &msg)
	if !strings.Contains(msg, "encoding") {
		t.Errorf("bad record: %s %s", pos, msg)
	}
	// With error_limit 0 the first bad record fails the run with its position.
	mustExec(t, c, `ALTER SYNC JOB gbk SET (error_limit = 0)`)
	r = runJob(t, c, `RUN SYNC JOB gbk WAIT WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:00:00')`)
	if r.Status != "failed" || !strings.Contains(deref(r.Message), "bad record at") {
		t.Errorf("error_limit 0: %s %s", r.Status, deref(r.Message))
	}

	// Parquet with real types that a parquet reader opens.
	mustExec(t, c, `CREATE SYNC JOB pq FROM src.orders TO disk OBJECT 'pq/orders' MODE BATCH WITH (file_format = 'parquet', compression = 'zstd')`)
	r = runJob(t, c, `RUN SYNC JOB pq WAIT`)
	if r.Status != "completed" {
		t.Fatalf("parquet: %s %s", r.Status, deref(r.Message))
	}
	f, err := os.Open(filepath.Join(dir, "pq", "orders_0001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, fl := range pf.Schema().Fields() {
		types[fl.Name()] = fl.Type().String()
	}
	if types["id"] != "INT(64,true)" || types["amount"] != "DECIMAL(12,2)" || !strings.HasPrefix(types["updated_at"], "TIMESTAMP") || types["day"] != "DATE" || types["note"] != "STRING" {
		t.Errorf("parquet types %v", types)
	}
	if pf.NumRows() != 180 {
		t.Errorf("parquet rows %d", pf.NumRows())
	}
	checkWithArrow(t, filepath.Join(dir, "pq", "orders_0001.parquet"))
}

// checkWithArrow opens an exported parquet file with Apache Arrow's
// reader (a second implementation, not the one that wrote it) and checks
// the columns' logical types and one row's values.
func checkWithArrow(t *testing.T, path string) {
	t.Helper()
	rdr, err := pqfile.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("arrow: open %s: %v", path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow: read table: %v", err)
	}
	defer tbl.Release()
	types := map[string]string{}
	for _, f := range tbl.Schema().Fields() {
		types[f.Name] = f.Type.String()
	}
	want := map[string]string{"id": "int64", "customer": "int32", "amount": "decimal(12, 2)", "note": "utf8", "updated_at": "timestamp[us]", "day": "date32"}
	for col, typ := range want {
		if got := types[col]; got != typ && !(col == "updated_at" && strings.HasPrefix(got, "timestamp[")) {
			t.Errorf("arrow: column %s has type %s, want %s", col, got, typ)
		}
	}
	if tbl.NumRows() != 180 {
		t.Errorf("arrow: %d rows, want 180", tbl.NumRows())
	}
	// The row with id 51, column by column, as Arrow renders it.
	row := map[string]string{}
	idAt := tbl.Schema().FieldIndices("id")
	if len(idAt) != 1 {
		t.Fatalf("arrow: no id column in %v", types)
	}
	for ci, chunk := range tbl.Column(idAt[0]).Data().Chunks() {
		ids, ok := chunk.(*array.Int64)
		if !ok {
			t.Fatalf("arrow: id column is %T", chunk)
		}
		for i := 0; i < ids.Len(); i++ {
			if ids.Value(i) != 51 {
				continue
			}
			for c := 0; c < int(tbl.NumCols()); c++ {
				row[tbl.Schema().Field(c).Name] = tbl.Column(c).Data().Chunk(ci).ValueStr(i)
			}
		}
	}
	if row["amount"] != "63.75" || row["note"] != "备注 51" || row["customer"] != "1" || !strings.HasPrefix(row["updated_at"], "2023-04-23 17:51:00") || row["day"] != "2023-04-23" {
		t.Errorf("arrow: row 51 reads %v", row)
	}
}
