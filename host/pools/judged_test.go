package pools_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestResultsJudgedAsReadings sends the same values through the two doors of measured
// data — a device's readings through host/ingest into sensor_readings, and a test
// session's results through host/pools — and requires the same canonical values, units,
// qualities and drop reasons from both.
func TestResultsJudgedAsReadings(t *testing.T) {
	inputs := []pools.ResultInput{
		{"ph", 7.4, "", ""}, {"ph", 9.1, "pH", ""}, {"temperature", 80.6, "F", ""}, {"temperature", 300.15, "K", ""},
		{"salt", 3.2, "g/L", ""}, {"free_chlorine", 1500, "ppb", ""}, {"orp", 0.72, "V", ""}, {"conductivity", 1.2, "mS/cm", ""},
		{"cyanuric_acid", 30, "mg/L", ""}, {"turbidity", 1, "", ""}, {"ph", math.NaN(), "", ""}, {"orp", math.Inf(-1), "", ""},
		{"ph", 15, "", ""}, {"free_chlorine", -1, "ppm", ""}, {"temperature", 20, "furlongs", ""}, {"signal", -80, "dBm", ""},
		{"free_chlorine", 10, "ppm", "above"}, {"total_chlorine", 0.1, "", "below"}, {"ph", 7, "", "approximately"},
	}
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			svc := ingest.New(s, ingest.Config{}, nil, nil)
			at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			for i, in := range inputs {
				name := fmt.Sprintf("%d %s %g %s", i, in.Metric, in.Value, in.Unit)
				kept, dropped, _ := pools.CheckResults([]pools.ResultInput{in})
				res, err := svc.Ingest(context.Background(), ingest.Request{Provider: "generic", ReceivedAt: at,
					Readings: []sdk.Reading{{ProviderDeviceID: "probe", Metric: in.Metric, Value: in.Value, Unit: in.Unit, Qualifier: sdk.Qualifier(in.Qualifier), RecordedAt: at.Add(time.Duration(i) * time.Second)}}})
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(res.Dropped) != fmt.Sprint(dropped) {
					t.Errorf("%s: readings dropped %v, test results %v", name, res.Dropped, dropped)
				}
				if res.Accepted != len(kept) {
					t.Errorf("%s: %d readings accepted, %d results kept", name, res.Accepted, len(kept))
					continue
				}
				if len(kept) == 0 {
					continue
				}
				rows, _, err := s.ListReadings(context.Background(), store.ReadingQuery{PoolID: w.Pool.ID, Metric: in.Metric,
					From: at.Add(time.Duration(i) * time.Second), To: at.Add(time.Duration(i+1) * time.Second)})
				if err != nil || len(rows) != 1 {
					t.Fatalf("%s: stored readings %v, %v", name, rows, err)
				}
				r, k := rows[0], kept[0]
				if r.Value != k.Value || r.Unit != k.Unit || r.Quality != k.Quality || r.Qualifier != k.Qualifier || r.Qualifier != in.Qualifier {
					t.Errorf("%s: reading stored %g %s %q %q, test result %g %s %q %q", name, r.Value, r.Unit, r.Quality, r.Qualifier, k.Value, k.Unit, k.Quality, k.Qualifier)
				}
			}
		})
	}
}
