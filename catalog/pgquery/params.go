package pgquery

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// nowFunc is the clock behind now(); tests replace it.
var nowFunc = time.Now

type hiddenKind int

const (
	hiddenNow  hiddenKind = iota // statement timestamp in storage form
	hiddenGlob                   // GLOB pattern made from LIKE parameter src
)

// hiddenParam is a parameter the client never sees; Args appends it after
// the client's values.
type hiddenParam struct {
	kind hiddenKind
	src  int
	esc  string
}

// Args converts the client's text-format parameter values (nil = NULL) to
// SQLite values per ParamOIDs and appends the hidden parameters. Invalid
// input is a 22P02/22007 error as PostgreSQL would give at Bind.
func (q *Query) Args(params [][]byte) ([]any, error) {
	if len(params) != len(q.ParamOIDs) {
		return nil, pgErr("08P01", 0, "bind message supplies %d parameters, but prepared statement requires %d", len(params), len(q.ParamOIDs))
	}
	out := make([]any, 0, len(params)+len(q.hidden))
	for i, p := range params {
		v, err := paramValue(q.ParamOIDs[i], p)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	now := storageTime(nowFunc())
	for _, h := range q.hidden {
		switch h.kind {
		case hiddenNow:
			out = append(out, now)
		case hiddenGlob:
			p := params[h.src-1]
			if p == nil {
				out = append(out, nil)
				continue
			}
			g, err := likeToGlob(string(p), h.esc)
			if err != nil {
				return nil, pgErr("22025", 0, "%s", err.Error())
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// paramValue converts one text-format value to its SQLite storage form.
func paramValue(oid uint32, p []byte) (any, error) {
	if p == nil {
		return nil, nil
	}
	s := string(p)
	bad := func(code string) error {
		return pgErr(code, 0, "invalid input syntax for type %s: %q", typeName(oid), s)
	}
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidOID:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, bad("22P02")
		}
		return v, nil
	case oidFloat4, oidFloat8:
		v, err := parseFloatPG(s)
		if err != nil {
			return nil, bad("22P02")
		}
		return v, nil
	case oidNumeric:
		t := strings.TrimSpace(s)
		if v, err := strconv.ParseInt(t, 10, 64); err == nil {
			return v, nil
		}
		v, err := parseFloatPG(t)
		if err != nil {
			return nil, bad("22P02")
		}
		return v, nil
	case oidBool:
		v, ok := parseBoolPG(s)
		if !ok {
			return nil, bad("22P02")
		}
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	case oidTimestamptz, oidTimestamp:
		t, err := parseTimestamp(s)
		if err != nil {
			return nil, bad("22007")
		}
		return storageTime(t), nil
	case oidDate:
		t, err := parseTimestamp(s)
		if err != nil {
			return nil, bad("22007")
		}
		return t.Format("2006-01-02"), nil
	case oidInterval:
		iv, err := parseInterval(s)
		if err != nil {
			return nil, bad("22007")
		}
		return iv.seconds(), nil
	case oidRegclass, oidRegtype, oidRegproc, oidRegnamespace, oidRegrole, oidRegprocedure:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, pgErr("0A000", 0, "flowgate accepts %s parameters as OIDs only; cast a text parameter instead ($1::text::%s)", typeName(oid), typeName(oid))
		}
		return v, nil
	case oidJSON, oidJSONB:
		if !jsonValid(s) {
			return nil, pgErr("22P02", 0, "invalid input syntax for type json")
		}
		return s, nil
	}
	if isArrayType(oid) {
		js, err := arrayLiteralJSON(s, elemType(oid))
		if err != nil {
			return nil, pgErr("22P02", 0, "%s", err.Error())
		}
		return js, nil
	}
	return s, nil
}

func jsonValid(s string) bool { return json.Valid([]byte(s)) }
