//go:build !linux

package store

import "os"

// fdatasync is f.Sync where the platform has no fdatasync(2) (F_FULLFSYNC on macOS).
func fdatasync(f *os.File) error { return f.Sync() }
