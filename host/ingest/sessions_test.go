package ingest_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// TestSessionResultsJudgedLikeReadings feeds the same metric, value and unit to ingest
// once as a sensor reading and once as a provider test session's result: the stored
// value, unit and quality, or the drop reason, must be the same both ways.
func TestSessionResultsJudgedLikeReadings(t *testing.T) {
	cases := []struct {
		metric string
		value  float64
		unit   string
	}{
		{"temperature", 77, "°F"},
		{"temperature", 25, ""},
		{"salt", 3.1, "g/L"},
		{"free_chlorine", 1.5, "ppm"},
		{"free_chlorine", 1.5, "mg/L"},
		{"ph", 8.4, ""}, // unhealthy: kept, suspect
		{"ph", 15, ""},  // absurd
		{"ph", math.NaN(), ""},
		{"orp", math.Inf(1), "mV"},
		{"turbidity", 1, ""}, // unknown metric
		{"temperature", 20, "furlongs"},
		{"signal", -80, "dBm"},
		{"free_chlorine", -1, "ppm"},
		{"cyanuric_acid", 40, "ppm"},
		{"total_alkalinity", 100, "ppm"},
	}
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			svc := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			ctx := context.Background()
			for i, c := range cases {
				at := received.Add(-time.Duration(i+1) * time.Minute)
				asReading, err := svc.Ingest(ctx, ingest.Request{Provider: "generic", AccountID: w.Account.ID, ReceivedAt: received,
					Readings: []sdk.Reading{{ProviderDeviceID: "probe", Metric: c.metric, Value: c.value, Unit: c.unit, RecordedAt: at}}})
				if err != nil {
					t.Fatal(err)
				}
				asResult, err := svc.Ingest(ctx, ingest.Request{Provider: "generic", AccountID: w.Account.ID, ReceivedAt: received,
					TestSessions: []sdk.TestSession{{ProviderDeviceID: "probe", TakenAt: at, Method: "photometer",
						Results: []sdk.TestResult{{Metric: c.metric, Value: c.value, Unit: c.unit}}}}})
				if err != nil {
					t.Fatal(err)
				}
				ts := asResult.TestSessions
				if ts == nil {
					t.Fatalf("%v: no test session counts in %+v", c, asResult)
				}
				if len(asResult.Dropped) != 0 || asResult.Accepted != 0 {
					t.Errorf("%v: a test session touched the readings' counts: %+v", c, asResult)
				}
				for reason, n := range asReading.Dropped {
					if ts.ResultsDropped[reason] != n {
						t.Errorf("%v: reading dropped as %s, result drops %v", c, reason, ts.ResultsDropped)
					}
				}
				if asReading.Accepted == 1 {
					var r store.Reading
					if err := s.DB().Get(&r, s.DB().Rebind(`SELECT value, unit, quality FROM sensor_readings WHERE metric = ? AND recorded_at = ?`), c.metric, at); err != nil {
						t.Fatal(err)
					}
					var tr store.TestResult
					if err := s.DB().Get(&tr, s.DB().Rebind(`SELECT value, unit, quality FROM test_results WHERE metric = ? AND taken_at = ?`), c.metric, at); err != nil {
						t.Fatalf("%v: stored as a reading, not as a result: %v", c, err)
					}
					if tr.Value != r.Value || tr.Unit != r.Unit || tr.Quality != r.Quality {
						t.Errorf("%v: reading stored %v %s %q, result %v %s %q", c, r.Value, r.Unit, r.Quality, tr.Value, tr.Unit, tr.Quality)
					}
					if ts.Accepted != 1 {
						t.Errorf("%v: session counts %+v, want 1 accepted", c, ts)
					}
				} else if ts.Accepted != 0 || ts.Dropped[ingest.DropNoResults] != 1 {
					t.Errorf("%v: a session of one dropped result: %+v, want dropped as no_results", c, ts)
				}
			}
			// Not one session's result became a reading.
			var n int
			if err := s.DB().Get(&n, `SELECT COUNT(*) FROM sensor_readings`); err != nil {
				t.Fatal(err)
			}
			if want := countAccepted(cases); n != want {
				t.Fatalf("%d readings, want %d (the readings alone)", n, want)
			}
		})
	}
}

func countAccepted(cases []struct {
	metric string
	value  float64
	unit   string
}) int {
	n := 0
	for _, c := range cases {
		if _, reason := ingest.CheckMeasurement(c.metric, c.value, c.unit, sdk.QualityUnknown); reason == "" {
			n++
		}
	}
	return n
}

// TestProviderSessions: a provider's sessions go to the device's pool, a redelivery
// stores nothing new, an untimed session of a webhook takes its first receipt, and the
// quiet outcomes (all duplicates, all dropped) are still counted and audited.
func TestProviderSessions(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, []string{"loose"})
			svc := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			ctx := context.Background()
			at := received.Add(-time.Hour)
			audited := 0
			req := ingest.Request{Provider: "generic", ReceivedAt: received, DeliveryID: "msg_1",
				Readings: []sdk.Reading{{ProviderDeviceID: "probe", Metric: "ph", Value: 7.3, RecordedAt: at}},
				TestSessions: []sdk.TestSession{
					{ProviderDeviceID: "probe", TakenAt: at, Method: "photometer", Notes: "after shock", Results: []sdk.TestResult{
						{Metric: "free_chlorine", Value: 3, Unit: "mg/L"}, {Metric: "ph", Value: 7.2},
						{Metric: "ph", Value: 7.9}, {Metric: "turbidity", Value: 1}}},
					{ProviderDeviceID: "probe", Method: "spectro", Results: []sdk.TestResult{{Metric: "salt", Value: 3.2, Unit: "g/L"}}}, // no time
					{ProviderDeviceID: "loose", TakenAt: at, Results: []sdk.TestResult{{Metric: "ph", Value: 7}}},
					{ProviderDeviceID: "nobody", TakenAt: at, Results: []sdk.TestResult{{Metric: "ph", Value: 7}}},
					{ProviderDeviceID: "probe", TakenAt: received.Add(time.Hour), Results: []sdk.TestResult{{Metric: "ph", Value: 7}}},
					{ProviderDeviceID: "probe", TakenAt: at.Add(time.Minute), Results: []sdk.TestResult{{Metric: "ph", Value: 99}}},
				},
				Audit: func(res ingest.Result) store.AuditEvent {
					audited++
					return store.AuditEvent{At: received, Action: "webhook.received", Actor: store.ProviderActor("generic"),
						Details: store.Details{"test_sessions_result": res.TestSessions}}
				},
			}
			// Provider-level delivery: the seeded devices are verified.
			res, err := svc.Ingest(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			ts := res.TestSessions
			if res.Accepted != 1 || ts.Accepted != 2 || ts.Duplicates != 0 ||
				ts.Dropped[ingest.DropUnlinkedDevice] != 1 || ts.Dropped[ingest.DropUnknownDevice] != 1 ||
				ts.Dropped[ingest.DropTooFarFuture] != 1 || ts.Dropped[ingest.DropNoResults] != 1 ||
				ts.ResultsDropped[ingest.DropDuplicateMetric] != 1 || ts.ResultsDropped[ingest.DropUnknownMetric] != 1 ||
				ts.ResultsDropped[ingest.DropAbsurdValue] != 1 {
				t.Fatalf("first delivery: %+v sessions %+v", res, ts)
			}
			sessions, _, err := s.ListTestSessions(ctx, w.Pool.ID, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(sessions) != 2 {
				t.Fatalf("%d sessions stored, want 2: %+v", len(sessions), sessions)
			}
			byMethod := map[string]store.TestSession{}
			for _, x := range sessions {
				byMethod[x.Method] = x
				if x.Provider != "generic" || x.DeviceID == nil || *x.DeviceID != w.Devices["probe"].ID || x.AuthorID != nil {
					t.Errorf("session not attributed to the provider's device: %+v", x)
				}
			}
			photo := byMethod["photometer"]
			if !photo.TakenAt.Equal(at) || photo.Notes != "after shock" || len(photo.Results) != 2 ||
				photo.Results[0].Metric != "free_chlorine" || photo.Results[0].Value != 3 || photo.Results[0].Unit != "ppm" ||
				photo.Results[1].Metric != "ph" || photo.Results[1].Value != 7.2 {
				t.Errorf("photometer session stored as %+v", photo)
			}
			other := byMethod["other"] // "spectro" is no method of the vocabulary
			if !other.TakenAt.Equal(received) || len(other.Results) != 1 || other.Results[0].Value != 3200 {
				t.Errorf("untimed session stored as %+v, want taken at the receipt, salt 3200 ppm", other)
			}
			if n := ingesttest.CountReadings(t, s); n != 1 {
				t.Fatalf("%d readings, want the one reading: sessions leaked into sensor_readings", n)
			}

			// The provider redelivers later: same sessions, nothing new, untimed included.
			req.ReceivedAt = received.Add(2 * time.Minute)
			res, err = svc.Ingest(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Duplicates != 1 || res.TestSessions.Accepted != 0 || res.TestSessions.Duplicates != 2 {
				t.Fatalf("redelivery: %+v sessions %+v, want 2 duplicate sessions", res, res.TestSessions)
			}
			// All dropped: nothing stored, still audited.
			res, err = svc.Ingest(ctx, ingest.Request{Provider: "generic", ReceivedAt: received, Audit: req.Audit,
				TestSessions: []sdk.TestSession{{ProviderDeviceID: "probe", Results: []sdk.TestResult{{Metric: "ph", Value: math.NaN()}}}}})
			if err != nil {
				t.Fatal(err)
			}
			if res.TestSessions.Dropped[ingest.DropNoResults] != 1 || res.TestSessions.ResultsDropped[ingest.DropNonFinite] != 1 {
				t.Fatalf("all dropped: %+v", res.TestSessions)
			}
			if audited != 3 {
				t.Fatalf("%d audit events, want one per delivery (3)", audited)
			}
			if got := len(ingesttest.Audit(t, s, "webhook.received")); got != 3 {
				t.Fatalf("%d audit rows, want 3", got)
			}
			after, _, err := s.ListTestSessions(ctx, w.Pool.ID, nil, 10)
			if err != nil || len(after) != 2 {
				t.Fatalf("sessions after replays: %d, %v", len(after), err)
			}
		})
	}
}
