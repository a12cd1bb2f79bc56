// Package file is the local-directory datasource type: files (CSV, JSON
// lines, ...) in a directory on the gateway's machine.
package file

import "github.com/flowgate/flowgate/connectors"

// Name is the datasource type name used in CREATE DATASOURCE ... TYPE.
const Name = "file"

// Type declares the file datasource type.
func Type() connectors.Type {
	return connectors.Type{
		Name:        Name,
		Description: "A directory on the gateway's machine holding data files. It must exist and be writable.",
		Options: []connectors.Option{
			{Name: "path", Required: true, HostPath: connectors.PathDir, Description: "Path of the directory, absolute or relative to the gateway's working directory. Only admin may set it, or manage users under --file-roots; a directory that is, holds or lies inside the gateway's own files is refused.", Example: "/srv/exports"},
		},
		Open: Open,
	}
}
