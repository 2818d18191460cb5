//go:build !unix

package store

// flockFile claims nothing where there is no flock(2): restore and migrate down then
// rely on the operator having stopped the host, as the README says.
func flockFile(string, bool) (func() error, error) { return func() error { return nil }, nil }
