package benchscale

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
)

// World is a loaded plan: the pools' ids by plan index and who owns them.
type World struct {
	Plan    Plan
	Owner   auth.Actor
	PoolIDs []int64
	// Loaded is the wall time of the load, ANALYZE included.
	Loaded time.Duration
}

// ScaleProvider is the provider of the loaded devices: not a plugin the benchmark runs,
// so its device ids never meet those of the ingest benchmark's generic provider.
const ScaleProvider = "scale"

// Load writes plan into s, a migrated and empty database: one owner, the pools, their
// devices linked, then the readings and one webhook.received audit row per delivery,
// oldest first as they would have arrived, then ANALYZE. url is s's database: on
// PostgreSQL a second store on it, whose clock walks through the months, has the
// store's own partition upkeep create a partition for every month of the history
// before a row is written (rows never wait in the default partition). logf, when set,
// hears progress.
func Load(ctx context.Context, s *store.Store, url string, plan Plan, logf func(string, ...any)) (World, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	w := World{Plan: plan}
	if err := createWorld(ctx, s, &w); err != nil {
		return w, err
	}
	logf("%d pools with %d devices created in %v", len(plan.Pools), plan.Devices(), time.Since(start).Round(time.Millisecond))
	var err error
	if s.Dialect() == "postgres" {
		if err = ensureMonths(ctx, url, plan.Start(), plan.End); err == nil {
			err = loadPostgres(ctx, s, w, logf)
		}
	} else {
		err = loadSQLite(ctx, s, w, logf)
	}
	if err != nil {
		return w, err
	}
	if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
		return w, fmt.Errorf("analyze: %w", err)
	}
	// The counts the plan claims, checked on every run (a count of the whole table is
	// seconds at ten million rows, nothing next to the load).
	for _, c := range []struct {
		table string
		want  int64
	}{{"sensor_readings", plan.Rows()}, {"audit_events", plan.Deliveries()}} {
		var n int64
		if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM `+c.table); err != nil {
			return w, err
		}
		if n != c.want {
			return w, fmt.Errorf("loaded %d rows into %s, the plan has %d", n, c.table, c.want)
		}
	}
	if s.Dialect() == "postgres" {
		var n int64
		if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM sensor_readings_default`); err != nil {
			return w, err
		}
		if n != 0 {
			return w, fmt.Errorf("%d readings in the default partition: a month of the history has no partition", n)
		}
	}
	w.Loaded = time.Since(start)
	logf("%d readings loaded and analyzed in %v", plan.Rows(), w.Loaded.Round(time.Millisecond))
	return w, nil
}

// createWorld writes the owner, pools, memberships, one account and the devices,
// linked, in one transaction of multi-row statements.
func createWorld(ctx context.Context, s *store.Store, w *World) error {
	owner, err := s.CreateUser(ctx, ownerEmail, false)
	if err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	w.Owner = auth.Actor{UserID: owner.ID, Email: owner.Email}
	tx, err := s.DB().BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UTC()
	var accountID int64
	if err := tx.GetContext(ctx, &accountID, tx.Rebind(`INSERT INTO integration_accounts (user_id, provider, external_account_id, display_name, created_at, updated_at)
		VALUES (?, ?, 'scale-account', 'scale', ?, ?) RETURNING id`), owner.ID, ScaleProvider, now, now); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	n := len(w.Plan.Pools)
	w.PoolIDs = make([]int64, n)
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{poolName(i), now}
	}
	err = insertMany(ctx, tx, "pools", "name, created_at", rows, "id, name", func(r *sqlx.Rows) error {
		var id int64
		var name string
		if err := r.Scan(&id, &name); err != nil {
			return err
		}
		i, ok := poolIndex(name, n)
		if !ok {
			return fmt.Errorf("unexpected pool %q", name)
		}
		w.PoolIDs[i] = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("pools: %w", err)
	}
	rows = rows[:0]
	for _, id := range w.PoolIDs {
		rows = append(rows, []any{id, owner.ID, string(store.RoleOwner), now})
	}
	if err := insertMany(ctx, tx, "pool_members", "pool_id, user_id, role, created_at", rows, "", nil); err != nil {
		return fmt.Errorf("members: %w", err)
	}
	rows = rows[:0]
	for i, pp := range w.Plan.Pools {
		for d := 0; d < pp.Devices; d++ {
			rows = append(rows, []any{accountID, ScaleProvider, deviceName(i, d), deviceName(i, d), true, now, now})
		}
	}
	devices := map[string]int64{}
	err = insertMany(ctx, tx, "integration_devices", "account_id, provider, provider_device_id, name, verified, created_at, updated_at", rows,
		"id, provider_device_id", func(r *sqlx.Rows) error {
			var id int64
			var name string
			if err := r.Scan(&id, &name); err != nil {
				return err
			}
			devices[name] = id
			return nil
		})
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	rows = rows[:0]
	for i, pp := range w.Plan.Pools {
		for d := 0; d < pp.Devices; d++ {
			rows = append(rows, []any{devices[deviceName(i, d)], w.PoolIDs[i], owner.ID, now})
		}
	}
	if err := insertMany(ctx, tx, "device_pool_links", "device_id, pool_id, linked_by, linked_at", rows, "", nil); err != nil {
		return fmt.Errorf("links: %w", err)
	}
	// The plan as tables, for the loader's set-based statements (PostgreSQL) and for
	// anyone looking at the database afterwards.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE scale_devices (device_id BIGINT PRIMARY KEY, pool_id BIGINT NOT NULL, slots BIGINT NOT NULL)`); err != nil {
		return err
	}
	rows = rows[:0]
	for i, pp := range w.Plan.Pools {
		for d := 0; d < pp.Devices; d++ {
			rows = append(rows, []any{devices[deviceName(i, d)], w.PoolIDs[i], pp.Slots})
		}
	}
	if err := insertMany(ctx, tx, "scale_devices", "device_id, pool_id, slots", rows, "", nil); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	return tx.Commit()
}

// ownerEmail is the loaded pools' owner.
const ownerEmail = "scale-owner@example.com"

func poolName(i int) string { return "scale pool " + strconv.Itoa(i) }

// poolIndex is the plan index of the pool named name, of n.
func poolIndex(name string, n int) (int, bool) {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "scale pool "))
	return i, err == nil && strings.HasPrefix(name, "scale pool ") && i >= 0 && i < n
}

func deviceName(i, d int) string { return "p" + strconv.Itoa(i) + "d" + strconv.Itoa(d) }

// insertMany inserts rows into table in multi-row statements; with returning, each
// returned row goes to scan.
func insertMany(ctx context.Context, tx *sqlx.Tx, table, cols string, rows [][]any, returning string, scan func(*sqlx.Rows) error) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	per := 4000 / width // well under both engines' limit on parameters
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	for len(rows) > 0 {
		batch := rows[:min(per, len(rows))]
		rows = rows[len(batch):]
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, cols)
		args := make([]any, 0, len(batch)*width)
		for i, r := range batch {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(one)
			args = append(args, r...)
		}
		if returning == "" {
			if _, err := tx.ExecContext(ctx, tx.Rebind(b.String()), args...); err != nil {
				return err
			}
			continue
		}
		b.WriteString(" RETURNING " + returning)
		rs, err := tx.QueryxContext(ctx, tx.Rebind(b.String()), args...)
		if err != nil {
			return err
		}
		for rs.Next() {
			if err := scan(rs); err != nil {
				rs.Close()
				return err
			}
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if err := rs.Err(); err != nil {
			return err
		}
	}
	return nil
}

// ensureMonths has the store's partition upkeep (EnsurePartitions) create every month
// from first to last, through a second store whose clock is set to each month in turn.
func ensureMonths(ctx context.Context, url string, first, last time.Time) error {
	var mu sync.Mutex
	var at time.Time
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	s, err := store.Open(ctx, url, store.WithClock(clock), store.WithMaxOpenConns(1))
	if err != nil {
		return err
	}
	defer s.Close()
	first = first.UTC()
	for m := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(last); m = m.AddDate(0, store.PartitionsAhead+1, 0) {
		mu.Lock()
		at = m
		mu.Unlock()
		if _, err := s.EnsurePartitions(ctx); err != nil {
			return fmt.Errorf("partitions: %w", err)
		}
	}
	return nil
}

// valueSQL is a metric's value at slot k for a device: its base plus a daily swing and
// a little per-device offset, inside every metric's hard range.
const valueSQL = `m.base + m.swing * sin(k * 0.0654 + d.device_id)`

// loadPostgres writes the readings and audit rows with INSERT … SELECT over
// generate_series, a day of history per statement, oldest day first and time-ordered
// within it, so the table's physical order is the order deliveries arrive in (a pool's
// rows are spread over the heap as in production, not clustered by pool).
func loadPostgres(ctx context.Context, s *store.Store, w World, logf func(string, ...any)) error {
	var metrics []string
	for _, m := range Metrics {
		metrics = append(metrics, fmt.Sprintf("('%s', '%s', %g::float8, %g::float8)", m.Name, m.Unit, m.Base, m.Swing))
	}
	end := w.Plan.End.Unix()
	step := int64(Interval / time.Second)
	readings := `INSERT INTO sensor_readings (device_id, pool_id, metric, value, unit, recorded_at, received_at, quality)
		SELECT d.device_id, d.pool_id, m.metric, ` + valueSQL + `, m.unit, t.at, t.at + interval '3 seconds', 'good'
		FROM scale_devices d
		CROSS JOIN LATERAL generate_series($1::bigint, LEAST($2::bigint, d.slots - 1)) AS k
		CROSS JOIN LATERAL (SELECT to_timestamp($3::bigint - k * $4::bigint) AS at) AS t
		CROSS JOIN (VALUES ` + strings.Join(metrics, ", ") + `) AS m(metric, unit, base, swing)
		WHERE d.slots > $1
		ORDER BY k DESC, d.device_id`
	audit := `INSERT INTO audit_events (at, action, actor, provider, target_type, target_id, details)
		SELECT t.at + interval '3 seconds', 'webhook.received', 'provider:` + ScaleProvider + `', '` + ScaleProvider + `', 'device', d.device_id::text,
			jsonb_build_object('accepted', ` + strconv.Itoa(len(Metrics)) + `, 'duplicates', 0)
		FROM scale_devices d
		CROSS JOIN LATERAL generate_series($1::bigint, LEAST($2::bigint, d.slots - 1)) AS k
		CROSS JOIN LATERAL (SELECT to_timestamp($3::bigint - k * $4::bigint) AS at) AS t
		WHERE d.slots > $1
		ORDER BY k DESC, d.device_id`
	// The two secondary keys of sensor_readings are built once after the load, far
	// cheaper than keeping them through ten million time-ordered inserts (each a write to
	// a random leaf of a B-tree much larger than shared_buffers). They are recreated with
	// the migrations' own names and definitions, which the load checks: the database
	// measured has exactly the schema migrate up made.
	before, err := readingIndexes(ctx, s)
	if err != nil {
		return err
	}
	conn, err := s.DB().Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, stmt := range []string{
		// The planner cannot tell how few devices a day's slots keep and estimates
		// millions of rows: JIT then compiles each statement for about a second.
		`SET jit = off`,
		`ALTER TABLE sensor_readings DROP CONSTRAINT sensor_readings_device_id_recorded_at_metric_key`,
		`DROP INDEX sensor_readings_pool_metric_time_idx`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("before the load: %w", err)
		}
	}
	err = eachDay(w.Plan, logf, func(kmin, kmax int64) error {
		if _, err := conn.ExecContext(ctx, readings, kmin, kmax, end, step); err != nil {
			return fmt.Errorf("readings: %w", err)
		}
		if _, err := conn.ExecContext(ctx, audit, kmin, kmax, end, step); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	started := time.Now()
	for _, stmt := range []string{
		`RESET jit`,
		`SET maintenance_work_mem = '512MB'`,
		`ALTER TABLE sensor_readings ADD CONSTRAINT sensor_readings_device_id_recorded_at_metric_key UNIQUE (device_id, recorded_at, metric)`,
		`CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id)`,
		`RESET maintenance_work_mem`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("after the load: %w", err)
		}
	}
	after, err := readingIndexes(ctx, s)
	if err != nil {
		return err
	}
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		return fmt.Errorf("sensor_readings' indexes after the load differ from the migrations':\n%s\nwant:\n%s",
			strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	logf("sensor_readings' keys rebuilt in %v", time.Since(started).Round(time.Millisecond))
	return nil
}

// readingIndexes lists the definitions of sensor_readings' indexes and those of its
// partitions, sorted.
func readingIndexes(ctx context.Context, s *store.Store) ([]string, error) {
	var defs []string
	err := s.DB().SelectContext(ctx, &defs, `SELECT indexdef FROM pg_indexes
		WHERE tablename = 'sensor_readings' OR tablename LIKE 'sensor\_readings\_%' ORDER BY indexdef`)
	return defs, err
}

// eachDay calls f with the slots of each day of history, oldest first: slots kmin..kmax
// (kmin ≤ kmax, both counted back from End).
func eachDay(p Plan, logf func(string, ...any), f func(kmin, kmax int64) error) error {
	perDay := int64(24 * time.Hour / Interval)
	total := p.MaxSlots()
	started := time.Now()
	last := started
	for kmax := total - 1; kmax >= 0; kmax -= perDay {
		kmin := max(kmax-perDay+1, 0)
		if err := f(kmin, kmax); err != nil {
			return err
		}
		if time.Since(last) > 30*time.Second {
			last = time.Now()
			var written int64 // the readings of slots kmin and older
			for _, pp := range p.Pools {
				written += int64(pp.Devices*len(Metrics)) * max(pp.Slots-kmin, 0)
			}
			logf("loading: %d of %d readings written after %v", written, p.Rows(), time.Since(started).Round(time.Second))
		}
	}
	return nil
}

// loadSQLite writes the same rows from Go (SQLite has no generate_series built in):
// multi-row INSERTs, a day of history per transaction, in the same order.
func loadSQLite(ctx context.Context, s *store.Store, w World, logf func(string, ...any)) error {
	type dev struct {
		id, pool, slots int64
	}
	var devs []dev
	rs, err := s.DB().QueryContext(ctx, `SELECT device_id, pool_id, slots FROM scale_devices ORDER BY device_id`)
	if err != nil {
		return err
	}
	for rs.Next() {
		var d dev
		if err := rs.Scan(&d.id, &d.pool, &d.slots); err != nil {
			rs.Close()
			return err
		}
		devs = append(devs, d)
	}
	if err := rs.Close(); err != nil {
		return err
	}
	// Longest history first: at slot k only the devices with more than k slots report.
	sort.SliceStable(devs, func(a, b int) bool { return devs[a].slots > devs[b].slots })
	details := fmt.Sprintf(`{"accepted":%d,"duplicates":0}`, len(Metrics))
	return eachDay(w.Plan, logf, func(kmin, kmax int64) error {
		tx, err := s.DB().BeginTxx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var readings, audit [][]any
		for k := kmax; k >= kmin; k-- {
			at := w.Plan.At(k)
			for _, d := range devs {
				if d.slots <= k {
					break
				}
				for _, m := range Metrics {
					v := m.Base + m.Swing*math.Sin(float64(k)*0.0654+float64(d.id))
					readings = append(readings, []any{d.id, d.pool, m.Name, v, m.Unit, at, at.Add(3 * time.Second), "good"})
				}
				audit = append(audit, []any{at.Add(3 * time.Second), "webhook.received", "provider:" + ScaleProvider, ScaleProvider,
					"device", strconv.FormatInt(d.id, 10), details})
			}
		}
		if err := insertMany(ctx, tx, "sensor_readings", "device_id, pool_id, metric, value, unit, recorded_at, received_at, quality", readings, "", nil); err != nil {
			return fmt.Errorf("readings: %w", err)
		}
		if err := insertMany(ctx, tx, "audit_events", "at, action, actor, provider, target_type, target_id, details", audit, "", nil); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		return tx.Commit()
	})
}
