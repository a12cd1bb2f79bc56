package executor

import (
	"sort"
	"strings"
)

// setting is one run-time parameter a client can SHOW or SET.
type setting struct {
	name        string
	value       string
	reported    bool // sent as ParameterStatus
	readOnly    bool
	description string
	// check validates and normalises a new value; nil accepts anything.
	check func(v string) (string, error)
}

func defaultSettings(serverVersion, user string, superuser bool) map[string]*setting {
	onOff := func(v string) (string, error) {
		switch strings.ToLower(v) {
		case "on", "true", "yes", "1":
			return "on", nil
		case "off", "false", "no", "0":
			return "off", nil
		}
		return "", pgErr(codeInvalidParam, "parameter requires a Boolean value, got %q", v)
	}
	su := "off"
	if superuser {
		su = "on"
	}
	list := []*setting{
		{name: "server_version", value: serverVersion, reported: true, readOnly: true, description: "Shows the server version."},
		{name: "server_version_num", value: "160000", readOnly: true, description: "Shows the server version as an integer."},
		{name: "server_encoding", value: "UTF8", reported: true, readOnly: true, description: "Shows the server (database) character set encoding."},
		{name: "client_encoding", value: "UTF8", reported: true, description: "Sets the client's character set encoding.", check: func(v string) (string, error) {
			switch strings.ToUpper(strings.ReplaceAll(v, "-", "")) {
			case "UTF8", "UNICODE":
				return "UTF8", nil
			}
			return "", withHint(pgErr(codeFeatureNotSupp, "flowgate supports only client_encoding UTF8, not %q", v), "Set client_encoding to UTF8.")
		}},
		{name: "datestyle", value: "ISO, MDY", reported: true, description: "Sets the display format for date and time values.", check: func(v string) (string, error) {
			if strings.Contains(strings.ToUpper(v), "ISO") || strings.EqualFold(strings.TrimSpace(v), "MDY") {
				return "ISO, MDY", nil
			}
			return "", withHint(pgErr(codeFeatureNotSupp, "flowgate supports only DateStyle ISO, not %q", v), "Use SET DateStyle = 'ISO'.")
		}},
		{name: "intervalstyle", value: "postgres", reported: true, description: "Sets the display format for interval values."},
		{name: "timezone", value: "UTC", reported: true, description: "Sets the time zone for displaying and interpreting time stamps."},
		{name: "integer_datetimes", value: "on", reported: true, readOnly: true, description: "Shows whether datetimes are integer based."},
		{name: "standard_conforming_strings", value: "on", reported: true, description: "Causes '...' strings to treat backslashes literally.", check: func(v string) (string, error) {
			if s, err := onOff(v); err != nil || s != "on" {
				return "", pgErr(codeFeatureNotSupp, "flowgate supports only standard_conforming_strings = on")
			}
			return "on", nil
		}},
		{name: "is_superuser", value: su, reported: true, readOnly: true, description: "Shows whether the current user is an admin."},
		{name: "session_authorization", value: user, reported: true, readOnly: true, description: "Sets the session user name."},
		{name: "default_transaction_read_only", value: "off", reported: true, check: onOff, description: "Sets the default read-only status of new transactions."},
		{name: "in_hot_standby", value: "off", reported: true, readOnly: true, description: "Shows whether hot standby is currently active."},
		{name: "application_name", value: "", reported: true, description: "Sets the application name to be reported in statistics and logs."},
		{name: "search_path", value: "dataflow, pg_catalog", description: "Sets the schema search order for names that are not schema-qualified."},
		{name: "transaction_isolation", value: "read committed", description: "Sets the current transaction's isolation level."},
		{name: "default_transaction_isolation", value: "read committed", description: "Sets the transaction isolation level of each new transaction."},
		{name: "transaction_read_only", value: "off", check: onOff, description: "Sets the current transaction's read-only status."},
		{name: "extra_float_digits", value: "1", description: "Sets the number of digits displayed for floating-point values."},
		{name: "statement_timeout", value: "0", description: "Sets the maximum allowed duration of any statement."},
		{name: "lock_timeout", value: "0", description: "Sets the maximum allowed duration of any wait for a lock."},
		{name: "idle_in_transaction_session_timeout", value: "0", description: "Sets the maximum allowed idle time between queries, when in a transaction."},
		{name: "client_min_messages", value: "notice", description: "Sets the message levels that are sent to the client."},
		{name: "bytea_output", value: "hex", description: "Sets the output format for bytea."},
		{name: "max_identifier_length", value: "63", readOnly: true, description: "Shows the maximum identifier length."},
		{name: "lc_collate", value: "C", readOnly: true, description: "Shows the collation order locale."},
		{name: "lc_ctype", value: "C", readOnly: true, description: "Shows the character classification and case conversion locale."},
		{name: "lc_messages", value: "C", description: "Sets the language in which messages are displayed."},
		{name: "lc_monetary", value: "C", description: "Sets the locale for formatting monetary amounts."},
		{name: "lc_numeric", value: "C", description: "Sets the locale for formatting numbers."},
		{name: "lc_time", value: "C", description: "Sets the locale for formatting date and time values."},
		{name: "jit", value: "off", check: onOff, description: "Allow JIT compilation."},
		{name: "block_size", value: "8192", readOnly: true, description: "Shows the size of a disk block."},
		{name: "max_index_keys", value: "32", readOnly: true, description: "Shows the maximum number of index keys."},
		{name: "row_security", value: "on", check: onOff, description: "Enable row security."},
		{name: "synchronous_commit", value: "on", description: "Sets the current transaction's synchronization level."},
		{name: "work_mem", value: "4MB", description: "Sets the maximum memory to be used for query workspaces."},
		{name: "password_encryption", value: "scram-sha-256", readOnly: true, description: "Chooses the algorithm for encrypting passwords."},
	}
	m := make(map[string]*setting, len(list))
	for _, s := range list {
		m[s.name] = s
	}
	return m
}

// sortedSettings lists settings by name for SHOW ALL.
func sortedSettings(m map[string]*setting) []*setting {
	out := make([]*setting, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// displayName keeps PostgreSQL's spelling for the ParameterStatus keys that
// drivers match case-sensitively.
func displayName(name string) string {
	switch name {
	case "datestyle":
		return "DateStyle"
	case "intervalstyle":
		return "IntervalStyle"
	case "timezone":
		return "TimeZone"
	}
	return name
}
