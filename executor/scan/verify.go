package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/scanner"
	"github.com/flowgate/flowgate/connectors/schema"
)

// verify is TableDataDiff over the scanned window (algorithm default
// 'none' for SCAN): countdiff compares counts, md5diff the checksums of
// both sides, hashdiff also lists up to limit differing rows.
func (r *run) verify(ctx context.Context, ts *tableSide, srcWhere, wm, upper string) error {
	p := r.plan
	alg := p.Options["algorithm"]
	if alg == "none" || alg == "" {
		r.skip(ctx, StageDiff, "algorithm = none")
		return nil
	}
	st, err := r.begin(ctx, StageDiff, p.SourceTable)
	if err != nil {
		return err
	}
	consistent, ndiff, err := r.compare(ctx, ts, alg, srcWhere, wm, upper)
	if err != nil {
		return st.end(ctx, err, "")
	}
	if !consistent {
		r.status = "data_inconsistent"
		r.msg += fmt.Sprintf("; %s found differences in the scanned window (%d rows in dataflow.run_diffs)", alg, ndiff)
		return st.end(ctx, nil, fmt.Sprintf("%s found differences; %d rows in dataflow.run_diffs", alg, ndiff))
	}
	r.msg += "; verified with " + alg
	return st.end(ctx, nil, alg+": no differences in the scanned window")
}

func (r *run) compare(ctx context.Context, ts *tableSide, alg, srcWhere, wm, upper string) (bool, int, error) {
	p := r.plan
	sc, err := connectors.As[data.Checksummer](r.src.Conn)
	if err != nil {
		return false, 0, fmt.Errorf("datasource %q cannot compute checksums", r.src.Name)
	}
	dc, err := connectors.As[data.Checksummer](r.dst.Conn)
	if err != nil {
		return false, 0, fmt.Errorf("datasource %q cannot compute checksums", r.dst.Name)
	}
	// The target's window: the same bounds on the mapped column.
	dstWhere := ""
	if ts.inc != nil && upper != "" {
		dsrc, err := connectors.As[scanner.Source](r.dst.Conn)
		if err != nil {
			return false, 0, fmt.Errorf("datasource %q cannot render the scanned window", r.dst.Name)
		}
		var dcol *schema.Column
		for _, pr := range ts.pairs {
			if pr.Src.Name == ts.inc.Name {
				c := pr.Dst
				dcol = &c
			}
		}
		if dcol == nil {
			return false, 0, fmt.Errorf("the incremental column %s is not moved, so the target's window is unknown", ts.inc.Name)
		}
		tz := p.Options["source_timezone"]
		col := dsrc.ScanIdent(dcol.Name)
		dstWhere = col + " <= " + dsrc.ScanLiteral(*dcol, upper, tz)
		if wm != "" {
			dstWhere = col + " >= " + dsrc.ScanLiteral(*dcol, wm, tz) + " AND " + dstWhere
		}
	}
	// Source side: the scan's filter without the job's own WHERE when
	// that has no target form; key columns first.
	var skey, dkey, scols, dcols []schema.Column
	isKey := map[string]bool{}
	for _, k := range ts.target.Key {
		pr := ts.pairs[k]
		skey, dkey = append(skey, pr.Src), append(dkey, pr.Dst)
		isKey[pr.Dst.Name] = true
	}
	scols, dcols = append(scols, skey...), append(dcols, dkey...)
	digits := 6
	for _, pr := range ts.pairs {
		if !isKey[pr.Dst.Name] {
			scols, dcols = append(scols, pr.Src), append(dcols, pr.Dst)
		}
		for _, c := range []schema.Column{pr.Src, pr.Dst} {
			if k := c.Type.Kind; k == schema.Time || k == schema.Timestamp || k == schema.TimestampTZ {
				if c.Type.Precision < digits && (c.Type.Precision > 0 || strings.Contains(c.Type.Native, "(0)") || !strings.Contains(c.Type.Native, "(")) && strings.Contains(strings.ToLower(c.Type.Native), "datetime") {
					digits = c.Type.Precision
				}
			}
		}
	}
	td := digits
	if td == 0 {
		td = -1
	}
	tz := p.Options["source_timezone"]
	ss := data.ChecksumSpec{Schema: p.SourceSchema, Table: p.SourceTable, Key: skey, Columns: scols, Where: srcWhere, TimeZone: tz, TimeDigits: td}
	ds := data.ChecksumSpec{Schema: p.TargetSchema, Table: p.TargetTable, Key: dkey, Columns: dcols, Where: dstWhere, TimeZone: tz, TimeDigits: td}
	if alg == "countdiff" {
		ss.Columns, ds.Columns = ss.Key, ds.Key
	}
	a, err := sc.Checksum(ctx, ss)
	if err != nil {
		return false, 0, fmt.Errorf("source checksum: %w", err)
	}
	b, err := dc.Checksum(ctx, ds)
	if err != nil {
		return false, 0, fmt.Errorf("target checksum: %w", err)
	}
	if alg == "countdiff" {
		if a.Count != b.Count {
			return false, 0, r.rec.AddDiffs(context.WithoutCancel(ctx), r.id, r.task, []catalog.Diff{
				{Key: "count", Side: "source", Row: fmt.Sprintf("[%d]", a.Count)}, {Key: "count", Side: "target", Row: fmt.Sprintf("[%d]", b.Count)}})
		}
		return true, 0, nil
	}
	if a.Count == b.Count && a.Hash == b.Hash {
		return true, 0, nil
	}
	// Checksums compare JSON as each database prints it: with JSON on both
	// sides the rows are compared again as documents.
	var jsonCols []int
	for i := range scols {
		if scols[i].Type.Kind == schema.JSON && dcols[i].Type.Kind == schema.JSON {
			jsonCols = append(jsonCols, i)
		}
	}
	if alg != "hashdiff" && len(jsonCols) == 0 {
		return false, 0, nil
	}
	limit := int(runoptsInt(p.Options, "limit"))
	sr, err := sc.Rows(ctx, ss, 0)
	if err != nil {
		return false, 0, err
	}
	dr, err := dc.Rows(ctx, ds, 0)
	if err != nil {
		return false, 0, err
	}
	rowKey := func(row []*string) string { return jsonVals(row[:len(skey)]) }
	left := map[string][]*string{}
	for _, row := range sr {
		left[rowKey(row)] = row
	}
	var diffs []catalog.Diff
	seen := map[string]bool{}
	for _, row := range dr {
		k := rowKey(row)
		seen[k] = true
		if v, ok := left[k]; !ok || !data.SameDocuments(v, row, jsonCols) {
			if ok {
				diffs = append(diffs, catalog.Diff{Key: k, Side: "source", Row: jsonVals(v)})
			}
			diffs = append(diffs, catalog.Diff{Key: k, Side: "target", Row: jsonVals(row)})
		}
	}
	for _, row := range sr {
		if k := rowKey(row); !seen[k] {
			diffs = append(diffs, catalog.Diff{Key: k, Side: "source", Row: jsonVals(row)})
		}
	}
	if alg != "hashdiff" {
		return len(diffs) == 0, 0, nil // md5diff lists no rows
	}
	if len(diffs) > limit {
		diffs = diffs[:limit]
	}
	return len(diffs) == 0, len(diffs), r.rec.AddDiffs(context.WithoutCancel(ctx), r.id, r.task, diffs)
}

func jsonVals(vals []*string) string {
	b, _ := json.Marshal(vals)
	return string(b)
}
