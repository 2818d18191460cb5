package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// BenchmarkGroupCommitStatementCPU is what the PostgreSQL backend itself spends on the
// group commit's statement (WriteDeliveries) at several batch sizes: one session
// (WithMaxOpenConns(1)), so its backend's CPU can be read from /proc, and the figures
// split into the part every statement pays whatever its size and the part each delivery
// adds. Each op is one delivery of 10 readings with its replay key and audit row, as
// ingest writes them. Only for a server on this machine (pgtest's own cluster), and
// honest only when it is durable:
//
//	POOLHOST_PGTEST_DURABLE=1 go test -run '^$' -bench GroupCommitStatementCPU -benchtime 3000x ./host/store/
//
// It reports backend-cpu-us/statement and backend-cpu-us/delivery (from
// /proc/<pid>/schedstat, in nanoseconds) and backend-stime-pct: the kernel's share
// (WAL writes, the commit's fdatasync, the socket), from /proc/<pid>/stat.
func BenchmarkGroupCommitStatementCPU(b *testing.B) {
	for _, perCall := range []int{1, 16, 32} {
		b.Run(fmt.Sprintf("postgres/perCall=%d", perCall), func(b *testing.B) {
			e := newEnv(b, engines[1], true)
			f := newFixture(b, e, "cpu@x.io")
			s := e.open(b, store.WithMaxOpenConns(1))
			ctx := context.Background()
			var pid int
			if err := s.DB().GetContext(ctx, &pid, `SELECT pg_backend_pid()`); err != nil {
				b.Fatal(err)
			}
			if _, ok := backendCPU(pid); !ok {
				b.Skip("the server's backend is not a process on this machine")
			}
			base := time.Now().Add(-time.Hour)
			seq := 0
			batch := func(n int) []store.DeliveryWrite {
				now := time.Now()
				ds := make([]store.DeliveryWrite, n)
				for k := range ds {
					seq++
					ds[k] = ingestDelivery(f, seq, base, time.Millisecond, now)
				}
				return ds
			}
			// Warm up past the plan cache's first five (custom) plans and the first write
			// of the pairs (the trigger's path), as a long-running host is.
			for range 8 {
				if _, err := s.WriteDeliveries(ctx, batch(perCall)); err != nil {
					b.Fatal(err)
				}
			}
			var cpu time.Duration
			var ticks0, ticks1 [2]int64
			ticks0, _ = backendTicks(pid)
			statements := 0
			b.ResetTimer()
			for done := 0; done < b.N; done += perCall {
				ds := batch(min(perCall, b.N-done))
				c0, _ := backendCPU(pid)
				if _, err := s.WriteDeliveries(ctx, ds); err != nil {
					b.Fatal(err)
				}
				c1, _ := backendCPU(pid)
				cpu += c1 - c0
				statements++
			}
			b.StopTimer()
			ticks1, _ = backendTicks(pid)
			b.ReportMetric(float64(cpu.Microseconds())/float64(statements), "backend-cpu-us/statement")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "backend-cpu-us/delivery")
			if u, st := ticks1[0]-ticks0[0], ticks1[1]-ticks0[1]; u+st > 0 {
				b.ReportMetric(100*float64(st)/float64(u+st), "backend-stime-pct")
			}
		})
	}
}

// backendCPU is the CPU time process pid has used (/proc/<pid>/schedstat, exact to the
// nanosecond where /proc/<pid>/stat counts 10 ms ticks).
func backendCPU(pid int) (time.Duration, bool) {
	bs, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(bs))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err == nil
}

// backendTicks is process pid's user and system CPU time in clock ticks.
func backendTicks(pid int) ([2]int64, bool) {
	bs, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return [2]int64{}, false
	}
	i := strings.LastIndexByte(string(bs), ')')
	f := strings.Fields(string(bs[i+1:]))
	if i < 0 || len(f) < 13 {
		return [2]int64{}, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	return [2]int64{u, s}, err1 == nil && err2 == nil
}
