package executor

import (
	"context"
	"strings"

	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
)

// runStd answers the standard statements other than SELECT.
func (s *Session) runStd(ctx context.Context, st *parser.Std) (wire.Result, error) {
	switch st.Command {
	case "SET":
		return s.set(st)
	case "RESET":
		return s.reset(st.Name)
	case "SHOW":
		return s.show(st.Name)
	case "BEGIN", "START TRANSACTION":
		s.mu.Lock()
		inBlock := s.txStatus != 'I'
		if !inBlock {
			s.txStatus = 'T'
		}
		s.mu.Unlock()
		if inBlock {
			s.notice("WARNING", codeActiveTx, "there is already a transaction in progress", "")
		}
		return tagOnly("BEGIN"), nil
	case "COMMIT", "ROLLBACK":
		s.mu.Lock()
		prev := s.txStatus
		s.txStatus = 'I'
		s.mu.Unlock()
		if prev == 'I' {
			s.notice("WARNING", codeNoActiveTx, "there is no transaction in progress", "")
		}
		if prev == 'E' || st.Command == "ROLLBACK" {
			return tagOnly("ROLLBACK"), nil
		}
		return tagOnly("COMMIT"), nil
	case "SAVEPOINT", "RELEASE":
		if s.TxStatus() == 'I' {
			return nil, pgErr(codeNoActiveTx, "%s can only be used in transaction blocks", st.Command)
		}
		return tagOnly(st.Command), nil
	case "DISCARD":
		if st.Name == "all" {
			return s.reset("all")
		}
		return tagOnly("DISCARD " + strings.ToUpper(st.Name)), nil
	case "DEALLOCATE":
		return tagOnly("DEALLOCATE"), nil
	}
	return nil, pgErr(codeFeatureNotSupp, "flowgate does not support %s", st.Command)
}

func (s *Session) set(st *parser.Std) (wire.Result, error) {
	if st.IsReset {
		if _, err := s.reset(st.Name); err != nil {
			return nil, err
		}
		return tagOnly("SET"), nil
	}
	switch strings.ToLower(st.Name) {
	case "session characteristics", "transaction":
		// Isolation levels mean nothing to a catalog answered statement by
		// statement; accept them so drivers can configure sessions.
		return tagOnly("SET"), nil
	}
	name := strings.ToLower(st.Name)
	value := strings.Join(st.Values, ", ")
	if name == "names" {
		name = "client_encoding"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.settings[name]
	if !ok {
		if strings.Contains(name, ".") { // custom placeholder variables, as PostgreSQL allows
			s.settings[name] = &setting{name: name, value: value, description: "Custom setting."}
			return tagOnly("SET"), nil
		}
		return nil, withHint(pgErr(codeUndefinedObject, "unrecognized configuration parameter %q", st.Name),
			"SHOW ALL lists the parameters flowgate knows.")
	}
	if cur.readOnly {
		return nil, pgErr("55P02", "parameter %q cannot be changed", st.Name)
	}
	if cur.check != nil {
		v, err := cur.check(value)
		if err != nil {
			return nil, err
		}
		value = v
	}
	cur.value = value
	return tagOnly("SET"), nil
}

func (s *Session) reset(name string) (wire.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defaults := defaultSettings(ServerVersion, s.user, s.role == "admin")
	defaults["application_name"].value = s.info.ApplicationName
	if name == "all" {
		// application_name survives RESET ALL only when set at startup.
		s.settings = defaults
		return tagOnly("RESET"), nil
	}
	d, ok := defaults[strings.ToLower(name)]
	if !ok {
		if _, custom := s.settings[name]; custom {
			delete(s.settings, name)
			return tagOnly("RESET"), nil
		}
		return nil, pgErr(codeUndefinedObject, "unrecognized configuration parameter %q", name)
	}
	s.settings[d.name] = d
	return tagOnly("RESET"), nil
}

func (s *Session) show(name string) (wire.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "all" {
		var rows [][][]byte
		for _, st := range sortedSettings(s.settings) {
			rows = append(rows, [][]byte{text(displayName(st.name)), text(st.value), text(st.description)})
		}
		return &rowsResult{rows: rows, tag: "SHOW"}, nil
	}
	st, ok := s.settings[strings.ToLower(name)]
	if !ok {
		return nil, withHint(pgErr(codeUndefinedObject, "unrecognized configuration parameter %q", name),
			"SHOW ALL lists the parameters flowgate knows.")
	}
	return &rowsResult{rows: [][][]byte{{text(st.value)}}, tag: "SHOW"}, nil
}
