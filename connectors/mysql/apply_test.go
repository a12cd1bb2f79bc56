package mysql_test

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/flowgate/flowgate/connectors/cdc"
	"github.com/flowgate/flowgate/connectors/cdc/cdctest"
	"github.com/flowgate/flowgate/connectors/mysql"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

// openApply opens a datasource on database db with options o (nil = the
// server's admin) and a separate admin pool on the same database.
func openApply(t *testing.T, my *testbed.MySQLServer, db string, o map[string]string) (*mysql.Conn, *sql.DB) {
	t.Helper()
	if o == nil {
		o = opts(my)
	}
	o["database"] = db
	full, err := mysql.Type().Validate(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mysql.Type().Open(full)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*mysql.Conn), my.Open(t, db)
}

func target(c *mysql.Conn, other *sql.DB) *cdctest.Target {
	return &cdctest.Target{
		Dialect: schema.MySQL, Applier: c, DDL: c, Importer: c, Exporter: c,
		TimeZone: "+08:00",
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
			var typ, nullable string
			if err := other.QueryRow(`SELECT column_type, is_nullable FROM information_schema.columns
				WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?`, table, column).Scan(&typ, &nullable); err != nil {
				t.Fatalf("column %s.%s: %v", table, column, err)
			}
			return typ, nullable == "YES"
		},
		DBError: func(err error) bool {
			var me *driver.MySQLError
			return errors.As(err, &me)
		},
	}
}

func TestApply(t *testing.T) {
	my := testbed.MySQL(t)
	cdctest.Run(t, func(t *testing.T) *cdctest.Target {
		return target(openApply(t, my, my.NewDatabase(t, "apply"), nil))
	})
}

// The checkpoint table is flowgate.cdc_checkpoints where the user may
// create that database, else flowgate_cdc_checkpoints in the datasource's
// database.
func TestApplyCheckpointTables(t *testing.T) {
	my := testbed.MySQL(t)
	db := my.NewDatabase(t, "applycp")
	c, other := openApply(t, my, db, nil)
	tg := target(c, other)
	it := cdctest.Create(t, tg, "items", 1, cdctest.Col("id", schema.Int32), cdctest.Col("v", schema.Text))
	job1 := "job1-" + db // the flowgate database is the server's, shared by tests
	cdctest.Apply(t, tg, job1, "binlog.000001:4", cdctest.Ins(it, 1, "a"))
	cdctest.Want(t, tg, "SELECT job, position FROM flowgate.cdc_checkpoints WHERE job = '"+job1+"'", fmt.Sprintf("%q | %q", job1, "binlog.000001:4"))
	if err := c.ClearCheckpoint(cdctest.Ctx(t), cdc.ApplySpec{Job: job1}); err != nil {
		t.Fatal(err)
	}

	user := fmt.Sprintf("fg_apply_%d", time.Now().UnixNano()%1e9)
	admin := my.Open(t, "")
	if _, err := admin.Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY 'apply-pw-4711'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	if _, err := admin.Exec("GRANT ALL ON `" + db + "`.* TO '" + user + "'@'%'"); err != nil {
		t.Fatal(err)
	}
	o := opts(my)
	o["user"], o["password"] = user, "apply-pw-4711"
	weak, _ := openApply(t, my, db, o)
	job2 := "job2-" + db
	spec := cdc.ApplySpec{Job: job2}
	// No checkpoint table this user can see yet.
	if pos, ok, err := weak.Checkpoint(cdctest.Ctx(t), spec); err != nil || ok {
		t.Errorf("before the first commit: %q %v %v", pos, ok, err)
	}
	if err := weak.ClearCheckpoint(cdctest.Ctx(t), spec); err != nil {
		t.Errorf("clear before the first commit: %v", err)
	}
	tx, err := weak.Begin(cdctest.Ctx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(cdctest.Ctx(t), []cdc.MappedChange{cdctest.Ins(it, 2, "b")}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(cdctest.Ctx(t), "binlog.000001:99"); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, tg, "SELECT job, position FROM flowgate_cdc_checkpoints", fmt.Sprintf("%q | %q", job2, "binlog.000001:99"))
	cdctest.Want(t, tg, "SELECT count(*) FROM flowgate.cdc_checkpoints WHERE job = '"+job2+"'", `"0"`)
	if pos, ok, err := weak.Checkpoint(cdctest.Ctx(t), spec); err != nil || !ok || pos != "binlog.000001:99" {
		t.Errorf("checkpoint %q %v %v", pos, ok, err)
	}

	// Once the user may use flowgate's table, the checkpoint is still
	// found in the fallback, and the next commit goes to flowgate's.
	if _, err := admin.Exec("GRANT SELECT, INSERT, UPDATE, DELETE ON flowgate.cdc_checkpoints TO '" + user + "'@'%'"); err != nil {
		t.Fatal(err)
	}
	if pos, ok, err := weak.Checkpoint(cdctest.Ctx(t), spec); err != nil || !ok || pos != "binlog.000001:99" {
		t.Errorf("checkpoint after the grant %q %v %v", pos, ok, err)
	}
	if tx, err = weak.Begin(cdctest.Ctx(t), spec); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(cdctest.Ctx(t), "binlog.000002:4"); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, tg, "SELECT position FROM flowgate.cdc_checkpoints WHERE job = '"+job2+"'", `"binlog.000002:4"`)
	if pos, ok, err := weak.Checkpoint(cdctest.Ctx(t), spec); err != nil || !ok || pos != "binlog.000002:4" {
		t.Errorf("checkpoint %q %v %v", pos, ok, err)
	}
	if err := weak.ClearCheckpoint(cdctest.Ctx(t), spec); err != nil {
		t.Fatal(err)
	}
	cdctest.Want(t, tg, "SELECT count(*) FROM flowgate.cdc_checkpoints WHERE job = '"+job2+"'", `"0"`)
	cdctest.Want(t, tg, "SELECT count(*) FROM flowgate_cdc_checkpoints", `"0"`)
	if pos, ok, err := weak.Checkpoint(cdctest.Ctx(t), spec); err != nil || ok {
		t.Errorf("after clear: %q %v %v", pos, ok, err)
	}
}

// bit(1) booleans, bit(n), binary keys and a session zone for TIMESTAMP
// go through the same conversions as LOAD DATA.
func TestApplyMySQLTypes(t *testing.T) {
	my := testbed.MySQL(t)
	tg := target(openApply(t, my, my.NewDatabase(t, "applytypes"), nil))
	tg.Exec(t, "CREATE TABLE bits (k varbinary(16) PRIMARY KEY, bt bit(1), b5 bit(5), e enum('a','b'), y year) CHARSET utf8mb4")
	cols := []schema.Column{cdctest.Col("k", schema.Varbinary), {Name: "bt", Type: schema.Type{Kind: schema.Bool, Native: "bit(1)"}},
		{Name: "b5", Type: schema.Type{Kind: schema.Bit, Length: 5}}, cdctest.Col("e", schema.Enum), cdctest.Col("y", schema.Year)}
	tt := &cdc.TargetTable{Table: cdc.TableRef{Name: "bits"}, Columns: cols, Key: []int{0}}
	cdctest.Apply(t, tg, "j", "1", cdctest.Ins(tt, `\x00ff`, "t", "10101", "b", "2024"), cdctest.Ins(tt, `\x01`, "f", "00001", "a", "1901"))
	cdctest.Apply(t, tg, "j", "2", cdctest.Upd(tt, `\x01`, cdctest.Unchanged, "11111", cdctest.Unchanged, "2155"),
		cdctest.Move(tt, []any{`\x00ff`}, `\x02`, cdctest.Unchanged, "00000", cdctest.Unchanged, cdctest.Unchanged))
	cdctest.Want(t, tg, "SELECT hex(k), bt + 0, b5 + 0, e, y FROM bits ORDER BY k",
		`"01" | "0" | "31" | "a" | "2155"`, `"02" | "1" | "0" | "b" | "2024"`)
	cdctest.Apply(t, tg, "j", "3", cdctest.Del(tt, `\x01`))
	cdctest.Want(t, tg, "SELECT hex(k) FROM bits", `"02"`)
}

// Values travel as literals in the statement text: quotes, backslashes
// and control bytes arrive as they were, with and without
// NO_BACKSLASH_ESCAPES (where a backslash is an ordinary character).
func TestApplyLiterals(t *testing.T) {
	my := testbed.MySQL(t)
	for _, mode := range []string{"", "NO_BACKSLASH_ESCAPES"} {
		o := opts(my)
		if mode != "" {
			o["extparam"] = "sql_mode=%27" + mode + "%27"
		}
		c, admin := openApply(t, my, my.NewDatabase(t, "applylit"), o)
		var got string
		if err := c.DB().QueryRow("SELECT @@session.sql_mode").Scan(&got); err != nil || !strings.Contains(got, mode) {
			t.Fatalf("sql_mode %q: %v", got, err)
		}
		tg := target(c, admin)
		tg.Exec(t, "CREATE TABLE lit (k varchar(20) PRIMARY KEY, v text, b blob) CHARSET utf8mb4")
		tt := &cdc.TargetTable{Table: cdc.TableRef{Name: "lit"},
			Columns: []schema.Column{cdctest.Col("k", schema.Varchar), cdctest.Col("v", schema.Text), cdctest.Col("b", schema.Blob)}, Key: []int{0}}
		vals := []string{`it's`, `back\slash`, `\`, `\'`, `''`, `"q"`, "nul\x00byte", "lf\ncr\rsub\x1a", "\\0\\n", "😀 ünï"}
		var changes []cdc.MappedChange
		for i, v := range vals {
			changes = append(changes, cdctest.Ins(tt, fmt.Sprintf("k%d'\\", i), v, `\x`+fmt.Sprintf("%x", v)))
		}
		cdctest.Apply(t, tg, "j", "1", changes...)
		var want []string
		for i, v := range vals {
			want = append(want, fmt.Sprintf(`"%X" | "%X" | "%X"`, fmt.Sprintf("k%d'\\", i), v, v))
		}
		cdctest.Want(t, tg, "SELECT hex(k), hex(v), hex(b) FROM lit ORDER BY k", want...)
		cdctest.Apply(t, tg, "j", "2", cdctest.Del(tt, "k0'\\"), cdctest.Upd(tt, "k1'\\", cdctest.Unchanged, `\x27`))
		cdctest.Want(t, tg, "SELECT count(*), sum(b = X'27') FROM lit", `"9" | "1"`)
	}
}

// Runs of many inserted rows go by LOAD DATA: a key that exists or a
// value the column does not take turns the run into upserts, which update
// the row or fail as an INSERT does; without local_infile the applier
// writes upserts.
func TestApplyLoadData(t *testing.T) {
	my := testbed.MySQL(t)
	c, admin := openApply(t, my, my.NewDatabase(t, "applyload"), nil)
	tg := target(c, admin)
	tg.Exec(t, "CREATE TABLE ld (id int PRIMARY KEY, v varchar(10) NOT NULL, b varbinary(4), ts timestamp(6) NULL) CHARSET utf8mb4")
	tt := &cdc.TargetTable{Table: cdc.TableRef{Name: "ld"}, Columns: []schema.Column{cdctest.Col("id", schema.Int32),
		{Name: "v", Type: schema.Type{Kind: schema.Varchar, Length: 10}}, cdctest.Col("b", schema.Varbinary),
		{Name: "ts", Type: schema.Type{Kind: schema.Timestamp, Precision: 6}, Nullable: true}}, Key: []int{0}}
	inserts := func(from, n int, v string) []cdc.MappedChange {
		var out []cdc.MappedChange
		for i := from; i < from+n; i++ {
			out = append(out, cdctest.Ins(tt, i, v, `\x0a09`, "2024-01-02 03:04:05.000006+00"))
		}
		return out
	}
	loads := func() int {
		var name string
		var n int
		if err := admin.QueryRow("SHOW GLOBAL STATUS LIKE 'Com_load'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sum := "SELECT count(*), count(DISTINCT v), min(v), hex(min(b)), CAST(min(ts) AS CHAR) FROM ld"
	before := loads()
	cdctest.Apply(t, tg, "j", "1", append(inserts(0, 300, "a\tb\\c"), cdctest.Upd(tt, 5, "upd", nil, nil))...)
	if n := loads() - before; n != 1 {
		t.Errorf("%d LOAD DATA statements, want 1", n)
	}
	cdctest.Want(t, tg, sum, `"300" | "2" | "a\tb\\c" | "0A09" | "2024-01-02 03:04:05.000006"`)
	cdctest.Want(t, tg, "SELECT v, b FROM ld WHERE id = 5", `"upd" | NULL`)
	// Keys 250..299 exist: they get the new values.
	cdctest.Apply(t, tg, "j", "2", inserts(250, 200, "new")...)
	cdctest.Want(t, tg, "SELECT count(*), sum(v = 'new') FROM ld", `"450" | "200"`)
	// A value too long fails the transaction, as an INSERT would.
	tx, err := tg.Applier.Begin(cdctest.Ctx(t), cdc.ApplySpec{Job: "j", TimeZone: tg.TimeZone})
	if err != nil {
		t.Fatal(err)
	}
	err = tx.Apply(cdctest.Ctx(t), append(inserts(1000, 150, "x"), cdctest.Ins(tt, 2000, "much too long", nil, nil)))
	if err == nil {
		err = tx.Apply(cdctest.Ctx(t), nil)
	}
	var me *driver.MySQLError
	if !errors.As(err, &me) || me.Number != 1406 || !strings.Contains(err.Error(), "apply to ld: ") {
		t.Errorf("too long: %v", err)
	}
	tx.Rollback()
	cdctest.Want(t, tg, "SELECT count(*) FROM ld", `"450"`)
	// Without local_infile.
	if _, err := admin.Exec("SET GLOBAL local_infile = 0"); err != nil {
		t.Skipf("cannot turn local_infile off: %v", err)
	}
	t.Cleanup(func() { admin.Exec("SET GLOBAL local_infile = 1") })
	cdctest.Apply(t, tg, "j", "3", inserts(3000, 200, "off")...)
	cdctest.Want(t, tg, "SELECT count(*), sum(v = 'off') FROM ld", `"650" | "200"`)
}
