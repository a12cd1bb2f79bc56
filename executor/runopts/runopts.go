// Package runopts declares the WITH (...) options of DDL tasks and sync jobs
// once: names, kinds, defaults and ranges drive validation, the error that
// lists the valid keys, and the docs.
package runopts

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Kind of an option value.
type Kind int

const (
	Bool Kind = iota
	Int
	Enum
	String
)

// Option is one declared key.
type Option struct {
	Name        string
	Kind        Kind
	Default     string
	Min, Max    int64    // Int bounds (inclusive); Max 0 = unbounded
	Values      []string // Enum members
	Description string
	// Modes lists the sync-job modes (batch, scan, cdc) that use the key;
	// nil means every mode. A key given to a job of another mode is an
	// error naming these modes, never silently ignored.
	Modes []string
	// ModeValues narrows an Enum's Values for a mode (nil = all Values
	// in every mode).
	ModeValues map[string][]string
	// Pattern, when set, is what a String value must match; PatternHint
	// says it in words.
	Pattern     *regexp.Regexp
	PatternHint string
}

// Sync-job modes, as the parser spells them.
const (
	Batch = "batch"
	Scan  = "scan"
	CDC   = "cdc"
)

var (
	batchScan = []string{Batch, Scan}
	batchOnly = []string{Batch}
	scanOnly  = []string{Scan}
	cdcOnly   = []string{CDC}
	// noMode marks keys of the contract that no mode implements yet.
	noMode = []string{}
)

// Set is the options one statement accepts.
type Set []Option

// KeyError is an unknown or invalid key; Key says which, for positions.
type KeyError struct {
	Key     string
	Message string
	Hint    string
}

func (e *KeyError) Error() string { return e.Message }

// Names lists the keys, sorted.
func (s Set) Names() []string {
	out := make([]string, len(s))
	for i, o := range s {
		out[i] = o.Name
	}
	sort.Strings(out)
	return out
}

func (s Set) lookup(key string) (Option, bool) {
	for _, o := range s {
		if o.Name == key {
			return o, true
		}
	}
	return Option{}, false
}

// Check validates given (not the defaults) and returns it normalized:
// booleans become "on"/"off", enums lower case.
func (s Set) Check(given map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(given))
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := s.lookup(k)
		if !ok {
			return nil, &KeyError{Key: k, Message: fmt.Sprintf("unknown option %q", k),
				Hint: "Valid options: " + strings.Join(s.Names(), ", ") + "."}
		}
		v, err := o.normalize(given[k])
		if err != nil {
			return nil, &KeyError{Key: k, Message: fmt.Sprintf("invalid value for option %q: %v", k, err), Hint: o.help()}
		}
		out[k] = v
	}
	return out, nil
}

// CheckMode refuses keys in given that mode does not use.
func (s Set) CheckMode(given map[string]string, mode string) error {
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := s.lookup(k)
		if !ok || o.Modes == nil || slices.Contains(o.Modes, mode) {
			continue
		}
		if len(o.Modes) == 0 {
			return &KeyError{Key: k, Message: fmt.Sprintf("option %q is not supported yet by any mode", k),
				Hint: "Leave it out; it is declared for a coming release."}
		}
		upper := make([]string, len(o.Modes))
		for i, m := range o.Modes {
			upper[i] = "MODE " + strings.ToUpper(m)
		}
		return &KeyError{Key: k, Message: fmt.Sprintf("option %q does not apply to MODE %s jobs", k, strings.ToUpper(mode)),
			Hint: fmt.Sprintf("%s is used by %s only.", k, strings.Join(upper, ", "))}
	}
	for _, k := range keys {
		o, ok := s.lookup(k)
		if !ok || o.ModeValues == nil {
			continue
		}
		vals, ok := o.ModeValues[mode]
		if ok && !slices.Contains(vals, strings.ToLower(given[k])) {
			return &KeyError{Key: k, Message: fmt.Sprintf("invalid value for option %q in MODE %s: %q is not one of %s", k, strings.ToUpper(mode), given[k], strings.Join(vals, ", ")),
				Hint: fmt.Sprintf("MODE %s takes %s = %s.", strings.ToUpper(mode), k, strings.Join(vals, " | "))}
		}
	}
	return nil
}

// ForMode lists the keys mode uses, sorted.
func (s Set) ForMode(mode string) []string {
	var out []string
	for _, o := range s {
		if o.Modes == nil || slices.Contains(o.Modes, mode) {
			out = append(out, o.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (o Option) normalize(v string) (string, error) {
	switch o.Kind {
	case Bool:
		switch strings.ToLower(v) {
		case "on", "true", "yes", "1", "t":
			return "on", nil
		case "off", "false", "no", "0", "f":
			return "off", nil
		}
		return "", fmt.Errorf("%q is not a boolean", v)
	case Int:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", v)
		}
		if n < o.Min || (o.Max != 0 && n > o.Max) {
			return "", fmt.Errorf("%d is out of range", n)
		}
		return strconv.FormatInt(n, 10), nil
	case Enum:
		lv := strings.ToLower(v)
		for _, m := range o.Values {
			if m == lv {
				return lv, nil
			}
		}
		return "", fmt.Errorf("%q is not one of %s", v, strings.Join(o.Values, ", "))
	case String:
		if o.Pattern != nil && !o.Pattern.MatchString(v) {
			return "", fmt.Errorf("%q is not a valid %s", v, o.Name)
		}
	}
	return v, nil
}

func (o Option) help() string {
	switch o.Kind {
	case Bool:
		return o.Name + " is on or off."
	case Int:
		if o.Max != 0 {
			return fmt.Sprintf("%s is an integer from %d to %d.", o.Name, o.Min, o.Max)
		}
		return fmt.Sprintf("%s is an integer of at least %d.", o.Name, o.Min)
	case Enum:
		return o.Name + " is one of " + strings.Join(o.Values, ", ") + "."
	}
	if o.PatternHint != "" {
		return o.PatternHint
	}
	return o.Description
}

// Values are options with defaults filled in.
type Values map[string]string

// Resolve fills defaults in under given (already checked).
func (s Set) Resolve(given map[string]string) Values {
	v := make(Values, len(s))
	for _, o := range s {
		if o.Default != "" {
			v[o.Name] = o.Default
		}
	}
	for k, x := range given {
		v[k] = x
	}
	return v
}

// Bool reads a boolean option.
func (v Values) Bool(k string) bool { return v[k] == "on" }

// Int reads an integer option (0 when unset).
func (v Values) Int(k string) int64 {
	n, _ := strconv.ParseInt(v[k], 10, 64)
	return n
}

// Markdown renders the set as a table for docs/.
func (s Set) Markdown() string {
	var b strings.Builder
	withModes := false
	for _, o := range s {
		withModes = withModes || o.Modes != nil
	}
	if withModes {
		b.WriteString("| option | modes | kind | default | description |\n|---|---|---|---|---|\n")
	} else {
		b.WriteString("| option | kind | default | description |\n|---|---|---|---|\n")
	}
	for _, o := range s {
		kind := map[Kind]string{Bool: "on/off", Int: "integer", Enum: strings.Join(o.Values, " \\| "), String: "text"}[o.Kind]
		if o.Kind == Int {
			if o.Max != 0 {
				kind = fmt.Sprintf("integer %d..%d", o.Min, o.Max)
			} else {
				kind = fmt.Sprintf("integer >= %d", o.Min)
			}
		}
		def := o.Default
		if def == "" {
			def = "(none)"
		}
		if withModes {
			modes := "all"
			switch {
			case o.Modes == nil:
			case len(o.Modes) == 0:
				modes = "none yet"
			default:
				modes = strings.ToUpper(strings.Join(o.Modes, ", "))
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", o.Name, modes, kind, def, o.Description)
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", o.Name, kind, def, o.Description)
	}
	return b.String()
}

// DDLTask is the WITH (...) of CREATE/ALTER DDL TASK.
var DDLTask = Set{
	{Name: "create_if_missing", Kind: Bool, Default: "on", Description: "Create tables missing on the target; tables that exist are skipped with a message."},
	{Name: "recreate", Kind: Bool, Default: "off", Description: "Drop tables that exist on the target and create them again."},
	{Name: "indexes", Kind: Bool, Default: "on", Description: "Create the source's unique and plain indexes."},
	{Name: "primary_keys", Kind: Bool, Default: "on", Description: "Create the source's primary keys."},
	{Name: "parallel", Kind: Int, Default: "4", Min: 1, Max: 64, Description: "Tables created at once."},
	{Name: "run_now", Kind: Bool, Default: "off", Description: "Run the task as part of CREATE DDL TASK."},
	{Name: "case_sensitive", Kind: Bool, Default: "off", Description: "Keep table and column names exactly as the source spells them (quoted); off folds them to the target's convention."},
	{Name: "tinyint1_as_boolean", Kind: Bool, Default: "on", Description: "Map MySQL tinyint(1) to boolean."},
	{Name: "foreign_keys", Kind: Bool, Default: "on", Description: "Create the source's foreign keys (names made valid for the target, ON DELETE / ON UPDATE kept) once every table of the task exists; SQLite gets them in CREATE TABLE."},
	{Name: "enum_as", Kind: Enum, Default: "check", Values: []string{"check", "type"}, Description: "PostgreSQL targets: an enum becomes text with a CHECK constraint, or a PostgreSQL enum type named <table>_<column>."},
	{Name: "set_as", Kind: Enum, Default: "text", Values: []string{"text", "array"}, Description: "PostgreSQL targets: a MySQL set becomes text holding the comma-separated members, or text[]."},
}

// SyncJob is the WITH (...) of CREATE/ALTER SYNC JOB: the run config table
// of FEATURES.md section 5, each key with the modes that use it.
var SyncJob = Set{
	{Name: "key_columns", Kind: String, Modes: batchScan, Description: "Comma-separated key columns for verification; default the primary key."},
	{Name: "extra_columns", Kind: String, Modes: batchScan, Description: "Comma-separated columns to compare besides the key (default: every mapped column)."},
	{Name: "algorithm", Kind: Enum, Default: "md5diff", Values: []string{"md5diff", "hashdiff", "countdiff", "none"}, Modes: batchScan, Description: "How TableDataDiff verifies."},
	{Name: "limit", Kind: Int, Default: "1000", Min: 1, Max: 1000, Modes: batchScan, Description: "Differing rows kept in dataflow.run_diffs per task."},
	{Name: "threads", Kind: Int, Default: "1", Min: 1, Max: 64, Modes: batchScan, Description: "Key ranges verified at once."},
	{Name: "bisection_threshold", Kind: Int, Default: "16384", Min: 1, Modes: batchScan, Description: "A differing range of at most this many rows is compared row by row."},
	{Name: "bisection_factor", Kind: Int, Default: "32", Min: 2, Modes: batchScan, Description: "Parts a differing range is split into; must be below bisection_threshold."},
	{Name: "verbose", Kind: Bool, Default: "off", Description: "More progress NOTICEs (one per file)."},
	{Name: "staging", Kind: String, Modes: batchOnly, Description: "An s3 or file datasource for export files, or 'none' to stream source to target with no files; default the local staging directory."},
	{Name: "export_batch_rows", Kind: Int, Default: "100000", Min: 1, Modes: batchScan, Description: "Rows per partition: the unit of export, staged file, import transaction and retry (bounds memory). Jobs TO an OBJECT: rows per file."},
	{Name: "batch_parallel_size", Kind: Int, Default: "5", Min: 1, Max: 64, Modes: batchOnly, Description: "Tables of a database job run at once."},
	{Name: "batch_file_format", Kind: Enum, Default: "csv", Values: []string{"csv", "parquet"}, Modes: batchOnly, Description: "Export file format."},
	{Name: "compression", Kind: Enum, Default: "zstd", Values: []string{"zstd", "gzip", "none"}, Modes: batchScan, Description: "Export file compression. Jobs TO an OBJECT: none unless given (parquet: the codec)."},
	{Name: "export_compress_parallel", Kind: Int, Default: "5", Min: 1, Max: 64, Modes: batchOnly, Description: "Files compressed and uploaded at once."},
	{Name: "import_parallel", Kind: Int, Default: "2", Min: 1, Max: 64, Modes: batchScan, Description: "Staged files loaded at once, each in its own target transaction (1 when import_order_by is set). SCAN without pre_action: target transactions upserting at once, rows split by primary key."},
	{Name: "heartbeat_timeout", Kind: Int, Default: "60", Min: 1, Modes: batchOnly, Description: "Seconds a stage may go without progress before it fails."},
	{Name: "enable_pk_duplicate_detect", Kind: Bool, Default: "on", Modes: batchOnly, Description: "Before importing into a non-empty target, look for keys that already exist and fail with examples."},
	{Name: "source_timezone", Kind: String, Default: "UTC", Description: "Session time zone on both sides."},
	{Name: "import_order_by", Kind: String, Modes: batchOnly, Description: "Comma-separated source columns to sort by before loading."},
	{Name: "pre_action", Kind: Enum, Default: "none", Values: []string{"none", "truncate", "recreate", "rename_create"}, Modes: batchScan,
		ModeValues:  map[string][]string{Batch: {"none", "truncate", "recreate"}, Scan: {"none", "truncate", "rename_create"}},
		Description: "What happens to the target first. BATCH (none, truncate, recreate): before the run's first partition loads, empty the target, or drop it and create it again from the source's structure; a RETRY after rows loaded does not do it again. SCAN (none, truncate, rename_create): before each scan."},
	{Name: "parallel_export", Kind: Int, Default: "2", Min: 1, Max: 64, Modes: batchOnly, Description: "Partitions of a table exported at once; with staging = 'none' each streams into its own target transaction. PostgreSQL sources read them all from one exported snapshot."},
	{Name: "partition_column", Kind: String, Modes: batchOnly, Description: "A NOT NULL source column to cut tables into partitions by (about export_batch_rows rows each); default the primary key. Tables with neither are read as one stream."},
	{Name: "marks_schema", Kind: String, Modes: batchOnly, Description: "Where the target keeps flowgate's import marks; default schema (PostgreSQL) or database (MySQL) flowgate where the user may create it, else the target schema."},
	{Name: "error_limit", Kind: Int, Default: "0", Min: 0, Description: "Bad records tolerated before a run fails; each is kept in dataflow.run_errors and skipped (CDC: a message that cannot be decoded or mapped, a source transaction the target refuses; SCAN and OBJECT jobs: a record that fails to convert: a text where a number is due, a date out of range, a character the encoding cannot hold). BATCH jobs between tables do not take it."},
	{Name: "throttle_mbps", Kind: Int, Default: "0", Min: 0, Modes: batchScan, Description: "Bandwidth cap in MB/s (bytes read from the source), 0 = none. SCAN jobs and jobs with an OBJECT end."},
	{Name: "scan_delay", Kind: Int, Default: "0", Min: 0, Modes: scanOnly, Description: "SCAN with INCREMENTAL ON a date/time column: seconds behind the source's clock a scan stops (rows with col <= now() - scan_delay), so a transaction that commits within scan_delay of its timestamp is still seen."},
	{Name: "window_start", Kind: String, Default: "-60 minutes", Modes: batchScan, Description: "Jobs with an OBJECT: the window's start relative to the fire time, e.g. '-70 minutes' (${startTime})."},
	{Name: "window_end", Kind: String, Default: "0 seconds", Modes: batchScan, Description: "Jobs with an OBJECT: the window's end relative to the fire time, e.g. '-10 minutes' (${endTime}); after window_start."},
	{Name: "file_format", Kind: Enum, Default: "csv", Values: []string{"csv", "txt", "parquet"}, Modes: batchScan, Description: "Jobs TO an OBJECT: the files' format (a source's is FORMAT)."},
	{Name: "write_mode", Kind: Enum, Default: "truncate", Values: []string{"truncate", "append", "nonconflict"}, Modes: batchScan, Description: "Jobs TO an OBJECT: truncate deletes the objects under the name first; append never overwrites (adds parts with a new suffix); nonconflict fails when any object exists under the name."},
	{Name: "null_format", Kind: String, Modes: batchScan, Description: "Jobs with an OBJECT (csv, txt): how NULL is written and read; default the empty unquoted field."},
	{Name: "date_format", Kind: String, Modes: batchScan, Description: "Jobs with an OBJECT (csv, txt): a Java-style pattern such as 'yyyy-MM-dd HH:mm:ss' for date and time columns; default the canonical form."},
	{Name: "field_delimiter", Kind: String, Default: ",", Modes: batchScan, Description: "Jobs with an OBJECT (csv, txt): the field delimiter."},
	{Name: "encoding", Kind: String, Default: "UTF-8", Modes: batchScan, Description: "Jobs with an OBJECT (csv, txt): UTF-8, GBK, GB18030, BIG5, ISO-8859-1, ...; a character the encoding cannot hold is a bad record."},
	{Name: "header", Kind: Bool, Default: "off", Modes: batchScan, Description: "Jobs with an OBJECT (csv, txt): a first line with the column names (a source's columns are then matched by name)."},
	{Name: "source_file_column", Kind: String, Modes: scanOnly, Description: "SCAN FROM an OBJECT: a target column that gets each row's object key; with pre_action = 'truncate' the rows of an object being loaded again are deleted by it first."},
	{Name: "snapshot", Kind: Bool, Default: "on", Modes: cdcOnly, Description: "Copy the tables (stage Snapshot) before streaming changes; off streams from the current position only."},
	{Name: "checkpoint_interval", Kind: Int, Default: "1000", Min: 10, Modes: cdcOnly, Description: "Milliseconds between checkpoints: applied changes are committed to the target with their position at least this often (bounds what a crash re-reads)."},
	{Name: "checkpoint_min_pause", Kind: Int, Default: "500", Min: 0, Modes: cdcOnly, Description: "Milliseconds at least between the end of one checkpoint and the start of the next."},
	{Name: "checkpoint_timeout", Kind: Int, Default: "600000", Min: 1000, Modes: cdcOnly, Description: "Milliseconds a checkpoint (one target commit) may take before the run fails."},
	{Name: "parallelism", Kind: Int, Default: "1", Min: 1, Max: 64, Modes: cdcOnly, Description: "Tables snapshotted at once."},
	{Name: "restart_strategy", Kind: Enum, Default: "fixed-delay", Values: []string{"none", "fixed-delay", "failure-rate"}, Modes: cdcOnly, Description: "What a CDC run does after a failure of the source or target: none fails the run; fixed-delay waits restart_delay and continues from the checkpoint, up to restart_attempts times; failure-rate continues unless more than max_failures_per_interval failures fall in failure_rate_interval."},
	{Name: "restart_attempts", Kind: Int, Default: "-1", Min: -1, Modes: cdcOnly, Description: "fixed-delay: restarts before the run fails; -1 = unlimited."},
	{Name: "restart_delay", Kind: Int, Default: "1", Min: 0, Modes: cdcOnly, Description: "Seconds between a failure and the restart."},
	{Name: "failure_rate_interval", Kind: Int, Default: "60", Min: 1, Modes: cdcOnly, Description: "failure-rate: window in seconds."},
	{Name: "max_failures_per_interval", Kind: Int, Default: "1", Min: 1, Modes: cdcOnly, Description: "failure-rate: failures allowed per window."},
	{Name: "slot_name", Kind: String, Modes: cdcOnly, Description: "PostgreSQL source: the logical replication slot (default flowgate_<job>).",
		// PostgreSQL's own rule for slot names, checked at CREATE rather than at the first run.
		Pattern: regexp.MustCompile(`^[a-z0-9_]{1,63}$`), PatternHint: "slot_name takes lower case letters, digits and underscores, at most 63 of them, as PostgreSQL requires."},
	{Name: "publication_name", Kind: String, Modes: cdcOnly, Description: "PostgreSQL source: the publication (default flowgate_<job>)."},
	{Name: "server_id", Kind: Int, Min: 1, Max: 4294967295, Modes: cdcOnly, Description: "MySQL source: the replica server id flowgate registers with (default derived from the job name)."},
	{Name: "schema_changes", Kind: Enum, Default: "apply", Values: []string{"apply", "ignore", "fail"}, Modes: cdcOnly, Description: "A column added at the source: apply adds it to the target; ignore leaves it out; fail stops the run. A dropped column stops being written in apply and ignore."},
}
