package binlog

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flowgate/flowgate/internal/testbed"
)

// RecordWorkload runs the CDC bench's workload on a fresh database of my
// (a lineitem-like table of 30,000 rows, then 100 transactions of 700
// inserts, 200 updates and 100 deletes) with the changes alone in one
// binlog file, and returns that file's events as the server sends them.
// The server must be local (the file is read from its directory).
func recordWorkload(tb testing.TB, my *testbed.MySQLServer) (events [][]byte, rows int) {
	tb.Helper()
	ctx := context.Background()
	db := my.Open(tb, my.NewDatabase(tb, "blbench"))
	exec := func(qs ...string) {
		for _, q := range qs {
			if _, err := db.ExecContext(ctx, q); err != nil {
				tb.Fatalf("%.60s: %v", q, err)
			}
		}
	}
	exec(`CREATE TABLE lineitem (id bigint PRIMARY KEY, order_id bigint NOT NULL, qty decimal(12,2), price decimal(15,2),
		discount double, ship_date date, comment varchar(120), created_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
		`INSERT INTO lineitem (id, order_id, qty, price, discount, ship_date, comment) SELECT seq, seq DIV 4, (seq % 50) + 0.25,
		(seq % 100000) / 100.0 + 900, (seq % 11) / 100.0, '1992-01-01' + INTERVAL (seq % 2500) DAY, CONCAT('comment ', seq) FROM seq_1_to_30000`,
		"FLUSH BINARY LOGS")
	var file, base string
	if err := db.QueryRowContext(ctx, "SELECT @@log_bin_basename").Scan(&base); err != nil {
		tb.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, new(int64), new(sql.NullString), new(sql.NullString)); err != nil {
		tb.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for k := 0; k < 100; k++ {
		ins, upd, del := 1_000_000+k*700, k*200+1, 20_001+k*100
		for _, q := range []string{"BEGIN",
			fmt.Sprintf(`INSERT INTO lineitem (id, order_id, qty, price, discount, ship_date, comment)
				SELECT seq, seq DIV 4, 1.25, 99.5, 0.01, '2024-01-01', CONCAT('new ', seq) FROM seq_%d_to_%d`, ins, ins+699),
			fmt.Sprintf("UPDATE lineitem SET price = price + 1 WHERE id BETWEEN %d AND %d", upd, upd+199),
			fmt.Sprintf("DELETE FROM lineitem WHERE id BETWEEN %d AND %d", del, del+99), "COMMIT"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				tb.Fatalf("%.60s: %v", q, err)
			}
		}
	}
	conn.Close()
	exec("FLUSH BINARY LOGS")
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(base), file))
	if err != nil {
		tb.Skipf("the binlog file of the testbed server is not readable here: %v", err)
	}
	if len(raw) < 4 || string(raw[:4]) != "\xfebin" {
		tb.Fatalf("%s is not a binlog file", file)
	}
	for p := 4; p+HeaderLen <= len(raw); {
		n := int(binary.LittleEndian.Uint32(raw[p+9:]))
		if n < HeaderLen || p+n > len(raw) {
			tb.Fatalf("event at %d of %d bytes", p, n)
		}
		events = append(events, raw[p:p+n])
		p += n
	}
	// Count the rows once.
	d := NewDecoder(FlavorMariaDB, ChecksumOff, file)
	for _, ev := range events {
		e, err := d.Decode(ev)
		if err != nil {
			tb.Fatal(err)
		}
		if r, ok := e.Data.(*RowsEvent); ok {
			rows += len(r.Rows)
		}
	}
	return events, rows
}

var (
	recordOnce   sync.Once
	recorded     [][]byte
	recordedRows int
)

// BenchmarkDecodeWorkload decodes the recorded binlog file of the CDC
// bench's workload (100,000 row changes of a lineitem-like table, CRC32
// checksums checked): row events into Go values, nothing else.
//
//	go test -run X -bench DecodeWorkload ./connectors/mysql/binlog
func BenchmarkDecodeWorkload(b *testing.B) {
	my := testbed.MySQL(b)
	recordOnce.Do(func() { recorded, recordedRows = recordWorkload(b, my) })
	var size int64
	for _, ev := range recorded {
		size += int64(len(ev))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		d := NewDecoder(FlavorMariaDB, ChecksumOff, "")
		rows := 0
		for _, ev := range recorded {
			e, err := d.Decode(ev)
			if err != nil {
				b.Fatal(err)
			}
			if r, ok := e.Data.(*RowsEvent); ok {
				rows += len(r.Rows)
			}
		}
		if rows != recordedRows {
			b.Fatalf("%d rows, recorded %d", rows, recordedRows)
		}
	}
	b.ReportMetric(float64(recordedRows)*float64(b.N)/time.Since(start).Seconds(), "rows/s")
}
