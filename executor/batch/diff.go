package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/connectors/data"
	"github.com/flowgate/flowgate/connectors/schema"
)

// verifier compares one table's two sides.
type verifier struct {
	tc        *taskCtx
	src, dst  data.Checksummer
	sspec     data.ChecksumSpec
	dspec     data.ChecksumSpec
	keyCount  int
	keyNames  []string // source key columns
	limit     int
	threshold int64
	factor    int
	sem       chan struct{}
	mu        sync.Mutex
	diffs     []catalog.Diff
	st        *stage
	// jsonCols are the row positions of columns that are JSON on both
	// sides: their checksums compare the text each database prints, so
	// rows whose sums differ are compared again as documents (data.JSONDoc).
	jsonCols []int
	// reprinted counts rows equal only as JSON documents.
	reprinted int
}

// verify runs TableDataDiff; false means the sides differ.
func (tc *taskCtx) verify(ctx context.Context) (bool, error) {
	cat := tc.rc.e.cfg.Catalog
	alg := tc.rc.opts["algorithm"]
	st, sctx, err := tc.startStage(ctx, StageDiff, 0)
	if err != nil {
		return false, err
	}
	if alg == "none" {
		st.stopOnce.Do(func() { close(st.stopped) })
		st.wg.Wait()
		return true, cat.FinishStage(context.WithoutCancel(ctx), tc.rc.id, tc.t.ID, StageDiff, catalog.StageSkipped, 0, 0, "algorithm = none")
	}
	v, err := tc.newVerifier(alg)
	if err != nil {
		return false, st.end(ctx, err)
	}
	v.st = st
	consistent, err := v.run(sctx, alg)
	if err != nil {
		if sctx.Err() != nil {
			err = context.Cause(sctx)
		}
		return false, st.end(ctx, err)
	}
	if err := cat.AddDiffs(context.WithoutCancel(ctx), tc.rc.id, tc.t.ID, v.diffs); err != nil {
		return false, st.end(ctx, err)
	}
	if !consistent {
		msg := fmt.Sprintf("%s found differences; %d rows in dataflow.run_diffs", alg, len(v.diffs))
		st.stopOnce.Do(func() { close(st.stopped) })
		st.wg.Wait()
		// The stage did its job: it completed and found differences.
		cat.FinishStage(context.WithoutCancel(ctx), tc.rc.id, tc.t.ID, StageDiff, catalog.StageCompleted, st.rows.Load(), 0, msg)
		return false, nil
	}
	return true, st.end(ctx, nil)
}

func (tc *taskCtx) newVerifier(alg string) (*verifier, error) {
	o := tc.rc.opts
	v := &verifier{tc: tc, limit: int(o.Int("limit")), threshold: o.Int("bisection_threshold"), factor: int(o.Int("bisection_factor")),
		sem: make(chan struct{}, max(1, int(o.Int("threads"))))}
	var err error
	if v.src, err = as[data.Checksummer](tc.rc.src, "compute checksums"); err != nil {
		return nil, err
	}
	if v.dst, err = as[data.Checksummer](tc.rc.dst, "compute checksums"); err != nil {
		return nil, err
	}
	var keys []ColumnPair
	if alg != "countdiff" {
		keys, err = keyPairs(tc.pairs, tc.srcTable, o["key_columns"])
		if err != nil && alg == "hashdiff" {
			return nil, err
		}
	}
	// Columns whose two sides spell equal values differently (an array
	// loaded as JSON, a boolean loaded as a number) are not compared.
	var compared []ColumnPair
	for _, p := range tc.pairs {
		switch {
		case ExportColumn(p).Type.Kind == p.Src.Type.Kind:
			compared = append(compared, p)
		case p.Src.Type.Kind == schema.Set && p.Dst.Type.Kind == schema.Array:
			// A set loaded as text[] compares as its comma-separated
			// members on both sides.
			d := p.Dst
			d.Type = schema.Type{Kind: schema.Set, Native: "text[]"}
			compared = append(compared, ColumnPair{Src: p.Src, Dst: d})
		}
	}
	if extra := splitList(o["extra_columns"]); len(extra) > 0 {
		compared = nil
		for _, p := range tc.pairs {
			for _, x := range extra {
				if p.Src.Name == x {
					compared = append(compared, p)
				}
			}
		}
	}
	// Key columns first, then the rest, as ChecksumSpec wants.
	isKey := map[string]bool{}
	var scols, dcols, skey, dkey []schema.Column
	for _, k := range keys {
		isKey[k.Src.Name] = true
		skey, dkey = append(skey, k.Src), append(dkey, k.Dst)
	}
	scols, dcols = append(scols, skey...), append(dcols, dkey...)
	for _, p := range compared {
		if !isKey[p.Src.Name] {
			scols, dcols = append(scols, p.Src), append(dcols, p.Dst)
		}
	}
	v.keyCount = len(keys)
	v.keyNames = names(skey)
	for i := range scols {
		if scols[i].Type.Kind == schema.JSON && dcols[i].Type.Kind == schema.JSON {
			v.jsonCols = append(v.jsonCols, i)
		}
	}
	tz := o["source_timezone"]
	digits := timeDigits(compared)
	v.sspec = data.ChecksumSpec{Schema: tc.t.SourceSchema, Table: tc.t.SourceTable, Key: skey, Columns: scols, Where: tc.rc.plan.SourceWhere, TimeZone: tz, TimeDigits: digits}
	v.dspec = data.ChecksumSpec{Schema: tc.t.TargetSchema, Table: tc.t.TargetTable, Key: dkey, Columns: dcols, Where: tc.rc.plan.TargetWhere, TimeZone: tz, TimeDigits: digits}
	return v, nil
}

// timeDigits is the fractional-second precision both sides can hold: the
// lowest of the compared time columns (a datetime(0) on one side makes
// microseconds on the other incomparable).
func timeDigits(pairs []ColumnPair) int {
	digits := 6
	for _, p := range pairs {
		switch p.Src.Type.Kind {
		case schema.Time, schema.Timestamp, schema.TimestampTZ:
			digits = min(digits, p.Src.Type.Precision, p.Dst.Type.Precision)
		}
	}
	if digits <= 0 {
		return -1
	}
	return digits
}

// firstPassRows is the target size of the ranges of the first pass: small
// enough that each checksum query reports progress well within the
// heartbeat, large enough that the query count stays low.
const firstPassRows = 250_000

func (v *verifier) run(ctx context.Context, alg string) (bool, error) {
	if alg == "countdiff" {
		return v.counts(ctx)
	}
	// First pass: checksum both sides over ranges of about firstPassRows
	// (all ranges summed are the whole-table checksum), threads at a time.
	type part struct {
		lo, hi []string
		s, d   data.Sum
	}
	var bounds [][]string
	if b, ok := v.partitionBounds(ctx); ok {
		// The run's partitions are ranges of the same key: checksum
		// them, no second split of the table.
		bounds = b
		v.st.beats.Add(1)
	} else if v.keyCount > 0 {
		n, err := v.sourceCount(ctx)
		if err != nil {
			return false, err
		}
		// The first pass cuts the table into bisection_factor^d ranges of
		// at most firstPassRows: the same ranges bisection would reach
		// level by level, so the search below fetches no more rows than
		// plain bisection; at least one range per thread.
		parts := int64(1)
		if n > v.threshold {
			for parts*firstPassRows < n && parts < 1<<15 {
				parts *= int64(v.factor)
			}
		}
		parts = max(parts, int64(cap(v.sem)))
		if n > 1 && parts > 1 {
			spec := v.sspec
			if bounds, err = v.src.SplitPoints(ctx, spec, int(parts)); err != nil {
				return false, fmt.Errorf("split key range: %w", err)
			}
			v.st.beats.Add(1)
		}
	}
	edges := append(append([][]string{nil}, bounds...), nil)
	parts := make([]part, len(edges)-1)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range parts {
		parts[i].lo, parts[i].hi = edges[i], edges[i+1]
		v.sem <- struct{}{}
		wg.Add(1)
		go func(p *part) {
			defer wg.Done()
			defer func() { <-v.sem }()
			s, d, err := v.sums(ctx, p.lo, p.hi)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			p.s, p.d = s, d
			v.st.rows.Add(max(s.Count, d.Count))
		}(&parts[i])
	}
	wg.Wait()
	if firstErr != nil {
		return false, firstErr
	}
	var total, totalD data.Sum
	for _, p := range parts {
		var err error
		if total, err = data.AddSums(total, p.s); err != nil {
			return false, err
		}
		if totalD, err = data.AddSums(totalD, p.d); err != nil {
			return false, err
		}
	}
	if total == totalD {
		return true, nil
	}
	if v.keyCount == 0 {
		v.add(catalog.Diff{Key: "(count)", Side: "source", Row: fmt.Sprintf(`{"count": %d, "checksum": %q}`, total.Count, total.Hash)})
		v.add(catalog.Diff{Key: "(count)", Side: "target", Row: fmt.Sprintf(`{"count": %d, "checksum": %q}`, totalD.Count, totalD.Hash)})
		return false, nil
	}
	for _, p := range parts {
		if p.s != p.d {
			if err := v.search(ctx, p.lo, p.hi, p.s, p.d); err != nil {
				return false, err
			}
		}
	}
	// The sums differed, but every row compared equal once its JSON was
	// read as documents: the two databases print the same values
	// differently.
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.diffs) == 0 && v.reprinted > 0, nil
}

// sourceCount counts the source side's rows to size the first pass.
func (v *verifier) sourceCount(ctx context.Context) (int64, error) {
	ex, err := as[data.Exporter](v.tc.rc.src, "count rows")
	if err != nil {
		return 0, err
	}
	n, err := ex.Count(ctx, data.ExportSpec{Schema: v.sspec.Schema, Table: v.sspec.Table, Where: v.sspec.Where, TimeZone: v.sspec.TimeZone})
	if err != nil {
		return 0, fmt.Errorf("source count: %s", scrub(v.tc.rc.src, err))
	}
	v.st.beats.Add(1)
	return n, nil
}

// counts compares row counts only: no checksum work on either side.
func (v *verifier) counts(ctx context.Context) (bool, error) {
	src, err1 := as[data.Exporter](v.tc.rc.src, "count rows")
	dst, err2 := as[data.Exporter](v.tc.rc.dst, "count rows")
	if err1 != nil || err2 != nil {
		return false, fmt.Errorf("countdiff needs row counts on both sides")
	}
	sspec := data.ExportSpec{Schema: v.sspec.Schema, Table: v.sspec.Table, Where: v.sspec.Where, TimeZone: v.sspec.TimeZone}
	dspec := data.ExportSpec{Schema: v.dspec.Schema, Table: v.dspec.Table, Where: v.dspec.Where, TimeZone: v.dspec.TimeZone}
	var (
		wg     sync.WaitGroup
		sn, dn int64
		serr   error
	)
	wg.Add(1)
	go func() { defer wg.Done(); sn, serr = src.Count(ctx, sspec) }()
	dn, derr := dst.Count(ctx, dspec)
	wg.Wait()
	if serr != nil {
		return false, fmt.Errorf("source count: %s", scrub(v.tc.rc.src, serr))
	}
	if derr != nil {
		return false, fmt.Errorf("target count: %s", scrub(v.tc.rc.dst, derr))
	}
	v.st.rows.Store(max(sn, dn))
	if sn == dn {
		return true, nil
	}
	v.add(catalog.Diff{Key: "(count)", Side: "source", Row: fmt.Sprintf(`{"count": %d}`, sn)})
	v.add(catalog.Diff{Key: "(count)", Side: "target", Row: fmt.Sprintf(`{"count": %d}`, dn)})
	return false, nil
}

func (v *verifier) sums(ctx context.Context, lower, upper []string) (data.Sum, data.Sum, error) {
	ss, ds := v.sspec, v.dspec
	ss.Lower, ss.Upper, ds.Lower, ds.Upper = lower, upper, lower, upper
	var (
		wg     sync.WaitGroup
		s, d   data.Sum
		e1, e2 error
	)
	wg.Add(1)
	go func() { defer wg.Done(); s, e1 = v.src.Checksum(ctx, ss) }()
	d, e2 = v.dst.Checksum(ctx, ds)
	wg.Wait()
	if e1 != nil {
		return s, d, fmt.Errorf("source checksum: %s", scrub(v.tc.rc.src, e1))
	}
	if e2 != nil {
		return s, d, fmt.Errorf("target checksum: %s", scrub(v.tc.rc.dst, e2))
	}
	v.st.beats.Add(1)
	return s, d, nil
}

func (v *verifier) full() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.diffs) >= v.limit
}

func (v *verifier) add(d catalog.Diff) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.diffs) < v.limit {
		v.diffs = append(v.diffs, d)
	}
}

// search narrows a differing range [lower, upper) down to rows.
func (v *verifier) search(ctx context.Context, lower, upper []string, s, d data.Sum) error {
	if v.full() || ctx.Err() != nil {
		return ctx.Err()
	}
	if max(s.Count, d.Count) <= v.threshold {
		return v.compareRows(ctx, lower, upper)
	}
	spec := v.sspec
	cs, counted := v.src, s.Count
	if d.Count > s.Count {
		spec, cs, counted = v.dspec, v.dst, d.Count
	}
	spec.Lower, spec.Upper = lower, upper
	points, err := cs.SplitPoints(ctx, spec, v.factor)
	if err != nil {
		return fmt.Errorf("split key range: %w", err)
	}
	if len(points) == 0 {
		// Cannot split further (one key value holds everything): compare.
		_ = counted
		return v.compareRows(ctx, lower, upper)
	}
	bounds := append(append([][]string{lower}, points...), upper)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		v.sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-v.sem }()
			ss, ds, err := v.sums(ctx, lo, hi)
			if err == nil && ss != ds {
				// Release the slot while descending so nested ranges can run.
				<-v.sem
				err = v.search(ctx, lo, hi, ss, ds)
				v.sem <- struct{}{}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// compareRows fetches both sides of a small range and records the rows
// that differ: missing on one side, or with different values.
func (v *verifier) compareRows(ctx context.Context, lower, upper []string) error {
	ss, ds := v.sspec, v.dspec
	ss.Lower, ss.Upper, ds.Lower, ds.Upper = lower, upper, lower, upper
	lim := int(v.threshold) * 2
	var (
		srows [][]*string
		serr  error
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() { defer wg.Done(); srows, serr = v.src.Rows(ctx, ss, lim) }()
	drows, err := v.dst.Rows(ctx, ds, lim)
	wg.Wait()
	if serr != nil {
		return fmt.Errorf("source rows: %s", scrub(v.tc.rc.src, serr))
	}
	if err != nil {
		return fmt.Errorf("target rows: %s", scrub(v.tc.rc.dst, err))
	}
	v.st.beats.Add(1)
	index := func(rows [][]*string) (map[string][]*string, []string) {
		m := make(map[string][]*string, len(rows))
		var order []string
		for _, r := range rows {
			k := jsonValues(r[:v.keyCount])
			m[k] = r
			order = append(order, k)
		}
		return m, order
	}
	sm, sorder := index(srows)
	dm, dorder := index(drows)
	for _, k := range sorder {
		sr := sm[k]
		dr, ok := dm[k]
		switch {
		case !ok:
			v.add(catalog.Diff{Key: k, Side: "source", Row: jsonValues(sr)})
		case jsonValues(sr) != jsonValues(dr) && !v.sameDocuments(sr, dr):
			v.add(catalog.Diff{Key: k, Side: "source", Row: jsonValues(sr)})
			v.add(catalog.Diff{Key: k, Side: "target", Row: jsonValues(dr)})
		}
	}
	for _, k := range dorder {
		if _, ok := sm[k]; !ok {
			v.add(catalog.Diff{Key: k, Side: "target", Row: jsonValues(dm[k])})
		}
	}
	return nil
}

// sameDocuments reports whether two rows that print differently are
// equal once their JSON columns are read as documents, and counts them.
func (v *verifier) sameDocuments(sr, dr []*string) bool {
	if len(v.jsonCols) == 0 || !data.SameDocuments(sr, dr, v.jsonCols) {
		return false
	}
	v.mu.Lock()
	v.reprinted++
	v.mu.Unlock()
	return true
}

// jsonValues renders normalized values as a JSON array (null for NULL).
func jsonValues(vals []*string) string {
	parts := make([]string, len(vals))
	for i, p := range vals {
		if p == nil {
			parts[i] = "null"
			continue
		}
		b, _ := json.Marshal(*p)
		parts[i] = string(b)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// detectDuplicates looks for source keys that already exist in a
// non-empty target before anything is loaded, and fails with examples. It
// checks the first keys of the target's range (up to limit), which catches
// the common mistake of loading the same rows twice; any other duplicate is
// still refused by the target's own key constraint when its file loads.
func (tc *taskCtx) detectDuplicates(ctx context.Context) error {
	keys, err := keyPairs(tc.pairs, tc.srcTable, tc.rc.opts["key_columns"])
	if err != nil {
		return nil // nothing to detect by
	}
	src, err1 := as[data.Checksummer](tc.rc.src, "compute checksums")
	dst, err2 := as[data.Checksummer](tc.rc.dst, "compute checksums")
	if err1 != nil || err2 != nil {
		return nil
	}
	var skey, dkey []schema.Column
	for _, k := range keys {
		skey, dkey = append(skey, k.Src), append(dkey, k.Dst)
	}
	dspec := data.ChecksumSpec{Schema: tc.t.TargetSchema, Table: tc.t.TargetTable, Key: dkey, Columns: dkey, TimeZone: tc.rc.opts["source_timezone"]}
	sample := min(100, int(tc.rc.opts.Int("limit")))
	existing, err := dst.Rows(ctx, dspec, sample)
	if err != nil {
		return fmt.Errorf("duplicate key check on the target: %s", scrub(tc.rc.dst, err))
	}
	if len(existing) == 0 {
		return nil
	}
	var dup []string
	for _, k := range existing {
		lower := make([]string, len(k))
		for i, p := range k {
			if p == nil {
				lower = nil
				break
			}
			lower[i] = *p
		}
		if lower == nil {
			continue
		}
		sspec := data.ChecksumSpec{Schema: tc.t.SourceSchema, Table: tc.t.SourceTable, Key: skey, Columns: skey, Where: tc.rc.plan.SourceWhere,
			Lower: lower, TimeZone: tc.rc.opts["source_timezone"]}
		rows, err := src.Rows(ctx, sspec, 1)
		if err != nil {
			return fmt.Errorf("duplicate key check on the source: %s", scrub(tc.rc.src, err))
		}
		if len(rows) == 1 && jsonValues(rows[0]) == jsonValues(k) {
			dup = append(dup, jsonValues(k))
			if len(dup) == 5 {
				break
			}
		}
	}
	if len(dup) > 0 {
		return fmt.Errorf("target %s already has keys that this run would load again, e.g. %s (enable_pk_duplicate_detect); empty the target or filter the source with WHERE",
			qualify(tc.t.TargetSchema, tc.t.TargetTable), strings.Join(dup, ", "))
	}
	return nil
}

// partitionBounds returns the run's partition boundaries for this task
// when its partitions are ranges of the verification key (ok false
// otherwise, or for a single partition).
func (v *verifier) partitionBounds(ctx context.Context) ([][]string, bool) {
	if v.keyCount == 0 {
		return nil, false
	}
	parts := v.tc.parts
	if parts == nil {
		var err error
		if parts, err = v.tc.rc.e.cfg.Catalog.Partitions(context.WithoutCancel(ctx), v.tc.rc.id, v.tc.t.ID); err != nil {
			return nil, false
		}
	}
	if len(parts) < 2 || !slices.Equal(parts[0].KeyColumns, v.keyNames) {
		return nil, false
	}
	bounds := make([][]string, 0, len(parts)-1)
	for _, p := range parts[1:] {
		if p.Lower == nil {
			return nil, false
		}
		bounds = append(bounds, p.Lower)
	}
	return bounds, true
}
