package store

import (
	"context"
	"fmt"
	"strings"
	"time"
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
	s.TakenAt = ts(s.TakenAt)
	err = q.inTx(ctx, func(q queries) error {
		var got []TestSession
		if err := q.sel(ctx, &got, `INSERT INTO test_sessions (pool_id, taken_at, method, notes, author_id, provider, device_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, taken_at) DO NOTHING RETURNING `+testSessionColumns,
			s.PoolID, s.TakenAt, s.Method, s.Notes, s.AuthorID, s.Provider, s.DeviceID, q.clock()); err != nil {
			return err
		}
		if len(got) == 0 {
			return nil
		}
		out, inserted = got[0], true
		for _, r := range s.Results {
			var qual any // NULL: exact
			if r.Qualifier != "" {
				qual = r.Qualifier
			}
			if _, err := q.exec(ctx, `INSERT INTO test_results (session_id, pool_id, metric, value, unit, quality, taken_at, qualifier)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, out.ID, s.PoolID, r.Metric, r.Value, r.Unit, r.Quality, s.TakenAt, qual); err != nil {
				return err
			}
			r.SessionID, r.TakenAt = out.ID, s.TakenAt
			out.Results = append(out.Results, r)
		}
		return nil
	})
	if err != nil {
		return TestSession{}, false, fmt.Errorf("insert test session: %w", err)
	}
	return out, inserted, nil
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
// newest test result of the pool (either may be missing). Each branch is an ORDER BY …
// DESC LIMIT 1 on the (pool_id, metric, time) index of its table: a backward index probe
// per metric and source, however many readings the pool has.
func (q queries) LatestMeasurements(ctx context.Context, poolID int64, metrics []string) ([]Latest, error) {
	if len(metrics) == 0 {
		return nil, nil
	}
	query, args := q.latestSQL(poolID, metrics)
	var out []Latest
	if err := q.sel(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("latest measurements: %w", err)
	}
	for i := range out {
		out[i].At = time.UnixMicro(out[i].AtMicro).UTC()
	}
	return out, nil
}

// latestSQL is LatestMeasurements' query. On PostgreSQL's month partitions each branch
// is a merge of one backward probe per partition, on the partitions' copy of the same
// index: no partition is scanned, however many months it holds (TestStatusProbesPartitions).
func (q queries) latestSQL(poolID int64, metrics []string) (string, []any) {
	var parts []string
	var args []any
	for _, m := range metrics {
		parts = append(parts,
			`SELECT * FROM (SELECT metric, '`+SourceSensor+`' AS source, value, unit, quality, COALESCE(qualifier, '') AS qualifier, `+q.d.epochMicroSQL("recorded_at")+` AS at_us, id AS ref_id
				FROM sensor_readings WHERE pool_id = ? AND metric = ? ORDER BY recorded_at DESC, id DESC LIMIT 1) AS s`,
			`SELECT * FROM (SELECT metric, '`+SourceTestSession+`' AS source, value, unit, quality, COALESCE(qualifier, '') AS qualifier, `+q.d.epochMicroSQL("taken_at")+` AS at_us, session_id AS ref_id
				FROM test_results WHERE pool_id = ? AND metric = ? ORDER BY taken_at DESC, session_id DESC LIMIT 1) AS t`)
		args = append(args, poolID, m, poolID, m)
	}
	return strings.Join(parts, " UNION ALL "), args
}

// SummaryQuery selects one metric of a pool over [From, To) in buckets of Bucket.
type SummaryQuery struct {
	PoolID   int64
	Metric   string
	Bucket   time.Duration // time.Hour or 24 * time.Hour
	From, To time.Time
}

// Bucket is one bucket's figures; Start is the bucket's first instant (UTC).
type Bucket struct {
	Start time.Time `db:"-"`
	Epoch int64     `db:"bucket"` // seconds since the Unix epoch
	Min   float64   `db:"min_value"`
	Avg   float64   `db:"avg_value"`
	Max   float64   `db:"max_value"`
	Count int64     `db:"n"`
	// Bounded counts the values beyond their method's range (qualifier set), which the
	// figures leave out.
	Bounded int64     `db:"bounded"`
	Last    float64   `db:"last_value"`
	LastAt  time.Time `db:"-"`
	LastUS  int64     `db:"last_us"`
}

// SummarizeMeasurements computes min, avg, max, count and the last value per bucket in
// the database, from sensor readings and test results alike. Both branches read the
// (pool_id, metric, time) index for the range; the rows of one pool and metric are then
// numbered within their bucket, newest first, so the last value is row 1.
func (q queries) SummarizeMeasurements(ctx context.Context, sq SummaryQuery) ([]Bucket, error) {
	secs := int64(sq.Bucket / time.Second)
	if secs <= 0 {
		return nil, fmt.Errorf("summarize: %w: bucket must be positive", ErrInvalid)
	}
	from, to := ts(sq.From), ts(sq.To)
	b := q.d.bucketSQL("at", secs)
	// A bound (qualifier set) is no measurement: min, avg, max, count and last are of the
	// exact values only, and the bounds are counted apart. A bucket of bounds alone has
	// no figures and is absent, like one without any value.
	query := `SELECT bucket, MIN(CASE WHEN exact = 1 THEN value END) AS min_value, AVG(CASE WHEN exact = 1 THEN value END) AS avg_value,
			MAX(CASE WHEN exact = 1 THEN value END) AS max_value, SUM(exact) AS n, COUNT(*) - SUM(exact) AS bounded,
			MAX(CASE WHEN rn = 1 AND exact = 1 THEN value END) AS last_value, ` + q.d.epochMicroSQL("MAX(CASE WHEN exact = 1 THEN at END)") + ` AS last_us
		FROM (SELECT bucket, value, at, exact, ROW_NUMBER() OVER (PARTITION BY bucket, exact ORDER BY at DESC, src DESC, ref DESC) AS rn
			FROM (SELECT ` + b + ` AS bucket, value, at, src, ref, exact FROM (
					SELECT value, recorded_at AS at, 0 AS src, id AS ref, CASE WHEN qualifier IS NULL THEN 1 ELSE 0 END AS exact FROM sensor_readings
					WHERE pool_id = ? AND metric = ? AND recorded_at >= ? AND recorded_at < ?
					UNION ALL
					SELECT value, taken_at AS at, 1 AS src, session_id AS ref, CASE WHEN qualifier IS NULL THEN 1 ELSE 0 END AS exact FROM test_results
					WHERE pool_id = ? AND metric = ? AND taken_at >= ? AND taken_at < ?) AS m) AS mb) AS numbered
		GROUP BY bucket HAVING SUM(exact) > 0 ORDER BY bucket`
	var out []Bucket
	if err := q.sel(ctx, &out, query, sq.PoolID, sq.Metric, from, to, sq.PoolID, sq.Metric, from, to); err != nil {
		return nil, fmt.Errorf("summarize: %w", err)
	}
	for i := range out {
		out[i].Start = time.Unix(out[i].Epoch, 0).UTC()
		out[i].LastAt = time.UnixMicro(out[i].LastUS).UTC()
	}
	return out, nil
}
