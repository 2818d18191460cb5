package httpapi_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
)

// TestPoolConfiguration sets a pool's configuration and reads it back: defaults per
// sanitizer from the metric vocabulary's healthy ranges, targets converted from their
// unit, and every bad input answered with a problem saying what was wrong.
func TestPoolConfiguration(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		owner := f.users["owner"].Token
		path := fmt.Sprintf("/v1/pools/%d", f.pool)
		var p pools.Pool
		e.must(200, req{method: "PATCH", path: path, token: owner, body: map[string]any{
			"name": "Back yard", "volumeLiters": 45000, "kind": "pool", "location": "outdoor", "sanitizer": "salt",
			"targets": map[string]any{"temperature": map[string]any{"min": 78.8, "max": 84.2, "unit": "F"}, "ph": map[string]any{"min": 7.3, "max": 7.6}},
		}}).json(t, &p)
		e.must(200, req{method: "GET", path: path, token: f.users["viewer"].Token}).json(t, &p)
		if p.Name != "Back yard" || p.VolumeLiters == nil || *p.VolumeLiters != 45000 || p.Kind != "pool" || p.Location != "outdoor" || p.Sanitizer != "salt" {
			t.Fatalf("pool = %+v", p)
		}
		temp := p.Targets["temperature"]
		if temp.Min == nil || math.Abs(*temp.Min-26) > 1e-9 || math.Abs(*temp.Max-29) > 1e-9 {
			t.Errorf("temperature target not converted to C: %+v", temp)
		}
		if got := p.Effective["ph"]; *got.Min != 7.3 || *got.Max != 7.6 {
			t.Errorf("ph: a member's target must win over the default: %+v", got)
		}
		if got := p.Effective["salt"]; *got.Min != 2700 || *got.Max != 3400 {
			t.Errorf("salt default for a salt pool: %+v", got)
		}
		if got := p.Effective["orp"]; *got.Min != 650 || got.Max != nil {
			t.Errorf("orp default is open above: %+v", got)
		}
		// Back to the default; a bromine pool has no chlorine targets.
		p = pools.Pool{}
		e.must(200, req{method: "PATCH", path: path, token: f.users["editor"].Token, body: map[string]any{
			"sanitizer": "bromine", "targets": map[string]any{"ph": nil}, "volumeLiters": nil}}).json(t, &p)
		if _, ok := p.Effective["free_chlorine"]; ok || *p.Effective["ph"].Min != 7.2 || p.VolumeLiters != nil {
			t.Errorf("after reset: %+v", p)
		}
		if _, ok := p.Effective["bromine"]; !ok {
			t.Errorf("bromine pool without a bromine target: %+v", p.Effective)
		}
		for _, bad := range []struct {
			body map[string]any
			says string
		}{
			{map[string]any{"kind": "lake"}, "kind must be one of"},
			{map[string]any{"volumeLiters": -3}, "volumeLiters"},
			{map[string]any{"targets": map[string]any{"chlorophyll": map[string]any{"min": 1}}}, "unknown metric"},
			{map[string]any{"targets": map[string]any{"ph": map[string]any{"min": 7.8, "max": 7.2}}}, "min is above max"},
			{map[string]any{"targets": map[string]any{"ph": map[string]any{"max": 15}}}, "outside what ph can be"},
			{map[string]any{"targets": map[string]any{"ph": map[string]any{"min": 7, "unit": "F"}}}, "unit"},
			{map[string]any{"targets": map[string]any{"ph": map[string]any{}}}, "needs min, max or both"},
			// A target's fields are matched as written: encoding/json took "MIN" for min
			// and let "mx" pass unread.
			{map[string]any{"targets": map[string]any{"ph": map[string]any{"MIN": 6.8, "max": 7.6}}}, `targets.ph: unknown field "MIN"`},
			{map[string]any{"targets": map[string]any{"ph": map[string]any{"min": 6.8, "mx": 7.6}}}, `targets.ph: unknown field "mx"`},
			{map[string]any{"name": ""}, "name must be"},
			{map[string]any{"timeZone": "Mars/Olympus"}, "timeZone must be an IANA time zone"},
			{map[string]any{"timeZone": "Local"}, "timeZone must be an IANA time zone"},
			{map[string]any{"timeZone": 5}, "timeZone must be an IANA time zone"},
		} {
			resp := e.must(400, req{method: "PATCH", path: path, token: owner, body: bad.body})
			if p := resp.problem(t); !strings.Contains(p.Detail, bad.says) {
				t.Errorf("%v: detail %q does not say %q", bad.body, p.Detail, bad.says)
			}
		}
	})
}

// TestPoolTimeZone: a pool's zone defaults to UTC, is set through PATCH, and its daily
// summary runs from local midnight to local midnight: across the March DST change in
// America/Los_Angeles, a 23-hour day.
func TestPoolTimeZone(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		owner := f.users["owner"].Token
		path := fmt.Sprintf("/v1/pools/%d", f.pool)
		var p pools.Pool
		e.must(200, req{method: "GET", path: path, token: owner}).json(t, &p)
		if p.TimeZone != "UTC" {
			t.Fatalf("default zone %q, want UTC", p.TimeZone)
		}
		e.must(200, req{method: "PATCH", path: path, token: owner, body: map[string]any{"timeZone": "America/Los_Angeles"}}).json(t, &p)
		if p.TimeZone != "America/Los_Angeles" {
			t.Fatalf("zone %q after PATCH", p.TimeZone)
		}
		var rows []store.Reading
		start := time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC) // Saturday's local midnight
		for at := start; at.Before(start.Add(71 * time.Hour)); at = at.Add(30 * time.Minute) {
			rows = append(rows, store.Reading{DeviceID: f.device, PoolID: f.pool, Metric: "ph", Value: 7.25, Unit: "pH", RecordedAt: at})
		}
		_, err := e.st.InsertReadings(context.Background(), rows)
		must(t, err)
		_, _, err = e.st.AdvanceRollups(context.Background())
		must(t, err)
		var sum pools.Summary
		e.must(200, req{method: "GET", token: owner, path: fmt.Sprintf("/v1/pools/%d/readings/summary?metric=ph&bucket=1d&from=%s&to=%s",
			f.pool, start.Format(time.RFC3339), start.Add(71*time.Hour).Format(time.RFC3339))}).json(t, &sum)
		wantHours := []int{24, 23, 24}
		if len(sum.Buckets) != len(wantHours) {
			t.Fatalf("%d days, want 3: %+v", len(sum.Buckets), sum.Buckets)
		}
		la, _ := time.LoadLocation("America/Los_Angeles")
		for i, b := range sum.Buckets {
			if h := b.End.Sub(b.Start); h != time.Duration(wantHours[i])*time.Hour || b.Count != int64(2*wantHours[i]) {
				t.Errorf("day %d: %s…%s (%v) with %d readings, want %d hours", i, b.Start, b.End, h, b.Count, wantHours[i])
			}
			if l := b.Start.In(la); l.Hour() != 0 || l.Minute() != 0 {
				t.Errorf("day %d starts at %s local, not midnight", i, l)
			}
		}
		e.must(200, req{method: "PATCH", path: path, token: owner, body: map[string]any{"timeZone": nil}}).json(t, &p)
		if p.TimeZone != "UTC" {
			t.Fatalf("zone %q after null, want UTC", p.TimeZone)
		}
	})
}

// TestEquipment adds, changes and removes equipment, and refuses measured values.
func TestEquipment(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		editor := f.users["editor"].Token
		base := fmt.Sprintf("/v1/pools/%d/equipment", f.pool)
		var eq pools.Equipment
		e.must(201, req{method: "POST", path: base, token: editor, body: map[string]any{
			"kind": "dosing_pump", "name": "acid", "config": map[string]any{"chemical": "ph_minus", "flowLitersPerHour": 1.5}}}).json(t, &eq)
		if eq.Kind != "dosing_pump" || !strings.Contains(string(eq.Config), "ph_minus") {
			t.Fatalf("equipment = %+v", eq)
		}
		for _, bad := range []struct {
			body map[string]any
			says string
		}{
			{map[string]any{"kind": "pump", "config": map[string]any{"ph": 7.2}}, "measured value"},
			{map[string]any{"kind": "heater", "config": map[string]any{"currentTemperature": 28}}, "measured value"},
			{map[string]any{"kind": "pump", "config": map[string]any{"speeds": 2.5}}, "whole number"},
			{map[string]any{"kind": "filter", "config": map[string]any{"media": "socks"}}, "media must be one of"},
			{map[string]any{"kind": "pump", "config": map[string]any{"colour": "blue"}}, "not a setting of a pump"},
			{map[string]any{"kind": "jacuzzi"}, "kind must be one of"},
		} {
			resp := e.must(400, req{method: "POST", path: base, token: editor, body: bad.body})
			if p := resp.problem(t); !strings.Contains(p.Detail, bad.says) {
				t.Errorf("%v: detail %q does not say %q", bad.body, p.Detail, bad.says)
			}
		}
		one := fmt.Sprintf("%s/%d", base, eq.ID)
		e.must(400, req{method: "PATCH", path: one, token: editor, body: map[string]any{"config": map[string]any{"orp": 700}}})
		e.must(200, req{method: "PATCH", path: one, token: editor, body: map[string]any{"name": "acid dosing"}}).json(t, &eq)
		if eq.Name != "acid dosing" || !strings.Contains(string(eq.Config), "ph_minus") {
			t.Errorf("after rename: %+v", eq)
		}
		// Another pool's equipment id is not found through this pool.
		other := e.fixture()
		e.must(404, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/equipment/%d", other.pool, eq.ID), token: other.users["owner"].Token})
		e.must(204, req{method: "DELETE", path: one, token: editor})
		e.must(404, req{method: "GET", path: one, token: editor})
	})
}

// TestStatusMixesStaleSensorAndFreshTest: a sensor that stopped reporting two days ago
// and a manual test from ten minutes ago. Each metric's newest value wins, says where it
// came from, and is judged against the pool's targets; the sensor's own metrics are stale.
func TestStatusMixesStaleSensorAndFreshTest(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		ctx := context.Background()
		owner := f.users["owner"].Token
		e.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/pools/%d", f.pool), token: owner, body: map[string]any{"sanitizer": "chlorine"}})
		old := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
		_, err := e.st.InsertReadings(ctx, []store.Reading{
			{DeviceID: f.device, PoolID: f.pool, Metric: "ph", Value: 7.0, Unit: "pH", RecordedAt: old},
			{DeviceID: f.device, PoolID: f.pool, Metric: "orp", Value: 700, Unit: "mV", RecordedAt: old},
			{DeviceID: f.device, PoolID: f.pool, Metric: "temperature", Value: 27, Unit: "C", RecordedAt: old},
		})
		must(t, err)
		var created pools.Created
		e.must(201, req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/test-sessions", f.pool), token: f.users["editor"].Token, body: map[string]any{
			"takenAt": time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339), "method": "photometer",
			"results": []map[string]any{
				{"metric": "ph", "value": 7.9},
				{"metric": "free_chlorine", "value": 1000, "unit": "ug/L"},
				{"metric": "total_alkalinity", "value": 90, "unit": "mg/L"},
			}}}).json(t, &created)
		var st pools.Status
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status", f.pool), token: f.users["viewer"].Token}).json(t, &st)
		got := map[string]pools.MetricStatus{}
		for _, m := range st.Metrics {
			got[m.Metric] = m
		}
		want := map[string]struct {
			source, state string
			value         float64
		}{
			"ph":               {store.SourceTestSession, pools.StateHigh, 7.9}, // newer than the sensor's 7.0
			"free_chlorine":    {store.SourceTestSession, pools.StateLow, 1},    // 1000 µg/L = 1 ppm < 2
			"total_alkalinity": {store.SourceTestSession, pools.StateInRange, 90},
			"orp":              {store.SourceSensor, pools.StateStale, 700},
			"temperature":      {store.SourceSensor, pools.StateStale, 27},
		}
		if len(got) != len(want) {
			t.Errorf("status has %d metrics, want %d: %+v", len(got), len(want), st.Metrics)
		}
		for m, w := range want {
			g := got[m]
			if g.Source != w.source || g.State != w.state || math.Abs(g.Value-w.value) > 1e-9 {
				t.Errorf("%s: source %s state %s value %g, want %s %s %g", m, g.Source, g.State, g.Value, w.source, w.state, w.value)
			}
		}
		if g := got["ph"]; g.SourceID != created.Session.ID || g.AgeSeconds < 590 || g.Target == nil {
			t.Errorf("ph: %+v (session %d)", g, created.Session.ID)
		}
		// A longer stale age makes the sensor's values count again.
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status?staleAfter=72h", f.pool), token: owner}).json(t, &st)
		for _, m := range st.Metrics {
			if m.Metric == "orp" && m.State != pools.StateInRange || m.Metric == "temperature" && m.State != pools.StateNoTarget {
				t.Errorf("with staleAfter=72h: %+v", m)
			}
		}
		e.must(400, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status?staleAfter=soon", f.pool), token: owner})
		// A pool with nothing measured has an empty status.
		empty := e.fixture()
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status", empty.pool), token: empty.users["owner"].Token}).json(t, &st)
		if len(st.Metrics) != 1 { // the fixture's own ph test session
			t.Errorf("fresh fixture status: %+v", st.Metrics)
		}
	})
}

// TestSummaryMatchesBruteForce checks every figure of the summary, hourly and daily,
// against a computation in Go over the same readings and test results.
func TestSummaryMatchesBruteForce(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		type point struct {
			at time.Time
			v  float64
		}
		var pts []point
		var rows []store.Reading
		for i := 0; i < 400; i++ {
			at := start.Add(time.Duration(rng.Int64N(int64(72 * time.Hour)))).Truncate(time.Microsecond)
			v := 6.8 + rng.Float64()
			rows = append(rows, store.Reading{DeviceID: f.device, PoolID: f.pool, Metric: "ph", Value: v, Unit: "pH", RecordedAt: at})
			pts = append(pts, point{at, v})
			// Another metric and another pool must not leak in.
			rows = append(rows, store.Reading{DeviceID: f.device, PoolID: f.pool, Metric: "orp", Value: 700, Unit: "mV", RecordedAt: at})
		}
		_, err := e.st.InsertReadings(ctx, rows)
		must(t, err)
		editor := f.users["editor"].ID
		for i := 0; i < 5; i++ {
			at := start.Add(time.Duration(i*13+1) * time.Hour).Add(17 * time.Minute)
			v := 7.0 + float64(i)/10
			_, _, err := e.st.InsertTestSession(ctx, store.TestSession{PoolID: f.pool, TakenAt: at, Method: "drops", AuthorID: &editor,
				Results: []store.TestResult{{Metric: "ph", Value: v, Unit: "pH"}}})
			must(t, err)
			pts = append(pts, point{at, v})
		}
		other := e.fixture()
		_, err = e.st.InsertReadings(ctx, []store.Reading{{DeviceID: other.device, PoolID: other.pool, Metric: "ph", Value: 1, Unit: "pH", RecordedAt: start.Add(time.Hour)}})
		must(t, err)

		from, to := start.Add(5*time.Hour), start.Add(60*time.Hour)
		for _, bucket := range []string{"1h", "1d"} {
			size := pools.Buckets[bucket]
			type agg struct {
				min, max, sum, last float64
				n                   int64
				lastAt              time.Time
			}
			want := map[int64]*agg{}
			for _, p := range pts {
				if p.at.Before(from) || !p.at.Before(to) {
					continue
				}
				k := p.at.Unix() / int64(size/time.Second) * int64(size/time.Second)
				a := want[k]
				if a == nil {
					a = &agg{min: p.v, max: p.v}
					want[k] = a
				}
				a.min, a.max, a.sum, a.n = math.Min(a.min, p.v), math.Max(a.max, p.v), a.sum+p.v, a.n+1
				if !p.at.Before(a.lastAt) {
					a.last, a.lastAt = p.v, p.at
				}
			}
			var sum pools.Summary
			e.must(200, req{method: "GET", token: f.users["viewer"].Token, path: fmt.Sprintf("/v1/pools/%d/readings/summary?metric=ph&bucket=%s&from=%s&to=%s",
				f.pool, bucket, from.Format(time.RFC3339), to.Format(time.RFC3339))}).json(t, &sum)
			if len(sum.Buckets) != len(want) {
				t.Fatalf("%s: %d buckets, want %d", bucket, len(sum.Buckets), len(want))
			}
			keys := make([]int64, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			for i, b := range sum.Buckets {
				w := want[keys[i]]
				close := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
				if b.Start.Unix() != keys[i] || b.Count != w.n || !close(b.Min, w.min) || !close(b.Max, w.max) ||
					!close(b.Avg, w.sum/float64(w.n)) || !close(b.Last, w.last) || !b.LastAt.Equal(w.lastAt) {
					t.Errorf("%s bucket %s: got %+v, want n=%d min=%g avg=%g max=%g last=%g at %s", bucket, time.Unix(keys[i], 0).UTC(), b,
						w.n, w.min, w.sum/float64(w.n), w.max, w.last, w.lastAt)
				}
			}
		}
		for _, bad := range []string{"metric=chlorophyll", "metric=ph&bucket=5m", "metric=ph&from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
			"metric=ph&bucket=1h&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
			"metric=ph&from=0001-01-01T00:00:00Z", "metric=ph&to=0001-01-01T00:00:00Z"} {
			e.must(400, req{method: "GET", token: f.users["owner"].Token, path: fmt.Sprintf("/v1/pools/%d/readings/summary?%s", f.pool, bad)})
		}
	})
}

// TestTestSessions creates, lists, reads and deletes manual tests, with conversions and
// drop reasons in the answer.
func TestTestSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		base := fmt.Sprintf("/v1/pools/%d/test-sessions", f.pool)
		var c pools.Created
		e.must(201, req{method: "POST", path: base, token: f.users["owner"].Token, body: map[string]any{
			"method": "lab", "notes": "sample from the deep end", "results": []map[string]any{
				{"metric": "salt", "value": 3.2, "unit": "g/L"},
				{"metric": "temperature", "value": 300.15, "unit": "K"},
				{"metric": "chlorophyll", "value": 1},
				{"metric": "ph", "value": 19},
				{"metric": "calcium_hardness", "value": 200, "unit": "furlongs"},
				{"metric": "salt", "value": 3000},
			}}}).json(t, &c)
		res := map[string]pools.TestResult{}
		for _, r := range c.Session.Results {
			res[r.Metric] = r
		}
		if len(res) != 2 || res["salt"].Value != 3200 || res["salt"].Unit != "ppm" || math.Abs(res["temperature"].Value-27) > 1e-9 {
			t.Errorf("results = %+v", c.Session.Results)
		}
		wantDropped := map[string]int{"unknown_metric": 1, "absurd_value": 1, "bad_unit": 1, "duplicate_metric": 1}
		if fmt.Sprint(c.Dropped) != fmt.Sprint(wantDropped) || len(c.DroppedResults) != 4 {
			t.Errorf("dropped = %v %+v, want %v", c.Dropped, c.DroppedResults, wantDropped)
		}
		// Nothing keepable, a bad method, a time in the future: 400 with the reason.
		e.must(400, req{method: "POST", path: base, token: f.users["owner"].Token, body: map[string]any{"method": "drops", "results": []map[string]any{{"metric": "ph", "value": -1}}}})
		e.must(400, req{method: "POST", path: base, token: f.users["owner"].Token, body: map[string]any{"method": "guess", "results": []map[string]any{{"metric": "ph", "value": 7}}}})
		e.must(400, req{method: "POST", path: base, token: f.users["owner"].Token, body: map[string]any{"method": "drops",
			"takenAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "results": []map[string]any{{"metric": "ph", "value": 7}}}})
		var list struct {
			TestSessions []pools.TestSession `json:"testSessions"`
			NextCursor   string              `json:"nextCursor"`
		}
		e.must(200, req{method: "GET", path: base + "?limit=1", token: f.users["viewer"].Token}).json(t, &list)
		if len(list.TestSessions) != 1 || list.TestSessions[0].ID != c.Session.ID || list.NextCursor == "" {
			t.Fatalf("first page: %+v", list)
		}
		cursor := list.NextCursor
		list.NextCursor = ""
		e.must(200, req{method: "GET", path: base + "?limit=1&cursor=" + cursor, token: f.users["viewer"].Token}).json(t, &list)
		if len(list.TestSessions) != 1 || list.TestSessions[0].ID != f.session || list.NextCursor != "" {
			t.Fatalf("second page: %+v", list)
		}
		// The editor may not delete the owner's session; the owner may delete the editor's.
		e.must(403, req{method: "DELETE", path: fmt.Sprintf("%s/%d", base, c.Session.ID), token: f.users["editor"].Token})
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("%s/%d", base, f.session), token: f.users["owner"].Token})
		e.must(404, req{method: "GET", path: fmt.Sprintf("%s/%d", base, f.session), token: f.users["owner"].Token})
		// The list says who submitted each session: a member, or a provider's device
		// (ingest stores those; see host/ingest/sessions_test.go).
		dev := int64(4242)
		_, _, err := e.st.InsertTestSession(context.Background(), store.TestSession{PoolID: f.pool, TakenAt: time.Now().Add(-time.Minute),
			Method: "photometer", Provider: "generic", DeviceID: &dev, Results: []store.TestResult{{Metric: "ph", Value: 7.2, Unit: "pH"}}})
		must(t, err)
		list.TestSessions = nil
		e.must(200, req{method: "GET", path: base, token: f.users["viewer"].Token}).json(t, &list)
		sources := map[string]pools.TestSession{}
		for _, s := range list.TestSessions {
			sources[s.Source] = s
		}
		if p, m := sources[pools.SourceProvider], sources[pools.SourceMember]; len(list.TestSessions) != 2 ||
			p.Provider != "generic" || p.DeviceID == nil || *p.DeviceID != dev || p.AuthorID != nil ||
			m.AuthorID == nil || m.Provider != "" || m.DeviceID != nil {
			t.Fatalf("sessions by source: %+v", list.TestSessions)
		}
		// Test sessions are never sensor readings.
		n, err := e.st.CountReadings(context.Background(), f.pool)
		must(t, err)
		if n != 0 {
			t.Errorf("%d sensor readings after test sessions only", n)
		}
	})
}
