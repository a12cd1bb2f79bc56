package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/cdc/cdctest"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/connectors/sqlite"
)

// openApply makes a database file in WAL mode (so a reader does not wait
// for the apply transaction), opens it as a datasource, and opens a
// separate handle for the test's own queries.
func openApply(t *testing.T) (*sqlite.Conn, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apply.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA journal_mode=WAL"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	full, err := sqlite.Type().Validate(map[string]string{"path": path})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sqlite.Type().Open(full)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	other, err := sql.Open(sqlite.DriverName, "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return c.(*sqlite.Conn), other
}

func target(c *sqlite.Conn, other *sql.DB) *cdctest.Target {
	return &cdctest.Target{
		Dialect: schema.SQLite, Applier: c, DDL: c, Importer: c, Exporter: c,
		TimeZone: "Asia/Shanghai",
		Exec: func(t testing.TB, q string) {
			t.Helper()
			if _, err := other.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
		Query: func(t testing.TB, q string) [][]*string {
			t.Helper()
			rows, err := other.Query(q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			var out [][]*string
			for rows.Next() {
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				r := make([]*string, len(cols))
				for i, v := range vals {
					if v.Valid {
						r[i] = &v.String
					}
				}
				out = append(out, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return out
		},
		ColumnType: func(t testing.TB, table, column string) (string, bool) {
			t.Helper()
			var typ string
			var notNull bool
			if err := other.QueryRow(`SELECT type, "notnull" FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&typ, &notNull); err != nil {
				t.Fatalf("column %s.%s: %v", table, column, err)
			}
			return typ, !notNull
		},
		DBError: func(err error) bool {
			var se sqlite3.Error
			return errors.As(err, &se)
		},
	}
}

func TestApply(t *testing.T) {
	cdctest.Run(t, func(t *testing.T) *cdctest.Target { return target(openApply(t)) })
}

// The checkpoint table is flowgate_cdc_checkpoints in the main database.
func TestApplyCheckpointTable(t *testing.T) {
	tg := target(openApply(t))
	it := cdctest.Create(t, tg, "items", 1, cdctest.Col("id", schema.Int32), cdctest.Col("v", schema.Text))
	cdctest.Apply(t, tg, "job1", "0/1", cdctest.Ins(it, 1, "a"))
	cdctest.Want(t, tg, "SELECT job, position, length(updated_at) FROM main.flowgate_cdc_checkpoints", `"job1" | "0/1" | "23"`)
	if err := tg.Applier.ClearCheckpoint(cdctest.Ctx(t), cdc.ApplySpec{Job: "job1"}); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, tg, "SELECT count(*) FROM flowgate_cdc_checkpoints", `"0"`)
}
