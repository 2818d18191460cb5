package store_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// BenchmarkGroupCommitStatementCPULoaded is what a table of stored readings adds to the
// group commit's statement (issue 20: ingest on a large database against an empty one):
// two databases of one cluster, one empty and one holding POOLHOST_BENCH_STORED
// readings (default 2 million) of the same 8 devices, written statement by statement
// in turn (16 deliveries of 10 readings each, ingestDelivery's, from those devices), so
// that the box's other load falls on both alike. It reports the medians of the
// backend's CPU per delivery on each and their ratio; CHECKPOINT every 100 rounds, as
// a server checkpoints under steady ingest (so each round starts again writing whole
// pages into the WAL). As BenchmarkGroupCommitStatementCPU, honest only on a durable
// cluster of this machine:
//
//	POOLHOST_PGTEST_DURABLE=1 go test -run '^$' -bench GroupCommitStatementCPULoaded -benchtime 4800x ./host/store/
func BenchmarkGroupCommitStatementCPULoaded(b *testing.B) {
	stored := 2_000_000
	if v := os.Getenv("POOLHOST_BENCH_STORED"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("POOLHOST_BENCH_STORED: %v", err)
		}
		stored = n
	}
	const devices, perCall = 8, 16
	ctx := context.Background()
	type side struct {
		s   *store.Store
		pid int
		fs  []fixture
		cpu []float64
		seq int
	}
	open := func(name string, readings int) *side {
		e := newEnv(b, engines[1], true)
		sd := &side{}
		var ids []string
		for i := range devices {
			f := newFixture(b, e, fmt.Sprintf("d%d@%s.io", i, name))
			sd.fs = append(sd.fs, f)
			ids = append(ids, strconv.FormatInt(f.device.ID, 10))
		}
		if readings > 0 {
			// Older than the benchmark's deliveries, in the same month partition, with
			// their replay keys and audit rows in proportion (one per 10 readings).
			devs, per := "{"+strings.Join(ids, ",")+"}", readings/(len(deliveryMetrics)*devices)
			for _, st := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO sensor_readings (device_id, pool_id, metric, value, unit, recorded_at, received_at, quality)
				 SELECT d, d, m, 7, '', now() - interval '2 hours' - i * interval '1 second', now(), 'ok'
				 FROM unnest($1::BIGINT[]) d, unnest($2::TEXT[]) m, generate_series(1, $3) i`,
					[]any{devs, "{" + strings.Join(deliveryMetrics, ",") + "}", per}},
				{`INSERT INTO webhook_deliveries (provider, account_id, delivery_id, first_received_at)
				 SELECT 'generic', $1, 'old_' || i, now() FROM generate_series(1, $2) i`, []any{sd.fs[0].account.ID, per * devices}},
				{`INSERT INTO audit_events (at, action, actor, provider, details)
				 SELECT now() - interval '2 hours', 'webhook.received', 'provider:generic', 'generic', '{}'
				 FROM generate_series(1, $1) i`, []any{per * devices}},
				{`VACUUM ANALYZE`, nil},
			} {
				if _, err := e.s.DB().ExecContext(ctx, st.sql, st.args...); err != nil {
					b.Fatal(err)
				}
			}
		}
		sd.s = e.open(b, store.WithMaxOpenConns(1))
		if err := sd.s.DB().GetContext(ctx, &sd.pid, `SELECT pg_backend_pid()`); err != nil {
			b.Fatal(err)
		}
		if _, ok := backendCPU(sd.pid); !ok {
			b.Skip("the server's backend is not a process on this machine")
		}
		return sd
	}
	empty, loaded := open("empty", 0), open("loaded", stored)
	base := time.Now().Add(-time.Hour)
	write := func(sd *side, record bool) {
		now := time.Now()
		ds := make([]store.DeliveryWrite, perCall)
		for k := range ds {
			sd.seq++
			ds[k] = ingestDelivery(sd.fs[sd.seq%devices], sd.seq, base, time.Millisecond, now)
		}
		c0, _ := backendCPU(sd.pid)
		if _, err := sd.s.WriteDeliveries(ctx, ds); err != nil {
			b.Fatal(err)
		}
		c1, _ := backendCPU(sd.pid)
		if record {
			sd.cpu = append(sd.cpu, float64((c1-c0).Microseconds())/perCall)
		}
	}
	for range 10 { // past the plan cache's custom plans and the trigger's first pairs
		write(empty, false)
		write(loaded, false)
	}
	b.ResetTimer()
	for round := 0; round*perCall < b.N; round++ {
		if round%100 == 0 {
			if _, err := empty.s.DB().ExecContext(ctx, `CHECKPOINT`); err != nil {
				b.Fatal(err)
			}
		}
		// Each first in turn.
		first, second := empty, loaded
		if round%2 == 1 {
			first, second = loaded, empty
		}
		write(first, true)
		write(second, true)
	}
	b.StopTimer()
	median := func(x []float64) float64 {
		y := slices.Clone(x)
		slices.Sort(y)
		return y[len(y)/2]
	}
	e, l := median(empty.cpu), median(loaded.cpu)
	b.ReportMetric(e, "empty-backend-cpu-us/delivery")
	b.ReportMetric(l, "loaded-backend-cpu-us/delivery")
	b.ReportMetric(l/e, "loaded/empty")
}
