//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// flockFile takes flock(2) on path+".lock" without waiting: shared for serve,
// exclusive for restore and migrate down. The lock file is created 0600 and never
// removed (removing it would let two processes lock two different files).
func flockFile(path string, exclusive bool) (release func() error, err error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("claim database: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		pids := lockHolders(f)
		f.Close()
		if exclusive {
			return nil, fmt.Errorf("%w: %s (it holds %s%s)", ErrServing, path, lockPath, pids)
		}
		return nil, fmt.Errorf("%w: %s (it holds %s%s); start serve again once it has finished", ErrClaimed, path, lockPath, pids)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("claim database: flock %s: %w", lockPath, err)
	}
	return f.Close, nil // closing the file releases the lock
}

// lockHolders names the processes holding a lock on f, from /proc/locks (Linux), as
// ", pid 123 456"; "" when they cannot be told.
func lockHolders(f *os.File) string {
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return ""
	}
	// "1: FLOCK  ADVISORY  READ  1234 08:01:131 0 EOF": pid, then major:minor:inode.
	suffix := ":" + strconv.FormatUint(uint64(st.Ino), 10)
	var pids []string
	for line := range strings.SplitSeq(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[1] != "FLOCK" /* "->" lines are waiters */ {
			continue
		}
		if strings.HasSuffix(fields[5], suffix) {
			pids = append(pids, fields[4])
		}
	}
	if len(pids) == 0 {
		return ""
	}
	return ", pid " + strings.Join(pids, " ")
}
