package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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
// inserted, so a run merges the readings above the watermark into their hours and days
// (count, min, max, sum, last) and moves the watermark, a chunk of ids per transaction,
// grouped in SQL so that each bucket a chunk touches is one upsert (rollUp). A late
// reading (an old recorded_at, inserted now) has a new id, so it is merged into its old
// hour like any other. A summary reads, in one statement (one snapshot), the rollup hours inside
// its range and the raw readings above the watermark or in the partial hours at its
// edges.

// rollupState names the watermark row of sensor_readings in rollup_state.
const rollupState = "sensor_readings"

// settleWait bounds how long a rollup run waits for the inserts in flight when it
// starts (settledReadingID); a variable for tests.
var settleWait = 5 * time.Second

// rollupBatch is how many readings one AdvanceRollups transaction merges at most, by
// engine; a variable for tests. A fleet's readings interleave in id order (a delivery
// is a few readings of one device), so a chunk meets each of its buckets once, and the
// more of a bucket's readings a chunk holds, the fewer upserts per reading: with 20,000
// devices reporting four metrics every 15 minutes, half a million readings span about
// six quarter hours, so an hour is one or two upserts and a day one per chunk. On
// PostgreSQL the transaction holds only the watermark row (ingestion goes on); make
// bench-scale's catch-up of 2 million readings ran at 8,100 readings/s in chunks of
// 100,000, 18,400 of 400,000 and 26,700 of a million (4,100 reading by reading, in
// Go). SQLite has one writer, which a chunk holds until it commits: its chunks stay at
// the 20,000 they were (500,000 readings at 5,100 readings/s, 4,000 before).
var rollupBatch = func(d dialect) int {
	if d == dialectPostgres {
		return 500_000
	}
	return 20_000
}

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

// Rollup tables: hours, and days (local midnight to local midnight) for long summaries.
const (
	hourlyRollups = "reading_rollups"
	dailyRollups  = "reading_rollups_daily"
)

// rollupSettings sets, for the rest of the caller's transaction on PostgreSQL, what a
// rollup's statements need.
//
// No JIT: selected by id, which no month's bounds prune, the readings' plans scan
// every month partition, and PostgreSQL's JIT (on by default, and chosen by these
// plans' cost) compiled each month's expressions in the leader and in each parallel
// worker. At 100 million readings (133 partitions) that was 140 s of compilation per
// chunk of 500,000 readings (EXPLAIN ANALYZE), and the chunk took 85-100 s with it,
// 19-20 s without (the shared box, load 15, interleaved runs): the catch-up ran at
// 14,600-21,000 readings/s there, against 69,000 at 10 million readings, whose two
// months gave JIT little to compile.
//
// work_mem: a chunk's readings are sorted once, by bucket, which for 500,000 readings
// takes 69 MB in memory; at 64 MB the sort spilled to disk (42 MB).
func (q queries) rollupSettings(ctx context.Context) error {
	if q.d != dialectPostgres {
		return nil
	}
	_, err := q.exec(ctx, `SET LOCAL jit = off; SET LOCAL work_mem = '128MB'`)
	return err
}

// rollUp merges the sensor readings where selects (a condition on sensor_readings r,
// with its args) into both rollup tables, and returns how many readings that was.
//
// The readings are grouped in SQL, by pool, device, metric and local hour (then day),
// and each bucket is one upsert: a run over readings that interleave across many pools
// costs a row per bucket, not a row per reading, and the readings never leave the
// database. SQL cannot compute a pool's local hours by itself (SQLite has no zones, and
// PostgreSQL's tzdata need not be Go's, which the summary uses), so Go hands it, for
// the zones and days the readings fall in, the tables it needs (zoneTables): each
// zone's offset periods, and its local days. In SQL a reading's local hour is then
// localHour's arithmetic on its period's offset and bounds, and its day a lookup.
func (q queries) rollUp(ctx context.Context, where string, args ...any) (int64, error) {
	if err := q.rollupSettings(ctx); err != nil {
		return 0, err
	}
	var seen []struct {
		Zone string `db:"zone"`
		Day  int64  `db:"day"`
		N    int64  `db:"n"`
	}
	if err := q.sel(ctx, &seen, `SELECT COALESCE(p.time_zone, '`+DefaultTimeZone+`') AS zone, `+floorDivSQL(q.epochSecondSQL("r.recorded_at"), 86400)+` AS day, COUNT(*) AS n
		FROM sensor_readings r LEFT JOIN pools p ON p.id = r.pool_id WHERE `+where+` GROUP BY 1, 2`, args...); err != nil {
		return 0, err
	}
	if len(seen) == 0 {
		return 0, nil
	}
	days := map[string][]int64{}
	var n int64
	for _, s := range seen {
		days[s.Zone] = append(days[s.Zone], s.Day)
		n += s.N
	}
	zt := zoneTables(days)
	chunk, hours, daily := q.rollUpSQL(zt, where)
	if _, err := q.exec(ctx, chunk, append(zt.names, args...)...); err != nil {
		return 0, fmt.Errorf("rollup hours: %w", err)
	}
	if _, err := q.exec(ctx, hours); err != nil {
		return 0, fmt.Errorf("%s: %w", hourlyRollups, err)
	}
	if _, err := q.exec(ctx, daily); err != nil {
		return 0, fmt.Errorf("%s: %w", dailyRollups, err)
	}
	// Dropped here, not only at commit, so that a transaction may roll up twice.
	if _, err := q.exec(ctx, `DROP TABLE rollup_chunk`); err != nil {
		return 0, err
	}
	return n, nil
}

// zoneRows is what SQL needs to bucket readings in their pools' zones: VALUES rows for
// the CTEs z(zi, zone) (names holds the zone names, the only parameters), s(zi, from_s,
// to_s, off) (offset periods: [from_s, to_s) in Unix seconds at offset off seconds; as
// time.Time.ZoneBounds gives them, open ends far out) and d(zi, dn, ds, de) (local day
// number dn, days since 1970-01-01 on the local calendar, runs [ds, de) as localDay).
type zoneRows struct {
	names          []any
	z, spans, days string
}

// zoneTables builds the zones' rows for readings on the given UTC days (days since the
// epoch) of each zone: offset periods covering those days, and the local days that
// overlap them (a UTC day meets the local days before, on and after it).
func zoneTables(utcDays map[string][]int64) zoneRows {
	const far = int64(1) << 62 // an open end of a zone's first or last period
	var zr zoneRows
	var z, spans, days []string
	names := make([]string, 0, len(utcDays))
	for name := range utcDays {
		names = append(names, name)
	}
	slices.Sort(names) // the same statement text for the same zones
	for zi, name := range names {
		loc := zoneOrUTC(name)
		ds := utcDays[name]
		slices.Sort(ds)
		zr.names = append(zr.names, name)
		z = append(z, fmt.Sprintf("(%d, CAST(? AS TEXT))", zi))
		for t, until := ds[0]*86400, (ds[len(ds)-1]+1)*86400; ; {
			lt := time.Unix(t, 0).In(loc)
			_, off := lt.Zone()
			zs, ze := lt.ZoneBounds()
			from, to := -far, far
			if !zs.IsZero() {
				from = zs.Unix()
			}
			if !ze.IsZero() {
				to = ze.Unix()
			}
			spans = append(spans, fmt.Sprintf("(%d, %d, %d, %d)", zi, from, to, off))
			if to >= until {
				break
			}
			t = to
		}
		local := map[int64]bool{}
		for _, d := range ds {
			for dn := d - 1; dn <= d+1; dn++ {
				if local[dn] {
					continue
				}
				local[dn] = true
				y, m, dd := time.Unix(dn*86400, 0).UTC().Date()
				days = append(days, fmt.Sprintf("(%d, %d, %d, %d)", zi, dn, dayStart(y, m, dd, loc), dayStart(y, m, dd+1, loc)))
			}
		}
	}
	zr.z, zr.spans, zr.days = strings.Join(z, ", "), strings.Join(spans, ", "), strings.Join(days, ", ")
	return zr
}

// rollUpSQL is rollUp's statements for the readings where selects, in their pools'
// zones (zr). The first creates the temporary table rollup_chunk: the readings grouped
// by pool, metric, local hour and device, with each hour's zone (zi) and local day
// (dn). The second merges those hours into reading_rollups, the third merges them,
// grouped by local day, into reading_rollups_daily: the readings are read and sorted
// once, and a day is the sum of its hours because every local midnight is an hour's
// start. The last value of a bucket is its newest exact reading by (recorded_at, id),
// as the summary orders them, so a late reading only replaces it when it is newer.
func (q queries) rollUpSQL(zr zoneRows, where string) (chunk, hours, days string) {
	sec := q.epochSecondSQL("r.recorded_at")
	temp := `CREATE TEMPORARY TABLE rollup_chunk AS `
	if q.d == dialectPostgres {
		temp = `CREATE TEMPORARY TABLE rollup_chunk ON COMMIT DROP AS `
	}
	chunk = temp + `WITH z(zi, zone) AS (VALUES ` + zr.z + `),
		s(zi, from_s, to_s, off) AS (VALUES ` + zr.spans + `),
		rr AS (SELECT r.id, r.pool_id, r.device_id, r.metric, r.value, ` + q.d.epochMicroSQL("r.recorded_at") + ` AS at_us,
			CASE WHEN r.qualifier IS NULL THEN 1 ELSE 0 END AS ex, s.zi, s.from_s, s.to_s, s.off, ` + sec + ` + s.off AS l
			FROM sensor_readings r LEFT JOIN pools p ON p.id = r.pool_id
			JOIN z ON z.zone = COALESCE(p.time_zone, '` + DefaultTimeZone + `')
			JOIN s ON s.zi = z.zi AND ` + sec + ` >= s.from_s AND ` + sec + ` < s.to_s
			WHERE ` + where + `),
		k AS (SELECT id, pool_id, device_id, metric, value, at_us, ex, zi, ` + floorDivSQL("l", 86400) + ` AS dn,
			CASE WHEN h > from_s THEN h ELSE from_s END AS bs,
			CASE WHEN h + 3600 < to_s THEN h + 3600 ELSE to_s END AS be
			FROM (SELECT rr.*, l - ` + floorModSQL("l", 3600) + ` - off AS h FROM rr) AS hr),
		o AS (SELECT k.*, ROW_NUMBER() OVER (PARTITION BY pool_id, metric, bs, device_id ORDER BY ex DESC, at_us DESC, id DESC) AS rn FROM k)
		SELECT pool_id, metric, bs AS bucket_start, device_id, MAX(be) AS bucket_end, MAX(zi) AS zi, MAX(dn) AS dn,
			SUM(ex) AS n, SUM(1 - ex) AS bounded,
			COALESCE(MIN(CASE WHEN ex = 1 THEN value END), 0) AS min_value,
			COALESCE(MAX(CASE WHEN ex = 1 THEN value END), 0) AS max_value,
			COALESCE(SUM(CASE WHEN ex = 1 THEN value END), 0) AS sum_value,
			COALESCE(MAX(CASE WHEN rn = 1 AND ex = 1 THEN value END), 0) AS last_value,
			COALESCE(MAX(CASE WHEN rn = 1 AND ex = 1 THEN at_us END), 0) AS last_us,
			COALESCE(MAX(CASE WHEN rn = 1 AND ex = 1 THEN id END), 0) AS last_id
		FROM o GROUP BY pool_id, metric, bs, device_id`
	hours = `INSERT INTO ` + hourlyRollups + ` (` + rollupColumns + `)
		SELECT ` + rollupColumns + ` FROM rollup_chunk WHERE true` + upsertRollupSQL(hourlyRollups)
	days = `WITH d(zi, dn, ds, de) AS (VALUES ` + zr.days + `),
		o AS (SELECT c.*, d.ds, d.de, ROW_NUMBER() OVER (PARTITION BY c.pool_id, c.metric, d.ds, c.device_id
			ORDER BY CASE WHEN c.n > 0 THEN 1 ELSE 0 END DESC, c.last_us DESC, c.last_id DESC) AS rn
			FROM rollup_chunk c JOIN d ON d.zi = c.zi AND d.dn = c.dn)
		INSERT INTO ` + dailyRollups + ` (` + rollupColumns + `)
		SELECT pool_id, metric, ds, device_id, MAX(de), SUM(n), SUM(bounded),
			COALESCE(MIN(CASE WHEN n > 0 THEN min_value END), 0), COALESCE(MAX(CASE WHEN n > 0 THEN max_value END), 0),
			SUM(sum_value),
			COALESCE(MAX(CASE WHEN rn = 1 AND n > 0 THEN last_value END), 0),
			COALESCE(MAX(CASE WHEN rn = 1 AND n > 0 THEN last_us END), 0),
			COALESCE(MAX(CASE WHEN rn = 1 AND n > 0 THEN last_id END), 0)
		FROM o WHERE true GROUP BY pool_id, metric, ds, device_id` + upsertRollupSQL(dailyRollups)
	return chunk, hours, days
}

const rollupColumns = `pool_id, metric, bucket_start, device_id, bucket_end, n, bounded, min_value, max_value, sum_value, last_value, last_us, last_id`

// upsertRollupSQL merges an INSERT's rows into table's: a new bucket is inserted; one
// already there has the new readings merged into its figures (the SET expressions all
// read the row as it was).
func upsertRollupSQL(table string) string {
	return `
		ON CONFLICT (pool_id, metric, bucket_start, device_id) DO UPDATE SET
		bucket_end = CASE WHEN excluded.bucket_end > ` + table + `.bucket_end THEN excluded.bucket_end ELSE ` + table + `.bucket_end END,
		min_value = CASE WHEN excluded.n = 0 THEN ` + table + `.min_value WHEN ` + table + `.n = 0 OR excluded.min_value < ` + table + `.min_value THEN excluded.min_value ELSE ` + table + `.min_value END,
		max_value = CASE WHEN excluded.n = 0 THEN ` + table + `.max_value WHEN ` + table + `.n = 0 OR excluded.max_value > ` + table + `.max_value THEN excluded.max_value ELSE ` + table + `.max_value END,
		sum_value = ` + table + `.sum_value + excluded.sum_value,
		last_value = CASE WHEN ` + newerLast(table) + ` THEN excluded.last_value ELSE ` + table + `.last_value END,
		last_us = CASE WHEN ` + newerLast(table) + ` THEN excluded.last_us ELSE ` + table + `.last_us END,
		last_id = CASE WHEN ` + newerLast(table) + ` THEN excluded.last_id ELSE ` + table + `.last_id END,
		n = ` + table + `.n + excluded.n,
		bounded = ` + table + `.bounded + excluded.bounded`
}

// newerLast says whether the upsert's row (excluded) has a newer last value than the
// table's row: the newest exact reading by (recorded_at, id) wins.
func newerLast(table string) string {
	return `excluded.n > 0 AND (` + table + `.n = 0 OR excluded.last_us > ` + table + `.last_us
		OR (excluded.last_us = ` + table + `.last_us AND excluded.last_id > ` + table + `.last_id))`
}

// epochSecondSQL is a timestamp column as whole seconds since the Unix epoch, rounded
// down as floorDiv(µs, 1e6) is.
func (q queries) epochSecondSQL(col string) string {
	if q.d == dialectPostgres {
		// date_part divides the timestamp's integer microseconds by 1e6 in a double,
		// within 0.12 µs of the exact quotient until 2038 and 0.5 µs until about 2240:
		// never across a whole second from a microsecond timestamp, so the floor is
		// exact, without extract's numeric arithmetic.
		return `CAST(floor(date_part('epoch', ` + col + `)) AS BIGINT)`
	}
	return floorDivSQL(col, 1000000) // SQLite keeps Unix microseconds
}

// floorModSQL and floorDivSQL are floorMod and floorDiv of an integer expression by a
// positive constant: SQL's % and / truncate toward zero, wrong before 1970.
func floorModSQL(x string, n int64) string {
	ns := strconv.FormatInt(n, 10)
	return `(((` + x + `) % ` + ns + ` + ` + ns + `) % ` + ns + `)`
}

func floorDivSQL(x string, n int64) string {
	return `((` + x + ` - ` + floorModSQL(x, n) + `) / ` + strconv.FormatInt(n, 10) + `)`
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
// rollupBatch per transaction, until it has caught up with the readings committed when
// it started or ctx ends. It returns how many readings it merged and the watermark. Run
// it on one replica (the rollup worker's leader); the watermark row's lock keeps two
// runs (and a zone change) from interleaving anyway.
func (q queries) AdvanceRollups(ctx context.Context) (merged int64, watermark int64, err error) {
	settled, ok, err := q.settledReadingID(ctx, settleWait)
	if err != nil {
		return 0, 0, fmt.Errorf("advance rollups: %w", err)
	}
	for ctx.Err() == nil {
		var n int64
		var done bool
		err := q.inTx(ctx, func(q queries) error {
			if err := q.get(ctx, &watermark, `SELECT watermark FROM rollup_state WHERE name = ?`+q.d.forUpdateSQL(), rollupState); err != nil {
				return err
			}
			if !ok || watermark >= settled {
				done = true
				return nil
			}
			if err := q.rollupSettings(ctx); err != nil {
				return err
			}
			// The chunk ends at the rollupBatch-th reading above the watermark, or at the
			// settled id: a gap in the ids (rolled-back inserts, ids a conflict used up)
			// never makes a run of empty chunks.
			hi := settled
			var ids []int64
			if err := q.sel(ctx, &ids, `SELECT id FROM sensor_readings WHERE id > ? AND id <= ? ORDER BY id LIMIT 1 OFFSET ?`,
				watermark, settled, rollupBatch(q.d)-1); err != nil {
				return err
			}
			if len(ids) == 1 {
				hi = ids[0]
			}
			var err error
			if n, err = q.rollUp(ctx, `r.id > ? AND r.id <= ?`, watermark, hi); err != nil {
				return err
			}
			watermark, done = hi, hi == settled
			_, err = q.exec(ctx, `UPDATE rollup_state SET watermark = ? WHERE name = ?`, watermark, rollupState)
			return err
		})
		if err != nil {
			return merged, watermark, fmt.Errorf("advance rollups: %w", err)
		}
		merged += n
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

// RollupHorizon is the instant before which every sensor reading recorded before
// before is in the rollups: the oldest of those readings above the watermark, or before
// itself when there is none. Retention passes its cutoff and expires no reading at or
// after the answer (retention.Config.RollupWatermark), so a summary over an expired
// range still answers from the rollups.
//
// Bounded by before, it reads only the months retention may drop. It used to ask the
// whole table for the oldest reading above the watermark, with the watermark from a
// subquery: PostgreSQL planned that for an unknown watermark (a third of every month's
// rows) and, at 100 million readings, seq-scanned the two largest months, 95 million
// rows, to find nothing. That was the 13.4 s of make bench-scale's month drop with
// rollups on (20-41 ms with them off); 19-22 s by EXPLAIN ANALYZE on the shared box.
// With the watermark and before as values, PostgreSQL prunes the months that start at
// or after before at plan time (never reading, nor locking, them) and probes the rest's
// id index: 1-3 ms there. The watermark is read first, apart: it only ever grows, so
// a stale one keeps more, never less.
func (q queries) RollupHorizon(ctx context.Context, before time.Time) (time.Time, error) {
	before = ts(before)
	w, err := q.RollupWatermark(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var oldest []int64
	if err := q.sel(ctx, &oldest, `SELECT `+q.d.epochMicroSQL("MIN(recorded_at)")+` FROM sensor_readings
		WHERE recorded_at < ? AND id > ? HAVING COUNT(*) > 0`, before, w); err != nil {
		return time.Time{}, fmt.Errorf("rollup horizon: %w", err)
	}
	if len(oldest) == 0 {
		return before, nil
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
	_, err := q.rollUp(ctx, `r.pool_id = ? AND r.id <= ?`, poolID, watermark)
	return err
}

func floorDiv(a, b int64) int64 { return (a - floorMod(a, b)) / b }
