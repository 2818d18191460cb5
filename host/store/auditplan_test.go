package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestListAuditByActionUsesItsIndex: on PostgreSQL, listing one action or one category
// among many rows of another reads audit_events_action_idx, not every row, and compiles
// nothing. In the database's own collation the category's LIKE could use no index, so
// the whole filter read every partition: 19.7 s among 25 million audit rows.
func TestListAuditByActionUsesItsIndex(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	if _, err := e.s.DB().ExecContext(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit_above_cost = 0', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	s := e.open(t) // its sessions start with the setting
	now := e.clock.Now()
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO audit_events (at, action, actor, provider)
		SELECT $1::timestamptz - g * interval '1 second', 'webhook.received', 'provider:acme', 'acme'
		FROM generate_series(1, 20000) g`, now); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"plugin.restarted", "plugin.restarted", "plugin.crashed", "plugin"} {
		if _, err := s.AppendAudit(ctx, store.AuditEvent{At: now.Add(-time.Minute), Action: a, Actor: "system:supervisor"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().ExecContext(ctx, `ANALYZE audit_events`); err != nil {
		t.Fatal(err)
	}
	var part string // the partition holding the rows
	if err := s.DB().GetContext(ctx, &part, `SELECT tableoid::regclass::text FROM audit_events WHERE action = 'webhook.received' LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		action string
		want   int
	}{{"plugin.restarted", 2}, {"plugin", 4}} {
		es, err := s.ListAudit(ctx, store.AuditFilter{Action: c.action})
		if err != nil || len(es) != c.want {
			t.Fatalf("%s: %d events, %v; want %d", c.action, len(es), err, c.want)
		}
		plan, err := s.ExplainListAudit(ctx, store.AuditFilter{Action: c.action})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, part+"_action_id_idx") || strings.Contains(plan, "Seq Scan on "+part+" ") || strings.Contains(plan, "JIT") {
			t.Errorf("%s: the listing's plan reads %s whole, or compiles:\n%s", c.action, part, plan)
		}
	}
}
