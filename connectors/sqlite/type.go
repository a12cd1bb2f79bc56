// Package sqlite is the SQLite datasource type, on mattn/go-sqlite3.
package sqlite

import "github.com/flowgate/flowgate/connectors"

// Name is the datasource type name used in CREATE DATASOURCE ... TYPE.
const Name = "sqlite"

// Type declares the sqlite datasource type.
func Type() connectors.Type {
	return connectors.Type{
		Name:        Name,
		Description: "A SQLite database file on the gateway's machine. The file must already exist: flowgate never creates it by accident.",
		Options: []connectors.Option{
			{Name: "path", Required: true, HostPath: connectors.PathFile, Description: "Path of the database file, absolute or relative to the gateway's working directory. Only admin may set it, or manage users under --file-roots; the gateway's own files are refused.", Example: "/var/lib/app/app.db"},
		},
		Open: Open,
	}
}
