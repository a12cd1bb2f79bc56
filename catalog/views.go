package catalog

import (
	"context"
	"fmt"
	"strings"
)

// ViewColumn is a column of a dataflow view with its PostgreSQL type name.
type ViewColumn struct {
	Name   string
	PGType string // lower case PostgreSQL type name, e.g. "timestamptz", "int8"
}

// View is a SQLite view exposed to clients as Schema.Name.
type View struct {
	Schema     string
	Name       string
	SQLiteName string
	Columns    []ViewColumn
}

// Views lists every dataflow view with its column types. A SQLite view
// named dataflow_x becomes dataflow.x; new migrations need no Go changes.
func (c *Catalog) Views(ctx context.Context) ([]View, error) {
	rows, err := c.r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'view' AND name LIKE 'dataflow\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list views: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	overrides := map[[2]string]string{}
	orows, err := c.r.QueryContext(ctx, `SELECT view, col, pg_type FROM view_column_types`)
	if err != nil {
		return nil, fmt.Errorf("list view column types: %w", err)
	}
	for orows.Next() {
		var v, col, t string
		if err := orows.Scan(&v, &col, &t); err != nil {
			orows.Close()
			return nil, err
		}
		overrides[[2]string{v, col}] = t
	}
	orows.Close()

	views := make([]View, 0, len(names))
	for _, n := range names {
		v := View{Schema: "dataflow", Name: strings.TrimPrefix(n, "dataflow_"), SQLiteName: n}
		crows, err := c.r.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, n)
		if err != nil {
			return nil, fmt.Errorf("describe view %s: %w", n, err)
		}
		for crows.Next() {
			var col, typ string
			if err := crows.Scan(&col, &typ); err != nil {
				crows.Close()
				return nil, err
			}
			if t, ok := overrides[[2]string{n, col}]; ok {
				typ = t
			}
			if typ == "" {
				crows.Close()
				return nil, fmt.Errorf("view %s column %s has no type: add it to view_column_types", n, col)
			}
			v.Columns = append(v.Columns, ViewColumn{Name: col, PGType: strings.ToLower(typ)})
		}
		crows.Close()
		views = append(views, v)
	}
	return views, nil
}
