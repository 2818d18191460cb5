// Package gctune applies the Go garbage collector's defaults of poolhost's processes:
// the host (`poolhost serve`, and host/bench's in-process host) and every plugin served
// with sdk.Serve. Each process passes its own [Defaults]; what they share is the rule
// that an operator's setting wins: GOGC and GOMEMLIMIT in the process's environment,
// which the Go runtime has already applied at start, are never overridden.
package gctune

import (
	"os"
	"runtime/debug"
)

// Defaults is a process's GC tuning when its environment says nothing.
type Defaults struct {
	// Percent is the GC percent (GOGC) applied when GOGC is unset; 0 keeps Go's 100.
	Percent int
	// MemoryLimit is the soft memory limit in bytes (GOMEMLIMIT) applied when GOMEMLIMIT
	// is unset; 0 keeps Go's none.
	MemoryLimit int64
}

// Apply sets each of d's values whose environment variable is unset or empty (the Go
// runtime treats an empty one as unset too). A set one, "off" included, is the
// operator's, and stays as the runtime read it.
func Apply(d Defaults) {
	if d.Percent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(d.Percent)
	}
	if d.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(d.MemoryLimit)
	}
}
