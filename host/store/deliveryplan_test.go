package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// On PostgreSQL the group commit's statement, as a writer's connection runs it (its
// generic plan, readings inserted plain), builds no hash table and runs no SubPlan for
// a batch of new deliveries. Each was set up anew for every statement for a handful of
// rows — NOT IN (SELECT owner FROM skipped) hashed in three steps, the replays'
// anti-join, the audit rows' join to their counts — and ExecSubPlan and MultiExecHash
// were 17% of the backend's CPU in a profile at 16 deliveries a statement. Now the
// replays' owners are one array computed once, and the counts come from the host.
// And the readings' arrays are unnested by a ProjectSet, without a tuplestore.
func TestWriteDeliveriesStatementBuildsNoHashTables(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	f := newFixture(t, e, "plan@x.io")
	start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	ds := make([]store.DeliveryWrite, 16)
	for i := range ds {
		id := fmt.Sprintf("msg_%d", i)
		ds[i] = store.DeliveryWrite{Readings: readingsFor(f, start.Add(time.Duration(i)*time.Minute), 10, "ph"),
			Once:  &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id},
			Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", RequestID: id}}
	}
	for _, fast := range []bool{false, true} {
		plan, err := e.s.ExplainWriteDeliveries(ctx, ds, fast)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "Insert on sensor_readings (actual rows=0 loops=1)") {
			t.Fatalf("fast %v: not the plan of the readings' insert:\n%s", fast, plan)
		}
		// The readings' arrays streamed by a ProjectSet, not copied into a tuplestore
		// first by a Function Scan.
		if strings.Contains(plan, "Function Scan on r") || !strings.Contains(plan, "ProjectSet (actual rows=160 loops=1)") {
			t.Fatalf("fast %v: the readings' arrays are not unnested in a select list:\n%s", fast, plan)
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "never executed") {
				continue // the replays' anti-join, run only when a key was stored before
			}
			node := strings.Contains(line, "->") || strings.HasPrefix(strings.TrimSpace(line), "SubPlan")
			if node && strings.Contains(line, "Hash") || strings.Contains(line, "SubPlan") {
				t.Fatalf("fast %v: the statement runs %q:\n%s", fast, strings.TrimSpace(line), plan)
			}
		}
	}
}
