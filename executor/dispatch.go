package executor

import (
	"context"
	"fmt"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/executor/runopts"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
	"github.com/jackc/pgx/v5/pgtype"
)

// roleRank orders roles so a check is one comparison.
var roleRank = map[string]int{catalog.RoleReadonly: 1, catalog.RoleManage: 2, catalog.RoleAdmin: 3}

// requiredRole is the weakest role allowed to run p.
func (s *Session) requiredRole(p parser.Statement) string {
	switch st := p.(type) {
	case *parser.Std, *parser.TestDatasource, *parser.Empty:
		return catalog.RoleReadonly
	case *parser.AlterUser:
		// Anyone may change their own password, as in PostgreSQL.
		if st.Role == nil && st.Name == s.user {
			return catalog.RoleReadonly
		}
		return catalog.RoleAdmin
	case *parser.CreateUser, *parser.DropUser:
		return catalog.RoleAdmin
	}
	return catalog.RoleManage
}

func (s *Session) authorize(p parser.Statement) error {
	need := s.requiredRole(p)
	s.mu.Lock()
	role := s.role
	s.mu.Unlock()
	if roleRank[role] >= roleRank[need] {
		return nil
	}
	return withHint(pgErr(codeInsufficientPriv, "permission denied: %s needs role %s, user %q has role %s", p.Kind(), need, s.user, role),
		"An admin can grant it with ALTER USER "+s.user+" ROLE "+need+".")
}

// checkTxState refuses work in a failed transaction block, as PostgreSQL does.
func (s *Session) checkTxState(p parser.Statement) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txStatus != 'E' {
		return nil
	}
	if std, ok := p.(*parser.Std); ok {
		switch std.Command {
		case "COMMIT", "ROLLBACK":
			return nil
		}
	}
	return withHint(pgErr(codeInFailedTx, "current transaction is aborted, commands ignored until end of transaction block"),
		"Send ROLLBACK (or COMMIT) to end the block.")
}

// run executes a non-SELECT statement.
func (s *Session) run(ctx context.Context, p parser.Statement) (wire.Result, error) {
	switch st := p.(type) {
	case *parser.Std:
		return s.runStd(ctx, st)
	case *parser.CreateDatasource:
		return s.createDatasource(ctx, st)
	case *parser.AlterDatasourceOptions:
		return s.alterDatasourceOptions(ctx, st)
	case *parser.AlterDatasourceRename:
		return s.renameDatasource(ctx, st)
	case *parser.AlterDatasourceComment:
		return s.commentDatasource(ctx, st)
	case *parser.DropDatasource:
		return s.dropDatasource(ctx, st)
	case *parser.RestoreDatasource:
		return s.restoreDatasource(ctx, st)
	case *parser.TestDatasource:
		return s.testDatasource(ctx, st)
	case *parser.CreateUser:
		return s.createUser(ctx, st)
	case *parser.AlterUser:
		return s.alterUser(ctx, st)
	case *parser.DropUser:
		return s.dropUser(ctx, st)
	case *parser.ImportTables:
		return s.runImportTables(ctx, st)
	case *parser.RefreshTables:
		return s.runRefreshTables(ctx, st)
	case *parser.CreateTableModel:
		return s.runCreateTableModel(ctx, st)
	case *parser.AlterTableModel:
		return s.runAlterTableModel(ctx, st)
	case *parser.DropTableModel:
		return s.runDropTableModel(ctx, st)
	case *parser.AssociateTable:
		return s.runAssociateTable(ctx, st)
	case *parser.DissociateTable:
		return s.runDissociateTable(ctx, st)
	case *parser.CreateDDLTask:
		return s.runCreateDDLTask(ctx, st)
	case *parser.RunDDLTask:
		return s.runRunDDLTask(ctx, st)
	case *parser.AlterDDLTask:
		return s.runAlterDDLTask(ctx, st)
	case *parser.DropDDLTask:
		return s.runDropDDLTask(ctx, st)
	case *parser.CreateSyncJob:
		return s.runCreateSyncJob(ctx, st)
	case *parser.AlterSyncJob:
		return s.runAlterSyncJob(ctx, st)
	case *parser.DropSyncJob:
		return s.runDropSyncJob(ctx, st)
	case *parser.RunSyncJob:
		return s.runRunSyncJob(ctx, st)
	case *parser.StopSyncJob:
		return s.runStopSyncJob(ctx, st)
	case *parser.RestartSyncJob:
		return s.runRestartSyncJob(ctx, st)
	case *parser.ResetSyncJob:
		return s.runResetSyncJob(ctx, st)
	case *parser.PauseSyncJob:
		return s.setScheduleState(ctx, st.Name, catalog.SchedulePaused, "PAUSE SYNC JOB")
	case *parser.ResumeSyncJob:
		return s.setScheduleState(ctx, st.Name, catalog.ScheduleActive, "RESUME SYNC JOB")
	case *parser.RetryRun:
		return s.runRetryRun(ctx, st)
	case *parser.CleanSourceData:
		return s.runCleanSourceData(ctx, st)
	case *parser.CleanExportFiles:
		return s.runCleanExportFiles(ctx, st)
	}
	return nil, pgErr(codeFeatureNotSupp, "flowgate cannot run %s yet", p.Kind())
}

// staticColumns describes the rows of statements other than SELECT.
func staticColumns(p parser.Statement) []wire.Column {
	switch st := p.(type) {
	case *parser.TestDatasource:
		return testDatasourceColumns
	case *parser.ImportTables, *parser.RefreshTables:
		return importTablesColumns
	case *parser.RunDDLTask:
		return ddlTaskColumns
	case *parser.RunSyncJob, *parser.StopSyncJob, *parser.RetryRun, *parser.RestartSyncJob:
		return runColumns
	case *parser.CleanSourceData, *parser.CleanExportFiles:
		return cleanColumns
	case *parser.CreateDDLTask:
		for _, o := range st.With {
			if o.Key == "run_now" {
				if v, err := runopts.DDLTask.Check(map[string]string{o.Key: o.Value}); err == nil && v[o.Key] == "on" {
					return ddlTaskColumns
				}
			}
		}
	case *parser.Std:
		if st.Command == "SHOW" {
			if st.Name == "all" {
				return []wire.Column{textCol("name"), textCol("setting"), textCol("description")}
			}
			return []wire.Column{textCol(st.Name)}
		}
	}
	return nil
}

func textCol(name string) wire.Column {
	return wire.Column{Name: name, TypeOID: pgtype.TextOID, TypeSize: -1, TypeModifier: -1}
}

func typedCol(name string, oid uint32) wire.Column {
	return wire.Column{Name: name, TypeOID: oid, TypeSize: typeSize(oid), TypeModifier: -1}
}

// typeSize is pg_type.typlen for the types we send.
func typeSize(oid uint32) int16 {
	switch oid {
	case pgtype.BoolOID:
		return 1
	case pgtype.Int2OID:
		return 2
	case pgtype.Int4OID, pgtype.Float4OID, pgtype.OIDOID, pgtype.DateOID:
		return 4
	case pgtype.Int8OID, pgtype.Float8OID, pgtype.TimestamptzOID, pgtype.TimestampOID:
		return 8
	case pgtype.UUIDOID:
		return 16
	}
	return -1
}

func text(s string) []byte { return []byte(s) }

func boolText(b bool) []byte {
	if b {
		return []byte("t")
	}
	return []byte("f")
}

func fmtFloat(f float64) []byte { return []byte(fmt.Sprintf("%.3f", f)) }
