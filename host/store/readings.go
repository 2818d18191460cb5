package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Reading is one stored measurement, already validated and in its canonical unit.
type Reading struct {
	ID         int64     `db:"id"`
	DeviceID   int64     `db:"device_id"`
	PoolID     int64     `db:"pool_id"`
	Metric     string    `db:"metric"`
	Value      float64   `db:"value"`
	Unit       string    `db:"unit"`
	RecordedAt time.Time `db:"recorded_at"`
	ReceivedAt time.Time `db:"received_at"`
	Quality    string    `db:"quality"`
	RawPayload []byte    `db:"raw_payload"`
	// Qualifier is "" for an exact value, else "above" or "below": Value is then the
	// bound of the method's range (stored NULL when exact).
	Qualifier string `db:"qualifier"`
}

const readingColumns = `id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, COALESCE(qualifier, '') AS qualifier`

// InsertReadings stores readings in one transaction with multi-row INSERTs that skip
// any (device, metric, recorded_at) already stored. It returns how many rows were new;
// len(rs) - inserted were duplicates. A zero ReceivedAt is now; a zero RecordedAt is
// ReceivedAt.
func (q queries) InsertReadings(ctx context.Context, rs []Reading) (int, error) {
	inserted := 0
	err := q.insertReadings(ctx, rs, func(res sql.Result) error {
		n, err := res.RowsAffected()
		inserted += int(n)
		return err
	})
	if err != nil {
		return 0, err
	}
	return inserted, nil
}

// readingKey is what makes a reading unique: device, metric and recorded time (at the
// microsecond, the precision both engines store).
type readingKey struct {
	device int64
	metric string
	at     int64
}

func keyOf(device int64, metric string, recordedAt time.Time) readingKey {
	return readingKey{device, metric, recordedAt.UnixMicro()}
}

// readingTimes applies InsertReadings' defaults: a zero ReceivedAt is now, a zero
// RecordedAt is the received time.
func readingTimes(r Reading, now time.Time) (received, recorded time.Time) {
	received = now
	if !r.ReceivedAt.IsZero() {
		received = ts(r.ReceivedAt)
	}
	recorded = received
	if !r.RecordedAt.IsZero() {
		recorded = ts(r.RecordedAt)
	}
	return received, recorded
}

// insertReadings runs the multi-row INSERTs, in a transaction of their own when there is
// more than one, handing each statement's outcome to done.
func (q queries) insertReadings(ctx context.Context, rs []Reading, done func(res sql.Result) error) error {
	if len(rs) == 0 {
		return nil
	}
	size := q.d.readingBatchSize()
	write := q.inTx
	if len(rs) <= size {
		// One statement is atomic by itself: skip BEGIN/COMMIT, two round trips per
		// delivery on PostgreSQL.
		write = func(ctx context.Context, fn func(q queries) error) error { return fn(q) }
	}
	err := write(ctx, func(q queries) error {
		now := q.clock()
		for start := 0; start < len(rs); start += size {
			batch := make([]Reading, min(start+size, len(rs))-start)
			for i, r := range rs[start : start+len(batch)] {
				r.ReceivedAt, r.RecordedAt = readingTimes(r, now)
				batch[i] = r
			}
			stmt, args := q.d.insertReadingsSQL(batch)
			res, err := q.exec(ctx, stmt, args...)
			if err != nil {
				return err
			}
			if err := done(res); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert readings: %w", err)
	}
	return nil
}

// ReadingCursor is the keyset position after the last reading of a page.
type ReadingCursor struct {
	RecordedAt time.Time
	ID         int64
}

// ReadingQuery selects a pool's readings, oldest first.
type ReadingQuery struct {
	PoolID int64
	Metric string    // "" for every metric
	From   time.Time // inclusive; zero for no lower bound
	To     time.Time // exclusive; zero for no upper bound
	Limit  int       // 1..1000, default 100
	After  *ReadingCursor
}

// ListReadings returns one page of readings and the cursor for the next page (nil
// when this page is the last).
func (q queries) ListReadings(ctx context.Context, rq ReadingQuery) ([]Reading, *ReadingCursor, error) {
	limit := rq.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var where []string
	args := []any{}
	where = append(where, "pool_id = ?")
	args = append(args, rq.PoolID)
	if rq.Metric != "" {
		where = append(where, "metric = ?")
		args = append(args, rq.Metric)
	}
	if !rq.From.IsZero() {
		where = append(where, "recorded_at >= ?")
		args = append(args, ts(rq.From))
	}
	if !rq.To.IsZero() {
		where = append(where, "recorded_at < ?")
		args = append(args, ts(rq.To))
	}
	if rq.After != nil {
		where = append(where, "(recorded_at > ? OR (recorded_at = ? AND id > ?))")
		at := ts(rq.After.RecordedAt)
		args = append(args, at, at, rq.After.ID)
	}
	// One extra row tells whether another page exists.
	args = append(args, limit+1)
	var rs []Reading
	err := q.sel(ctx, &rs, `SELECT `+readingColumns+` FROM sensor_readings WHERE `+strings.Join(where, " AND ")+
		` ORDER BY recorded_at, id LIMIT ?`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list readings: %w", err)
	}
	if len(rs) <= limit {
		return rs, nil, nil
	}
	rs = rs[:limit]
	last := rs[len(rs)-1]
	return rs, &ReadingCursor{RecordedAt: last.RecordedAt, ID: last.ID}, nil
}

// CountReadings counts a pool's readings (all metrics); for tests and stats.
func (q queries) CountReadings(ctx context.Context, poolID int64) (int64, error) {
	var n int64
	if err := q.get(ctx, &n, `SELECT COUNT(*) FROM sensor_readings WHERE pool_id = ?`, poolID); err != nil {
		return 0, fmt.Errorf("count readings: %w", err)
	}
	return n, nil
}
