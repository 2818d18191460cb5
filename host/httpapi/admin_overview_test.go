package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestAdminOverview: GET /v1/admin/overview answers an admin what the console's
// Overview shows — all clear on a quiet host, then the dead letter and the silent
// replica that make it not — and refuses everyone else with a problem.
func TestAdminOverview(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		admin, user := e.newUser("admin", true), e.newUser("user", false)
		type overviewOut struct {
			AllClear    bool `json:"allClear"`
			Down        []struct{ ID string }
			DeadWaiting int64 `json:"deadWaiting"`
			Replicas    []struct {
				ID, State string
				Trouble   bool
			}
			Providers []struct {
				ID          string
				Plugin      *struct{ State string }
				Totals      map[string]int64
				Hours       []struct{}
				DeadWaiting int64 `json:"deadWaiting"`
			}
		}
		var quiet overviewOut
		e.must(200, req{method: "GET", path: "/v1/admin/overview", token: admin.Token}).json(t, &quiet)
		if !quiet.AllClear || len(quiet.Down) != 0 || quiet.DeadWaiting != 0 || len(quiet.Replicas) != 0 {
			t.Fatalf("quiet host overview = %+v, want all clear", quiet)
		}
		var generic bool
		for _, p := range quiet.Providers {
			if p.ID == "generic" {
				generic = p.Plugin != nil && p.Plugin.State == "running" && len(p.Hours) == 24 && p.Totals["accepted"] == 0
			}
		}
		if !generic {
			t.Errorf("quiet host providers = %+v, want generic running with 24 empty hours", quiet.Providers)
		}

		e.enqueue("generic", true)
		now := time.Now()
		if err := e.st.BeatReplica(context.Background(), store.Replica{ID: "silent", Hostname: "h1", Status: store.ReplicaReady,
			StartedAt: now.Add(-time.Hour), LastSeenAt: now.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var got overviewOut
		e.must(200, req{method: "GET", path: "/v1/admin/overview", token: admin.Token}).json(t, &got)
		if got.AllClear || got.DeadWaiting != 1 || len(got.Replicas) != 1 || got.Replicas[0].State != "gone" || !got.Replicas[0].Trouble {
			t.Fatalf("overview = %+v, want not clear: one dead letter waiting and the silent replica gone", got)
		}
		for _, p := range got.Providers {
			if p.ID == "generic" && p.DeadWaiting != 1 {
				t.Errorf("generic deadWaiting = %d, want 1", p.DeadWaiting)
			}
		}

		for _, c := range []struct {
			who, token string
			status     int
		}{{"anonymous", "", 401}, {"a non-admin", user.Token, 403}} {
			resp := e.do(req{method: "GET", path: "/v1/admin/overview", token: c.token})
			if resp.StatusCode != c.status {
				t.Fatalf("as %s: %d %s, want %d", c.who, resp.StatusCode, resp.Body, c.status)
			}
			if p := resp.problem(t); p.Status != c.status || p.Detail == "" || strings.Contains(string(resp.Body), "generic") {
				t.Errorf("as %s: problem %+v (%s), want one saying why and nothing of the overview", c.who, p, resp.Body)
			}
		}
	})
}
