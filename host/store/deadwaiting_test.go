package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestDeadLettersWaiting: the overview's count of dead letters per provider, dead ones
// only (pending retries are the worker's, not an operator's).
func TestDeadLettersWaiting(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, f := range []store.NewFailure{
			{Provider: "acme", Payload: []byte("a"), MaxAttempts: 1, Error: "bad", Dead: true},
			{Provider: "acme", Payload: []byte("b"), MaxAttempts: 1, Error: "bad", Dead: true},
			{Provider: "acme", Payload: []byte("c"), MaxAttempts: 3, Error: "upstream 503"},
			{Provider: "zeta", Payload: []byte("d"), MaxAttempts: 1, Error: "bad", Dead: true},
		} {
			if _, err := e.s.EnqueueFailure(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		got, err := e.s.DeadLettersWaiting(ctx)
		if err != nil || fmt.Sprint(got) != "[{acme 2} {zeta 1}]" {
			t.Errorf("dead letters waiting %v %v, want acme 2 and zeta 1", got, err)
		}
	})
}

// TestRollupKeepsTheCounts: the Overview's counts are the same before and after
// RollupAudit moves audit rows into hourly counts, and rows written after a rollup are
// counted from the audit trail until the next.
func TestRollupKeepsTheCounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		now := e.clock.Now()
		events := []store.AuditEvent{
			{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", Details: store.Details{"dropped": map[string]int{"unknown_metric": 1, "unlinked_device": 2}}},
			{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", Details: store.Details{"dropped": map[string]int{"unknown_metric": 3}}},
			{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", At: now.Add(-2 * time.Hour)},
			{Action: "webhook.rejected", Actor: "anonymous", Provider: "acme", Details: store.Details{"suppressed_since_last": 4}},
			{Action: "ingestion.retry_succeeded", Actor: "system", Provider: "zeta", Details: store.Details{"dropped": map[string]int{"unknown_metric": 1}}},
			{Action: "user.created", Actor: "system:cli"},
		}
		for _, ev := range events {
			if _, err := e.s.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		read := func() string {
			t.Helper()
			acts, err := e.s.DeliveryActivity(ctx, now.Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			dropped, err := e.s.DroppedReadings(ctx, now.Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(acts, dropped)
		}
		before := read()
		if n, err := e.s.RollupAudit(ctx); err != nil || n != 0 {
			t.Fatalf("rollup of rows younger than its lag: %d %v, want none", n, err)
		}
		e.clock.Advance(time.Minute)
		if n, err := e.s.RollupAudit(ctx); err != nil || n < int64(len(events)) {
			t.Fatalf("rollup: %d %v", n, err)
		}
		if after := read(); after != before {
			t.Errorf("counts changed by the rollup:\nbefore %s\nafter  %s", before, after)
		}
		if n, err := e.s.RollupAudit(ctx); err != nil || n != 0 {
			t.Errorf("a second rollup: %d %v, want nothing left", n, err)
		}
		if _, err := e.s.AppendAudit(ctx, events[1]); err != nil {
			t.Fatal(err)
		}
		if got := read(); got == before || !strings.Contains(got, "{acme unknown_metric 7}") {
			t.Errorf("a row written after the rollup is not counted: %s", got)
		}
	})
}

// TestAuditCategoryFilter: an action filter matches the action exactly or as a
// category ("ingestion" finds ingestion.*), and a wildcard in it is literal.
func TestAuditCategoryFilter(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, a := range []string{"ingestion.requeued", "ingestion.discarded", "ingestionx.other", "webhook.received", "provider.reloaded"} {
			if _, err := e.s.AppendAudit(ctx, store.AuditEvent{Action: a, Actor: "system"}); err != nil {
				t.Fatal(err)
			}
		}
		list := func(action string) string {
			t.Helper()
			es, err := e.s.ListAudit(ctx, store.AuditFilter{Action: action})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range es {
				got = append(got, ev.Action)
			}
			return strings.Join(got, " ")
		}
		for action, want := range map[string]string{
			"ingestion":          "ingestion.discarded ingestion.requeued",
			"ingestion.requeued": "ingestion.requeued",
			"provider":           "provider.reloaded",
			"ingestio_":          "",
			"%":                  "",
		} {
			if got := list(action); got != want {
				t.Errorf("action %q: %q, want %q", action, got, want)
			}
		}
	})
}
