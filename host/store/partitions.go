package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// The time series partitioned by month on PostgreSQL (migrations/postgres/00019): each
// month is <table>_pYYYYMM over [first of month, first of next month) UTC, and
// <table>_default takes a row whose month has no partition yet, so no write is ever
// refused for want of one. SQLite keeps plain tables: there every method here is a
// no-op and retention deletes rows instead.
//
// The host keeps the partitions itself (EnsurePartitions, run by the elected retention
// replica) rather than leaving it to pg_partman: that extension is not installed on
// every PostgreSQL (managed services pick their own list), and the work is a few
// statements a month.
const (
	TableReadings    = "sensor_readings"
	TableTestResults = "test_results"
	TableAudit       = "audit_events"
)

// partitionKeys names each partitioned table's partition key.
var partitionKeys = map[string]string{
	TableReadings:    "recorded_at",
	TableTestResults: "taken_at",
	TableAudit:       "at",
}

// PartitionsAhead is how many months after the current one EnsurePartitions keeps: a
// reading from a clock a little ahead lands in its own month, and an upkeep missed for
// weeks (no leader) still finds next month there.
const PartitionsAhead = 3

// Partition is one month of a partitioned table.
type Partition struct {
	Table, Name string
	From, To    time.Time // [From, To), UTC
	// Rows is the planner's estimate of the rows (pg_class.reltuples) when it was
	// dropped: counting a month exactly would read all of it. -1 when never analyzed.
	Rows int64
}

func partitionName(table string, month time.Time) string {
	return table + "_p" + month.Format("200601")
}

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// monthPartition is the partition of table for the month starting at m.
func monthPartition(table string, m time.Time) Partition {
	return Partition{Table: table, Name: partitionName(table, m), From: m, To: m.AddDate(0, 1, 0)}
}

func partitionedTable(table string) (string, error) {
	key, ok := partitionKeys[table]
	if !ok {
		return "", fmt.Errorf("%w: %q is not a partitioned table", ErrInvalid, table)
	}
	return key, nil
}

// Partitions lists table's month partitions, oldest first (nil on SQLite). Partitions
// not named <table>_pYYYYMM (the default one, or an operator's own) are left out.
func (q queries) Partitions(ctx context.Context, table string) ([]Partition, error) {
	if _, err := partitionedTable(table); err != nil || q.d != dialectPostgres {
		return nil, err
	}
	var names []string
	if err := q.sel(ctx, &names, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass(?)`, table); err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	var out []Partition
	for _, n := range names {
		suffix, ok := strings.CutPrefix(n, table+"_p")
		if !ok {
			continue
		}
		m, err := time.Parse("200601", suffix)
		if err != nil {
			continue
		}
		out = append(out, monthPartition(table, m))
	}
	slices.SortFunc(out, func(a, b Partition) int { return a.From.Compare(b.From) })
	return out, nil
}

// EnsurePartitions creates, for each partitioned table, the partitions of the current
// month and the PartitionsAhead after it, and of every month that has rows in the
// default partition (which it moves there), and returns those it created. A no-op on
// SQLite.
func (q queries) EnsurePartitions(ctx context.Context) ([]Partition, error) {
	if q.d != dialectPostgres {
		return nil, nil
	}
	now := monthStart(q.clock())
	var created []Partition
	for _, table := range []string{TableReadings, TableTestResults, TableAudit} {
		have, err := q.Partitions(ctx, table)
		if err != nil {
			return created, err
		}
		var stray []string
		if err := q.sel(ctx, &stray, fmt.Sprintf(`SELECT DISTINCT to_char(date_trunc('month', %s AT TIME ZONE 'UTC'), 'YYYYMM') FROM %s_default`,
			partitionKeys[table], table)); err != nil {
			return created, fmt.Errorf("months in %s_default: %w", table, err)
		}
		want := map[time.Time]bool{}
		for i := 0; i <= PartitionsAhead; i++ {
			want[now.AddDate(0, i, 0)] = true
		}
		for _, s := range stray {
			m, err := time.Parse("200601", s)
			if err != nil {
				return created, fmt.Errorf("month %q in %s_default: %w", s, table, err)
			}
			want[m] = true
		}
		for _, p := range have {
			delete(want, p.From)
		}
		months := make([]time.Time, 0, len(want))
		for m := range want {
			months = append(months, m)
		}
		slices.SortFunc(months, time.Time.Compare)
		for _, m := range months {
			p := monthPartition(table, m)
			if err := q.createPartition(ctx, p); err != nil {
				return created, err
			}
			created = append(created, p)
			q.spans.forget()
		}
	}
	return created, nil
}

// createPartition creates p and moves into it the rows of its month that wait in the
// default partition, in one transaction: PostgreSQL refuses to create a partition for
// a range the default partition has rows in. The parent is locked first (creating a
// partition takes that lock anyway) so no such row arrives between the move and the
// creation; lock_timeout keeps a long reader from queueing ingest behind the upkeep.
func (q queries) createPartition(ctx context.Context, p Partition) error {
	key := partitionKeys[p.Table]
	err := q.inTx(ctx, func(q queries) error {
		if _, err := q.exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `LOCK TABLE `+p.Table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		def := p.Table + "_default"
		var waiting []int
		if err := q.sel(ctx, &waiting, `SELECT 1 FROM `+def+` WHERE `+key+` >= ? AND `+key+` < ? LIMIT 1`, p.From, p.To); err != nil {
			return err
		}
		if len(waiting) > 0 {
			if _, err := q.exec(ctx, `CREATE TEMP TABLE poolhost_moving (LIKE `+p.Table+`) ON COMMIT DROP`); err != nil {
				return err
			}
			if _, err := q.exec(ctx, `WITH moved AS (DELETE FROM `+def+` WHERE `+key+` >= ? AND `+key+` < ? RETURNING *)
				INSERT INTO poolhost_moving SELECT * FROM moved`, p.From, p.To); err != nil {
				return err
			}
		}
		if _, err := q.exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
			p.Name, p.Table, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))); err != nil {
			return err
		}
		if len(waiting) > 0 {
			// Through the parent, ids kept: the rows land in the new partition.
			if _, err := q.exec(ctx, `INSERT INTO `+p.Table+` OVERRIDING SYSTEM VALUE SELECT * FROM poolhost_moving`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create partition %s: %w", p.Name, err)
	}
	return nil
}

// DropPartitionsBefore detaches and drops every month partition of table that ends at
// or before before, oldest first, and returns them: a month goes whole, as a DROP TABLE,
// never row by row. A month that ends after before is kept whole, rows older than
// before included. A no-op on SQLite (DeleteBefore is its way).
func (q queries) DropPartitionsBefore(ctx context.Context, table string, before time.Time) ([]Partition, error) {
	ps, err := q.Partitions(ctx, table)
	if err != nil {
		return nil, err
	}
	var dropped []Partition
	for _, p := range ps {
		if p.To.After(before) {
			break
		}
		err := q.inTx(ctx, func(q queries) error {
			if err := q.get(ctx, &p.Rows, `SELECT reltuples::BIGINT FROM pg_class WHERE oid = to_regclass(?)`, p.Name); err != nil {
				return err
			}
			if _, err := q.exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
				return err
			}
			if _, err := q.exec(ctx, `ALTER TABLE `+p.Table+` DETACH PARTITION `+p.Name); err != nil {
				return err
			}
			_, err := q.exec(ctx, `DROP TABLE `+p.Name)
			return err
		})
		if err != nil {
			return dropped, fmt.Errorf("drop partition %s: %w", p.Name, err)
		}
		dropped = append(dropped, p)
		q.spans.forget()
	}
	return dropped, nil
}

// RetentionBatch bounds one DELETE of DeleteBefore: short transactions, so SQLite's one
// writer (and PostgreSQL's row locks) are never held long.
const RetentionBatch = 5000

// retentionDeletes are the tables DeleteBefore deletes from, with the time column that
// ages their rows and the condition a row must also meet to go.
var retentionDeletes = map[string]struct{ column, where string }{
	TableReadings:    {"recorded_at", ""},
	TableTestResults: {"taken_at", ""},
	"test_sessions":  {"taken_at", ""},
	TableAudit:       {"at", ""},
	// Only settled dead letters: pending and in-flight retries are work, not history.
	"integration_ingestion_failures": {"updated_at", " AND status IN ('dead', 'resolved')"},
}

// DeleteBefore deletes table's rows older than before in batches of RetentionBatch and
// returns how many went. On PostgreSQL the partitioned tables lose whole months by
// DropPartitionsBefore instead; this is their way on SQLite, and everyone's for tables
// that are not partitioned.
func (q queries) DeleteBefore(ctx context.Context, table string, before time.Time) (int64, error) {
	spec, ok := retentionDeletes[table]
	if !ok {
		return 0, fmt.Errorf("delete before: %w: no retention for %q", ErrInvalid, table)
	}
	rowid := "rowid"
	if q.d == dialectPostgres {
		if _, partitioned := partitionKeys[table]; partitioned {
			return 0, fmt.Errorf("delete before: %w: %s loses whole partitions on PostgreSQL", ErrInvalid, table)
		}
		rowid = "id"
	}
	stmt := fmt.Sprintf(`DELETE FROM %s WHERE %s IN (SELECT %s FROM %s WHERE %s < ?%s LIMIT %d)`,
		table, rowid, rowid, table, spec.column, spec.where, RetentionBatch)
	var total int64
	for {
		res, err := q.exec(ctx, stmt, ts(before))
		if err != nil {
			return total, fmt.Errorf("delete from %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < RetentionBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// Expired is what ExpireBefore removed from one table.
type Expired struct {
	Table      string
	Partitions []Partition // months dropped whole (PostgreSQL)
	Rows       int64       // rows deleted (SQLite, and tables that are not partitioned)
}

// ExpireBefore removes table's rows older than before the way its engine does best: on
// PostgreSQL a partitioned table loses its months that end by before (DROP, no row
// deletes; the month holding before stays whole until it has passed), elsewhere rows
// go in batches. Expiring test_results expires their test_sessions too (a session is
// its results' header): on PostgreSQL only sessions of the months dropped, so no row
// of a kept month is deleted by cascade.
func (q queries) ExpireBefore(ctx context.Context, table string, before time.Time) ([]Expired, error) {
	before = ts(before)
	if table == TableTestResults {
		out := []Expired{{Table: TableTestResults}}
		sessionsBefore := before
		if q.d == dialectPostgres {
			ps, err := q.DropPartitionsBefore(ctx, table, before)
			out[0].Partitions = ps
			if err != nil {
				return out, err
			}
			sessionsBefore = monthStart(before)
		}
		// On SQLite the results go with their sessions (ON DELETE CASCADE).
		n, err := q.DeleteBefore(ctx, "test_sessions", sessionsBefore)
		return append(out, Expired{Table: "test_sessions", Rows: n}), err
	}
	if _, partitioned := partitionKeys[table]; partitioned && q.d == dialectPostgres {
		ps, err := q.DropPartitionsBefore(ctx, table, before)
		return []Expired{{Table: table, Partitions: ps}}, err
	}
	n, err := q.DeleteBefore(ctx, table, before)
	return []Expired{{Table: table, Rows: n}}, err
}

// monthSpan is [From, To): the months a table's contiguous run of month partitions
// covers, the newest month included.
type monthSpan struct{ From, To time.Time }

// spanTTL is how long LatestMeasurements trusts the spans it read. A span gone stale
// (a month created or dropped since, here or by another replica) costs the status some
// speed until it is read again, never a row (latestSQL).
const spanTTL = time.Minute

// partitionSpans caches the month spans of the partitioned tables LatestMeasurements
// probes, shared by a Store and its transactions.
type partitionSpans struct {
	mu    sync.Mutex
	read  time.Time // zero: never, or forgotten
	spans map[string]monthSpan
}

// get returns the spans, reading them when they are older than spanTTL. A table
// without month partitions has none.
func (c *partitionSpans) get(ctx context.Context, q queries) (map[string]monthSpan, error) {
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	spans, read := c.spans, c.read
	c.mu.Unlock()
	if !read.IsZero() && time.Since(read) < spanTTL {
		return spans, nil
	}
	read = time.Now()
	spans = map[string]monthSpan{}
	for _, table := range []string{TableReadings, TableTestResults} {
		ps, err := q.Partitions(ctx, table)
		if err != nil {
			return nil, err
		}
		if sp, ok := newestRun(ps); ok {
			spans[table] = sp
		}
	}
	c.mu.Lock()
	c.spans, c.read = spans, read
	c.mu.Unlock()
	return spans, nil
}

// forget makes the next get read the spans again: this process just created or
// dropped a partition.
func (c *partitionSpans) forget() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.read = time.Time{}
	c.mu.Unlock()
}

// newestRun is the span of the newest contiguous run of ps (oldest first, as
// Partitions lists them): the months before a missing one are left out of it.
func newestRun(ps []Partition) (monthSpan, bool) {
	if len(ps) == 0 {
		return monthSpan{}, false
	}
	sp := monthSpan{From: ps[len(ps)-1].From, To: ps[len(ps)-1].To}
	for i := len(ps) - 2; i >= 0 && ps[i].To.Equal(sp.From); i-- {
		sp.From = ps[i].From
	}
	return sp, true
}
