package store

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and the size needed to read it back, as SQLite's own Linux
// builds sync (store.go).
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
