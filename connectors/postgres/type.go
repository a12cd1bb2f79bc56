// Package postgres is the PostgreSQL datasource type, on pgx.
package postgres

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/flowgate/flowgate/connectors"
)

// Name is the datasource type name used in CREATE DATASOURCE ... TYPE.
const Name = "postgres"

// reserved are extparam keys that would silently override a dedicated option.
var reserved = []string{"host", "hostaddr", "port", "user", "password", "dbname", "database", "sslmode"}

// Type declares the postgres datasource type.
func Type() connectors.Type {
	return connectors.Type{
		Name:        Name,
		Description: "A PostgreSQL database (9.6 or later), reached over TCP with pgx.",
		Options: []connectors.Option{
			{Name: "host", Required: true, Description: "Server host name or IP address.", Example: "db.example.com"},
			{Name: "port", Default: "5432", Kind: connectors.KindPort, Description: "Server TCP port."},
			{Name: "database", Required: true, Description: "Database to connect to.", Example: "shop"},
			{Name: "user", Required: true, Description: "Role to log in as.", Example: "flowgate"},
			{Name: "password", Secret: true, Description: "Password of the role; may be empty when the server trusts the client."},
			{Name: "schema", Default: "public", Description: "Schema whose tables the datasource works with."},
			{Name: "sslmode", Default: "prefer", Kind: connectors.KindEnum,
				Values:      []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"},
				Description: "TLS use, as libpq's sslmode; the default prefer tries TLS and falls back to plain TCP."},
			{Name: "extparam", Check: checkExtParam, Example: "connect_timeout=5&application_name=flowgate",
				Description: "Extra connection parameters in URL query form (key=value&key=value): libpq keywords pgx understands (connect_timeout, target_session_attrs, sslrootcert, ...) or server settings (search_path, statement_timeout, ...)."},
		},
		Open: Open,
	}
}

func checkExtParam(v string) error {
	q, err := url.ParseQuery(v)
	if err != nil {
		return fmt.Errorf("not in key=value&key=value form: %w", err)
	}
	for k := range q {
		for _, r := range reserved {
			if strings.EqualFold(k, r) {
				return fmt.Errorf("%q has its own option; set it there", k)
			}
		}
	}
	return nil
}
