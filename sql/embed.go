// Package sqlfiles embeds the catalog's versioned migrations. Each file is
// NNNN_name.sql and runs once, in order, inside one transaction.
package sqlfiles

import "embed"

//go:embed *.sql
var Migrations embed.FS
