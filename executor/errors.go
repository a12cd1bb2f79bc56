package executor

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATEs used by the executor.
const (
	codeDuplicateObject   = "42710"
	codeUndefinedObject   = "42704"
	codeInsufficientPriv  = "42501"
	codeObjectState       = "55000"
	codeObjectInUse       = "55006"
	codeInvalidParam      = "22023"
	codeFeatureNotSupp    = "0A000"
	codeInFailedTx        = "25P02"
	codeActiveTx          = "25001"
	codeNoActiveTx        = "25P01"
	codeInternal          = "XX000"
	codeQueryCanceled     = "57014"
	codeInvalidAuthSpec   = "28000"
	codeProgramLimitExcd  = "54000"
	codeSuccessfulCompl   = "00000"
	codeWarning           = "01000"
	codeInvalidPassword   = "28P01"
	codeInvalidParamValue = "22023"
	codeConnectionFailure = "08001"
	codeSystemError       = "58000"
	codeUndefinedColumn   = "42703"
	codeDuplicateColumn   = "42701"
	codeInvalidTableDef   = "42P16"
	codeAmbiguous         = "42P09"
	codeDatatypeMismatch  = "42804"
	codeSyntaxError       = "42601"
	codeDependentObjects  = "2BP01"
)

func pgErr(code, format string, args ...any) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: fmt.Sprintf(format, args...)}
}

func withHint(e *pgconn.PgError, hint string) *pgconn.PgError {
	e.Hint = hint
	return e
}

func withPos(e *pgconn.PgError, pos int) *pgconn.PgError {
	e.Position = int32(pos)
	return e
}

// sqlstate is what the audit log and metrics record for err.
func sqlstate(err error) string {
	if err == nil {
		return codeSuccessfulCompl
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return codeInternal
}
