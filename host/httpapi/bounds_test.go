package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
)

// TestBoundsInStatusAndSummary: a result beyond its test's range ("FC > 10") entered by
// a member is stored as a bound, listed with its qualifier, shown in status in words and
// judged against the target; a summary leaves it out of its figures and counts it.
func TestBoundsInStatusAndSummary(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		owner := f.users["owner"].Token
		e.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/pools/%d", f.pool), token: owner, body: map[string]any{
			"sanitizer": "chlorine",
			"targets": map[string]any{
				"free_chlorine": map[string]any{"min": 1, "max": 3}, "total_chlorine": map[string]any{"min": 1, "max": 3},
				"cyanuric_acid": map[string]any{"min": 30, "max": 50},
			}}})
		at := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second)
		// An exact sensor value earlier the same day (the pool's, UTC), in the same daily
		// bucket as the bound: an hour earlier, or at midnight when that is yesterday
		// (from 00:00 to 01:10 UTC the test used to find them in two buckets, and the
		// bound's bucket, with no exact value, is left out of a summary).
		day := at.Truncate(24 * time.Hour)
		if at.Equal(day) {
			at = at.Add(time.Minute)
		}
		exact := at.Add(-time.Hour)
		if exact.Before(day) {
			exact = day
		}
		_, err := e.st.InsertReadings(context.Background(), []store.Reading{
			{DeviceID: f.device, PoolID: f.pool, Metric: "free_chlorine", Value: 2, Unit: "ppm", RecordedAt: exact}})
		must(t, err)
		var created pools.Created
		e.must(201, req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/test-sessions", f.pool), token: f.users["editor"].Token, body: map[string]any{
			"takenAt": at.Format(time.RFC3339), "method": "photometer",
			"results": []map[string]any{
				{"metric": "free_chlorine", "value": 10, "qualifier": "above"},
				{"metric": "total_chlorine", "value": 0.5, "qualifier": "below"},
				{"metric": "cyanuric_acid", "value": 40, "qualifier": "above"},
				{"metric": "ph", "value": 7.4, "qualifier": "about"},
			}}}).json(t, &created)
		if len(created.Session.Results) != 3 || created.Dropped["bad_qualifier"] != 1 {
			t.Fatalf("created %+v", created)
		}
		for _, r := range created.Session.Results {
			if r.Metric == "free_chlorine" && (r.Qualifier != "above" || r.Value != 10) {
				t.Errorf("stored result %+v, want above 10", r)
			}
		}
		var st pools.Status
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status", f.pool), token: f.users["viewer"].Token}).json(t, &st)
		got := map[string]pools.MetricStatus{}
		for _, m := range st.Metrics {
			got[m.Metric] = m
		}
		for m, w := range map[string]struct{ qualifier, state, text string }{
			"free_chlorine":  {"above", pools.StateHigh, "above 10 ppm (beyond the test's range)"},
			"total_chlorine": {"below", pools.StateLow, "below 0.5 ppm (beyond the test's range)"},
			"cyanuric_acid":  {"above", pools.StateUnknown, "above 40 ppm (beyond the test's range)"}, // 30–50 straddles it
		} {
			if g := got[m]; g.Qualifier != w.qualifier || g.State != w.state || g.Text != w.text {
				t.Errorf("%s: %+v, want %s %s %q", m, g, w.qualifier, w.state, w.text)
			}
		}
		var sum pools.Summary
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings/summary?metric=free_chlorine&bucket=1d", f.pool), token: owner}).json(t, &sum)
		var n, bounded int64
		for _, b := range sum.Buckets {
			n, bounded = n+b.Count, bounded+b.Bounded
			if b.Max > 2 {
				t.Errorf("bucket %+v: the bound 10 counted in the figures", b)
			}
		}
		if n != 1 || bounded != 1 {
			t.Errorf("summary %+v: %d exact, %d bounded, want 1 and 1", sum, n, bounded)
		}
	})
}

// TestBoundFromPluginWebhook: "FC > 10" from a photometer, sent through the generic
// plugin's real binary over real HTTP, is stored as a bound and judged high against a
// 1–3 ppm target; a reading's bound and an unknown qualifier go through the same judge.
func TestBoundFromPluginWebhook(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		f := e.fixture()
		owner := f.users["owner"].Token
		e.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/pools/%d", f.pool), token: owner, body: map[string]any{
			"sanitizer": "chlorine", "targets": map[string]any{"free_chlorine": map[string]any{"min": 1, "max": 3}}}})
		at := time.Now().Add(-5 * time.Minute).UTC().Truncate(time.Second).Format(time.RFC3339)
		body := fmt.Appendf(nil, `{"device_id": "d1",
			"readings": [{"metric": "cyanuric_acid", "value": 100, "qualifier": "above", "recorded_at": %q},
			             {"metric": "orp", "value": 650, "qualifier": "roughly", "recorded_at": %q}],
			"test_sessions": [{"taken_at": %q, "method": "photometer",
			                   "results": [{"metric": "free_chlorine", "value": 10, "unit": "ppm", "qualifier": "above"}]}]}`, at, at, at)
		got := e.delivered(e.signedTo(fmt.Sprintf("/v1/webhooks/generic/accounts/%d", f.account), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", body))
		if got.Accepted != 1 || got.Dropped["bad_qualifier"] != 1 || got.TestSessions == nil || got.TestSessions.Accepted != 1 {
			t.Fatalf("delivery answered %+v", got)
		}
		var page struct {
			Readings []pools.Reading `json:"readings"`
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings?metric=cyanuric_acid", f.pool), token: owner}).json(t, &page)
		if len(page.Readings) != 1 || page.Readings[0].Qualifier != "above" || page.Readings[0].Value != 100 {
			t.Fatalf("readings %+v", page.Readings)
		}
		var st pools.Status
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status", f.pool), token: f.users["viewer"].Token}).json(t, &st)
		var fc *pools.MetricStatus
		for i := range st.Metrics {
			if st.Metrics[i].Metric == "free_chlorine" {
				fc = &st.Metrics[i]
			}
		}
		if fc == nil || fc.Source != store.SourceTestSession || fc.Qualifier != "above" || fc.Value != 10 ||
			fc.State != pools.StateHigh || fc.Text != "above 10 ppm (beyond the test's range)" {
			t.Fatalf("free chlorine in status: %+v", fc)
		}
	})
}

// TestTakenAtZeroRefused: a test session whose takenAt is given as Go's zero time
// (0001-01-01T00:00:00Z, what a client serializing an unset time.Time sends) is refused
// as out of range, like any other takenAt more than ten years ago. It was read as "no
// takenAt" and stored as taken now: a session from the year 1 recorded as today's.
// Omitting takenAt still means now.
func TestTakenAtZeroRefused(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/poolhost.db", envOpts{})
	f := e.fixture()
	path := fmt.Sprintf("/v1/pools/%d/test-sessions", f.pool)
	results := []map[string]any{{"metric": "ph", "value": 7.2}}
	p := e.must(400, req{method: "POST", path: path, token: f.users["editor"].Token, body: map[string]any{
		"takenAt": "0001-01-01T00:00:00Z", "method": "drops", "results": results}}).problem(t)
	if !strings.Contains(p.Detail, "takenAt") {
		t.Errorf("problem %+v does not name takenAt", p)
	}
	var c pools.Created
	e.must(201, req{method: "POST", path: path, token: f.users["editor"].Token, body: map[string]any{
		"method": "drops", "results": results}}).json(t, &c)
	if time.Since(c.Session.TakenAt) > time.Minute {
		t.Errorf("a session without takenAt was taken at %s, want now", c.Session.TakenAt)
	}
}

// TestMemberLimitProblem: adding a member to a full pool (store.MaxMembersPerPool) is a
// 409 problem saying so; the member is not added.
func TestMemberLimitProblem(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/poolhost.db", envOpts{})
	owner := e.newUser("owner", false)
	var p pools.Pool
	e.must(201, req{method: "POST", path: "/v1/pools", token: owner.Token, body: map[string]any{"name": "crowded"}}).json(t, &p)
	for i := 1; i < store.MaxMembersPerPool; i++ {
		u := e.newUser("guest", false)
		if _, err := e.st.SetPoolMember(context.Background(), p.ID, u.ID, store.RoleViewer); err != nil {
			t.Fatal(err)
		}
	}
	extra := e.newUser("extra", false)
	pr := e.must(409, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", p.ID, extra.ID), token: owner.Token,
		body: map[string]any{"role": "viewer"}}).problem(t)
	if !strings.HasSuffix(pr.Type, "member-limit") || !strings.Contains(pr.Detail, fmt.Sprintf("at most %d members", store.MaxMembersPerPool)) {
		t.Errorf("problem %+v", pr)
	}
	e.must(404, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", p.ID), token: extra.Token})
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("at most %d members (`store.MaxMembersPerPool`)", store.MaxMembersPerPool); !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), want) {
		t.Errorf("README.md does not say %q", want)
	}
}
