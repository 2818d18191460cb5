package bench_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/loadtest"
)

// The load generator runs in a child process — this test binary again, told so by
// loadgenEnv — so the host process's allocations (-benchmem's B/op and allocs/op), its
// CPU time and its peak RSS are the host's alone; the child's CPU is added to the whole
// box's. In the same process the client's HTTP stack and request signing were about half
// of the allocations counted per delivery.
const loadgenEnv = "POOLHOST_BENCH_LOADGEN"

// loadgenJob is what the parent asks of the child, as JSON in loadgenEnv.
type loadgenJob struct {
	URL         string
	Base        time.Time // the payloads' time base, shared by every run so keys never repeat
	FirstSeq, N int64
	Concurrency int
}

// loadgenReport is the child's answer on stdout.
type loadgenReport struct {
	Elapsed  time.Duration
	P50, P99 time.Duration
	N        int
	Failure  string // the first delivery not stored in full; "" when all were
	// CPU is the child's CPU time while it posted (user + system), Setup its CPU time
	// building and signing the deliveries beforehand, which a load tool replaying
	// captured requests would not spend and which is not the host's either.
	CPU, Setup time.Duration
	// BoxUtil is the share of the machine's cores busy while it posted, every process
	// counted (/proc/stat; -1: unknown).
	BoxUtil float64
	// Procs is the child's GOMAXPROCS while it posted (loadgenProcs).
	Procs int
}

// loadgenProcs is the load generator's GOMAXPROCS: one, as wrk runs one thread per core
// it is given. The senders' goroutines take turns on it, where with the box's two the
// runtime woke another thread for much of the answers' traffic (futex 21% of its CPU in
// perf); and the load generator's share of the box stands for the providers' machines,
// not the host's. With its deadlines moved less often (blast's conn.post), its CPU per
// delivery fell by 12%, 12.2-13.3 to 10.6-11.7 µs in four interleaved pairs
// (host/bench/HISTORY.md, The load generator).
const loadgenProcs = 1

// runLoadgen is the child's whole life: build the job's deliveries, post them, report.
func runLoadgen(spec string) int {
	var job loadgenJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	p, err := loadtest.NewPayloads(ingesttest.GenericSecret, devices, readingsPerDelivery)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	p.Base = job.Base
	runtime.GOMAXPROCS(loadgenProcs)
	rep, err := blast(job, p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 2
	}
	return 0
}

// loadgen is a finished child run: its report and the CPU time it used.
type loadgen struct {
	loadgenReport
	cpu time.Duration
}

// startLoadgen starts the child; wait collects it.
func startLoadgen(b *testing.B, job loadgenJob) (wait func() loadgen) {
	b.Helper()
	spec, err := json.Marshal(job)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), loadgenEnv+"="+string(spec))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		b.Fatalf("start load generator: %v", err)
	}
	return func() loadgen {
		if err := cmd.Wait(); err != nil {
			b.Fatalf("load generator: %v: %s", err, errOut.String())
		}
		var lg loadgen
		if err := json.Unmarshal(out.Bytes(), &lg.loadgenReport); err != nil {
			b.Fatalf("load generator answered %q: %v", out.String(), err)
		}
		lg.cpu = lg.CPU
		return lg
	}
}
