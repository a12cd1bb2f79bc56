package mysql

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"

	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
	"github.com/flowgate/flowgate/internal/testbed"
)

// The spelled-out composite key bounds must be answered from the primary
// key (a range scan), not by reading the whole table.
func TestRangeUsesIndex(t *testing.T) {
	my := testbed.MySQL(t)
	dbName := my.NewDatabase(t, "myrange")
	c, err := Open(map[string]string{"host": my.Host, "port": strconv.Itoa(my.Port), "database": dbName, "user": my.User, "password": my.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := c.(*Conn)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE TABLE r (a int, b varchar(20), v int, PRIMARY KEY (a, b))",
		"INSERT INTO r SELECT seq DIV 10, LPAD(seq MOD 10, 3, '0'), seq FROM seq_1_to_20000",
		"ANALYZE TABLE r",
	} {
		if _, err := conn.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	spec := data.ChecksumSpec{Table: "r", Key: []schema.Column{{Name: "a", Type: schema.Type{Kind: schema.Int32}}, {Name: "b", Type: schema.Type{Kind: schema.Varchar}}},
		Lower: []string{"100", "005"}, Upper: []string{"120", "000"}}
	var args []any
	where, err := conn.rangeWhere(spec, &args)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.DB().QueryContext(ctx, "EXPLAIN SELECT v FROM r"+where, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		plan := map[string]string{}
		for i, c := range cols {
			plan[strings.ToLower(c)] = vals[i].String
		}
		t.Logf("%s: %v", where, plan)
		if plan["type"] != "range" || plan["key"] != "PRIMARY" {
			t.Errorf("plan does not use a primary key range: %v", plan)
		}
	}
}
