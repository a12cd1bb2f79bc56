package catalog

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one executed statement. Statement must already be redacted.
type AuditEntry struct {
	At              time.Time
	User            string
	ClientAddr      string
	ApplicationName string
	Statement       string
	SQLState        string
	Duration        time.Duration
}

// maxAuditStatement keeps a 10 MB statement from bloating the catalog.
const maxAuditStatement = 64 << 10

// Audit records one statement.
func (c *Catalog) Audit(ctx context.Context, e AuditEntry) error {
	stmt := e.Statement
	if len(stmt) > maxAuditStatement {
		cut := maxAuditStatement
		for cut > 0 && stmt[cut]&0xC0 == 0x80 { // keep UTF-8 whole
			cut--
		}
		stmt = fmt.Sprintf("%s... (%d bytes, truncated)", stmt[:cut], len(e.Statement))
	}
	_, err := c.w.ExecContext(ctx, `INSERT INTO audit_log (at, user_name, client_addr, application_name, statement, sqlstate, duration_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, FormatTime(e.At), e.User, e.ClientAddr, e.ApplicationName, stmt, e.SQLState,
		float64(e.Duration.Microseconds())/1000)
	if err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}
