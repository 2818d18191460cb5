package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// BenchmarkInsertReadings measures batched reading inserts (one transaction per call)
// on both engines: 10 readings per call is one typical webhook delivery, 500 a full
// multi-row batch; "parallel" runs 10-reading calls from GOMAXPROCS×4 goroutines, as
// concurrent deliveries would.
//
//	go test -run '^$' -bench InsertReadings -benchtime 3s ./host/store/
func BenchmarkInsertReadings(b *testing.B) {
	for _, eng := range engines {
		for _, batch := range []int{10, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", eng.name, batch), func(b *testing.B) {
				e := newEnv(b, eng, true)
				f := newFixture(b, e, "bench@x.io")
				ctx := context.Background()
				base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
				rs := make([]store.Reading, batch)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j := range rs {
						rs[j] = store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 7.2, Unit: "pH",
							RecordedAt: base.Add(time.Duration(i*batch+j) * time.Millisecond), Quality: "good"}
					}
					n, err := e.s.InsertReadings(ctx, rs)
					if err != nil || n != batch {
						b.Fatalf("inserted %d, %v", n, err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "readings/s")
			})
		}
		b.Run(eng.name+"/parallel/batch=10", func(b *testing.B) {
			e := newEnv(b, eng, true)
			f := newFixture(b, e, "bench@x.io")
			ctx := context.Background()
			base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			var seq atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rs := make([]store.Reading, 10)
				for pb.Next() {
					k := seq.Add(1)
					for j := range rs {
						rs[j] = store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 7.2,
							RecordedAt: base.Add(time.Duration(k*10+int64(j)) * time.Millisecond)}
					}
					if n, err := e.s.InsertReadings(ctx, rs); err != nil || n != 10 {
						b.Errorf("inserted %d, %v", n, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}

// BenchmarkSummaryYear summarizes a year of one probe (a reading every 15 minutes,
// 35,040 rows) in 365 daily buckets of a pool in America/Los_Angeles: from the
// rollups (365 daily rows) and, for comparison, from raw rows only. On the shared
// 2-core box under load: SQLite 8.7 ms from rollups against 587 ms raw, PostgreSQL
// 23 ms against 638 ms.
//
//	go test -run '^$' -bench SummaryYear ./host/store/
func BenchmarkSummaryYear(b *testing.B) {
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			e := newEnv(b, eng, true)
			f := newFixture(b, e, "bench@x.io")
			ctx := context.Background()
			if _, err := e.s.UpdatePool(ctx, f.pool.ID, f.pool.Name, store.PoolConfig{TimeZone: "America/Los_Angeles"}); err != nil {
				b.Fatal(err)
			}
			from := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC) // local midnight
			to := from.AddDate(1, 0, 0)
			var rs []store.Reading
			for at := from; at.Before(to); at = at.Add(15 * time.Minute) {
				rs = append(rs, store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph",
					Value: 7 + float64(len(rs)%16)/16, RecordedAt: at})
			}
			for len(rs) > 0 {
				n := min(500, len(rs))
				if _, err := e.s.InsertReadings(ctx, rs[:n]); err != nil {
					b.Fatal(err)
				}
				rs = rs[n:]
			}
			if _, _, err := e.s.AdvanceRollups(ctx); err != nil {
				b.Fatal(err)
			}
			for _, raw := range []bool{false, true} {
				name := "rollups"
				if raw {
					name = "raw"
				}
				b.Run(name, func(b *testing.B) {
					q := store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: 24 * time.Hour, From: from, To: to, Raw: raw}
					for b.Loop() {
						bs, err := e.s.SummarizeMeasurements(ctx, q)
						if err != nil || len(bs) != 365 {
							b.Fatalf("%d buckets, %v", len(bs), err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkWriteDeliveries measures the group commit's write: 32 webhook deliveries per
// call, each 10 readings, a replay key (webhook_deliveries) and its audit row — what
// ingest's batcher hands store.WriteDeliveries at 64 senders. One op is one delivery.
//
//	go test -run '^$' -bench 'WriteDeliveries/sqlite' -benchmem -cpuprofile cpu.out ./host/store/
func BenchmarkWriteDeliveries(b *testing.B) {
	const perCall = 32
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			e := newEnv(b, eng, true)
			f := newFixture(b, e, "bench@x.io")
			ctx := context.Background()
			base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			now := time.Now()
			ds := make([]store.DeliveryWrite, 0, perCall)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for seq := 0; seq < b.N; {
				ds = ds[:0]
				for ; seq < b.N && len(ds) < perCall; seq++ {
					ds = append(ds, ingestDelivery(f, seq, base, time.Millisecond, now))
				}
				got, err := e.s.WriteDeliveries(ctx, ds)
				if err != nil {
					b.Fatal(err)
				}
				for _, n := range got {
					if n != len(deliveryMetrics) {
						b.Fatalf("accepted %v", got)
					}
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/delivery")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// cpuTime is the CPU this process (SQLite included, on that engine) has used: on a
// shared machine, CPU per operation varies much less than wall-clock time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
