package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestAuditByPeople: the audit trail apart by who acted — people (users, operators at
// the CLI or sending SIGHUP) or the system (providers' deliveries, workers, the plugin
// supervisor) — on both engines; and the emails of user actors.
func TestAuditByPeople(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ops, err := e.s.CreateUser(ctx, "ops@example.com", true)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range []store.AuditEvent{
			{Action: "webhook.received", Actor: "provider:acme", Provider: "acme"},
			{Action: "integration.connected", Actor: store.UserActor(ops.ID), Provider: "acme"},
			{Action: "ingestion.retry_succeeded", Actor: store.ActorSystem, Provider: "acme"},
			{Action: "user.created", Actor: "system:cli"},
			{Action: "plugin.restarted", Actor: "system:supervisor", Provider: "acme"},
			{Action: "provider.reloaded", Actor: "system:signal"},
			{Action: "webhook.rejected", Actor: "anonymous", Provider: "acme"},
			{Action: "webhook.received", Actor: "provider:user:1", Provider: "user:1"}, // a provider id is no user
		} {
			if _, err := e.s.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		list := func(f store.AuditFilter) string {
			t.Helper()
			es, err := e.s.ListAudit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range es {
				got = append(got, ev.Action)
			}
			return strings.Join(got, " ")
		}
		for _, c := range []struct {
			f    store.AuditFilter
			want string
		}{
			{store.AuditFilter{By: store.AuditByPeople}, "provider.reloaded user.created integration.connected"},
			{store.AuditFilter{By: store.AuditBySystem}, "webhook.received webhook.rejected plugin.restarted ingestion.retry_succeeded webhook.received"},
			{store.AuditFilter{By: store.AuditByPeople, Provider: "acme"}, "integration.connected"},
			{store.AuditFilter{By: store.AuditBySystem, Action: "webhook"}, "webhook.received webhook.rejected webhook.received"},
			{store.AuditFilter{}, "webhook.received webhook.rejected provider.reloaded plugin.restarted user.created ingestion.retry_succeeded integration.connected webhook.received"},
		} {
			if got := list(c.f); got != c.want {
				t.Errorf("%+v: %q, want %q", c.f, got, c.want)
			}
		}
		if _, err := e.s.ListAudit(ctx, store.AuditFilter{By: "robots"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("by robots: %v, want ErrInvalid", err)
		}

		emails, err := e.s.UserEmails(ctx, []int64{ops.ID, ops.ID + 100})
		if err != nil || len(emails) != 1 || emails[ops.ID] != "ops@example.com" {
			t.Errorf("user emails %v %v, want ops's only", emails, err)
		}
		if emails, err := e.s.UserEmails(ctx, nil); err != nil || len(emails) != 0 {
			t.Errorf("no ids: %v %v", emails, err)
		}
	})
}

// TestAuditPeopleUsesItsIndex: the people view reads the partial index of people's
// rows (migration 00020), not every delivery's receipt: the index's condition and
// store's must stay the same text, or the planner stops using it. Both engines.
func TestAuditPeopleUsesItsIndex(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		plan, err := e.s.ExplainAuditList(context.Background(), store.AuditByPeople)
		if err != nil {
			t.Fatal(err)
		}
		// SQLite names the index; PostgreSQL scans each partition's copy of it, whose
		// names it makes up, and then needs no filter on the actor.
		if e.s.Dialect() == "sqlite" && !strings.Contains(plan, "audit_events_people_idx") ||
			e.s.Dialect() != "sqlite" && (!strings.Contains(plan, "Index Scan") || strings.Contains(plan, "actor")) {
			t.Errorf("the people view does not read its index:\n%s", plan)
		}
	})
}
