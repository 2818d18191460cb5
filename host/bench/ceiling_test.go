package bench_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
	"github.com/poolhost/poolhost/plugins/generic"
)

// The ceiling is what the database stores with no host in front of it: the same rows a
// webhook delivery writes (10 readings and its webhook.received audit row), 16
// deliveries per statement, from ceilingWriters connections at once — what the issue's
// pgbench script with 16 deliveries per statement measured, through the store's own
// group-commit statement so both sides write exactly the same thing. Every end-to-end
// figure is printed as a fraction of it, measured on the same cluster in the same run:
// a ratio survives a slower or busier machine where a raw figure does not.
const (
	ceilingBatch   = 16
	ceilingWriters = 8
)

// ceiling writes n deliveries' rows straight through store.WriteDeliveries and returns
// deliveries per second. Its readings are dated a year back, so they never meet the
// webhook runs' keys.
func ceiling(b *testing.B, s *store.Store, n int) float64 {
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
		return store.DeliveryWrite{Readings: rs, Audit: &store.AuditEvent{
			Action: webhook.ActionReceived, Actor: "provider:" + generic.ID, Provider: generic.ID,
			Details: store.Details{"readings": readingsPerDelivery, "delivery_id": "msg_ceiling"},
		}}
	}
	var next atomic.Int64
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
				if _, err := s.WriteDeliveries(ctx, ds); err != nil {
					b.Errorf("ceiling: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	ceilingSeq += int64(n)
	return float64(n) / time.Since(start).Seconds()
}

// ceilingSeq keeps repeated ceiling runs on one database from rewriting the same keys
// (which would measure duplicates, not inserts).
var ceilingSeq int64
