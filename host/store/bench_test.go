package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
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
