package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"os"
	"strings"
	"time"
)

// MigrateUpTo applies the migrations up to version v, for tests of what one migration
// does to data stored before it.
func (s *Store) MigrateUpTo(ctx context.Context, v int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, v)
	return err
}

// MigrateDownTo rolls the migrations back to version v.
func (s *Store) MigrateDownTo(ctx context.Context, v int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, v)
	return err
}

// ApplyMigrations applies exactly the given migrations, in order, skipping any others:
// a database in a state a past mistake left behind.
func (s *Store) ApplyMigrations(ctx context.Context, versions ...int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	for _, v := range versions {
		if _, err := p.ApplyVersion(ctx, v, true); err != nil {
			return err
		}
	}
	return nil
}

// InsertReadingsBeforeQualifier inserts readings as the code before migration 00017 did (no
// qualifier column), for tests that store data on an older schema.
func (s *Store) InsertReadingsBeforeQualifier(ctx context.Context, rs []Reading) (int, error) {
	n := 0
	for _, r := range rs {
		res, err := s.exec(ctx, `INSERT INTO sensor_readings (device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, metric, recorded_at) DO NOTHING`,
			r.DeviceID, r.PoolID, r.Metric, r.Value, r.Unit, ts(r.RecordedAt), ts(r.RecordedAt), r.Quality, r.RawPayload)
		if err != nil {
			return n, err
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// ListReadingsBeforeQualifier lists a pool's readings as the code before migration 00017 did.
func (s *Store) ListReadingsBeforeQualifier(ctx context.Context, poolID int64) ([]Reading, error) {
	var rs []Reading
	err := s.sel(ctx, &rs, `SELECT id, device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload
		FROM sensor_readings WHERE pool_id = ? ORDER BY recorded_at, id`, poolID)
	return rs, err
}

// ExplainLatest runs LatestMeasurements and returns PostgreSQL's plan of each statement
// it ran, in order, one line a row; with analyze, as run (EXPLAIN ANALYZE runs it).
func (s *Store) ExplainLatest(ctx context.Context, poolID int64, metrics []string, analyze bool) ([][]string, error) {
	explain := `EXPLAIN `
	if analyze {
		explain = `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) `
	}
	var plans [][]string
	var failed error
	ctx = context.WithValue(ctx, latestTraceKey{}, func(query string, args []any) {
		var plan []string
		if err := s.sel(ctx, &plan, explain+query, args...); err != nil && failed == nil {
			failed = err
		}
		plans = append(plans, plan)
	})
	if _, err := s.queries.LatestMeasurements(ctx, poolID, metrics); err != nil {
		return nil, err
	}
	return plans, failed
}

// ExplainSummary runs SummarizeMeasurements and returns the engine's plan of each
// statement it ran, in order, as explain prints it.
func (s *Store) ExplainSummary(ctx context.Context, sq SummaryQuery) ([]string, error) {
	var plans []string
	var failed error
	ctx = context.WithValue(ctx, summaryTraceKey{}, func(q queries, query string, args []any) {
		plan, err := explainOn(ctx, q, query, args...)
		if err != nil && failed == nil {
			failed = err
		}
		plans = append(plans, plan)
	})
	if _, err := s.queries.SummarizeMeasurements(ctx, sq); err != nil {
		return nil, err
	}
	return plans, failed
}

// explainOn is query's plan as q (a summary's own connection and transaction) plans it,
// one line per step.
func explainOn(ctx context.Context, q queries, query string, args ...any) (string, error) {
	explain := "EXPLAIN QUERY PLAN "
	if q.d == dialectPostgres {
		explain = "EXPLAIN "
	}
	rows, err := q.q.QueryxContext(ctx, q.q.Rebind(explain+query), args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		cols, err := rows.SliceScan()
		if err != nil {
			return "", err
		}
		plan = append(plan, fmt.Sprint(cols[len(cols)-1]))
	}
	return strings.Join(plan, "\n"), rows.Err()
}

// SetRollupSettleWait sets how long a rollup run waits for inserts in flight.
func SetRollupSettleWait(d time.Duration) (restore func()) {
	old := settleWait
	settleWait = d
	return func() { settleWait = old }
}

// SetRollupBatch sets how many readings one rollup transaction merges at most.
func SetRollupBatch(n int) (restore func()) {
	old := rollupBatch
	rollupBatch = func(dialect) int { return n }
	return func() { rollupBatch = old }
}

// ExplainAuditList is the query plan of ListAudit's statement for by (no other filter,
// first page), as the engine's EXPLAIN prints it. On PostgreSQL sequential scans are
// off for it: an empty test table would be scanned whole whatever its indexes.
func (s *Store) ExplainAuditList(ctx context.Context, by string) (string, error) {
	query, err := auditListSQL(by)
	if err != nil {
		return "", err
	}
	args := []any{"", "", ".%", "", "", "", "", nil, nil, 0, 0, 50}
	return s.explain(ctx, query, args...)
}

// ExplainKeptDelivery is the query plan of KeptDelivery's statement, as the engine's
// EXPLAIN prints it (sequential scans off on PostgreSQL, as ExplainAuditList).
func (s *Store) ExplainKeptDelivery(ctx context.Context, k DeliveryKey) (string, error) {
	return s.explain(ctx, keptDeliverySQL, k.Provider, k.AccountID, k.DeliveryID)
}

// explain is query's plan, one line per step.
func (s *Store) explain(ctx context.Context, query string, args ...any) (string, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if s.d == dialectPostgres {
		if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return "", err
		}
	}
	return explainOn(ctx, queries{q: tx, d: s.d}, query, args...)
}

// CombinedWrites is how many transactions SQLite's WriteDeliveries began, and
// CombineQueued how many calls wait for the writer (deliverycombine_sqlite.go).
func (s *Store) CombinedWrites() int {
	s.comb.mu.Lock()
	defer s.comb.mu.Unlock()
	return s.comb.writes
}

func (s *Store) CombineQueued() int {
	s.comb.mu.Lock()
	defer s.comb.mu.Unlock()
	return len(s.comb.queue)
}

// ExplainWriteDeliveries runs the group commit's statement for ds with its readings
// inserted plain (writeDeliveriesPlainSQL, or with fast writeDeliveriesPlainFastSQL)
// under EXPLAIN ANALYZE, as the generic plan a writer's connection keeps runs it, in a
// transaction it rolls back; PostgreSQL only. It answers the plan, one line per step.
func (s *Store) ExplainWriteDeliveries(ctx context.Context, ds []DeliveryWrite, fast bool) (string, error) {
	rows, owner := uniqueReadings(ds, s.queries.clock())
	kept := make([]int, len(ds))
	for _, o := range owner {
		kept[o]++
	}
	args, err := writeDeliveriesArgs(ds, rows, owner, kept, s.queries.clock())
	if err != nil {
		return "", err
	}
	// EXECUTE takes its arguments as SQL: each array as a literal of its text form.
	lits := make([]string, len(args))
	for i, a := range args {
		v, err := a.(driver.Valuer).Value()
		if err != nil {
			return "", err
		}
		switch v := v.(type) {
		case nil:
			lits[i] = "NULL"
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case []byte:
			lits[i] = "'" + strings.ReplaceAll(string(v), "'", "''") + "'"
		default:
			return "", fmt.Errorf("argument %d: %T", i+1, v)
		}
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PREPARE explained_write AS `+writeDeliveriesText(fast, true)); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DEALLOCATE explained_write`)
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
		return "", err
	}
	var plan []string
	if err := tx.SelectContext(ctx, &plan, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE explained_write(`+
		strings.Join(lits, ", ")+`)`); err != nil {
		return "", err
	}
	return strings.Join(plan, "\n"), nil
}

// SQLiteInserts is how many INSERT statements SQLite's group commits have run
// (sqliteraw.go).
func (s *Store) SQLiteInserts() int {
	s.raw.mu.Lock()
	defer s.raw.mu.Unlock()
	return s.raw.runs
}

// SetSyncWAL replaces how the group commit syncs SQLite's WAL (sqlitesync.go) until
// restore is called.
func SetSyncWAL(f func(path string) error) (restore func()) {
	old := syncWAL
	syncWAL = f
	return func() { syncWAL = old }
}

// ExplainListAudit is the plan of ListAudit's statement for f, as ListAudit runs it.
func (s *Store) ExplainListAudit(ctx context.Context, f AuditFilter) (string, error) {
	query, args, err := auditList(f)
	if err != nil {
		return "", err
	}
	var plan string
	err = s.queries.withoutJIT(ctx, func(q queries) error {
		plan, err = explainOn(ctx, q, query, args...)
		return err
	})
	return plan, err
}

// SQLiteBound is how many arguments SQLite's group commits have bound (sqliteraw.go).
func (s *Store) SQLiteBound() int {
	s.raw.mu.Lock()
	defer s.raw.mu.Unlock()
	return s.raw.bound
}

// SQLiteStatementText is the text of the group commit's n-row readings INSERT.
func SQLiteStatementText(n int) string { return readingsSQLite.sql(n) }

// SQLiteInsertsWithoutJournal are the group commit's n-row INSERTs that must keep no
// statement journal: the readings' (both kinds) and the replay keys'.
func SQLiteInsertsWithoutJournal(n int) []string {
	return []string{readingsSQLite.sql(n), readingsPlainSQLite.sql(n), claimsSQLite.sql(n)}
}

// PreparedStatements lists the text of the statements the store keeps prepared, its
// SQLite readers' included.
func (s *Store) PreparedStatements() []string {
	var out []string
	for _, p := range []*prepared{s.prep, s.readQueries().prep} {
		p.mu.Lock()
		for q := range p.m {
			out = append(out, q)
		}
		p.mu.Unlock()
	}
	return out
}

// SQLiteCheckpoints is how many checkpoints the store's checkpointer has run
// (sqlitecheckpoint.go); -1 without one.
func (s *Store) SQLiteCheckpoints() int {
	if s.ckpt == nil {
		return -1
	}
	s.ckpt.mu.Lock()
	defer s.ckpt.mu.Unlock()
	return s.ckpt.runs
}

// HoldSQLiteCheckpoints makes the checkpointer wait for release before each checkpoint.
func (s *Store) HoldSQLiteCheckpoints(release <-chan struct{}) {
	s.ckpt.mu.Lock()
	defer s.ckpt.mu.Unlock()
	s.ckpt.before = func() { <-release }
}

// SQLiteWALPending is how many of the WAL's frames are not yet in the database file,
// from its index (sqlitecheckpoint.go). Its own descriptor, closed after: that drops
// this process's POSIX locks on the index, which only other processes would miss.
func (s *Store) SQLiteWALPending() int {
	f, err := os.Open(s.ckpt.shm)
	if err != nil {
		return 0
	}
	defer f.Close()
	n, _, _ := walPending(f)
	return int(n)
}

// WriteDeliveriesAs runs the group commit's statement for ds as writeDeliveriesPostgres
// does, of the variant given rather than the one readingConflicts would choose: the
// readings and replay keys inserted plain or with ON CONFLICT, the measured_metrics
// trigger skipped (fast) or not. PostgreSQL only.
func (s *Store) WriteDeliveriesAs(ctx context.Context, ds []DeliveryWrite, fast, plain bool) ([]int, error) {
	rows, owner := uniqueReadings(ds, s.queries.clock())
	kept := make([]int, len(ds))
	for _, o := range owner {
		kept[o]++
	}
	args, err := writeDeliveriesArgs(ds, rows, owner, kept, s.queries.clock())
	if err != nil {
		return nil, err
	}
	if !plain {
		kept = make([]int, len(ds)) // the statement answers the counts
	}
	return s.queries.runWriteDeliveries(ctx, writeDeliveriesText(fast, plain), args, kept)
}
