package parser

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgqparser "github.com/pganalyze/pg_query_go/v6/parser"
)

const supportedList = "supported: SELECT over dataflow.* views, SET, SHOW, BEGIN/COMMIT/ROLLBACK, and the flowgate statements in docs/sql-reference.md"

// parseStd parses text with PostgreSQL's own grammar and keeps the statement kinds
// flowgate answers; everything else is 0A000.
func parseStd(text string) (Statement, error) {
	tree, err := pg_query.Parse(text)
	if err != nil {
		var qe *pgqparser.Error
		if errors.As(err, &qe) {
			// pg_query doesn't carry the SQLSTATE; its errors are grammar/lexer errors
			// (42601) except for the stack depth guard.
			e := pgErr(CodeSyntaxError, qe.Message, qe.Cursorpos)
			if strings.Contains(qe.Message, "stack depth") {
				e.Code = "54001"
			}
			if e.Position < 0 || int(e.Position) > OffsetToPosition(text, len(text)) {
				e.Position = 0
			}
			return nil, e
		}
		return nil, pgErr("XX000", err.Error(), 0)
	}
	switch len(tree.Stmts) {
	case 0:
		return &Empty{Source{text}}, nil
	case 1:
	default:
		return nil, pgErr(CodeSyntaxError, "cannot insert multiple commands into a prepared statement", 0)
	}
	st := &Std{Source: Source{text}, Tree: tree}
	node := tree.Stmts[0].Stmt
	switch {
	case node.GetSelectStmt() != nil:
		if sel := node.GetSelectStmt(); hasInto(sel) {
			return nil, unsupported("SELECT INTO")
		} else if dmlInWith(sel) {
			return nil, unsupported("data-modifying statements in WITH")
		}
		st.Command = "SELECT"
	case node.GetVariableSetStmt() != nil:
		if err := st.fromSet(node.GetVariableSetStmt()); err != nil {
			return nil, err
		}
	case node.GetVariableShowStmt() != nil:
		st.Command = "SHOW"
		st.Name = node.GetVariableShowStmt().Name
	case node.GetTransactionStmt() != nil:
		if err := st.fromTransaction(node.GetTransactionStmt()); err != nil {
			return nil, err
		}
	case node.GetDiscardStmt() != nil:
		st.Command = "DISCARD"
		st.Name = strings.ToLower(strings.TrimPrefix(node.GetDiscardStmt().Target.String(), "DISCARD_"))
	case node.GetDeallocateStmt() != nil:
		st.Command = "DEALLOCATE"
		st.Name = node.GetDeallocateStmt().Name
		if node.GetDeallocateStmt().Isall || st.Name == "" {
			st.Name = "all"
		}
	default:
		return nil, unsupported(stmtKind(node))
	}
	return st, nil
}

func unsupported(what string) error {
	return pgErr(CodeFeatureNotSupp, "flowgate does not support "+what+"; "+supportedList, 0)
}

func hasInto(s *pg_query.SelectStmt) bool {
	if s == nil {
		return false
	}
	return s.IntoClause != nil || hasInto(s.Larg) || hasInto(s.Rarg)
}

func dmlInWith(s *pg_query.SelectStmt) bool {
	if s == nil {
		return false
	}
	if w := s.WithClause; w != nil {
		for _, c := range w.Ctes {
			cte := c.GetCommonTableExpr()
			if cte == nil {
				continue
			}
			if q := cte.Ctequery; q != nil && (q.GetSelectStmt() == nil || dmlInWith(q.GetSelectStmt())) {
				return true
			}
		}
	}
	return dmlInWith(s.Larg) || dmlInWith(s.Rarg)
}

func (st *Std) fromSet(s *pg_query.VariableSetStmt) error {
	st.Command = "SET"
	st.Name = s.Name
	st.IsLocal = s.IsLocal
	switch s.Kind {
	case pg_query.VariableSetKind_VAR_SET_VALUE:
		for _, a := range s.Args {
			v, ok := constText(a)
			if !ok {
				return unsupported("this SET value form")
			}
			st.Values = append(st.Values, v)
		}
	case pg_query.VariableSetKind_VAR_SET_DEFAULT:
		st.IsReset = true
	case pg_query.VariableSetKind_VAR_RESET, pg_query.VariableSetKind_VAR_RESET_ALL:
		st.Command = "RESET"
		st.IsReset = true
		if s.Kind == pg_query.VariableSetKind_VAR_RESET_ALL {
			st.Name = "all"
		}
	case pg_query.VariableSetKind_VAR_SET_MULTI:
		opts, err := defElems(s.Args)
		if err != nil {
			return err
		}
		st.Options = opts
	default:
		return unsupported("SET ... FROM CURRENT")
	}
	return nil
}

func (st *Std) fromTransaction(t *pg_query.TransactionStmt) error {
	st.Savepoint = t.SavepointName
	st.Chain = t.Chain
	switch t.Kind {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN:
		st.Command = "BEGIN"
	case pg_query.TransactionStmtKind_TRANS_STMT_START:
		st.Command = "START TRANSACTION"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		st.Command = "COMMIT"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		st.Command = "ROLLBACK"
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		st.Command = "SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		st.Command = "RELEASE"
	default:
		return unsupported("two-phase commit")
	}
	opts, err := defElems(t.Options)
	st.Options = opts
	return err
}

func defElems(nodes []*pg_query.Node) ([]Option, error) {
	var opts []Option
	for _, n := range nodes {
		d := n.GetDefElem()
		if d == nil {
			return nil, unsupported("this transaction option form")
		}
		o := Option{Key: d.Defname, KeyPos: int(d.Location), ValuePos: int(d.ArgLocation)}
		if d.Arg != nil {
			v, ok := constText(d.Arg)
			if !ok {
				return nil, unsupported("this transaction option form")
			}
			o.Value = v
		}
		if ac := d.Arg.GetAConst(); ac != nil && ac.GetSval() == nil {
			o.Kind = ValNumber
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// constText renders a constant (possibly cast, as in SET TIME ZONE INTERVAL '...')
// as text.
func constText(n *pg_query.Node) (string, bool) {
	if tc := n.GetTypeCast(); tc != nil && tc.Arg != nil {
		n = tc.Arg
	}
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return "", false
	}
	switch {
	case c.GetSval() != nil:
		return c.GetSval().Sval, true
	case c.GetIval() != nil:
		return strconv.Itoa(int(c.GetIval().Ival)), true
	case c.GetFval() != nil:
		return c.GetFval().Fval, true
	case c.GetBoolval() != nil:
		return strconv.FormatBool(c.GetBoolval().Boolval), true
	case c.GetBsval() != nil:
		return c.GetBsval().Bsval, true
	}
	// An A_Const with no value is integer 0 in the protobuf encoding.
	return "0", true
}

// stmtKinds names common statements the way PostgreSQL's command tags do.
var stmtKinds = map[string]string{
	"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "MergeStmt": "MERGE",
	"CreateStmt": "CREATE TABLE", "CreateTableAsStmt": "CREATE TABLE AS", "CopyStmt": "COPY",
	"ExplainStmt": "EXPLAIN", "AlterTableStmt": "ALTER TABLE", "IndexStmt": "CREATE INDEX",
	"ViewStmt": "CREATE VIEW", "TruncateStmt": "TRUNCATE", "CreateRoleStmt": "CREATE ROLE",
	"AlterRoleStmt": "ALTER ROLE", "DropRoleStmt": "DROP ROLE", "GrantStmt": "GRANT",
	"GrantRoleStmt": "GRANT", "VacuumStmt": "VACUUM", "PrepareStmt": "PREPARE",
	"ExecuteStmt": "EXECUTE", "DoStmt": "DO", "CreateFunctionStmt": "CREATE FUNCTION",
	"CreateSchemaStmt": "CREATE SCHEMA", "CreatedbStmt": "CREATE DATABASE", "DropdbStmt": "DROP DATABASE",
	"ListenStmt": "LISTEN", "UnlistenStmt": "UNLISTEN", "NotifyStmt": "NOTIFY", "LockStmt": "LOCK",
	"CallStmt": "CALL", "DeclareCursorStmt": "DECLARE CURSOR", "FetchStmt": "FETCH",
	"ClosePortalStmt": "CLOSE", "CreateSeqStmt": "CREATE SEQUENCE", "CommentStmt": "COMMENT",
	"RenameStmt": "ALTER", "CreateExtensionStmt": "CREATE EXTENSION", "CheckPointStmt": "CHECKPOINT",
	"ImportForeignSchemaStmt": "IMPORT FOREIGN SCHEMA", "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW",
	"ReindexStmt": "REINDEX", "AlterSeqStmt": "ALTER SEQUENCE", "CreateTrigStmt": "CREATE TRIGGER",
	"AlterDatabaseStmt": "ALTER DATABASE", "AlterSystemStmt": "ALTER SYSTEM", "SecLabelStmt": "SECURITY LABEL", "ClusterStmt": "CLUSTER", "LoadStmt": "LOAD",
}

var camelWord = regexp.MustCompile(`[A-Z][a-z]*`)

// stmtKind names a statement node: from the table, "DROP <object>" for DROP, else
// derived from the node type (AlterSeqStmt -> ALTER SEQ).
func stmtKind(n *pg_query.Node) string {
	if d := n.GetDropStmt(); d != nil {
		return "DROP " + strings.ReplaceAll(strings.TrimPrefix(d.RemoveType.String(), "OBJECT_"), "_", " ")
	}
	if v := n.GetVacuumStmt(); v != nil && !v.IsVacuumcmd {
		return "ANALYZE"
	}
	name := strings.TrimPrefix(fmt.Sprintf("%T", n.GetNode()), "*pg_query.Node_")
	if k, ok := stmtKinds[name]; ok {
		return k
	}
	name = strings.TrimSuffix(name, "Stmt")
	return strings.ToUpper(strings.Join(camelWord.FindAllString(name, -1), " "))
}
