// Package runopts declares the WITH (...) options of DDL tasks and sync jobs
// once: names, kinds, defaults and ranges drive validation, the error that
// lists the valid keys, and the docs.
package runopts

import (
	"fmt"
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
}

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
	b.WriteString("| option | kind | default | description |\n|---|---|---|---|\n")
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
}

// SyncJob is the WITH (...) of CREATE/ALTER SYNC JOB: the run config table
// of FEATURES.md section 5. Keys a mode does not use are accepted and kept.
var SyncJob = Set{
	{Name: "key_columns", Kind: String, Description: "Comma-separated key columns for verification; default the primary key."},
	{Name: "extra_columns", Kind: String, Description: "Comma-separated columns to compare besides the key (default: every mapped column)."},
	{Name: "algorithm", Kind: Enum, Default: "md5diff", Values: []string{"md5diff", "hashdiff", "countdiff", "none"}, Description: "How TableDataDiff verifies."},
	{Name: "limit", Kind: Int, Default: "1000", Min: 1, Max: 1000, Description: "Differing rows kept in dataflow.run_diffs per task."},
	{Name: "threads", Kind: Int, Default: "1", Min: 1, Max: 64, Description: "Key ranges verified at once."},
	{Name: "bisection_threshold", Kind: Int, Default: "16384", Min: 1, Description: "A differing range of at most this many rows is compared row by row."},
	{Name: "bisection_factor", Kind: Int, Default: "32", Min: 2, Description: "Parts a differing range is split into; must be below bisection_threshold."},
	{Name: "verbose", Kind: Bool, Default: "off", Description: "More progress NOTICEs (one per file)."},
	{Name: "staging", Kind: String, Description: "An s3 or file datasource for export files, or 'none' to stream source to target with no files; default the local staging directory."},
	{Name: "export_batch_rows", Kind: Int, Default: "100000", Min: 1, Description: "Rows per export file (bounds memory)."},
	{Name: "batch_parallel_size", Kind: Int, Default: "5", Min: 1, Max: 64, Description: "Tables of a database job run at once."},
	{Name: "batch_file_format", Kind: Enum, Default: "csv", Values: []string{"csv", "parquet"}, Description: "Export file format."},
	{Name: "compression", Kind: Enum, Default: "zstd", Values: []string{"zstd", "gzip", "none"}, Description: "Export file compression."},
	{Name: "export_compress_parallel", Kind: Int, Default: "5", Min: 1, Max: 64, Description: "Files compressed and uploaded at once."},
	{Name: "import_parallel", Kind: Int, Default: "2", Min: 1, Max: 64, Description: "Staged files loaded at once, each in its own target transaction (1 when import_order_by is set)."},
	{Name: "heartbeat_timeout", Kind: Int, Default: "60", Min: 1, Description: "Seconds a stage may go without progress before it fails."},
	{Name: "enable_pk_duplicate_detect", Kind: Bool, Default: "on", Description: "Before importing into a non-empty target, look for keys that already exist and fail with examples."},
	{Name: "source_timezone", Kind: String, Default: "UTC", Description: "Session time zone on both sides."},
	{Name: "import_order_by", Kind: String, Description: "Comma-separated source columns to sort by before loading."},
	{Name: "pre_action", Kind: Enum, Default: "none", Values: []string{"none", "truncate", "rename_create"}, Description: "SCAN mode: what happens to the target before a fire."},
	{Name: "error_limit", Kind: Int, Default: "0", Min: 0, Description: "CDC/SCAN: bad rows tolerated before failing."},
	{Name: "throttle_mbps", Kind: Int, Default: "0", Min: 0, Description: "CDC/SCAN: bandwidth cap, 0 = none."},
	{Name: "checkpoint_interval", Kind: Int, Default: "10", Min: 1, Description: "CDC: seconds between checkpoints."},
	{Name: "restart_strategy", Kind: Enum, Default: "none", Values: []string{"none", "fixed-delay", "failure-rate"}, Description: "CDC: what happens after a failure."},
	{Name: "restart_attempts", Kind: Int, Default: "3", Min: 0, Description: "fixed-delay: attempts."},
	{Name: "restart_delay", Kind: Int, Default: "10", Min: 0, Description: "Seconds between restart attempts."},
	{Name: "failure_rate_interval", Kind: Int, Default: "300", Min: 1, Description: "failure-rate: window in seconds."},
	{Name: "max_failures_per_interval", Kind: Int, Default: "3", Min: 1, Description: "failure-rate: failures allowed per window."},
	{Name: "parallelism", Kind: Int, Default: "1", Min: 1, Max: 64, Description: "CDC/SCAN: parallel writers."},
}
