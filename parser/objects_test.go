package parser

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func parseOne(t *testing.T, sql string) Statement {
	t.Helper()
	st, err := Parse(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return st
}

func TestParseObjectJobs(t *testing.T) {
	sql := `CREATE SYNC JOB hourly FROM shop.orders TO archive OBJECT 'orders/${date}/orders_${startTime}_${endTime}' WHERE 'updated_at >= ${startTime} AND updated_at < ${endTime}' MODE BATCH SCHEDULE CRON '0 * * * *' WITH (window_start = '-70 minutes', file_format = 'csv')`
	st := parseOne(t, sql).(*CreateSyncJob)
	if st.ToObject == nil || st.ToObject.Datasource != "archive" || st.ToObject.Object != "orders/${date}/orders_${startTime}_${endTime}" ||
		st.To.Datasource != "archive" || st.FromObject != nil || st.From.Table != "orders" || st.Mode != "batch" {
		t.Fatalf("TO OBJECT: %+v %+v", st, st.ToObject)
	}
	if got := sql[st.ToObject.ObjectPos:]; !strings.HasPrefix(got, "orders/${date}") {
		t.Fatalf("ObjectPos points at %q", got)
	}
	sql = `create sync job land from archive object 'landing/orders/' format PARQUET to dw.public.orders mode scan schedule every '60 seconds'`
	st = parseOne(t, sql).(*CreateSyncJob)
	if st.FromObject == nil || st.FromObject.Object != "landing/orders/" || st.Format != "parquet" || st.To.Schema != "public" || st.Mode != "scan" {
		t.Fatalf("FROM OBJECT: %+v", st)
	}
	st = parseOne(t, `CREATE SYNC JOB land FROM archive OBJECT 'l/' TO dw.orders MODE SCAN FORMAT 'txt'`).(*CreateSyncJob)
	if st.Format != "txt" {
		t.Fatalf("FORMAT after TO: %+v", st)
	}
	for _, bad := range []struct{ sql, hint string }{
		{`CREATE SYNC JOB x FROM a OBJECT 'p' TO b OBJECT 'q' MODE SCAN`, "a job FROM an OBJECT loads a table"},
		{`CREATE SYNC JOB x FROM a OBJECT p TO b.t MODE SCAN`, "as a string literal"},
		{`CREATE SYNC JOB x FROM a OBJECT 'p' FORMAT json TO b.t MODE SCAN`, "expected CSV, TXT or PARQUET"},
		{`CREATE SYNC JOB x FROM a OBJECT 'p' FORMAT csv FORMAT csv TO b.t MODE SCAN`, "expected TO"},
		{`CREATE SYNC JOB x FROM a OBJECT 'p' FORMAT csv TO b.t MODE SCAN FORMAT txt`, "FORMAT is given more than once"},
	} {
		_, err := Parse(bad.sql)
		pe, ok := err.(*pgconn.PgError)
		if !ok || !strings.Contains(pe.Hint+pe.Message, bad.hint) {
			t.Errorf("%s: %v (hint %q), want %q", bad.sql, err, hintOf(err), bad.hint)
		}
	}
}

func hintOf(err error) string {
	if pe, ok := err.(*pgconn.PgError); ok {
		return pe.Hint
	}
	return ""
}

func TestParseRunWith(t *testing.T) {
	for _, sql := range []string{
		`RUN SYNC JOB hourly WAIT WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:50:00')`,
		`RUN SYNC JOB hourly WITH (start_time = '2023-04-23 17:50:00', end_time = '2023-04-23 18:50:00') WAIT`,
	} {
		st := parseOne(t, sql).(*RunSyncJob)
		if !st.Wait || len(st.With) != 2 || st.With[0].Key != "start_time" || st.With[1].Value != "2023-04-23 18:50:00" {
			t.Fatalf("%s: %+v", sql, st)
		}
	}
	if st := parseOne(t, `RUN SYNC JOB j`).(*RunSyncJob); st.With != nil || st.Wait {
		t.Fatalf("plain RUN: %+v", st)
	}
}
