// Package schematest holds the cross-dialect tests of table structure:
// introspect on one real server, render and apply on another, and compare
// with information_schema; and the check that docs/type-mapping.md matches
// the code. It has no non-test code; it keeps each connector package free
// of the others.
package schematest
