package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestAdminAuditByPeople: GET /v1/admin/audit?by=people lists what people did, apart
// from per-delivery receipts (by=system), with user actors' emails; an unknown by is a
// 400 problem naming it. Over real HTTP on both engines.
func TestAdminAuditByPeople(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		admin := e.newUser("ops", true)
		e.must(201, req{method: "POST", path: "/v1/admin/users", token: admin.Token, body: map[string]any{"email": "new@example.com"}})
		ctx := context.Background()
		for range 3 {
			if _, err := e.st.AppendAudit(ctx, store.AuditEvent{Action: "webhook.received", Actor: store.ProviderActor("template"), Provider: "template"}); err != nil {
				t.Fatal(err)
			}
		}
		type page struct {
			Events []struct {
				Action, Actor, ActorEmail string
			}
		}
		list := func(query string) page {
			t.Helper()
			var p page
			e.must(200, req{method: "GET", path: "/v1/admin/audit" + query, token: admin.Token}).json(t, &p)
			return p
		}

		people := list("?by=people")
		if len(people.Events) != 1 || people.Events[0].Action != "user.created" || people.Events[0].Actor != store.UserActor(admin.ID) || people.Events[0].ActorEmail != admin.Email {
			t.Errorf("by=people: %+v, want user.created by %s", people.Events, admin.Email)
		}
		system := list("?by=system")
		if len(system.Events) != 3 {
			t.Errorf("by=system: %+v, want the 3 deliveries", system.Events)
		}
		for _, ev := range system.Events {
			if ev.Action != "webhook.received" || ev.ActorEmail != "" {
				t.Errorf("by=system lists %+v", ev)
			}
		}
		if all := list(""); len(all.Events) != 4 {
			t.Errorf("everyone: %d events, want 4", len(all.Events))
		}
		// Paged by 2 through the 3 deliveries: a cursor after the first page, none after
		// the second; paged by 3, none at once (a page exactly full is the last when
		// nothing older matches: the cursor led to an empty page).
		var cur struct {
			Events     []struct{ Action string }
			NextCursor string `json:"nextCursor"`
		}
		e.must(200, req{method: "GET", path: "/v1/admin/audit?by=system&limit=2", token: admin.Token}).json(t, &cur)
		if len(cur.Events) != 2 || cur.NextCursor == "" {
			t.Fatalf("by=system&limit=2: %+v, want 2 events and a cursor", cur)
		}
		next := cur.NextCursor
		cur.NextCursor = ""
		e.must(200, req{method: "GET", path: "/v1/admin/audit?by=system&limit=2&cursor=" + next, token: admin.Token}).json(t, &cur)
		if len(cur.Events) != 1 || cur.NextCursor != "" {
			t.Errorf("second page: %+v, want the last event and no cursor", cur)
		}
		cur.NextCursor = ""
		e.must(200, req{method: "GET", path: "/v1/admin/audit?by=system&limit=3", token: admin.Token}).json(t, &cur)
		if len(cur.Events) != 3 || cur.NextCursor != "" {
			t.Errorf("by=system&limit=3: %d events, cursor %q, want 3 and no cursor", len(cur.Events), cur.NextCursor)
		}
		p := e.must(400, req{method: "GET", path: "/v1/admin/audit?by=robots", token: admin.Token}).problem(t)
		if !strings.Contains(p.Detail, "by must be people or system") {
			t.Errorf("by=robots: %+v", p)
		}
	})
}
