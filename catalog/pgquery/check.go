package pgquery

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// pgErr builds an ERROR with a SQLSTATE; pos is a 1-based character
// position or 0.
func pgErr(code string, pos int, format string, args ...any) *pgconn.PgError {
	return &pgconn.PgError{
		Severity:            "ERROR",
		SeverityUnlocalized: "ERROR",
		Code:                code,
		Message:             fmt.Sprintf(format, args...),
		Position:            int32(pos),
	}
}

// errAt builds an error positioned at a parse-tree location (byte offset,
// -1 when unknown).
func (t *translator) errAt(code string, loc int32, format string, args ...any) *pgconn.PgError {
	pos := 0
	if loc >= 0 {
		pos = charPos(t.src, int(loc))
	}
	return pgErr(code, pos, format, args...)
}

// supportedMsg names what flowgate answers, for 0A000 messages.
const supportedMsg = "flowgate answers read-only SELECT queries over dataflow.* views"

// checkTop accepts only a plain SELECT (possibly with set operations and
// WITH) and names why anything else is refused.
func (t *translator) checkTop(raw *pg_query.RawStmt) (*pg_query.SelectStmt, error) {
	if raw == nil || raw.GetStmt() == nil {
		return nil, pgErr("42601", 0, "empty statement")
	}
	loc := raw.GetStmtLocation()
	sel := raw.GetStmt().GetSelectStmt()
	if sel == nil {
		kind := strings.TrimSuffix(fmt.Sprintf("%T", raw.GetStmt().GetNode()), "")
		kind = strings.TrimPrefix(kind, "*pg_query.Node_")
		switch raw.GetStmt().GetNode().(type) {
		case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt:
			return nil, t.errAt("25006", loc, "flowgate is read-only: %s is not allowed on dataflow.* views", stmtVerb(kind))
		}
		return nil, t.errAt("0A000", loc, "%s is not supported here; %s", stmtVerb(kind), supportedMsg)
	}
	return sel, nil
}

func stmtVerb(kind string) string {
	kind = strings.TrimSuffix(kind, "Stmt")
	switch kind {
	case "Insert", "Update", "Delete", "Merge":
		return strings.ToUpper(kind)
	}
	return kind + " statement"
}

// checkSelectClauses rejects SELECT features that write or lock.
func (t *translator) checkSelectClauses(s *pg_query.SelectStmt) error {
	if into := s.GetIntoClause(); into != nil {
		return t.errAt("0A000", into.GetRel().GetLocation(), "SELECT INTO is not supported: flowgate is read-only")
	}
	if len(s.GetLockingClause()) > 0 {
		return t.errAt("0A000", -1, "SELECT FOR UPDATE/SHARE is not supported: flowgate is read-only")
	}
	if len(s.GetWindowClause()) > 0 {
		return t.errAt("0A000", -1, "window functions are not supported by flowgate")
	}
	if s.GetLimitOption() == pg_query.LimitOption_LIMIT_OPTION_WITH_TIES {
		return t.errAt("0A000", -1, "FETCH ... WITH TIES is not supported by flowgate")
	}
	if s.GetGroupDistinct() {
		return t.errAt("0A000", -1, "GROUP BY DISTINCT is not supported by flowgate")
	}
	return nil
}

// checkCTE refuses data-modifying WITH entries.
func (t *translator) checkCTE(cte *pg_query.CommonTableExpr) error {
	switch cte.GetCtequery().GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		return nil
	case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt, *pg_query.Node_MergeStmt:
		return t.errAt("25006", cte.GetLocation(), "flowgate is read-only: data-modifying statements in WITH are not allowed")
	}
	return t.errAt("0A000", cte.GetLocation(), "WITH %q must be a SELECT", cte.GetCtename())
}

// missingRelation builds 42P01 with a hint naming what can be queried.
func (t *translator) missingRelation(schema, relname, name string, loc int32) error {
	if u, ok := t.res.(UnsupportedRelations); ok {
		if msg, ok := u.Unsupported(schema, relname); ok {
			return t.errAt("0A000", loc, "%s", msg)
		}
	}
	e := t.errAt("42P01", loc, "relation %q does not exist", name)
	hint := "flowgate answers SELECTs over dataflow.* views"
	if l, ok := t.res.(RelationLister); ok {
		names := l.Relations()
		sort.Strings(names)
		if len(names) > 0 {
			hint += "; available: " + strings.Join(names, ", ")
		}
	}
	e.Hint = hint
	return e
}
