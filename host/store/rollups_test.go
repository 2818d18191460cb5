package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

func setZone(t *testing.T, e *env, p store.Pool, zone string) {
	t.Helper()
	if _, err := e.s.UpdatePool(context.Background(), p.ID, p.Name, store.PoolConfig{TimeZone: zone}); err != nil {
		t.Fatalf("set zone %s: %v", zone, err)
	}
}

func advance(t *testing.T, e *env) int64 {
	t.Helper()
	_, w, err := e.s.AdvanceRollups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func summarize(t *testing.T, e *env, q store.SummaryQuery) []store.Bucket {
	t.Helper()
	bs, err := e.s.SummarizeMeasurements(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// sameAsRaw checks the summary from rollups against the one from raw rows only.
func sameAsRaw(t *testing.T, e *env, q store.SummaryQuery) []store.Bucket {
	t.Helper()
	q.Raw = false
	got := summarize(t, e, q)
	q.Raw = true
	want := summarize(t, e, q)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("summary %v %s…%s from rollups differs from raw rows:\n got %+v\nwant %+v", q.Bucket, q.From, q.To, got, want)
	}
	return got
}

func hourly(t *testing.T, e *env, f fixture, from, to time.Time) {
	t.Helper()
	var rs []store.Reading
	for at := from; at.Before(to); at = at.Add(time.Hour) {
		rs = append(rs, store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 7, RecordedAt: at})
	}
	if _, err := e.s.InsertReadings(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
}

// A pool in America/Los_Angeles: across the March DST change (2026-03-08) its days start
// at local midnight, 08:00 UTC before and 07:00 UTC after, and that Sunday has 23 hours.
// A pool in Asia/Kolkata (+05:30) gets days starting at 18:30 UTC. Both from raw rows
// and from rollups.
func TestDailySummaryInPoolZone(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		la := newFixture(t, e, "la@x.io")
		setZone(t, e, la.pool, "America/Los_Angeles")
		in := newFixture(t, e, "in@x.io")
		setZone(t, e, in.pool, "Asia/Kolkata")
		hourly(t, e, la, time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 7, 0, 0, 0, time.UTC))
		hourly(t, e, in, time.Date(2026, 3, 6, 18, 30, 0, 0, time.UTC), time.Date(2026, 3, 9, 18, 30, 0, 0, time.UTC))
		check := func(t *testing.T, raw bool) {
			laDays := summarize(t, e, store.SummaryQuery{PoolID: la.pool.ID, Metric: "ph", Bucket: 24 * time.Hour,
				From: time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 10, 7, 0, 0, 0, time.UTC), Raw: raw})
			want := []struct {
				start time.Time
				hours int64
			}{
				{time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC), 24},
				{time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC), 23},
				{time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC), 24},
			}
			if len(laDays) != len(want) {
				t.Fatalf("Los Angeles: %d days, want %d: %+v", len(laDays), len(want), laDays)
			}
			pacific, _ := time.LoadLocation("America/Los_Angeles")
			for i, w := range want {
				d := laDays[i]
				if !d.Start.Equal(w.start) || d.End.Sub(d.Start) != time.Duration(w.hours)*time.Hour || d.Count != w.hours {
					t.Errorf("Los Angeles day %d = %s…%s with %d readings, want from %s, %d hours and readings", i, d.Start, d.End, d.Count, w.start, w.hours)
				}
				if l := d.Start.In(pacific); l.Hour() != 0 || l.Minute() != 0 {
					t.Errorf("Los Angeles day %d starts at %s local, not midnight", i, l)
				}
			}
			inDays := summarize(t, e, store.SummaryQuery{PoolID: in.pool.ID, Metric: "ph", Bucket: 24 * time.Hour,
				From: time.Date(2026, 3, 6, 18, 30, 0, 0, time.UTC), To: time.Date(2026, 3, 9, 18, 30, 0, 0, time.UTC), Raw: raw})
			if len(inDays) != 3 {
				t.Fatalf("Kolkata: %d days, want 3: %+v", len(inDays), inDays)
			}
			for i, d := range inDays {
				if w := time.Date(2026, 3, 6+i, 18, 30, 0, 0, time.UTC); !d.Start.Equal(w) || d.Count != 24 || d.End.Sub(d.Start) != 24*time.Hour {
					t.Errorf("Kolkata day %d = %s…%s with %d readings, want from %s, 24 of them", i, d.Start, d.End, d.Count, w)
				}
			}
		}
		t.Run("raw", func(t *testing.T) { check(t, true) })
		// Before any rollup run the rollup path reads everything raw (all above the
		// watermark); after it, the whole days come from the rollups alone.
		advance(t, e)
		if _, err := e.s.DB().Exec(`DELETE FROM sensor_readings`); err != nil {
			t.Fatal(err)
		}
		t.Run("rollups", func(t *testing.T) { check(t, false) })
	})
}

// The random comparison: whatever the zone, the order of inserts and rollup runs, late
// readings, bounds, test results and ranges that cut hours, the summary from rollups
// equals the one from raw rows. Values are multiples of 1/16, so sums are exact in any
// order and equality is exact.
func TestRollupSummaryMatchesRaw(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "r@x.io")
		rng := rand.New(rand.NewPCG(1, 2))
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // LA's spring DST change inside
		span := 20 * 24 * time.Hour
		randTime := func() time.Time { return base.Add(time.Duration(rng.Int64N(int64(span/time.Second))) * time.Second) }
		insert := func(n int) {
			rs := make([]store.Reading, n)
			for i := range rs {
				rs[i] = store.Reading{DeviceID: f.device.ID + int64(rng.IntN(2))*1000, PoolID: f.pool.ID, Metric: "ph",
					Value: float64(rng.IntN(200)) / 16, RecordedAt: randTime().Add(time.Duration(rng.IntN(1000)) * time.Microsecond)}
				if rng.IntN(10) == 0 {
					rs[i].Qualifier = "above"
				}
			}
			if _, err := e.s.InsertReadings(ctx, rs); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(2) == 0 {
				r := store.TestResult{Metric: "ph", Value: float64(rng.IntN(200)) / 16, Unit: "pH"}
				if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: randTime(), Method: "strips",
					Results: []store.TestResult{r}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		compare := func() {
			for range 6 {
				from := randTime()
				to := from.Add(time.Duration(rng.Int64N(int64(span))))
				if rng.IntN(3) == 0 {
					from, to = base, base.Add(span)
				}
				for _, b := range []time.Duration{time.Hour, 24 * time.Hour} {
					sameAsRaw(t, e, store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: b, From: from, To: to})
				}
			}
		}
		for i, zone := range []string{"UTC", "America/Los_Angeles", "Asia/Kathmandu", "Australia/Lord_Howe", "Asia/Kolkata"} {
			setZone(t, e, f.pool, zone) // recomputes the rollups already there
			compare()
			insert(300)
			compare() // the new readings are above the watermark: read raw
			advance(t, e)
			compare()
			insert(50) // late ones among them: random times, all over the range
			if i%2 == 0 {
				advance(t, e)
			}
			compare()
		}
		if w, err := e.s.RollupWatermark(ctx); err != nil || w == 0 {
			t.Fatalf("watermark %d, %v", w, err)
		}
	})
}

// A late reading — recorded in an hour already rolled up, inserted after the watermark —
// is merged into that hour's rollup by the next run, and the summary counts it once
// before and after.
func TestLateReadingChangesRollup(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "late@x.io")
		hour := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
		if _, err := e.s.InsertReadings(ctx, []store.Reading{
			{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 7, RecordedAt: hour.Add(10 * time.Minute)},
			{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 7.5, RecordedAt: hour.Add(50 * time.Minute)},
		}); err != nil {
			t.Fatal(err)
		}
		w1 := advance(t, e)
		rollup := func() (n int64, min, sum float64) {
			row := e.s.DB().QueryRowx(e.s.DB().Rebind(`SELECT n, min_value, sum_value FROM reading_rollups WHERE pool_id = ? AND bucket_start = ?`), f.pool.ID, hour.Unix())
			if err := row.Scan(&n, &min, &sum); err != nil {
				t.Fatal(err)
			}
			return
		}
		if n, mn, sum := rollup(); n != 2 || mn != 7 || sum != 14.5 {
			t.Fatalf("rollup = %d readings, min %g, sum %g; want 2, 7, 14.5", n, mn, sum)
		}
		if _, err := e.s.InsertReadings(ctx, []store.Reading{
			{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 6.5, RecordedAt: hour.Add(30 * time.Minute)},
		}); err != nil {
			t.Fatal(err)
		}
		q := store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: time.Hour, From: hour.Add(-time.Hour), To: hour.Add(2 * time.Hour)}
		if bs := sameAsRaw(t, e, q); len(bs) != 1 || bs[0].Count != 3 || bs[0].Min != 6.5 {
			t.Fatalf("summary before the run = %+v, want 3 readings, min 6.5", bs)
		}
		if w2 := advance(t, e); w2 <= w1 {
			t.Fatalf("watermark %d after the late reading, was %d", w2, w1)
		}
		if n, mn, sum := rollup(); n != 3 || mn != 6.5 || sum != 21 {
			t.Fatalf("rollup after the late reading = %d, min %g, sum %g; want 3, 6.5, 21", n, mn, sum)
		}
		if bs := sameAsRaw(t, e, q); len(bs) != 1 || bs[0].Count != 3 || bs[0].Last != 7.5 {
			t.Fatalf("summary after the run = %+v, want 3 readings, last 7.5", bs)
		}
	})
}

// Retention may drop readings only where the rollups hold them; the summary over a
// dropped range then answers from the rollups. The horizon is asked for a cutoff: a
// reading the rollups do not hold yet after it does not hold it back.
func TestRollupHorizonBeforeDrop(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "cover@x.io")
		day := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC) // before the test clock's now
		hourly(t, e, f, day, day.Add(48*time.Hour))
		cutoff := day.Add(24 * time.Hour)
		if h, err := e.s.RollupHorizon(ctx, cutoff); err != nil || !h.Equal(day) {
			t.Fatalf("RollupHorizon before any run = %v, %v; want the oldest reading, %v", h, err, day)
		}
		if h, err := e.s.RollupHorizon(ctx, day); err != nil || !h.Equal(day) {
			t.Fatalf("RollupHorizon(%v) before any run = %v, %v; want the cutoff: no reading is older", day, h, err)
		}
		advance(t, e)
		hourly(t, e, f, day.Add(72*time.Hour), day.Add(73*time.Hour)) // not rolled up yet
		if h, err := e.s.RollupHorizon(ctx, cutoff); err != nil || !h.Equal(cutoff) {
			t.Fatalf("RollupHorizon after a run = %v, %v; want the cutoff %v", h, err, cutoff)
		}
		q := store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: 24 * time.Hour, From: day, To: day.Add(48 * time.Hour)}
		before := summarize(t, e, q)
		if _, err := e.s.DB().Exec(e.s.DB().Rebind(`DELETE FROM sensor_readings WHERE recorded_at < ?`), cutoff); err != nil {
			t.Fatal(err)
		}
		if after := summarize(t, e, q); !reflect.DeepEqual(after, before) || len(after) != 2 {
			t.Fatalf("summary after the drop = %+v, want %+v", after, before)
		}
	})
}

// The horizon reads only the months that start before the cutoff: with the newest
// month locked (it holds readings the rollups have not taken yet), it still answers,
// with a late reading of an old month. It used to read every month, and at 100 million
// readings seq-scanned the largest ones: 13.4 s of the month drop (RollupHorizon).
func TestRollupHorizonReadsOnlyMonthsBeforeCutoff(t *testing.T) {
	e := newEnv(t, engines[1], true)
	if e.s.Dialect() != "postgres" {
		t.Fatal("engines[1] is not PostgreSQL")
	}
	ctx := context.Background()
	f := newFixture(t, e, "months@x.io")
	if _, err := e.s.EnsurePartitions(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := e.s.Partitions(ctx, store.TableReadings)
	if err != nil || len(ps) < 2 {
		t.Fatalf("partitions = %v, %v", ps, err)
	}
	newest, cutoff := ps[len(ps)-1], ps[len(ps)-2].To
	hourly(t, e, f, ps[0].From, ps[0].From.Add(3*time.Hour))
	advance(t, e)
	late := ps[0].From.Add(90 * time.Minute).Add(time.Second)
	hourly(t, e, f, late, late.Add(time.Minute))             // a late reading of the oldest month
	hourly(t, e, f, newest.From, newest.From.Add(time.Hour)) // and one of the newest

	hold, err := e.s.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	if _, err := hold.Exec(`LOCK TABLE ` + newest.Name + ` IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		h   time.Time
		err error
	}
	got := make(chan answer, 1)
	go func() {
		h, err := e.s.RollupHorizon(ctx, cutoff)
		got <- answer{h, err}
	}()
	for {
		select {
		case a := <-got:
			if a.err != nil || !a.h.Equal(late) {
				t.Fatalf("RollupHorizon(%v) = %v, %v; want the late reading, %v", cutoff, a.h, a.err, late)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		var waiting int
		if err := e.s.DB().Get(&waiting, `SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass`, newest.Name); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			hold.Rollback() // let it end
			t.Fatalf("RollupHorizon(%v) waited for %s, a month after the cutoff", cutoff, newest.Name)
		}
	}
}

// A reading whose transaction took its id before a later one committed is not skipped:
// the rollup run does not move the watermark past an insert still in flight.
func TestRollupWaitsForInsertsInFlight(t *testing.T) {
	for _, eng := range engines {
		if eng.name != "postgres" {
			continue // SQLite has one writer: the highest id visible is settled
		}
		t.Run(eng.name, func(t *testing.T) {
			defer store.SetRollupSettleWait(200 * time.Millisecond)()
			e := newEnv(t, eng, true)
			ctx := context.Background()
			f := newFixture(t, e, "flight@x.io")
			at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
			tx, err := e.s.DB().BeginTxx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.Exec(`INSERT INTO sensor_readings (device_id, pool_id, metric, value, recorded_at, received_at) VALUES ($1, $2, 'ph', 6, $3, $3)`,
				f.device.ID, f.pool.ID, at); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.InsertReadings(ctx, []store.Reading{{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 8, RecordedAt: at.Add(time.Minute)}}); err != nil {
				t.Fatal(err)
			}
			if w := advance(t, e); w != 0 {
				t.Fatalf("watermark moved to %d past an insert in flight", w)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			advance(t, e)
			q := store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: time.Hour, From: at, To: at.Add(time.Hour)}
			if bs := sameAsRaw(t, e, q); len(bs) != 1 || bs[0].Count != 2 {
				t.Fatalf("summary = %+v, want both readings", bs)
			}
		})
	}
}

func TestPoolTimeZoneRefused(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := newFixture(t, e, "tz@x.io")
		for _, z := range []string{"Mars/Olympus", "Local", "../etc/passwd"} {
			if _, err := e.s.UpdatePool(context.Background(), f.pool.ID, f.pool.Name, store.PoolConfig{TimeZone: z}); err == nil {
				t.Errorf("zone %q accepted", z)
			}
		}
		p, err := e.s.GetPool(context.Background(), f.pool.ID)
		if err != nil || p.TimeZone != store.DefaultTimeZone {
			t.Fatalf("zone %q, %v; want the default", p.TimeZone, err)
		}
	})
}

// A reading inserted after the newest rolled-up readings were deleted (retention on
// SQLite, which reuses the highest rowid) is still rolled up: its id is above the
// watermark.
func TestRollupAfterNewestDeleted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "reuse@x.io")
		hour := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
		ins := func(v float64, at time.Time) {
			if _, err := e.s.InsertReadings(ctx, []store.Reading{{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: v, RecordedAt: at}}); err != nil {
				t.Fatal(err)
			}
		}
		ins(7, hour.Add(10*time.Minute))
		ins(6, hour.Add(-48*time.Hour)) // the newest id, recorded two days before
		advance(t, e)
		if _, err := e.s.DB().Exec(e.s.DB().Rebind(`DELETE FROM sensor_readings WHERE recorded_at < ?`), hour.Add(-24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		ins(8, hour.Add(20*time.Minute))
		advance(t, e)
		q := store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: time.Hour, From: hour, To: hour.Add(time.Hour)}
		if bs := sameAsRaw(t, e, q); len(bs) != 1 || bs[0].Count != 2 || bs[0].Max != 8 {
			t.Fatalf("summary = %+v, want both readings of the hour", bs)
		}
	})
}

// The catch-up groups a chunk of readings by pool, device, metric and local hour (and
// day) in SQL. Pools in seven zones report interleaved, as a fleet's deliveries arrive,
// over a span with three DST changes (London, Lord Howe's half hour, Chatham's +12:45),
// two devices at the same instants, bounds among them, late readings in every round,
// readings on both sides of each offset change, and chunks of 61 readings that cut through every bucket: every pool's hourly and
// daily summaries from the rollups equal those from raw rows, after each run.
func TestInterleavedPoolsRollUpInTheirZones(t *testing.T) {
	defer store.SetRollupBatch(61)()
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		zones := []string{"UTC", "America/Los_Angeles", "Europe/London", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham"}
		var fs []fixture
		for i, z := range zones {
			f := newFixture(t, e, fmt.Sprintf("z%d@x.io", i))
			setZone(t, e, f.pool, z)
			fs = append(fs, f)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		base := time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)
		span := 12 * 24 * time.Hour
		metrics := []string{"ph", "orp"}
		taken := map[string]bool{} // device, metric and instant are unique
		// Every pool gets readings around each zone's offset change in the span too,
		// where an hour is cut short and a day has 23 or 25 hours.
		var edges []time.Time
		for _, z := range zones {
			loc, _ := time.LoadLocation(z)
			if _, ze := base.In(loc).ZoneBounds(); !ze.IsZero() && ze.Before(base.Add(span)) {
				for _, d := range []time.Duration{-31, -1, 0, 29, 59} {
					edges = append(edges, ze.Add(d*time.Minute))
				}
			}
		}
		round := func(ats []time.Time) {
			var rs []store.Reading
			for _, at := range ats {
				for _, f := range fs {
					for _, dev := range []int64{f.device.ID, f.device.ID + 1000} {
						for _, m := range metrics {
							k := fmt.Sprint(dev, m, at.UnixNano())
							if taken[k] {
								continue
							}
							taken[k] = true
							v := float64(rng.IntN(200)) / 16
							if m == "orp" {
								v = -1 - v // below zero: a bound's 0 is never a max
							}
							r := store.Reading{DeviceID: dev, PoolID: f.pool.ID, Metric: m, Value: v, RecordedAt: at}
							if rng.IntN(8) == 0 {
								r.Qualifier = "below"
							}
							rs = append(rs, r)
						}
					}
				}
			}
			if _, err := e.s.InsertReadings(ctx, rs); err != nil {
				t.Fatal(err)
			}
		}
		from, to := base.Add(-24*time.Hour), base.Add(span+24*time.Hour)
		compare := func(from, to time.Time) {
			for _, f := range fs {
				for _, m := range metrics {
					for _, b := range []time.Duration{time.Hour, 24 * time.Hour} {
						sameAsRaw(t, e, store.SummaryQuery{PoolID: f.pool.ID, Metric: m, Bucket: b, From: from, To: to})
					}
				}
			}
		}
		// Instants in pairs, the second older and often in the same hour: inserted after
		// the first, in the same chunk or the next, it must not become the hour's last.
		random := func(n int, within time.Duration) []time.Time {
			var ats []time.Time
			for range n {
				at := base.Add(time.Duration(rng.Int64N(int64(within/time.Minute))) * time.Minute)
				ats = append(ats, at, at.Add(-time.Duration(1+rng.IntN(50))*time.Minute))
			}
			return ats
		}
		for i := range 6 {
			if i == 0 {
				round(edges)
			}
			round(random(3, span))
			round(random(1, span/4)) // late: the span's first days, rolled up by the runs before
			advance(t, e)
			compare(from, to)
		}
		// Ranges that start or end on every day of the span: the rollup days read are
		// then those that end at the range's last local midnight or before, so a day
		// whose end is off (a 23- or 25-hour day taken as 24) is left out or read whole.
		for at := base.Add(7 * time.Hour); at.Before(base.Add(span)); at = at.Add(24 * time.Hour) {
			compare(from, at)
			compare(at, to)
		}
		var hours int
		if err := e.s.DB().Get(&hours, `SELECT COUNT(*) FROM reading_rollups WHERE n > 1`); err != nil || hours == 0 {
			t.Fatalf("%d rollup hours hold more than one reading (%v): the readings never shared a bucket", hours, err)
		}
	})
}

// A rollup's statements run without JIT and with the memory to sort a chunk, whatever
// the database's defaults (rollupSettings): at 100 million readings JIT compiled every
// month partition's expressions for each chunk, four fifths of the catch-up's time. A
// trigger on the rollups notes the settings the rollup's statements ran with.
func TestRollupRunsWithoutJIT(t *testing.T) {
	e := newEnv(t, engines[1], true)
	if e.s.Dialect() != "postgres" {
		t.Fatal("engines[1] is not PostgreSQL")
	}
	f := newFixture(t, e, "jit@x.io")
	day := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	hourly(t, e, f, day, day.Add(3*time.Hour))
	for _, stmt := range []string{
		`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = on', current_database());
			EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '4MB'); END $$`,
		`CREATE TABLE noted_settings (tbl TEXT, jit TEXT, work_mem TEXT)`,
		`CREATE FUNCTION note_settings() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO noted_settings VALUES (TG_TABLE_NAME, current_setting('jit'), current_setting('work_mem'));
			RETURN NULL; END $$`,
		`CREATE TRIGGER note_settings AFTER INSERT ON reading_rollups FOR EACH STATEMENT EXECUTE FUNCTION note_settings()`,
		`CREATE TRIGGER note_settings AFTER INSERT ON reading_rollups_daily FOR EACH STATEMENT EXECUTE FUNCTION note_settings()`,
	} {
		if _, err := e.s.DB().Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	s := e.open(t) // new sessions, with the database's defaults
	if n, _, err := s.AdvanceRollups(context.Background()); err != nil || n != 3 {
		t.Fatalf("AdvanceRollups = %d, %v; want 3 readings", n, err)
	}
	var noted []struct {
		Table   string `db:"tbl"`
		JIT     string `db:"jit"`
		WorkMem string `db:"work_mem"`
	}
	if err := e.s.DB().Select(&noted, `SELECT tbl, jit, work_mem FROM noted_settings ORDER BY tbl`); err != nil {
		t.Fatal(err)
	}
	if len(noted) != 2 {
		t.Fatalf("noted %+v, want one statement into each rollup table", noted)
	}
	for _, n := range noted {
		if n.JIT != "off" || n.WorkMem != "128MB" {
			t.Errorf("the rollup's statement into %s ran with jit %s, work_mem %s; want off, 128MB", n.Table, n.JIT, n.WorkMem)
		}
	}
}
