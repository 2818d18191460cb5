//go:build unix

package host

import (
	"fmt"
	"os"
	"syscall"
)

// TuneSysmon re-executes the running program, same process, arguments and environment,
// with GODEBUG added, unless the environment already has a GODEBUG (the operator's, or
// this re-execution's): the runtime reads it only at start. It returns only when it did
// not re-execute, with an error when it tried and could not (the program then goes on
// as it is). Call it first, before anything that an exec would throw away.
func TuneSysmon() error {
	if _, set := os.LookupEnv("GODEBUG"); set {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("GODEBUG=%s not applied: %w", GODEBUG, err)
	}
	err = syscall.Exec(exe, os.Args, append(os.Environ(), "GODEBUG="+GODEBUG))
	return fmt.Errorf("GODEBUG=%s not applied: re-execute %s: %w", GODEBUG, exe, err)
}
