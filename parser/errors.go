package parser

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes this package produces.
const (
	CodeSyntaxError     = "42601"
	CodeFeatureNotSupp  = "0A000"
	CodeInvalidEncoding = "22021"
)

// OffsetToPosition converts a byte offset into text to the 1-based character position
// PostgreSQL clients expect in ErrorResponse. Offsets outside text are clamped.
func OffsetToPosition(text string, byteOffset int) int {
	if byteOffset < 0 {
		byteOffset = 0
	}
	if byteOffset > len(text) {
		byteOffset = len(text)
	}
	return utf8.RuneCountInString(text[:byteOffset]) + 1
}

// ShiftPosition makes the Position of a *pgconn.PgError inside err, computed
// relative to a piece that starts at byte pieceOffset of message, relative to the
// whole message. Errors without a position are left alone.
func ShiftPosition(err error, message string, pieceOffset int) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Position > 0 {
		pe.Position += int32(OffsetToPosition(message, pieceOffset) - 1)
	}
	return err
}

func pgErr(code, msg string, pos int) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg, Position: int32(pos)}
}

// nearError builds PostgreSQL's `<msg> at or near "<near>"` lexer errors.
func nearError(text string, off int, msg, near string) *pgconn.PgError {
	return pgErr(CodeSyntaxError, fmt.Sprintf("%s at or near \"%s\"", msg, near), OffsetToPosition(text, off))
}

// syntaxErrorAt reports a syntax error at token t of text, worded as PostgreSQL does.
func syntaxErrorAt(text string, t token, hint string) *pgconn.PgError {
	var e *pgconn.PgError
	if t.kind == tkEOF {
		e = pgErr(CodeSyntaxError, "syntax error at end of input", OffsetToPosition(text, len(text)))
	} else {
		e = nearError(text, t.pos, "syntax error", text[t.pos:t.end])
	}
	e.Hint = hint
	return e
}
