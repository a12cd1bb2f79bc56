// Package mysql is the MySQL / MariaDB datasource type, on go-sql-driver.
package mysql

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/flowgate/flowgate/connectors"
)

// Name is the datasource type name used in CREATE DATASOURCE ... TYPE.
const Name = "mysql"

// reserved are extparam keys that would silently override a dedicated option
// or that flowgate relies on.
var reserved = []string{"loc", "parseTime"}

// Type declares the mysql datasource type.
func Type() connectors.Type {
	return connectors.Type{
		Name:        Name,
		Description: "A MySQL (5.7 or later) or MariaDB (10.3 or later) database, reached over TCP with go-sql-driver/mysql.",
		Options: []connectors.Option{
			{Name: "host", Required: true, Description: "Server host name or IP address.", Example: "db.example.com"},
			{Name: "port", Default: "3306", Kind: connectors.KindPort, Description: "Server TCP port."},
			{Name: "database", Required: true, Description: "Database (schema) to connect to.", Example: "shop"},
			{Name: "user", Required: true, Description: "User to log in as.", Example: "flowgate"},
			{Name: "password", Secret: true, Description: "Password of the user."},
			{Name: "servertimezone", Check: checkTimeZone, Example: "Asia/Shanghai",
				Description: "Time zone the server's DATETIME/TIMESTAMP values are in: an IANA name, UTC, or an offset like +08:00. Empty means UTC."},
			{Name: "extparam", Check: checkExtParam, Example: "timeout=5s&charset=utf8mb4",
				Description: "Extra go-sql-driver/mysql DSN parameters in URL query form (key=value&key=value), e.g. timeout, readTimeout, tls, charset, or server variables. allowAllFiles is refused: it would let the server read files on the gateway's host."},
		},
		Open: Open,
	}
}

// ParseTimeZone turns a servertimezone value into a location.
func ParseTimeZone(v string) (*time.Location, error) {
	if v == "" {
		return time.UTC, nil
	}
	if v[0] == '+' || v[0] == '-' {
		t, err := time.Parse("-07:00", v)
		if err != nil {
			return nil, fmt.Errorf("offset must look like +08:00")
		}
		_, off := t.Zone()
		return time.FixedZone(v, off), nil
	}
	loc, err := time.LoadLocation(v)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone")
	}
	return loc, nil
}

func checkTimeZone(v string) error {
	_, err := ParseTimeZone(v)
	return err
}

func checkExtParam(v string) error {
	q, err := url.ParseQuery(v)
	if err != nil {
		return fmt.Errorf("not in key=value&key=value form: %w", err)
	}
	for k := range q {
		for _, r := range reserved {
			if strings.EqualFold(k, r) {
				return fmt.Errorf("%q is managed by flowgate (use servertimezone)", k)
			}
		}
	}
	if _, err := config(map[string]string{"extparam": v}); err != nil {
		return err
	}
	return nil
}
