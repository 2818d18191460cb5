package benchscale

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/rollup"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// KeepUp is whether the rollup worker keeps up with live ingestion at the loaded size:
// Config.KeepUpDeliveries deliveries ingested into the loaded database at full speed
// (Config.Senders) while the worker's step (AdvanceRollups) runs back to back, as the
// worker would when each run finds the readings of the last one waiting.
//
// The deliveries go to the loaded pools, round robin over their devices (the measured
// median and large pools left out, so their figures stay the plan's), one reading of
// each metric per delivery: a chunk then meets as many buckets as a fleet's would,
// where host/bench's eight devices of one pool would make every upsert hit the same
// few rows.
type KeepUp struct {
	Readings int64         // ingested
	Ingest   time.Duration // the ingestion's wall time
	// Runs and Merged are the rollup runs that ended while the ingestion ran and the
	// readings they merged; Total is what every run merged, those after included:
	// Readings, unless something else was ingested.
	Runs          int
	Merged, Total int64
	// Behind is how many readings were above the watermark when the ingestion ended,
	// and Lag how long after that the rollups held every reading ingested.
	Behind int64
	Lag    time.Duration
}

// IngestRate and MergeRate are readings/s: ingested, and merged by the runs that
// ended while the ingestion ran. Runs back to back each take what settled since the
// last, so a worker that keeps up merges about as fast as the readings arrive, however
// much faster it could.
func (k KeepUp) IngestRate() float64 { return float64(k.Readings) / k.Ingest.Seconds() }
func (k KeepUp) MergeRate() float64  { return float64(k.Merged) / k.Ingest.Seconds() }

// KeepsUp says whether the worker kept up: the rollups held every reading ingested
// less than a rollup.Interval after the ingestion ended. A worker merging slower than
// the readings arrive trails by a share of everything ingested, which takes about as
// long as the ingestion to clear; one that keeps up trails by a run or two. A phase
// shorter than an Interval cannot tell them apart by this (make it longer with
// POOLHOST_BENCH_KEEPUP_DELIVERIES); Behind and Lag are printed either way.
func (k KeepUp) KeepsUp() bool { return k.Lag < rollup.Interval }

// keepUp runs the phase on the loaded database s (its rollups caught up).
func keepUp(tb testing.TB, s *store.Store, w World, cfg Config) KeepUp {
	tb.Helper()
	ctx := context.Background()
	var devs []string
	for i, pp := range w.Plan.Pools {
		if i == 0 || i == w.Plan.Median() {
			continue
		}
		for d := 0; d < pp.Devices; d++ {
			devs = append(devs, deviceName(i, d))
		}
	}
	if len(devs) == 0 {
		tb.Fatal("keep-up: no pool besides the measured ones")
	}
	// Times after an earlier run's on a kept database (PostgreSQL only): the first
	// device has the newest of them within len(devs) ms (one delivery per ms, round
	// robin).
	base := time.Now().UTC().Truncate(time.Second)
	if s.Dialect() == "postgres" {
		var last sql.NullTime
		if err := s.DB().GetContext(ctx, &last, `SELECT MAX(r.recorded_at) FROM sensor_readings r
			JOIN integration_devices d ON d.id = r.device_id WHERE d.provider = $1 AND d.provider_device_id = $2 AND r.metric = $3`,
			ScaleProvider, devs[0], Metrics[0].Name); err != nil {
			tb.Fatal(err)
		}
		if last.Valid {
			base = maxTime(base, last.Time.UTC().Add(time.Duration(len(devs))*time.Millisecond).Truncate(time.Second).Add(time.Second))
		}
	}
	ing := ingest.New(s, ingest.Config{MaxFutureSkew: 24 * time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)

	var k KeepUp
	var ingesting atomic.Bool
	ingesting.Store(true)
	var runs, merged, total atomic.Int64
	stop := make(chan struct{})
	rolled := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				rolled <- nil
				return
			default:
			}
			n, _, err := s.AdvanceRollups(ctx)
			total.Add(n)
			if err != nil {
				rolled <- err
				return
			}
			if ingesting.Load() {
				runs.Add(1)
				merged.Add(n)
			}
			if n == 0 {
				time.Sleep(20 * time.Millisecond) // nothing settled yet
			}
		}
	}()

	start := time.Now()
	err := sendAll(ctx, ing, ScaleProvider, cfg.Senders, 0, int64(cfg.KeepUpDeliveries), func(seq int64) []sdk.Reading {
		d := devs[seq%int64(len(devs))]
		at := base.Add(time.Duration(seq) * time.Millisecond)
		rs := make([]sdk.Reading, len(Metrics))
		for i, m := range Metrics {
			rs[i] = sdk.Reading{ProviderDeviceID: d, Metric: m.Name, Value: m.Base, RecordedAt: at}
		}
		return rs
	})
	k.Ingest = time.Since(start)
	ingesting.Store(false)
	end := time.Now()
	if err != nil {
		close(stop)
		<-rolled
		tb.Fatalf("keep-up ingest: %v", err)
	}
	k.Readings = int64(cfg.KeepUpDeliveries * len(Metrics))
	var newest int64
	if err := s.DB().GetContext(ctx, &newest, `SELECT COALESCE(MAX(id), 0) FROM sensor_readings`); err != nil {
		tb.Fatal(err)
	}
	wm, err := s.RollupWatermark(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.DB().GetContext(ctx, &k.Behind, s.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE id > ?`), wm); err != nil {
		tb.Fatal(err)
	}
	// The runs go on until the rollups hold the newest reading.
	for wm < newest {
		time.Sleep(20 * time.Millisecond)
		if wm, err = s.RollupWatermark(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	k.Lag = time.Since(end)
	close(stop)
	if err := <-rolled; err != nil {
		tb.Fatalf("keep-up rollups: %v", err)
	}
	k.Runs, k.Merged, k.Total = int(runs.Load()), merged.Load(), total.Load()
	return k
}

// print writes the phase's line.
func (k KeepUp) print(out io.Writer) {
	verdict := "keeps up"
	if !k.KeepsUp() {
		verdict = "falls behind"
	}
	fmt.Fprintf(out, "rollups under live ingest (4 readings + audit row per delivery): %d readings ingested in %v (%.0f/s); meanwhile %d rollup runs merged %d (%.0f/s); %d behind when it ended, all merged %v later: %s (lag < %v)\n",
		k.Readings, k.Ingest.Round(time.Millisecond), k.IngestRate(), k.Runs, k.Merged, k.MergeRate(),
		k.Behind, k.Lag.Round(time.Millisecond), verdict, rollup.Interval)
}
