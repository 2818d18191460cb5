package bench_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
	"github.com/poolhost/poolhost/plugins/generic"
)

// The ceiling is what the database stores with no host in front of it: the same rows a
// webhook delivery writes (10 readings, its webhook.received audit row and its replay
// key in webhook_deliveries), 16
// deliveries per statement, from ceilingWriters connections at once — what the issue's
// pgbench script with 16 deliveries per statement measured, through the store's own
// group-commit statement so both sides write exactly the same thing. Every end-to-end
// figure is printed as a fraction of it, measured on the same database just before and
// just after the run (rounds_test.go): a ratio survives a slower or busier machine where
// a raw figure does not.
const (
	ceilingBatch   = 16
	ceilingWriters = 8
)

// ceilingRound is one measurement of the ceiling on a run's database.
type ceilingRound struct {
	perSec float64
	// cpuPer is the whole box's CPU per delivery in µs (0: not measured): this process
	// (the writers, and anything else it runs meanwhile, as in a run), the plugin's
	// (idle) and the database server's, the VACUUM of its rows included as a run's is.
	// util is the share of the box's cores those used while it wrote (the VACUUM not
	// included), boxUtil the share every process on the machine used (-1: unknown).
	cpuPer, util, boxUtil float64
}

// ceilingRound measures the ceiling on h's database with n deliveries, then vacuums
// (charged) and settles (not), as a run does, so that neither is left to the next run.
func (h *host) ceilingRound(b *testing.B, n int) ceilingRound {
	b.Helper()
	pid := h.pluginPID()
	cpu0 := sampleCPU(pid, h.postmaster)
	elapsed, box := ceiling(b, h.store, n)
	wrote := sampleCPU(pid, h.postmaster)
	h.vacuum(b)
	cpu1 := sampleCPU(pid, h.postmaster)
	h.settle(b)
	r := ceilingRound{perSec: float64(n) / elapsed.Seconds(), boxUtil: box}
	if h.accounted(cpu0, cpu1) {
		r.cpuPer = float64((cpu1.sum() - cpu0.sum()).Microseconds()) / float64(n)
		r.util = (wrote.sum() - cpu0.sum()).Seconds() / (float64(runtime.NumCPU()) * elapsed.Seconds())
	}
	return r
}

// ceiling writes n deliveries' rows straight through store.WriteDeliveries and returns
// the time it took and the share of the box's cores busy meanwhile (/proc/stat, -1:
// unknown). Its readings are dated a year back, so they never meet the webhook runs' keys.
func ceiling(b *testing.B, s *store.Store, n int) (elapsed time.Duration, boxUtil float64) {
	b.Helper()
	ctx := context.Background()
	var devs []struct {
		ID     int64 `db:"id"`
		PoolID int64 `db:"pool_id"`
	}
	if err := s.DB().SelectContext(ctx, &devs, `SELECT device_id AS id, pool_id FROM device_pool_links`); err != nil || len(devs) == 0 {
		b.Fatalf("ceiling: devices %d, %v", len(devs), err)
	}
	base := time.Now().AddDate(-1, 0, 0).UTC().Truncate(time.Second)
	delivery := func(seq int64) store.DeliveryWrite {
		d := devs[int(seq)%len(devs)]
		rs := make([]store.Reading, readingsPerDelivery)
		now := time.Now()
		for i := range rs {
			rs[i] = store.Reading{DeviceID: d.ID, PoolID: d.PoolID, Metric: benchMetrics[i], Value: 7.2,
				Unit: "", RecordedAt: base.Add(time.Duration(seq) * time.Millisecond), ReceivedAt: now, Quality: "ok"}
		}
		id := "msg_ceiling_" + strconv.FormatInt(seq, 10)
		return store.DeliveryWrite{Readings: rs, Audit: &store.AuditEvent{
			Action: webhook.ActionReceived, Actor: "provider:" + generic.ID, Provider: generic.ID,
			Details: store.Details{"readings": readingsPerDelivery, "delivery_id": id},
		}, Once: &store.DeliveryKey{Provider: generic.ID, DeliveryID: id}}
	}
	var next atomic.Int64
	box0 := readBoxCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range ceilingWriters {
		wg.Go(func() {
			for {
				first := next.Add(ceilingBatch) - ceilingBatch
				if first >= int64(n) {
					return
				}
				ds := make([]store.DeliveryWrite, 0, ceilingBatch)
				for seq := first; seq < min(first+ceilingBatch, int64(n)); seq++ {
					ds = append(ds, delivery(ceilingSeq+seq))
				}
				counts, err := s.WriteDeliveries(ctx, ds)
				if err != nil {
					b.Errorf("ceiling: %v", err)
					return
				}
				// Every delivery new, every reading new, as in a run.
				for _, c := range counts {
					if c != readingsPerDelivery {
						b.Errorf("ceiling: a delivery stored %d readings, not %d", c, readingsPerDelivery)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	ceilingSeq += int64(n)
	return elapsed, readBoxCPU().utilSince(box0)
}

// ceilingSeq keeps repeated ceiling runs on one database from rewriting the same keys
// (which would measure duplicates, not inserts).
var ceilingSeq int64
