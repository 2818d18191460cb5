package benchscale

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq" // siblingDatabase's CREATE DATABASE

	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
)

// A kept database (Config.DatabaseURL) is loaded once and measured many times: loading
// 100 million readings and catching the rollups up with them takes most of an hour,
// the measuring a few minutes. The plan it holds is recorded in scale_plan, written
// once the load has been checked; a later run whose plan matches skips the load and
// rolls up only what the rollup worker's watermark has not reached yet.
//
// Runs leave two traces. The ingest benchmark adds its deliveries to a pool of its
// own (harmless: no measured pool's readings change, and the rollups take them in).
// Retention drops the oldest month (only the large pool's readings, its first month
// of history): its rows are copied into scale_dropped_month before the first drop, and
// a later run puts them back, with their ids, before it measures anything. The ids are
// at or below the rollup watermark, so the rollups, which already hold them, do not
// count them twice.

// loaderVersion changes when Load writes different rows for the same plan: a kept
// database loaded by another version is refused rather than measured as if current.
const loaderVersion = 1

// planRecord is scale_plan's single row.
type planRecord struct {
	Loader     int64         `db:"loader"`
	Rows       int64         `db:"rows"` // asked for (Config.Rows)
	Pools      int64         `db:"pools"`
	End        int64         `db:"end_unix"` // Plan.End, Unix seconds
	PlanRows   int64         `db:"plan_rows"`
	Deliveries int64         `db:"deliveries"`
	LoadedMS   int64         `db:"loaded_ms"`
	RollupsMS  sql.NullInt64 `db:"rollups_ms"` // set once the first catch-up ended
}

const planTable = `CREATE TABLE scale_plan (loader BIGINT NOT NULL, rows BIGINT NOT NULL, pools BIGINT NOT NULL,
	end_unix BIGINT NOT NULL, plan_rows BIGINT NOT NULL, deliveries BIGINT NOT NULL, loaded_ms BIGINT NOT NULL,
	rollups_ms BIGINT)`

// Kept is what a kept database already holds.
type Kept struct {
	World World
	// RollupCatchUp is the first run's catch-up, zero when it has not ended yet.
	RollupCatchUp time.Duration
}

// Reuse looks for a loaded plan in s. With none, it returns ok false, and an error
// when s is not empty (a load that did not finish: such a database must be dropped and
// recreated). With one, it checks it is the plan asked for — rows and pools as asked,
// End as asked unless end is zero — and returns it.
func Reuse(ctx context.Context, s *store.Store, rows int64, pools int, end time.Time) (Kept, bool, error) {
	var exists []int
	if err := s.DB().SelectContext(ctx, &exists, s.DB().Rebind(tableExistsSQL(s)), "scale_plan"); err != nil {
		return Kept{}, false, err
	}
	if len(exists) == 0 {
		var n int64
		if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM pools`); err != nil {
			return Kept{}, false, err
		}
		if n > 0 {
			return Kept{}, false, fmt.Errorf("the database has %d pools but no scale_plan: a load that did not finish, or not a benchmark's database; drop and recreate it", n)
		}
		return Kept{}, false, nil
	}
	var rec planRecord
	if err := s.DB().GetContext(ctx, &rec, `SELECT * FROM scale_plan`); err != nil {
		return Kept{}, false, fmt.Errorf("scale_plan: %w", err)
	}
	at := time.Unix(rec.End, 0).UTC()
	switch {
	case rec.Loader != loaderVersion:
		return Kept{}, false, fmt.Errorf("the database was loaded by loader version %d, this is %d: drop and reload it", rec.Loader, loaderVersion)
	case rec.Rows != rows || rec.Pools != int64(pools):
		return Kept{}, false, fmt.Errorf("the database holds %d readings across %d pools, asked for %d across %d: use another database, or drop and recreate it",
			rec.Rows, rec.Pools, rows, pools)
	case !end.IsZero() && !end.UTC().Truncate(Interval).Equal(at):
		return Kept{}, false, fmt.Errorf("the database's readings end at %s, asked for %s", at.Format(time.RFC3339), end.UTC().Truncate(Interval).Format(time.RFC3339))
	}
	plan, err := NewPlan(rows, pools, at)
	if err != nil {
		return Kept{}, false, err
	}
	if plan.Rows() != rec.PlanRows || plan.Deliveries() != rec.Deliveries {
		return Kept{}, false, fmt.Errorf("the plan now holds %d readings and %d deliveries, the database %d and %d: NewPlan changed; drop and reload it",
			plan.Rows(), plan.Deliveries(), rec.PlanRows, rec.Deliveries)
	}
	w := World{Plan: plan, Loaded: time.Duration(rec.LoadedMS) * time.Millisecond}
	var owner struct {
		ID    int64  `db:"id"`
		Email string `db:"email"`
	}
	if err := s.DB().GetContext(ctx, &owner, s.DB().Rebind(`SELECT id, email FROM users WHERE email = ?`), ownerEmail); err != nil {
		return Kept{}, false, fmt.Errorf("the loaded owner: %w", err)
	}
	w.Owner = auth.Actor{UserID: owner.ID, Email: owner.Email}
	var ps []struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	if err := s.DB().SelectContext(ctx, &ps, s.DB().Rebind(`SELECT p.id, p.name FROM pools p JOIN pool_members m ON m.pool_id = p.id WHERE m.user_id = ?`), owner.ID); err != nil {
		return Kept{}, false, err
	}
	w.PoolIDs = make([]int64, pools)
	for _, p := range ps {
		i, ok := poolIndex(p.Name, pools)
		if !ok {
			return Kept{}, false, fmt.Errorf("unexpected pool %q", p.Name)
		}
		w.PoolIDs[i] = p.ID
	}
	for i, id := range w.PoolIDs {
		if id == 0 {
			return Kept{}, false, fmt.Errorf("pool %q is missing", poolName(i))
		}
	}
	k := Kept{World: w}
	if rec.RollupsMS.Valid {
		k.RollupCatchUp = time.Duration(rec.RollupsMS.Int64) * time.Millisecond
	}
	return k, true, nil
}

func tableExistsSQL(s *store.Store) string {
	if s.Dialect() == "postgres" {
		return `SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?`
	}
	return `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`
}

// recordPlan writes scale_plan once the load has been checked.
func recordPlan(ctx context.Context, s *store.Store, rows int64, pools int, w World) error {
	if _, err := s.DB().ExecContext(ctx, planTable); err != nil {
		return fmt.Errorf("scale_plan: %w", err)
	}
	_, err := s.DB().ExecContext(ctx, s.DB().Rebind(`INSERT INTO scale_plan (loader, rows, pools, end_unix, plan_rows, deliveries, loaded_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), loaderVersion, rows, pools, w.Plan.End.Unix(), w.Plan.Rows(), w.Plan.Deliveries(), w.Loaded.Milliseconds())
	return err
}

// recordRollups notes the first catch-up's time in scale_plan.
func recordRollups(ctx context.Context, s *store.Store, d time.Duration) error {
	_, err := s.DB().ExecContext(ctx, s.DB().Rebind(`UPDATE scale_plan SET rollups_ms = ? WHERE rollups_ms IS NULL`), d.Milliseconds())
	return err
}

// rollupsBehind counts the readings above the rollup watermark.
func rollupsBehind(ctx context.Context, s *store.Store) (int64, error) {
	w, err := s.RollupWatermark(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.DB().GetContext(ctx, &n, s.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE id > ?`), w)
	return n, err
}

// oldestMonth is the first month of the plan's history, the one retention drops.
func oldestMonth(p Plan) (from, to time.Time) {
	first := p.Start().UTC()
	from = time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
	return from, from.AddDate(0, 1, 0)
}

// monthCopy is where a kept database keeps the month retention drops.
const monthCopy = "scale_dropped_month"

// saveMonth copies the readings before to into monthCopy, unless an earlier run did.
func saveMonth(ctx context.Context, s *store.Store, to time.Time) error {
	var exists []int
	if err := s.DB().SelectContext(ctx, &exists, s.DB().Rebind(tableExistsSQL(s)), monthCopy); err != nil || len(exists) > 0 {
		return err
	}
	tx, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	create := `CREATE TABLE ` + monthCopy + ` AS SELECT * FROM sensor_readings WHERE false`
	if s.Dialect() == "postgres" {
		create = `CREATE TABLE ` + monthCopy + ` (LIKE sensor_readings)`
	}
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("%s: %w", monthCopy, err)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO `+monthCopy+` SELECT * FROM sensor_readings WHERE recorded_at < ?`), to); err != nil {
		return fmt.Errorf("%s: %w", monthCopy, err)
	}
	return tx.Commit()
}

// restoreMonth puts back the month an earlier run's retention dropped: its partition
// first (the store's own upkeep, its clock set to that month), then its readings with
// their ids. It does nothing when the month is there.
func restoreMonth(ctx context.Context, s *store.Store, url string, p Plan, logf func(string, ...any)) error {
	from, to := oldestMonth(p)
	var n int64
	if err := s.DB().GetContext(ctx, &n, s.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE recorded_at < ?`), to); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var exists []int
	if err := s.DB().SelectContext(ctx, &exists, s.DB().Rebind(tableExistsSQL(s)), monthCopy); err != nil {
		return err
	}
	if len(exists) == 0 {
		return fmt.Errorf("month %s has no readings and no %s to restore them from: drop and reload the database", from.Format("2006-01"), monthCopy)
	}
	start := time.Now()
	if s.Dialect() == "postgres" {
		if err := ensureMonths(ctx, url, from, from); err != nil {
			return err
		}
	}
	var cols []string
	q := `SELECT name FROM pragma_table_info('` + monthCopy + `') ORDER BY cid`
	if s.Dialect() == "postgres" {
		q = `SELECT attname FROM pg_attribute WHERE attrelid = '` + monthCopy + `'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`
	}
	if err := s.DB().SelectContext(ctx, &cols, q); err != nil {
		return err
	}
	list := strings.Join(cols, ", ")
	override := ""
	if s.Dialect() == "postgres" {
		override = " OVERRIDING SYSTEM VALUE" // the ids the rollups already hold
	}
	res, err := s.DB().ExecContext(ctx, `INSERT INTO sensor_readings (`+list+`)`+override+` SELECT `+list+` FROM `+monthCopy)
	if err != nil {
		return fmt.Errorf("restore month %s: %w", from.Format("2006-01"), err)
	}
	n, _ = res.RowsAffected()
	if n == 0 {
		return errors.New("restore month: " + monthCopy + " is empty")
	}
	logf("month %s (%d readings) that a previous run dropped restored in %v", from.Format("2006-01"), n, time.Since(start).Round(time.Millisecond))
	return nil
}

// siblingDatabase creates an empty database on url's server, dropped when the test
// ends: the ingest comparison's empty side, on the same server as the kept database.
// url's role needs CREATEDB.
func siblingDatabase(tb testing.TB, url string) string {
	tb.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		tb.Fatalf("POOLHOST_BENCH_DATABASE_URL: %v", err)
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("scale_empty_%d_%d", os.Getpid(), siblings.Add(1))
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		tb.Fatalf("the empty database of the ingest comparison (the role needs CREATEDB): %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("postgres", url)
		if err == nil {
			defer db.Close()
			_, err = db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
		}
		if err != nil {
			tb.Logf("drop %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

var siblings atomic.Int64
