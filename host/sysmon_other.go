//go:build !unix

package host

// TuneSysmon does nothing where a process cannot re-execute itself; set GODEBUG in the
// service's environment instead.
func TuneSysmon() error { return nil }
