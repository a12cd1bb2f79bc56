package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// errQueryCanceled is the cancel cause set by a CancelRequest, so a
// canceled context can be told apart from a client disconnect.
var errQueryCanceled = errors.New("canceling statement due to user request")

// pgErr builds a *pgconn.PgError; the wire layer's own errors use it too so
// that every path goes through one conversion.
func pgErr(severity, code, format string, args ...any) *pgconn.PgError {
	return &pgconn.PgError{Severity: severity, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toPgError finds the client-facing error. ctx is the statement context:
// when a CancelRequest canceled it, a plain context error becomes 57014.
func toPgError(ctx context.Context, err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		out := *pe
		if out.Severity == "" {
			out.Severity = "ERROR"
		}
		if out.Code == "" {
			out.Code = "XX000"
		}
		return &out
	}
	if ctx != nil && context.Cause(ctx) == errQueryCanceled {
		return pgErr("ERROR", "57014", "%s", errQueryCanceled.Error())
	}
	return pgErr("ERROR", "XX000", "%s", err.Error())
}

// errorResponse copies every PgError field into the protocol message.
func errorResponse(pe *pgconn.PgError) *pgproto3.ErrorResponse {
	sevU := pe.SeverityUnlocalized
	if sevU == "" {
		sevU = pe.Severity
	}
	return &pgproto3.ErrorResponse{
		Severity:            pe.Severity,
		SeverityUnlocalized: sevU,
		Code:                pe.Code,
		Message:             pe.Message,
		Detail:              pe.Detail,
		Hint:                pe.Hint,
		Position:            pe.Position,
		InternalPosition:    pe.InternalPosition,
		InternalQuery:       pe.InternalQuery,
		Where:               pe.Where,
		SchemaName:          pe.SchemaName,
		TableName:           pe.TableName,
		ColumnName:          pe.ColumnName,
		DataTypeName:        pe.DataTypeName,
		ConstraintName:      pe.ConstraintName,
		File:                pe.File,
		Line:                pe.Line,
		Routine:             pe.Routine,
	}
}

// isFatal reports whether the connection must close after the error.
func isFatal(pe *pgconn.PgError) bool {
	return pe.Severity == "FATAL" || pe.Severity == "PANIC"
}
