package postgres

import (
	"context"
	"encoding/hex"
	"hash/fnv"
	"io"
	"strings"

	"github.com/flowgate/flowgate/connectors/cdc"
)

// copyRows writes a large run of rows with COPY in its text format.
//
// direct: plain inserts (tried first under the savepoint, see Apply) are
// copied straight into the table. COPY inserts as INSERT does, fires the
// same triggers and fails the same way on an existing key; the caller
// leaves out tables with row-level security (which COPY refuses) or
// rules (which it skips).
//
// Upserts are copied into a staging table of this session (a temporary
// table of the run's columns, typed with the base types the statements
// cast to, emptied by every commit) and one INSERT ... SELECT from it ON
// CONFLICT (key) DO UPDATE writes them, with the assignment casts of any
// INSERT. Keys are unique within a run (cdc.PlanRuns keeps a key's last
// row), so ON CONFLICT meets each row once. It all runs in the apply
// transaction: the rows commit with the checkpoint or not at all.
func (a *applyTx) copyRows(ctx context.Context, st *statements, name string, r *cdc.Run, types []string, rows [][][]byte, plain, direct bool) error {
	t := r.Table
	var cols strings.Builder
	for i, col := range t.Columns {
		if i > 0 {
			cols.WriteString(", ")
		}
		cols.WriteString(ident(col.Name))
	}
	if direct {
		if err := a.flush(ctx, st); err != nil { // COPY cannot join a pipeline
			return err
		}
		if _, err := a.conn.Conn().PgConn().CopyFrom(ctx, &copyText{rows: rows}, "COPY "+name+" ("+cols.String()+") FROM STDIN"); err != nil {
			return applyError(t.Table, err)
		}
		return nil
	}
	// What was sent before runs first: a batch it writes again with
	// upserts (settle) may fill the staging table too, so whether this
	// transaction filled it is known only after.
	if err := a.settle(ctx); err != nil {
		return err
	}
	stage := stageName(name, t, types)
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE IF NOT EXISTS " + stage + " (")
	for i, col := range t.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(col.Name) + " " + types[i])
	}
	b.WriteString(") ON COMMIT DELETE ROWS")
	if err := a.queue(ctx, st, t.Table, b.String(), nil); err != nil {
		return err
	}
	if a.staged[stage] {
		// Filled before in this transaction, perhaps before a savepoint
		// that was rolled back to: empty it. (Emptied by every commit,
		// and a rollback leaves no rows, it is empty otherwise.)
		if err := a.queue(ctx, st, t.Table, "TRUNCATE "+stage, nil); err != nil {
			return err
		}
	}
	if err := a.flush(ctx, st); err != nil {
		return err
	}
	if a.staged == nil {
		a.staged = map[string]bool{}
	}
	a.staged[stage] = true
	if _, err := a.conn.Conn().PgConn().CopyFrom(ctx, &copyText{rows: rows}, "COPY "+stage+" FROM STDIN"); err != nil {
		return applyError(t.Table, err)
	}
	q := "INSERT INTO " + name + " (" + cols.String() + ") SELECT " + cols.String() + " FROM " + stage
	if !plain {
		u, _ := upsertSQL(name, t, nil, false)
		q += u[strings.Index(u, " ON CONFLICT ("):]
	}
	return a.queue(ctx, st, t.Table, q, nil)
}

// typeNames lists the base type of each column of t, false when one is
// not known (the other statements then report the missing column).
func typeNames(t *cdc.TargetTable, types map[string]string) ([]string, bool) {
	out := make([]string, len(t.Columns))
	for i, col := range t.Columns {
		typ, ok := types[col.Name]
		if !ok {
			return nil, false
		}
		out[i] = typ
	}
	return out, true
}

// stageName names the staging table of a table and its run's columns and
// types: a change of either (a column added by CDC) gets a table of its
// own.
func stageName(name string, t *cdc.TargetTable, types []string) string {
	h := fnv.New64a()
	io.WriteString(h, name)
	for i, col := range t.Columns {
		io.WriteString(h, "\x00"+col.Name+"\x00"+types[i])
	}
	return "pg_temp.fg_stage_" + hex.EncodeToString(h.Sum(nil))
}

// copyText reads rows as COPY's text format: tab-separated values, \N for
// NULL, backslash escapes for backslash, tab, newline and carriage return.
type copyText struct {
	rows [][][]byte
	buf  []byte
	off  int
}

func (c *copyText) Read(p []byte) (int, error) {
	for c.off == len(c.buf) {
		if len(c.rows) == 0 {
			return 0, io.EOF
		}
		c.buf, c.off = c.buf[:0], 0
		for len(c.rows) > 0 && len(c.buf) < 64<<10 {
			c.buf = appendCopyRow(c.buf, c.rows[0])
			c.rows = c.rows[1:]
		}
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

func appendCopyRow(dst []byte, row [][]byte) []byte {
	for i, v := range row {
		if i > 0 {
			dst = append(dst, '\t')
		}
		if v == nil {
			dst = append(dst, '\\', 'N')
			continue
		}
		for len(v) > 0 {
			j := 0
			for j < len(v) && v[j] != '\\' && v[j] != '\t' && v[j] != '\n' && v[j] != '\r' {
				j++
			}
			dst = append(dst, v[:j]...)
			if j == len(v) {
				break
			}
			switch v[j] {
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			}
			v = v[j+1:]
		}
	}
	return append(dst, '\n')
}
