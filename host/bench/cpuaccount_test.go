package bench_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// burnEnv makes this test binary a child that spends burnFor of CPU and exits
// (TestMain).
const (
	burnEnv = "POOLHOST_BENCH_BURN_CPU"
	burnFor = 200 * time.Millisecond
)

func burnCPU() {
	for {
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil || time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= burnFor {
			return
		}
	}
}

// TestChildrenCPUCountsExitedChildren: the database's CPU is its postmaster's children's,
// and a child that exited between two samples (an autovacuum worker) still counts, through
// the parent's reaped-children time. Here the parent is this process and the child a
// copy of it that burns 200 ms of CPU and exits.
func TestChildrenCPUCountsExitedChildren(t *testing.T) {
	before, ok := childrenCPU(os.Getpid())
	if !ok {
		t.Skip("no /proc")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), burnEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	after, _ := childrenCPU(os.Getpid())
	// The child's 200 ms, less a clock tick of rounding; this process's own CPU only
	// adds to it.
	if got := after - before; got < burnFor-10*time.Millisecond {
		t.Errorf("children's CPU grew by %v across a child that used %v and exited", got, burnFor)
	}
}
