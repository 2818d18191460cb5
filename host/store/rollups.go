package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Rollups: hourly and daily aggregates of sensor readings per pool, metric, device and
// hour (reading_rollups) or day (reading_rollups_daily), so a summary of a year of days
// reads 365 rows per device instead of every reading; the hourly ones serve hourly
// summaries and the partial days at a range's edges.
//
// The hour is the pool's local clock hour (localHour), not the UTC hour. Every zone's
// days start on one of its local hours, so daily buckets come out of hourly rollups
// exactly, DST days and Asia/Kathmandu's +05:45 included, at one row per hour. The
// alternatives cost more: 15-minute rollups would fit every zone without knowing it but
// hold four rows per hour (as many as a probe reporting every 15 minutes sends, so no
// gain); hours aligned to a fixed offset break on Australia/Lord_Howe, whose DST shift
// is 30 minutes. The price is that a pool's rollups depend on its zone: changing the zone
// recomputes them from the raw readings still kept (UpdatePool). Rollup hours older than
// every kept reading (retention dropped their rows) stay on the old zone's hours and are
// counted in the day holding their start.
//
// Test results are not rolled up: a pool has a few a week, a session can be deleted, and
// the summary reads them raw.
//
// Maintenance is incremental from a watermark on sensor_readings.id: the rollups hold
// exactly the readings with id <= watermark (rollup_state). Readings are only ever
// inserted, so a run merges the readings above the watermark into their hours (count,
// min, max, sum, last) and moves the watermark, in one transaction. A late reading (an
// old recorded_at, inserted now) has a new id, so it is merged into its old hour like
// any other. A summary reads, in one statement (one snapshot), the rollup hours inside
// its range and the raw readings above the watermark or in the partial hours at its
// edges.

// rollupState names the watermark row of sensor_readings in rollup_state.
const rollupState = "sensor_readings"

// settleWait bounds how long a rollup run waits for the inserts in flight when it
// starts (settledReadingID); a variable for tests.
var settleWait = 5 * time.Second

// RollupBatch is how many readings one AdvanceRollups transaction merges at most.
const RollupBatch = 20000

// agg is the figures of a set of measurements: count, min, max and sum of the exact
// ones, how many were bounds, and the newest exact one ordered by (time, source, ref) as
// the summary orders them (a test result after a sensor reading at the same instant).
type agg struct {
	n, bounded int64
	min, max   float64
	sum        float64
	last       float64
	lastUS     int64
	lastSrc    int
	lastRef    int64
}

func (a *agg) add(b agg) {
	a.bounded += b.bounded
	if b.n == 0 {
		return
	}
	if a.n == 0 {
		a.min, a.max = b.min, b.max
	} else {
		a.min, a.max = min(a.min, b.min), max(a.max, b.max)
	}
	a.sum += b.sum
	if a.n == 0 || b.lastUS > a.lastUS || (b.lastUS == a.lastUS && (b.lastSrc > a.lastSrc || (b.lastSrc == a.lastSrc && b.lastRef > a.lastRef))) {
		a.last, a.lastUS, a.lastSrc, a.lastRef = b.last, b.lastUS, b.lastSrc, b.lastRef
	}
	a.n += b.n
}

// one is a single measurement as an agg.
func one(value float64, us int64, src int, ref int64, exact bool) agg {
	if !exact {
		return agg{bounded: 1}
	}
	return agg{n: 1, min: value, max: value, sum: value, last: value, lastUS: us, lastSrc: src, lastRef: ref}
}

type rollupKey struct {
	daily        bool // reading_rollups_daily, else reading_rollups
	pool, device int64
	metric       string
	start        int64
}

// Rollup tables: hours, and days (local midnight to local midnight) for long summaries.
const (
	hourlyRollups = "reading_rollups"
	dailyRollups  = "reading_rollups_daily"
)

type rollupAgg struct {
	agg
	end int64
}

// rawReading is a sensor reading as the rollup reads it.
type rawReading struct {
	ID       int64   `db:"id"`
	PoolID   int64   `db:"pool_id"`
	DeviceID int64   `db:"device_id"`
	Metric   string  `db:"metric"`
	Value    float64 `db:"value"`
	AtUS     int64   `db:"at_us"`
	Exact    bool    `db:"exact"`
	Zone     string  `db:"time_zone"`
}

func (q queries) rawReadingsSQL(where string) string {
	return `SELECT r.id, r.pool_id, r.device_id, r.metric, r.value, ` + q.d.epochMicroSQL("r.recorded_at") + ` AS at_us,
		CASE WHEN r.qualifier IS NULL THEN 1 ELSE 0 END AS exact, COALESCE(p.time_zone, '` + DefaultTimeZone + `') AS time_zone
		FROM sensor_readings r LEFT JOIN pools p ON p.id = r.pool_id WHERE ` + where + ` ORDER BY r.id LIMIT ?`
}

func addReadings(into map[rollupKey]*rollupAgg, rs []rawReading) {
	for _, r := range rs {
		loc, sec := zoneOrUTC(r.Zone), floorDiv(r.AtUS, 1e6)
		for _, daily := range []bool{false, true} {
			bucket := localHour
			if daily {
				bucket = localDay
			}
			start, end := bucket(sec, loc)
			k := rollupKey{daily: daily, pool: r.PoolID, device: r.DeviceID, metric: r.Metric, start: start}
			a := into[k]
			if a == nil {
				a = &rollupAgg{end: end}
				into[k] = a
			}
			a.add(one(r.Value, r.AtUS, 0, r.ID, r.Exact))
		}
	}
}

// mergeRollups adds aggs into reading_rollups: a new hour is inserted, an hour already
// there has the new readings merged into its figures (the SET expressions all read the
// row as it was).
func (q queries) mergeRollups(ctx context.Context, aggs map[rollupKey]*rollupAgg) error {
	const upsert = ` ON CONFLICT (pool_id, metric, bucket_start, device_id) DO UPDATE SET
		bucket_end = CASE WHEN excluded.bucket_end > reading_rollups.bucket_end THEN excluded.bucket_end ELSE reading_rollups.bucket_end END,
		min_value = CASE WHEN excluded.n = 0 THEN reading_rollups.min_value WHEN reading_rollups.n = 0 OR excluded.min_value < reading_rollups.min_value THEN excluded.min_value ELSE reading_rollups.min_value END,
		max_value = CASE WHEN excluded.n = 0 THEN reading_rollups.max_value WHEN reading_rollups.n = 0 OR excluded.max_value > reading_rollups.max_value THEN excluded.max_value ELSE reading_rollups.max_value END,
		sum_value = reading_rollups.sum_value + excluded.sum_value,
		last_value = CASE WHEN excluded.n > 0 AND (reading_rollups.n = 0 OR excluded.last_us > reading_rollups.last_us OR (excluded.last_us = reading_rollups.last_us AND excluded.last_id > reading_rollups.last_id)) THEN excluded.last_value ELSE reading_rollups.last_value END,
		last_us = CASE WHEN excluded.n > 0 AND (reading_rollups.n = 0 OR excluded.last_us > reading_rollups.last_us OR (excluded.last_us = reading_rollups.last_us AND excluded.last_id > reading_rollups.last_id)) THEN excluded.last_us ELSE reading_rollups.last_us END,
		last_id = CASE WHEN excluded.n > 0 AND (reading_rollups.n = 0 OR excluded.last_us > reading_rollups.last_us OR (excluded.last_us = reading_rollups.last_us AND excluded.last_id > reading_rollups.last_id)) THEN excluded.last_id ELSE reading_rollups.last_id END,
		n = reading_rollups.n + excluded.n,
		bounded = reading_rollups.bounded + excluded.bounded`
	byTable := map[string][]rollupKey{}
	for k := range aggs {
		t := hourlyRollups
		if k.daily {
			t = dailyRollups
		}
		byTable[t] = append(byTable[t], k)
	}
	for _, table := range []string{hourlyRollups, dailyRollups} {
		if err := q.mergeRollupsInto(ctx, table, byTable[table], aggs, upsert); err != nil {
			return err
		}
	}
	return nil
}

func (q queries) mergeRollupsInto(ctx context.Context, table string, keys []rollupKey, aggs map[rollupKey]*rollupAgg, upsert string) error {
	const cols = 13
	const batch = 500 // 13 parameters a row: far below both engines' limits
	upsert = strings.ReplaceAll(upsert, hourlyRollups+".", table+".")
	for len(keys) > 0 {
		part := keys[:min(batch, len(keys))]
		keys = keys[len(part):]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO ` + table + ` (pool_id, metric, bucket_start, device_id, bucket_end, n, bounded,
			min_value, max_value, sum_value, last_value, last_us, last_id) VALUES `)
		args := make([]any, 0, len(part)*cols)
		for i, k := range part {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
			a := aggs[k]
			args = append(args, k.pool, k.metric, k.start, k.device, a.end, a.n, a.bounded,
				a.min, a.max, a.sum, a.last, a.lastUS, a.lastRef)
		}
		sb.WriteString(upsert)
		if _, err := q.exec(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// settledReadingID is the highest reading id below which every reading is committed or
// never will be: the most a rollup run may take. Rolling up to MAX(id) alone would lose
// a reading whose transaction took a lower id but commits later.
//
// SQLite has one writer at a time, so the highest id visible is settled. On PostgreSQL
// an INSERT takes its RowExclusiveLock on the table before its id: read MAX(id), then
// wait until every transaction that held that lock at that moment has ended. Waiting on
// them (their virtual transaction ids) never blocks ingestion, unlike LOCK TABLE; when
// they outlast maxWait, ok is false and this run rolls up nothing new.
func (q queries) settledReadingID(ctx context.Context, maxWait time.Duration) (id int64, ok bool, err error) {
	if err := q.get(ctx, &id, `SELECT COALESCE(MAX(id), 0) FROM sensor_readings`); err != nil {
		return 0, false, err
	}
	if q.d != dialectPostgres {
		return id, true, nil
	}
	var vxids pq.StringArray
	if err := q.get(ctx, &vxids, `SELECT COALESCE(array_agg(DISTINCT virtualtransaction), '{}') FROM pg_locks
		WHERE locktype = 'relation' AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()
		AND (relation = 'sensor_readings'::regclass OR relation IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'sensor_readings'::regclass))`); err != nil {
		return 0, false, err
	}
	deadline := time.Now().Add(maxWait)
	for len(vxids) > 0 {
		var live int
		if err := q.get(ctx, &live, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'virtualxid' AND virtualxid = ANY(?)`, vxids); err != nil {
			return 0, false, err
		}
		if live == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, false, nil
		}
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return id, true, nil
}

// AdvanceRollups merges the readings above the watermark into the rollups, at most
// RollupBatch per transaction, until it has caught up with the readings committed when
// it started or ctx ends. It returns how many readings it merged and the watermark. Run
// it on one replica (the rollup worker's leader); the watermark row's lock keeps two
// runs (and a zone change) from interleaving anyway.
func (q queries) AdvanceRollups(ctx context.Context) (merged int64, watermark int64, err error) {
	settled, ok, err := q.settledReadingID(ctx, settleWait)
	if err != nil {
		return 0, 0, fmt.Errorf("advance rollups: %w", err)
	}
	for ctx.Err() == nil {
		var n int
		var done bool
		err := q.inTx(ctx, func(q queries) error {
			if err := q.get(ctx, &watermark, `SELECT watermark FROM rollup_state WHERE name = ?`+q.d.forUpdateSQL(), rollupState); err != nil {
				return err
			}
			if !ok || watermark >= settled {
				done = true
				return nil
			}
			var rs []rawReading
			if err := q.sel(ctx, &rs, q.rawReadingsSQL(`r.id > ? AND r.id <= ?`), watermark, settled, RollupBatch); err != nil {
				return err
			}
			aggs := map[rollupKey]*rollupAgg{}
			addReadings(aggs, rs)
			if err := q.mergeRollups(ctx, aggs); err != nil {
				return err
			}
			n = len(rs)
			if n < RollupBatch {
				watermark, done = settled, true
			} else {
				watermark = rs[n-1].ID
			}
			_, err := q.exec(ctx, `UPDATE rollup_state SET watermark = ? WHERE name = ?`, watermark, rollupState)
			return err
		})
		if err != nil {
			return merged, watermark, fmt.Errorf("advance rollups: %w", err)
		}
		merged += int64(n)
		if done {
			break
		}
	}
	return merged, watermark, nil
}

// RollupWatermark is the highest sensor reading id the rollups hold: every reading with
// an id at or below it is in reading_rollups. Retention must not drop a reading above it.
func (q queries) RollupWatermark(ctx context.Context) (int64, error) {
	var w int64
	if err := q.get(ctx, &w, `SELECT watermark FROM rollup_state WHERE name = ?`, rollupState); err != nil {
		return 0, fmt.Errorf("rollup watermark: %w", err)
	}
	return w, nil
}

// RollupHorizon is the instant before which every sensor reading is in the rollups:
// the oldest recorded_at among the readings above the watermark, or now when there are
// none. Retention expires no reading at or after it (retention.Config.RollupWatermark),
// so a summary over an expired range still answers from the rollups.
func (q queries) RollupHorizon(ctx context.Context) (time.Time, error) {
	var oldest []int64
	if err := q.sel(ctx, &oldest, `SELECT `+q.d.epochMicroSQL("MIN(recorded_at)")+` FROM sensor_readings
		WHERE id > (SELECT watermark FROM rollup_state WHERE name = ?) HAVING COUNT(*) > 0`, rollupState); err != nil {
		return time.Time{}, fmt.Errorf("rollup horizon: %w", err)
	}
	if len(oldest) == 0 {
		return q.clock(), nil
	}
	return time.UnixMicro(oldest[0]).UTC(), nil
}

// rebuildPoolRollups recomputes a pool's rollups in its new zone from the raw readings
// up to the watermark, inside the caller's transaction (which holds the watermark row).
// Rollup hours that end before the pool's oldest kept reading are kept: their readings
// are gone, and they are the only record of them.
func (q queries) rebuildPoolRollups(ctx context.Context, poolID int64, watermark int64) error {
	var oldest []int64
	if err := q.sel(ctx, &oldest, `SELECT `+q.d.epochMicroSQL("MIN(recorded_at)")+` FROM sensor_readings WHERE pool_id = ? AND id <= ? HAVING COUNT(*) > 0`, poolID, watermark); err != nil {
		return err
	}
	if len(oldest) == 0 {
		return nil // nothing to recompute from: the rollups are all there is
	}
	for _, table := range []string{hourlyRollups, dailyRollups} {
		if _, err := q.exec(ctx, `DELETE FROM `+table+` WHERE pool_id = ? AND bucket_end > ?`, poolID, floorDiv(oldest[0], 1e6)); err != nil {
			return err
		}
	}
	aggs := map[rollupKey]*rollupAgg{}
	var after int64
	for {
		var rs []rawReading
		if err := q.sel(ctx, &rs, q.rawReadingsSQL(`r.pool_id = ? AND r.id > ? AND r.id <= ?`), poolID, after, watermark, RollupBatch); err != nil {
			return err
		}
		addReadings(aggs, rs)
		if len(rs) < RollupBatch {
			break
		}
		after = rs[len(rs)-1].ID
	}
	return q.mergeRollups(ctx, aggs)
}

func floorDiv(a, b int64) int64 { return (a - floorMod(a, b)) / b }
