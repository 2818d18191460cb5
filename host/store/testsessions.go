package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/poolhost/poolhost/host"
)

// TestSession is a water test: a set of results taken together, by hand (strips,
// drops), with a photometer, or by a lab. A member enters it (AuthorID) or a provider
// submits it for one of its devices (Provider, DeviceID).
type TestSession struct {
	ID        int64        `db:"id"`
	PoolID    int64        `db:"pool_id"`
	TakenAt   time.Time    `db:"taken_at"`
	Method    string       `db:"method"`
	Notes     string       `db:"notes"`
	AuthorID  *int64       `db:"author_id"`
	Provider  string       `db:"provider"`
	DeviceID  *int64       `db:"device_id"`
	CreatedAt time.Time    `db:"created_at"`
	Results   []TestResult `db:"-"`
}

// TestResult is one result of a session, validated and in its metric's canonical unit.
type TestResult struct {
	SessionID int64     `db:"session_id"`
	Metric    string    `db:"metric"`
	Value     float64   `db:"value"`
	Unit      string    `db:"unit"`
	Quality   string    `db:"quality"`
	TakenAt   time.Time `db:"taken_at"`
	// Qualifier as in Reading: "" exact, "above" or "below" the method's range.
	Qualifier string `db:"qualifier"`
}

const testSessionColumns = `id, pool_id, taken_at, method, notes, author_id, provider, device_id, created_at`

// InsertTestSession stores a session and its results in one transaction. A provider's
// session (DeviceID set) already stored for the same device and time is a replay:
// nothing is inserted and inserted is false.
func (q queries) InsertTestSession(ctx context.Context, s TestSession) (out TestSession, inserted bool, err error) {
	err = q.inTx(ctx, func(q queries) error {
		out, inserted, err = q.insertTestSession(ctx, s)
		return err
	})
	if err != nil {
		return TestSession{}, false, fmt.Errorf("insert test session: %w", err)
	}
	return out, inserted, nil
}

// InsertMemberTestSession stores a session a member entered (no provider), as
// InsertTestSession does, unless the pool holds maxPerPool member sessions already
// (maxPerPool 0: no limit): then it is ErrTestSessionLimit and nothing is stored.
// Sessions providers submitted are not counted. The pool's creates take turns
// (serializeOnSQL), so two at once cannot both take the last place.
func (q queries) InsertMemberTestSession(ctx context.Context, s TestSession, maxPerPool int) (TestSession, error) {
	var out TestSession
	err := q.inTx(ctx, func(q queries) error {
		n, full, err := q.taken(ctx, "pools", s.PoolID, maxPerPool,
			`SELECT COUNT(*) FROM test_sessions WHERE pool_id = ? AND provider = ''`, s.PoolID)
		if err != nil {
			return err
		}
		if full {
			return host.Wrap(host.ECONFLICT, ErrTestSessionLimit,
				"the pool holds %d test sessions entered by members, the most one pool may (the operator's ingest { max_test_sessions_per_pool }); delete old ones, or the operator may raise it", n).WithType(ErrTestSessionLimit.Type)
		}
		out, _, err = q.insertTestSession(ctx, s)
		return err
	})
	if err != nil {
		return TestSession{}, fmt.Errorf("insert test session: %w", err)
	}
	return out, nil
}

// insertTestSession is InsertTestSession inside the caller's transaction.
func (q queries) insertTestSession(ctx context.Context, s TestSession) (out TestSession, inserted bool, err error) {
	s.TakenAt = ts(s.TakenAt)
	var got []TestSession
	if err := q.sel(ctx, &got, `INSERT INTO test_sessions (pool_id, taken_at, method, notes, author_id, provider, device_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, taken_at) DO NOTHING RETURNING `+testSessionColumns,
		s.PoolID, s.TakenAt, s.Method, s.Notes, s.AuthorID, s.Provider, s.DeviceID, q.clock()); err != nil {
		return TestSession{}, false, err
	}
	if len(got) == 0 {
		return TestSession{}, false, nil
	}
	out = got[0]
	for _, r := range s.Results {
		var qual any // NULL: exact
		if r.Qualifier != "" {
			qual = r.Qualifier
		}
		if _, err := q.exec(ctx, `INSERT INTO test_results (session_id, pool_id, metric, value, unit, quality, taken_at, qualifier)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, out.ID, s.PoolID, r.Metric, r.Value, r.Unit, r.Quality, s.TakenAt, qual); err != nil {
			return TestSession{}, false, err
		}
		r.SessionID, r.TakenAt = out.ID, s.TakenAt
		out.Results = append(out.Results, r)
	}
	return out, true, nil
}

// ListTestSessions returns up to limit of a pool's sessions with their results, newest
// first (by time taken, then id), after the keyset position (takenAt, id) when given.
func (q queries) ListTestSessions(ctx context.Context, poolID int64, before *TestSessionCursor, limit int) ([]TestSession, *TestSessionCursor, error) {
	where, args := "pool_id = ?", []any{poolID}
	if before != nil {
		at := ts(before.TakenAt)
		where += " AND (taken_at < ? OR (taken_at = ? AND id < ?))"
		args = append(args, at, at, before.ID)
	}
	args = append(args, limit+1)
	var ss []TestSession
	if err := q.sel(ctx, &ss, `SELECT `+testSessionColumns+` FROM test_sessions WHERE `+where+
		` ORDER BY taken_at DESC, id DESC LIMIT ?`, args...); err != nil {
		return nil, nil, fmt.Errorf("list test sessions: %w", err)
	}
	var next *TestSessionCursor
	if len(ss) > limit {
		ss = ss[:limit]
		next = &TestSessionCursor{TakenAt: ss[limit-1].TakenAt, ID: ss[limit-1].ID}
	}
	if err := q.attachResults(ctx, ss); err != nil {
		return nil, nil, err
	}
	return ss, next, nil
}

// TestSessionCursor is the keyset position after the last session of a page.
type TestSessionCursor struct {
	TakenAt time.Time
	ID      int64
}

func (q queries) attachResults(ctx context.Context, ss []TestSession) error {
	if len(ss) == 0 {
		return nil
	}
	ids := make([]string, len(ss))
	byID := make(map[int64]*TestSession, len(ss))
	for i := range ss {
		ids[i] = fmt.Sprint(ss[i].ID)
		byID[ss[i].ID] = &ss[i]
		ss[i].Results = []TestResult{}
	}
	var rs []TestResult
	// The ids are integers this function formatted itself, not user input.
	if err := q.sel(ctx, &rs, `SELECT session_id, metric, value, unit, quality, taken_at, COALESCE(qualifier, '') AS qualifier FROM test_results
		WHERE session_id IN (`+strings.Join(ids, ",")+`) ORDER BY session_id, metric`); err != nil {
		return fmt.Errorf("test results: %w", err)
	}
	for _, r := range rs {
		if s := byID[r.SessionID]; s != nil {
			s.Results = append(s.Results, r)
		}
	}
	return nil
}

// GetTestSession returns one of a pool's sessions; another pool's is ErrNotFound.
func (q queries) GetTestSession(ctx context.Context, poolID, id int64) (TestSession, error) {
	var s TestSession
	if err := q.get(ctx, &s, `SELECT `+testSessionColumns+` FROM test_sessions WHERE pool_id = ? AND id = ?`, poolID, id); err != nil {
		return TestSession{}, fmt.Errorf("get test session: %w", err)
	}
	ss := []TestSession{s}
	if err := q.attachResults(ctx, ss); err != nil {
		return TestSession{}, err
	}
	return ss[0], nil
}

// DeleteTestSession deletes one of a pool's sessions and its results.
func (q queries) DeleteTestSession(ctx context.Context, poolID, id int64) error {
	err := q.inTx(ctx, func(q queries) error {
		if _, err := q.exec(ctx, `DELETE FROM test_results WHERE session_id = ? AND pool_id = ?`, id, poolID); err != nil {
			return err
		}
		return q.execOne(ctx, `DELETE FROM test_sessions WHERE pool_id = ? AND id = ?`, poolID, id)
	})
	if err != nil {
		return fmt.Errorf("delete test session: %w", err)
	}
	return nil
}

// Sources of a measurement.
const (
	SourceSensor      = "sensor"
	SourceTestSession = "test_session"
)

// Latest is the newest value of one metric from one source.
type Latest struct {
	Metric  string  `db:"metric"`
	Source  string  `db:"source"`
	Value   float64 `db:"value"`
	Unit    string  `db:"unit"`
	Quality string  `db:"quality"`
	// Qualifier: "" exact, else the value is a bound ("above" or "below").
	Qualifier string    `db:"qualifier"`
	At        time.Time `db:"-"`
	AtMicro   int64     `db:"at_us"`
	// RefID is the reading's id or the test session's id.
	RefID int64 `db:"ref_id"`
}

// LatestMeasurements returns, for each of metrics, the newest sensor reading and the
// newest test result of the pool (either may be missing). Each is an ORDER BY … DESC
// LIMIT 1 on the (pool_id, metric, time) index of its table: a backward index probe,
// however many readings the pool has. On PostgreSQL only the metrics the pool has
// measured are probed, newest month first, recent months first (latestWindows).
func (q queries) LatestMeasurements(ctx context.Context, poolID int64, metrics []string) ([]Latest, error) {
	if len(metrics) == 0 {
		return nil, nil
	}
	if q.d != dialectPostgres {
		query, args := latestSQLite(poolID, metrics)
		var rows []Latest
		if err := q.selPrepared(ctx, &rows, query, args...); err != nil {
			return nil, fmt.Errorf("latest measurements: %w", err)
		}
		return newestOf(rows), nil
	}
	spans, err := q.spans.get(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("latest measurements: %w", err)
	}
	trace, _ := ctx.Value(latestTraceKey{}).(func(query string, args []any))
	// The pairs still to find: every metric asked, of either source, at first.
	pending := map[string][]string{SourceSensor: metrics, SourceTestSession: metrics}
	var found []Latest
	for _, from := range latestWindows(q.now(), spans) {
		query, args := latestSQL(poolID, pending, spans, from)
		if trace != nil {
			trace(query, args)
		}
		var rows []latestRow
		if err := q.selPrepared(ctx, &rows, query, args...); err != nil {
			return nil, fmt.Errorf("latest measurements: %w", err)
		}
		// A measured pair the window found nothing of (its one row, found false) has its
		// newest rows before the window, or none left: the next, wider window looks again,
		// unless this one walked its table whole.
		pending = map[string][]string{}
		for _, r := range rows {
			switch {
			case r.Found:
				found = append(found, r.Latest)
			case boundedAt(spans[sourceTables[r.Source]], from):
				pending[r.Source] = append(pending[r.Source], r.Metric)
			}
		}
		if len(pending) == 0 {
			break
		}
	}
	return newestOf(found), nil
}

// newestOf keeps the newest row of each metric and source: PostgreSQL's answer may
// hold two of them, one per branch of its table (latestSQL).
func newestOf(rows []Latest) []Latest {
	out := make([]Latest, 0, len(rows))
	for _, r := range rows {
		i := slices.IndexFunc(out, func(o Latest) bool { return o.Metric == r.Metric && o.Source == r.Source })
		switch {
		case i < 0:
			out = append(out, r)
		case r.AtMicro > out[i].AtMicro || (r.AtMicro == out[i].AtMicro && r.RefID > out[i].RefID):
			out[i] = r
		}
	}
	for i := range out {
		out[i].At = time.UnixMicro(out[i].AtMicro).UTC()
	}
	return out
}

// latestRow is a measured pair and what a window found of it (Found false: nothing).
type latestRow struct {
	Latest
	Found bool `db:"found"`
}

// latestTraceKey carries, in a test's context, a function given each statement
// LatestMeasurements runs (the tests EXPLAIN them).
type latestTraceKey struct{}

// latestWindows are the lower time bounds of the statements a status runs on
// PostgreSQL, newest first; the zero time, always last, is no bound.
//
// Every month partition a statement may read is in its plan, and PostgreSQL opens each
// one's index when the statement starts, even when the walk stops in the first: at 130
// months of sensor_readings and test_results that start was most of a status (2.6 ms at
// 100 million readings). So a status first asks only from the start of the previous
// month (a plan of about six months, however many are kept); the pairs it found
// nothing of, metrics not measured lately, are asked again from a year back, then
// over every month. A window finds every row at or after its bound, so the newest row
// of a pair it finds anything of is the newest there is: the answers stay exact, and
// only a pool with metrics it stopped measuring pays for the wider plans.
//
// A bound that falls before a table's span (its months are not kept that far back)
// would bring in the default partition, which breaks the newest-first walk: that
// table is then walked whole in that window (its span is short), and its pairs are
// done.
func latestWindows(now time.Time, spans map[string]monthSpan) []time.Time {
	current := monthStart(now)
	var out []time.Time
	for _, from := range []time.Time{current.AddDate(0, -1, 0), current.AddDate(-1, 0, 0)} {
		for _, sp := range spans {
			if boundedAt(sp, from) {
				out = append(out, from)
				break
			}
		}
	}
	return append(out, time.Time{})
}

// boundedAt reports whether a window from from walks only the months of sp from it.
func boundedAt(sp monthSpan, from time.Time) bool {
	return !from.IsZero() && !from.Before(sp.From) && from.Before(sp.To)
}

// sourceTables are the tables of the sources.
var sourceTables = map[string]string{SourceSensor: TableReadings, SourceTestSession: TableTestResults}

// latestSQL is the statement of one window of LatestMeasurements on PostgreSQL: the
// newest row at or after from (zero: any time) of each pair of pending (metrics by
// source) the pool has measured, and a row with found false for a measured pair it has
// none of there.
//
// The month partitions make a probe per metric a probe per metric and month, and what a
// status paid for was mostly the metrics a pool never measured: their probes find
// nothing in any month, so they visit every one. So the statement starts from
// measured_metrics (migration 00027: the metrics the pool has rows of, kept by
// triggers; a pair may be there twice) and probes only those, each as a LATERAL join:
// one statement whatever the metrics, prepared once per connection and window (its
// text changes only with the spans and the month).
//
// A metric's probe then walks the months newest first and stops at the first row,
// usually in the current month. PostgreSQL does that (an ordered Append under the
// LIMIT) only when the default partition is pruned at plan time, since a default
// partition's rows may be of any time: so each table's probe is two branches, the
// months of its span from the window's bound (spans, as literals the planner prunes
// with: the default partition is out) and the times outside it (the default partition
// alone, after the span; without a bound also any older month cut off from the span by
// a missing one). Together they cover every time from the bound whatever spans says: a
// stale span (a month dropped or created since it was read) costs speed, never a row.
// LatestMeasurements keeps the newer of the two. TestStatusWalksNewestMonthFirst shows
// the plans.
func latestSQL(poolID int64, pending map[string][]string, spans map[string]monthSpan, from time.Time) (string, []any) {
	var branches []string
	for _, b := range []struct{ table, key, source, probe string }{
		{TableReadings, "recorded_at", SourceSensor, latestSensorSQL},
		{TableTestResults, "taken_at", SourceTestSession, latestTestSQL},
	} {
		probe := strings.NewReplacer("{pool}", "mm.pool_id", "{metric}", "mm.metric").Replace(dialectPostgres.latestProbe(b.probe))
		// The source's condition only on the outer row: a one-time filter, so the
		// other table's branches are never run for this row.
		probe = strings.Replace(probe, " WHERE ", " WHERE mm.source = '"+b.source+"' AND ", 1)
		sp, ok := spans[b.table]
		if !ok {
			branches = append(branches, strings.Replace(probe, "{time}", "", 1))
			continue
		}
		lo, to := pgTimestamp(sp.From), pgTimestamp(sp.To)
		outside := " AND (" + b.key + " < " + lo + " OR " + b.key + " >= " + to + ")"
		if boundedAt(sp, from) {
			lo, outside = pgTimestamp(from), " AND "+b.key+" >= "+to
		}
		branches = append(branches,
			strings.Replace(probe, "{time}", " AND "+b.key+" >= "+lo+" AND "+b.key+" < "+to, 1),
			strings.Replace(probe, "{time}", outside, 1))
	}
	return `SELECT mm.metric, mm.source, COALESCE(l.value, 0) AS value, COALESCE(l.unit, '') AS unit,
			COALESCE(l.quality, '') AS quality, COALESCE(l.qualifier, '') AS qualifier,
			COALESCE(l.at_us, 0) AS at_us, COALESCE(l.ref_id, 0) AS ref_id, l.ref_id IS NOT NULL AS found
		FROM (SELECT DISTINCT pool_id, source, metric FROM measured_metrics
			WHERE pool_id = ? AND (source = '` + SourceSensor + `' AND metric = ANY(CAST(? AS TEXT[]))
				OR source = '` + SourceTestSession + `' AND metric = ANY(CAST(? AS TEXT[])))) AS mm
		LEFT JOIN LATERAL ((` + strings.Join(branches, ") UNION ALL (") + `)) AS l ON TRUE`,
		[]any{poolID, pq.StringArray(pending[SourceSensor]), pq.StringArray(pending[SourceTestSession])}
}

// The probes of the newest row of a pool's metric, with {pool}, {metric} and {time}
// (a condition on the table's time, or nothing) to fill in.
const (
	latestSensorSQL = `SELECT metric, '` + SourceSensor + `' AS source, value, unit, quality, COALESCE(qualifier, '') AS qualifier, {at_us} AS at_us, id AS ref_id
		FROM sensor_readings WHERE pool_id = {pool} AND metric = {metric}{time} ORDER BY recorded_at DESC, id DESC LIMIT 1`
	latestTestSQL = `SELECT metric, '` + SourceTestSession + `' AS source, value, unit, quality, COALESCE(qualifier, '') AS qualifier, {at_us} AS at_us, session_id AS ref_id
		FROM test_results WHERE pool_id = {pool} AND metric = {metric}{time} ORDER BY taken_at DESC, session_id DESC LIMIT 1`
)

// latestProbe is one of the probes above in d's SQL.
func (d dialect) latestProbe(probe string) string {
	key := "recorded_at"
	if strings.Contains(probe, "FROM test_results") {
		key = "taken_at"
	}
	return strings.Replace(probe, "{at_us}", d.epochMicroSQL(key), 1)
}

// latestSQLite is LatestMeasurements' statement on SQLite, without partitions or
// arrays: a UNION ALL of the probes.
func latestSQLite(poolID int64, metrics []string) (string, []any) {
	var parts []string
	var args []any
	for _, m := range metrics {
		for _, probe := range []string{latestSensorSQL, latestTestSQL} {
			probe = strings.NewReplacer("{pool}", "?", "{metric}", "?", "{time}", "").Replace(dialectSQLite.latestProbe(probe))
			parts = append(parts, `SELECT * FROM (`+probe+`) AS p`)
			args = append(args, poolID, m)
		}
	}
	return strings.Join(parts, " UNION ALL "), args
}

// pgTimestamp is t as a PostgreSQL timestamptz literal.
func pgTimestamp(t time.Time) string {
	return "TIMESTAMPTZ '" + t.UTC().Format(time.RFC3339Nano) + "'"
}

// SummaryQuery selects one metric of a pool over [From, To) in buckets of Bucket.
type SummaryQuery struct {
	PoolID int64
	Metric string
	// Bucket is time.Hour (the pool's local clock hours) or 24 * time.Hour (its local
	// days, midnight to midnight: 23 or 25 hours across a DST change).
	Bucket   time.Duration
	From, To time.Time
	// Raw computes from raw rows only, ignoring the rollups: what the rollups must
	// always agree with (tests and benchmarks compare the two).
	Raw bool
}

// Bucket is one bucket's figures; [Start, End) is the bucket's span (UTC instants).
type Bucket struct {
	Start time.Time
	End   time.Time
	Epoch int64 // Start in seconds since the Unix epoch
	Min   float64
	Avg   float64
	Max   float64
	Count int64
	// Bounded counts the values beyond their method's range (qualifier set), which the
	// figures leave out.
	Bounded int64
	Last    float64
	LastAt  time.Time
}

// summaryRow is a rollup hour (src 0), a sensor reading (1) or a test result (2).
type summaryRow struct {
	Src     int     `db:"src"`
	Start   int64   `db:"bs"`
	N       int64   `db:"n"`
	Bounded int64   `db:"bounded"`
	Min     float64 `db:"min_value"`
	Max     float64 `db:"max_value"`
	Sum     float64 `db:"sum_value"`
	Last    float64 `db:"last_value"`
	LastUS  int64   `db:"last_us"`
	Ref     int64   `db:"ref"`
}

// SummarizeMeasurements computes min, avg, max, count and the last value per bucket of
// the pool's zone, from sensor readings and test results alike. One statement (one
// snapshot, so a rollup run in between cannot count a reading twice or not at all)
// reads the rollup hours that lie inside [From, To), and the raw rows the rollups do
// not hold: readings above the watermark (the open edge, late readings included), in
// the partial hours at the range's edges, and every test result. The buckets' edges are
// computed here, in Go, with the pool's zone: the same on both engines.
func (q queries) SummarizeMeasurements(ctx context.Context, sq SummaryQuery) ([]Bucket, error) {
	if sq.Bucket != time.Hour && sq.Bucket != 24*time.Hour {
		return nil, fmt.Errorf("summarize: %w: bucket must be an hour or a day", ErrInvalid)
	}
	var zone string
	if err := q.get(ctx, &zone, `SELECT time_zone FROM pools WHERE id = ?`, sq.PoolID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("summarize: %w", err)
	}
	loc := zoneOrUTC(zone)
	from, to := ts(sq.From), ts(sq.To)
	// [hs, he): the whole local hours inside the range, which the rollups answer for.
	fromSec, toSec := floorDiv(from.UnixMicro(), 1e6), floorDiv(to.UnixMicro(), 1e6)
	hs, hsEnd := localHour(fromSec, loc)
	if hs < fromSec || !from.Equal(time.Unix(fromSec, 0)) {
		hs = hsEnd
	}
	he, _ := localHour(toSec, loc)
	if sq.Raw || he <= hs {
		hs, he = toSec+1, toSec+1 // no rollup hour: every row is read raw
	}
	rows, err := q.summaryRows(ctx, sq, loc, from, to, hs, he)
	if err != nil {
		return nil, fmt.Errorf("summarize: %w", err)
	}
	bucketOf := localHour
	if sq.Bucket == 24*time.Hour {
		bucketOf = localDay
	}
	type acc struct {
		agg
		end int64
	}
	byStart := map[int64]*acc{}
	for _, r := range rows {
		at := r.Start
		var a agg
		if r.Src == 0 {
			a = agg{n: r.N, bounded: r.Bounded, min: r.Min, max: r.Max, sum: r.Sum, last: r.Last, lastUS: r.LastUS, lastRef: r.Ref}
		} else {
			at = floorDiv(r.LastUS, 1e6)
			a = one(r.Last, r.LastUS, r.Src-1, r.Ref, r.N == 1)
		}
		start, end := bucketOf(at, loc)
		b := byStart[start]
		if b == nil {
			b = &acc{end: end}
			byStart[start] = b
		}
		b.add(a)
	}
	out := make([]Bucket, 0, len(byStart))
	for start, b := range byStart {
		if b.n == 0 {
			continue // bounds alone are no figures: the bucket is absent, as one without a value
		}
		out = append(out, Bucket{
			Start: time.Unix(start, 0).UTC(), End: time.Unix(b.end, 0).UTC(), Epoch: start,
			Min: b.min, Avg: b.sum / float64(b.n), Max: b.max, Count: b.n, Bounded: b.bounded,
			Last: b.last, LastAt: time.UnixMicro(b.lastUS).UTC(),
		})
	}
	slices.SortFunc(out, func(a, b Bucket) int { return cmp.Compare(a.Epoch, b.Epoch) })
	return out, nil
}

// summaryRows reads what a summary needs in one statement (one snapshot): the rollup
// hours in [hs, he) (for daily buckets, the rollup days inside it and the hours of the
// partial days at its edges), the raw readings of the partial hours [from, hs) and [he, to),
// those of [hs, he) above the watermark, and the test results of [from, to); with
// sq.Raw, every reading and test result of [from, to).
//
// The watermark is read first and given as a literal, so the open edge is an index
// range on id (a few rows) rather than a filter over every reading of the range: the
// statement also returns the watermark as its snapshot saw it, and a run of the rollup
// worker in between (the rollups would then hold readings the edge reads too) is
// detected and the statement read again.
func (q queries) summaryRows(ctx context.Context, sq SummaryQuery, loc *time.Location, from, to time.Time, hs, he int64) ([]summaryRow, error) {
	if q.d == dialectPostgres && q.db != nil {
		// Without JIT: the planner's estimate for a large pool's rollup rows can pass
		// jit_above_cost (100,000) although the statement reads a few hundred rows. At
		// 100 million readings, after an ANALYZE of reading_rollups, the large pool's 24
		// hourly buckets (140 rows) were estimated at 31,000, and JIT compiling took 46
		// ms of a 109 ms statement (p50 68 ms in make bench-scale, 1.6 ms for the median
		// pool); without it, 1.9 ms (withoutJIT has its cost).
		var out []summaryRow
		err := q.withoutJIT(ctx, func(q queries) error {
			var err error
			out, err = q.summaryRows(ctx, sq, loc, from, to, hs, he)
			return err
		})
		return out, err
	}
	exact := `CASE WHEN qualifier IS NULL THEN 1 ELSE 0 END`
	bound := `CASE WHEN qualifier IS NULL THEN 0 ELSE 1 END`
	sensor := func(table, cond string) string {
		return `SELECT 1 AS src, 0 AS bs, ` + exact + ` AS n, ` + bound + ` AS bounded, value AS min_value, value AS max_value,
			value AS sum_value, value AS last_value, ` + q.d.epochMicroSQL("recorded_at") + ` AS last_us, id AS ref FROM ` + table + `
			WHERE pool_id = ? AND metric = ? AND recorded_at >= ? AND recorded_at < ?` + cond
	}
	tests := `SELECT 2, 0, ` + exact + `, ` + bound + `, value, value, value, value, ` + q.d.epochMicroSQL("taken_at") + `, session_id FROM test_results
		WHERE pool_id = ? AND metric = ? AND taken_at >= ? AND taken_at < ?`
	rollups := func(table string) string {
		return `SELECT 0, bucket_start, n, bounded, min_value, max_value, sum_value, last_value, last_us, last_id FROM ` + table + `
			WHERE pool_id = ? AND metric = ? AND bucket_start >= ? AND bucket_start < ? AND bucket_end <= ?`
	}
	if sq.Raw {
		var u union
		u.add(sensor("sensor_readings", ""), sq.PoolID, sq.Metric, from, to)
		u.add(tests, sq.PoolID, sq.Metric, from, to)
		return q.scanSummary(ctx, u.sql(), u.args...)
	}
	hsT, heT := time.Unix(hs, 0).UTC(), time.Unix(he, 0).UTC()
	if hsT.After(to) {
		hsT = to
	}
	if heT.After(to) {
		heT = to
	}
	// [ds, de): the whole local days inside [hs, he), from the daily rollups; the hours
	// of [hs, ds) and [de, he) from the hourly ones.
	ds, de := he, he
	if sq.Bucket == 24*time.Hour {
		start, end := localDay(hs, loc)
		ds = hs
		if start != hs {
			ds = end
		}
		de, _ = localDay(he, loc)
		if de <= ds {
			ds, de = he, he
		}
	}
	trace, _ := ctx.Value(summaryTraceKey{}).(func(q queries, query string, args []any))
	for attempt := 0; attempt < 3; attempt++ {
		var mark struct {
			Watermark int64 `db:"watermark"`
			MaxID     int64 `db:"max_id"`
		}
		markSQL := `SELECT watermark, ` + q.d.readingIDBoundSQL() + ` AS max_id FROM rollup_state WHERE name = ?`
		if trace != nil {
			trace(q, markSQL, []any{rollupState})
		}
		if err := q.get(ctx, &mark, markSQL, rollupState); err != nil {
			return nil, err
		}
		var u union
		u.add(sensor("sensor_readings", ""), sq.PoolID, sq.Metric, from, hsT)
		u.add(sensor("sensor_readings", ""), sq.PoolID, sq.Metric, heT, to)
		// The open edge, when there is one: caught up (no id above the watermark), the
		// statement leaves it out rather than plan a range PostgreSQL would find empty
		// only after opening every month of sensor_readings.
		if mark.MaxID > mark.Watermark && hsT.Before(heT) {
			u.add(sensor(q.d.aboveWatermarkSQL(mark.Watermark, mark.MaxID), ` AND id > ?`),
				hsT, heT, sq.PoolID, sq.Metric, hsT, heT, mark.Watermark)
		}
		u.add(tests, sq.PoolID, sq.Metric, from, to)
		u.add(rollups(hourlyRollups), sq.PoolID, sq.Metric, hs, ds, ds)
		u.add(rollups(hourlyRollups), sq.PoolID, sq.Metric, de, he, he)
		u.add(rollups(dailyRollups), sq.PoolID, sq.Metric, ds, de, de)
		u.add(`SELECT 3, watermark, 0, 0, 0, 0, 0, 0, 0, 0 FROM rollup_state WHERE name = ?`, rollupState)
		query, args := u.sql(), u.args
		if trace != nil {
			trace(q, query, args)
		}
		rows, err := q.scanSummary(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		consistent, out := false, rows[:0]
		for _, r := range rows {
			if r.Src == 3 {
				consistent = r.Start == mark.Watermark
				continue
			}
			out = append(out, r)
		}
		if consistent {
			return out, nil
		}
	}
	// The rollups kept moving under this summary: raw rows alone are always right.
	sq.Raw = true
	return q.summaryRows(ctx, sq, loc, from, to, hs, he)
}

// union is a UNION ALL of SELECTs, each added with its own arguments: a part left out
// (the open edge) takes its arguments with it, and no placeholder is counted across
// parts.
type union struct {
	parts []string
	args  []any
}

func (u *union) add(sel string, args ...any) {
	u.parts = append(u.parts, sel)
	u.args = append(u.args, args...)
}

func (u *union) sql() string { return strings.Join(u.parts, "\n\tUNION ALL ") }

// summaryTraceKey carries, in a test's context, a function given each statement a
// summary runs and where it runs (the tests EXPLAIN them there).
type summaryTraceKey struct{}

// scanSummary scans summaryRows by position: a year of rollup hours is thousands of
// rows, and sqlx's per-row reflection cost more than the query.
func (q queries) scanSummary(ctx context.Context, query string, args ...any) ([]summaryRow, error) {
	rs, err := q.q.QueryContext(ctx, q.q.Rebind(query), args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rs.Close()
	var out []summaryRow
	for rs.Next() {
		var r summaryRow
		if err := rs.Scan(&r.Src, &r.Start, &r.N, &r.Bounded, &r.Min, &r.Max, &r.Sum, &r.Last, &r.LastUS, &r.Ref); err != nil {
			return nil, mapError(err)
		}
		out = append(out, r)
	}
	return out, mapError(rs.Err())
}
