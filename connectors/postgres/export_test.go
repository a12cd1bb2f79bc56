package postgres

// SetApplyCopyRows sets the smallest runs of rows the applier writes with
// COPY (upserts and plain inserts), for a test; the returned func
// restores them. Tests of this package do not run in parallel.
func SetApplyCopyRows(n int) (restore func()) {
	old, oldInsert := applyCopyRows, applyCopyInsertRows
	applyCopyRows, applyCopyInsertRows = n, n
	return func() { applyCopyRows, applyCopyInsertRows = old, oldInsert }
}
