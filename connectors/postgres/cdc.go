package postgres

// PostgreSQL logical replication as a cdc.ChangeSource: a publication for
// the job's tables, a logical slot with the pgoutput plugin, and a
// replication connection (replication=database) that streams pgoutput
// protocol version 1. The stream itself is in cdc_stream.go.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/flowgate/flowgate/connectors"
	"github.com/flowgate/flowgate/connectors/cdc"
)

var _ cdc.ChangeSource = (*Conn)(nil)

// replSettings are the replication session's settings: pgoutput prints
// values with the walsender's output functions, so these make them the
// canonical flowgate CSV text (timestamptz in UTC as ...+00, ISO dates,
// shortest round-trip floats, hex bytea), as dataSessionSQL does for COPY.
var replSettings = map[string]string{
	"replication":        "database",
	"TimeZone":           "UTC",
	"DateStyle":          "ISO, YMD",
	"IntervalStyle":      "postgres",
	"extra_float_digits": "1",
	"bytea_output":       "hex",
	"statement_timeout":  "0",
}

// replConfig is the pool's connection config (so no password ever sits in
// a string) turned into a replication connection's.
func (c *Conn) replConfig() *pgconn.Config {
	cfg := c.pool.Config().ConnConfig.Config.Copy()
	params := make(map[string]string, len(cfg.RuntimeParams)+len(replSettings))
	for k, v := range cfg.RuntimeParams {
		// Server settings are case-insensitive: ours replace an extparam's.
		if _, ours := replSettingKey(k); !ours {
			params[k] = v
		}
	}
	for k, v := range replSettings {
		params[k] = v
	}
	cfg.RuntimeParams = params
	// Cancelling a receive sets only the read deadline, so status updates
	// written by Ack or the status ticker while Next waits cannot fail
	// because of it.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &readDeadlineHandler{conn: pc.Conn()}
	}
	return cfg
}

func replSettingKey(k string) (string, bool) {
	for ours := range replSettings {
		if strings.EqualFold(k, ours) {
			return ours, true
		}
	}
	return "", false
}

type readDeadlineHandler struct{ conn net.Conn }

func (h *readDeadlineHandler) HandleCancel(context.Context) { _ = h.conn.SetReadDeadline(time.Now()) }
func (h *readDeadlineHandler) HandleUnwatchAfterCancel()    { _ = h.conn.SetReadDeadline(time.Time{}) }

// replConnect opens a replication connection; errors keep the server's
// *pgconn.PgError (e.g. 42501 for a role without REPLICATION) and never
// hold the password.
func (c *Conn) replConnect(ctx context.Context) (*pgconn.PgConn, error) {
	conn, err := pgconn.ConnectConfig(ctx, c.replConfig())
	if err != nil {
		return nil, connectors.ScrubError(fmt.Errorf("replication connection: %w", err), c.password)
	}
	return conn, nil
}

func cdcError(msg, hint string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: "55000", Message: msg, Hint: hint}
}

// cdcTable is what the source knows of a captured table.
type cdcTable struct {
	ref      cdc.TableRef
	schema   string // resolved
	name     string
	relkind  string // r or p (partitioned)
	replid   string // d default, n nothing, f full, i index
	pk       []string
	identity []string // columns of the replica identity index (replid i)
}

func (t *cdcTable) qualified() string { return pgx.Identifier{t.schema, t.name}.Sanitize() }

// describeCDC reads the replication-relevant facts of each table; a
// missing table is 42P01.
func (c *Conn) describeCDC(ctx context.Context, tables []cdc.TableRef) ([]*cdcTable, error) {
	var out []*cdcTable
	for _, ref := range tables {
		t := &cdcTable{ref: ref, schema: c.schemaOr(ref.Schema), name: ref.Name}
		err := c.pool.QueryRow(ctx, `SELECT c.relkind::text, c.relreplident::text,
				ARRAY(SELECT a.attname::text FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
					JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
					WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.ord),
				ARRAY(SELECT a.attname::text FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
					JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
					WHERE i.indrelid = c.oid AND i.indisreplident ORDER BY k.ord)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, t.schema, t.name).
			Scan(&t.relkind, &t.replid, &t.pk, &t.identity)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, &pgconn.PgError{Severity: "ERROR", Code: "42P01", SchemaName: t.schema, TableName: t.name,
				Message: fmt.Sprintf("relation %s does not exist", t.qualified())}
		}
		if err != nil {
			return nil, fmt.Errorf("cdc: describe %s: %w", t.qualified(), err)
		}
		out = append(out, t)
	}
	return out, nil
}

// tableProblems lists why a table cannot be streamed: every change needs
// its primary key, and PostgreSQL sends the old key of an update or
// delete only under a replica identity built on it.
func tableProblems(t *cdcTable) []error {
	var errs []error
	name := t.qualified()
	add := func(msg, hint string) {
		pe := cdcError(msg, hint)
		pe.SchemaName, pe.TableName = t.schema, t.name
		errs = append(errs, pe)
	}
	if len(t.pk) == 0 {
		add(fmt.Sprintf("table %s has no primary key; change data capture needs one to apply updates and deletes", name),
			fmt.Sprintf("Add one, e.g. ALTER TABLE %s ADD PRIMARY KEY (<key columns>);", name))
	}
	switch t.replid {
	case "n":
		add(fmt.Sprintf("table %s has REPLICA IDENTITY NOTHING, so PostgreSQL logs no key for its updates and deletes", name),
			fmt.Sprintf("Run ALTER TABLE %s REPLICA IDENTITY DEFAULT;", name))
	case "i":
		if len(t.pk) > 0 && !sameSet(t.pk, t.identity) {
			add(fmt.Sprintf("table %s has REPLICA IDENTITY USING INDEX on (%s), not on its primary key (%s)", name,
				strings.Join(t.identity, ", "), strings.Join(t.pk, ", ")),
				fmt.Sprintf("Run ALTER TABLE %s REPLICA IDENTITY DEFAULT;", name))
		}
	}
	return errs
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// joinProblems returns the one problem itself, several joined, or nil.
func joinProblems(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// CheckCDC verifies the server settings (wal_level, replication slots and
// walsenders), the role's REPLICATION attribute (by opening a replication
// connection: the server's own error) and each table's key.
func (c *Conn) CheckCDC(ctx context.Context, tables []cdc.TableRef) error {
	var problems []error
	var walLevel string
	var slots, senders int
	err := c.pool.QueryRow(ctx, `SELECT current_setting('wal_level'),
		current_setting('max_replication_slots')::int, current_setting('max_wal_senders')::int`).Scan(&walLevel, &slots, &senders)
	if err != nil {
		return connectors.ScrubError(fmt.Errorf("check cdc: settings: %w", err), c.password)
	}
	if walLevel != "logical" {
		problems = append(problems, cdcError(fmt.Sprintf("wal_level is %s; change data capture needs logical", walLevel),
			"Run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL."))
	}
	if slots <= 0 {
		problems = append(problems, cdcError("max_replication_slots is 0; change data capture needs a replication slot",
			"Run ALTER SYSTEM SET max_replication_slots = 10; then restart PostgreSQL."))
	}
	if senders <= 0 {
		problems = append(problems, cdcError("max_wal_senders is 0; change data capture needs a WAL sender",
			"Run ALTER SYSTEM SET max_wal_senders = 10; then restart PostgreSQL."))
	} else {
		// The server decides whether this role may replicate: its own
		// error (42501 without REPLICATION) is the answer.
		conn, err := c.replConnect(ctx)
		if err == nil {
			_, err = pglogrepl.IdentifySystem(ctx, conn)
			closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			conn.Close(closeCtx)
			cancel()
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("check cdc: %w", err))
		}
	}
	ts, err := c.describeCDC(ctx, tables)
	if err != nil {
		problems = append(problems, err)
	}
	for _, t := range ts {
		problems = append(problems, tableProblems(t)...)
	}
	return joinProblems(problems)
}

// slotName checks a replication slot name as PostgreSQL does (lower case
// letters, digits and underscores, at most 63 bytes), so it can be written
// into replication commands unquoted.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func checkSpec(spec cdc.StreamSpec) error {
	switch {
	case !slotName.MatchString(spec.Slot):
		return &pgconn.PgError{Severity: "ERROR", Code: "42602",
			Message: fmt.Sprintf("invalid replication slot name %q", spec.Slot),
			Hint:    "Replication slot names may only contain lower case letters, numbers and underscores, at most 63 bytes."}
	case spec.Publication == "":
		return &pgconn.PgError{Severity: "ERROR", Code: "42602", Message: "a publication name is required"}
	case len(spec.Tables) == 0:
		return &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: "a change stream needs at least one table"}
	}
	return nil
}

// OpenStream makes the publication match spec.Tables, then either creates
// the slot with an exported snapshot (a new stream) or checks that the
// slot still holds spec.From (a resumed one). Nothing is streamed before
// Start. When it fails, what this call created is dropped again and the
// returned Setup is empty.
func (c *Conn) OpenStream(ctx context.Context, spec cdc.StreamSpec) (_ cdc.ChangeStream, setup cdc.Setup, err error) {
	if err := checkSpec(spec); err != nil {
		return nil, cdc.Setup{}, err
	}
	var from pglogrepl.LSN
	if spec.From != "" {
		if from, err = pglogrepl.ParseLSN(string(spec.From)); err != nil {
			return nil, cdc.Setup{}, fmt.Errorf("open stream %s: position %q: %w", spec.Slot, spec.From, err)
		}
	}
	// Check the tables first: adding a table without a replica identity to
	// a publication that publishes updates would make its UPDATEs fail.
	tables, err := c.describeCDC(ctx, spec.Tables)
	if err != nil {
		return nil, cdc.Setup{}, err
	}
	var problems []error
	for _, t := range tables {
		problems = append(problems, tableProblems(t)...)
	}
	if err := joinProblems(problems); err != nil {
		return nil, cdc.Setup{}, err
	}
	if spec.From != "" {
		// Before touching anything: a lost slot stays lost.
		if err := c.checkSlot(ctx, spec, from); err != nil {
			return nil, cdc.Setup{}, err
		}
	}
	defer func() {
		if err != nil {
			// Undo what this call made; what cannot be undone stays in setup.
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if c.DropCDC(dctx, spec, setup) == nil {
				setup = cdc.Setup{}
			}
		}
	}()
	if setup.CreatedPublication, err = c.ensurePublication(ctx, spec.Publication, tables); err != nil {
		return nil, setup, err
	}
	s := &stream{c: c, spec: spec, tables: map[tableKey]cdc.TableRef{}, rels: map[uint32]*relation{}}
	for _, t := range tables {
		s.tables[tableKey{t.schema, t.name}] = t.ref
	}
	if spec.From != "" {
		if s.conn, err = c.replConnect(ctx); err != nil {
			return nil, setup, fmt.Errorf("open stream %s: %w", spec.Slot, err)
		}
		s.start = from
	} else {
		// A new stream starts afresh: a pgoutput slot of that name in this
		// database is a leftover of an earlier start of this job (made
		// before a crash could record it); any other slot of that name is
		// someone else's and stays.
		if err := c.dropLeftoverSlot(ctx, spec); err != nil {
			return nil, setup, fmt.Errorf("open stream %s: %w", spec.Slot, err)
		}
		if s.conn, err = c.replConnect(ctx); err != nil {
			return nil, setup, fmt.Errorf("open stream %s: %w", spec.Slot, err)
		}
		res, err := createSlot(ctx, s.conn, spec.Slot)
		if err != nil {
			s.conn.Close(context.Background())
			return nil, setup, fmt.Errorf("open stream %s: create replication slot: %w", spec.Slot, err)
		}
		setup.CreatedSlot = true
		if s.start, err = pglogrepl.ParseLSN(res.ConsistentPoint); err != nil {
			s.conn.Close(context.Background())
			return nil, setup, fmt.Errorf("open stream %s: consistent point %q: %w", spec.Slot, res.ConsistentPoint, err)
		}
		s.snapshot = res.SnapshotName
	}
	s.last, s.acked = s.start, s.start
	return s, setup, nil
}

// createSlot creates the logical slot with pgoutput and exports its
// snapshot. The connection must then stay idle until START_REPLICATION:
// any other command ends the exported snapshot.
func createSlot(ctx context.Context, conn *pgconn.PgConn, name string) (pglogrepl.CreateReplicationSlotResult, error) {
	q := "CREATE_REPLICATION_SLOT " + name + " LOGICAL pgoutput (SNAPSHOT 'export')"
	if serverMajor(conn) < 15 {
		q = "CREATE_REPLICATION_SLOT " + name + " LOGICAL pgoutput EXPORT_SNAPSHOT"
	}
	return pglogrepl.ParseCreateReplicationSlot(conn.Exec(ctx, q))
}

// serverMajor is the server's major version from the startup parameters.
func serverMajor(conn *pgconn.PgConn) int {
	v := conn.ParameterStatus("server_version")
	if i := strings.IndexAny(v, ". ("); i >= 0 {
		v = v[:i]
	}
	n, _ := strconv.Atoi(v)
	return n
}

// ensurePublication creates the publication for exactly these tables or
// makes an existing one match them.
func (c *Conn) ensurePublication(ctx context.Context, name string, tables []*cdcTable) (created bool, err error) {
	var list []string
	partitioned := false
	for _, t := range tables {
		list = append(list, t.qualified())
		partitioned = partitioned || t.relkind == "p"
	}
	with := "publish = 'insert, update, delete, truncate'"
	if partitioned {
		// Changes of partitions arrive as changes of the captured table.
		with += ", publish_via_partition_root = true"
	}
	pub := pgx.Identifier{name}.Sanitize()
	var exists bool
	if err := c.pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)", name).Scan(&exists); err != nil {
		return false, fmt.Errorf("publication %s: %w", pub, err)
	}
	if !exists {
		_, err := c.pool.Exec(ctx, fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s WITH (%s)", pub, strings.Join(list, ", "), with))
		if err != nil {
			return false, fmt.Errorf("create publication %s: %w", pub, err)
		}
		return true, nil
	}
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER PUBLICATION %s SET TABLE %s", pub, strings.Join(list, ", "))); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf("ALTER PUBLICATION %s SET (%s)", pub, with))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("alter publication %s: %w", pub, err)
	}
	return false, nil
}

// checkSlot checks that a resumed stream's slot still holds the changes
// after from.
func (c *Conn) checkSlot(ctx context.Context, spec cdc.StreamSpec, from pglogrepl.LSN) error {
	var (
		plugin, db, confirmed *string
		walStatus, reason     *string
		conflicting           *bool
		ours                  bool
	)
	// to_jsonb reads the columns newer servers added (wal_status 13,
	// conflicting 16, invalidation_reason 17) without failing on older ones.
	err := c.pool.QueryRow(ctx, `SELECT s.plugin::text, s.database::text, coalesce(s.database = current_database(), false), s.confirmed_flush_lsn::text,
			to_jsonb(s)->>'wal_status', (to_jsonb(s)->>'conflicting')::bool, to_jsonb(s)->>'invalidation_reason'
		FROM pg_replication_slots s WHERE s.slot_name = $1`, spec.Slot).
		Scan(&plugin, &db, &ours, &confirmed, &walStatus, &conflicting, &reason)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return positionLost(spec, "is gone (dropped)")
	case err != nil:
		return fmt.Errorf("open stream %s: replication slot: %w", spec.Slot, err)
	case walStatus != nil && *walStatus == "lost",
		conflicting != nil && *conflicting,
		reason != nil && *reason != "":
		why := "was invalidated"
		if reason != nil && *reason != "" {
			why += " (" + *reason + ")"
		} else if walStatus != nil && *walStatus == "lost" {
			why += " (the WAL it needed was removed, max_slot_wal_keep_size)"
		}
		return positionLost(spec, why)
	case plugin == nil || *plugin != "pgoutput" || !ours:
		d := ""
		if db != nil {
			d = *db
		}
		return cdcError(fmt.Sprintf("replication slot %q is not a pgoutput slot of this database (database %q)", spec.Slot, d),
			"Use another slot name for the job, or drop that slot.")
	}
	if confirmed != nil {
		lsn, err := pglogrepl.ParseLSN(*confirmed)
		if err == nil && lsn > from {
			// The server would silently start after the checkpoint.
			return positionLost(spec, fmt.Sprintf("has already confirmed %s, past the checkpoint %s", lsn, from))
		}
	}
	return nil
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// lostError is a *pgconn.PgError 55000 that also wraps cdc.ErrPositionLost.
type lostError struct{ pe *pgconn.PgError }

func (e *lostError) Error() string   { return e.pe.Message + "; " + e.pe.Hint }
func (e *lostError) Unwrap() []error { return []error{e.pe, cdc.ErrPositionLost} }

func positionLost(spec cdc.StreamSpec, why string) error {
	job := spec.Job
	if job == "" {
		job = "<job>"
	} else if !plainIdent.MatchString(job) {
		job = pgx.Identifier{job}.Sanitize()
	}
	return &lostError{cdcError(
		fmt.Sprintf("replication slot %q %s: %v", spec.Slot, why, cdc.ErrPositionLost),
		fmt.Sprintf("RESTART SYNC JOB %s FROM SNAPSHOT recovers: it copies the tables again and creates a new slot.", job))}
}

// dropLeftoverSlot drops a slot named spec.Slot before a new stream
// creates it again, when it can be a leftover of this job: a logical slot
// with pgoutput in this database. A slot of another database or plugin,
// or a physical one, was never made by flowgate for this job (slot names
// are per server): it stays, and the job is refused with 55000.
func (c *Conn) dropLeftoverSlot(ctx context.Context, spec cdc.StreamSpec) error {
	var plugin, db *string
	var ours bool
	err := c.pool.QueryRow(ctx, `SELECT s.plugin::text, s.database::text, coalesce(s.database = current_database(), false)
		FROM pg_replication_slots s WHERE s.slot_name = $1`, spec.Slot).Scan(&plugin, &db, &ours)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("replication slot: %w", err)
	case plugin == nil || *plugin != "pgoutput" || !ours:
		what := "a physical slot"
		if plugin != nil {
			what = fmt.Sprintf("a slot of plugin %s", *plugin)
		}
		if db != nil {
			what += fmt.Sprintf(" in database %q", *db)
		}
		job := spec.Job
		if job == "" {
			job = "<job>"
		} else if !plainIdent.MatchString(job) {
			job = pgx.Identifier{job}.Sanitize()
		}
		return cdcError(fmt.Sprintf("replication slot %q already exists: %s, not one flowgate made for this job", spec.Slot, what),
			fmt.Sprintf("Name another slot for the job (ALTER SYNC JOB %s SET (slot_name = '...')), or drop that one if nothing uses it: SELECT pg_drop_replication_slot('%s');",
				job, spec.Slot))
	}
	if err := c.dropSlot(ctx, spec.Slot); err != nil {
		return fmt.Errorf("drop the old slot: %w", err)
	}
	return nil
}

// dropSlot ends a walsender still using the slot and drops it; a missing
// slot is no error.
func (c *Conn) dropSlot(ctx context.Context, name string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		var active *int32
		err := c.pool.QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", name).Scan(&active)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if active != nil {
			if _, err := c.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", *active); err != nil {
				return err
			}
		}
		_, err = c.pool.Exec(ctx, "SELECT pg_drop_replication_slot($1)", name)
		var pe *pgconn.PgError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &pe) && pe.Code == "42704": // gone meanwhile
			return nil
		case errors.As(err, &pe) && pe.Code == "55006" && time.Now().Before(deadline):
			// Still active: the terminated walsender has not exited yet.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return err
		}
	}
}

// DropCDC drops the slot and the publication when setup says flowgate
// created them; missing ones are no error.
func (c *Conn) DropCDC(ctx context.Context, spec cdc.StreamSpec, setup cdc.Setup) error {
	var errs []error
	if setup.CreatedSlot && spec.Slot != "" {
		if err := c.dropSlot(ctx, spec.Slot); err != nil {
			errs = append(errs, fmt.Errorf("drop replication slot %s: %w", spec.Slot, err))
		}
	}
	if setup.CreatedPublication && spec.Publication != "" {
		pub := pgx.Identifier{spec.Publication}.Sanitize()
		if _, err := c.pool.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pub); err != nil {
			errs = append(errs, fmt.Errorf("drop publication %s: %w", pub, err))
		}
	}
	return errors.Join(errs...)
}

// ComparePositions orders two LSNs.
func (c *Conn) ComparePositions(a, b cdc.Position) (int, error) {
	la, err := pglogrepl.ParseLSN(string(a))
	if err != nil {
		return 0, fmt.Errorf("position %q: %w", a, err)
	}
	lb, err := pglogrepl.ParseLSN(string(b))
	if err != nil {
		return 0, fmt.Errorf("position %q: %w", b, err)
	}
	switch {
	case la < lb:
		return -1, nil
	case la > lb:
		return 1, nil
	}
	return 0, nil
}
