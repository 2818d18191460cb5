package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host"
)

// Read replicas. With WithReadReplica the store keeps a second pool on a streaming
// standby and sends it the reads that tolerate a few seconds of lag (readings,
// summaries, status, lists, console pages: the methods below). Everything else —
// writes, leases, transactions, and reads a client may make right after its own write
// (GetPool after UpdatePool) — stays on the primary. The choice is made here, once per
// query kind, so no handler decides.
//
// The standby is judged by a monitor every readReplicaCheck, never per request: it is
// usable while it answers and its lag stays within the bound. A read that finds it
// unusable, or fails on it because it became unreachable meanwhile, goes to the primary
// and is counted (poolhost_database_read_fallbacks_total).
//
// Token, console session and pool role checks read the primary, and the standby only
// while the primary is unreachable: then a revoked token, a removed member, can work
// for at most the standby's lag.

// readReplicaCheck is how often the monitor measures the standby.
const readReplicaCheck = time.Second

// DefaultReadMaxLag is the lag bound when none is given.
const DefaultReadMaxLag = 10 * time.Second

// WithReadReplica sends lag-tolerant reads to the PostgreSQL standby at url while its
// replay lag stays within maxLag (DefaultReadMaxLag when zero).
func WithReadReplica(url string, maxLag time.Duration) Option {
	return func(o *options) {
		o.readURL = url
		o.readMaxLag = maxLag
	}
}

// WithRegisterer exports the store's metrics (the read replica's) to reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.registerer = reg } }

// Fallback reasons, the reason label of poolhost_database_read_fallbacks_total.
const (
	fallbackDown    = "down"    // the last check could not reach the standby
	fallbackLagging = "lagging" // the standby's lag passed the bound
	fallbackError   = "error"   // the read itself failed there: unreachable, or cancelled by a recovery conflict
)

type readSide struct {
	db      *sqlx.DB
	q       queries
	primary *sqlx.DB
	maxLag  time.Duration
	log     hclog.Logger

	mu      sync.Mutex
	up      bool          // answered the last check (and no read found it gone since)
	lag     time.Duration // at the last check; math.MaxInt64 when unknown
	lastErr error

	fallbacks *prometheus.CounterVec
	lagGauge  prometheus.Gauge
	usable    prometheus.Gauge

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// openReadSide connects to the standby and takes its first measure. An unreachable
// standby is no reason to refuse to start: reads then use the primary until it answers.
func openReadSide(ctx context.Context, o options, primary *sqlx.DB, q queries) (*readSide, error) {
	driver, dsn, d, err := parseURL(o.readURL)
	if err != nil {
		return nil, fmt.Errorf("database_read_url: %w", err)
	}
	if d != dialectPostgres {
		return nil, errors.New("database_read_url: a read replica needs PostgreSQL (a streaming standby)")
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open read replica: %w", err)
	}
	db.SetMaxOpenConns(o.maxConns)
	db.SetMaxIdleConns(o.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	maxLag := o.readMaxLag
	if maxLag <= 0 {
		maxLag = DefaultReadMaxLag
	}
	q.q, q.db, q.prep, q.standby = db, db, nil, true
	r := &readSide{
		db: db, q: q, primary: primary, maxLag: maxLag, log: o.logger.Named("store.read_replica"),
		lag: math.MaxInt64,
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_database_read_fallbacks_total",
			Help: "Reads meant for the read replica (database_read_url) that went to the primary, by reason: down (the last check could not reach it), lagging (its lag passed database_read_max_lag), error (the read failed there: unreachable, or cancelled by a recovery conflict).",
		}, []string{"reason"}),
		lagGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "poolhost_database_read_lag_seconds",
			Help: "The read replica's replay lag at its last check (0 when it has replayed everything the primary wrote); -1 when it could not be measured.",
		}),
		usable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "poolhost_database_read_replica_usable",
			Help: "1 while reads go to the read replica (it answers and lags within the bound), 0 while they fall back to the primary.",
		}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for _, reason := range []string{fallbackDown, fallbackLagging, fallbackError} {
		r.fallbacks.WithLabelValues(reason) // exported at 0 from the start
	}
	if o.registerer != nil {
		for _, c := range []prometheus.Collector{r.fallbacks, r.lagGauge, r.usable} {
			if err := o.registerer.Register(c); err != nil {
				db.Close()
				return nil, fmt.Errorf("register read replica metrics: %w", err)
			}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	r.check(cctx)
	cancel()
	go r.monitor()
	return r, nil
}

func (r *readSide) monitor() {
	defer close(r.done)
	t := time.NewTicker(readReplicaCheck)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.check(ctx)
			cancel()
		}
	}
}

// check measures the standby's lag. It is 0 when the standby has replayed everything
// the primary has written (or, the primary unreachable, everything it received), else
// the age of the last transaction it replayed: the primary's commit time against the
// standby's clock, so the two hosts' clocks must agree (NTP) within the bound.
func (r *readSide) check(ctx context.Context) {
	// The insert position: with synchronous_commit off, a commit already acknowledged
	// may lie past the write position.
	var primaryLSN sql.NullString
	if err := r.primary.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&primaryLSN); err != nil {
		primaryLSN = sql.NullString{} // unknown: judge by what the standby received
	}
	var st struct {
		InRecovery bool            `db:"in_recovery"`
		Caught     bool            `db:"caught"`
		Idle       bool            `db:"idle"`
		Age        sql.NullFloat64 `db:"age"`
	}
	err := r.db.GetContext(ctx, &st, `SELECT pg_is_in_recovery() AS in_recovery,
		COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS caught,
		COALESCE(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false) AS idle,
		EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS age`, primaryLSN)
	var lag time.Duration
	switch {
	case err != nil:
		lag = math.MaxInt64
	case !st.InRecovery, st.Caught, !primaryLSN.Valid && st.Idle:
		lag = 0
	case st.Age.Valid:
		lag = time.Duration(max(st.Age.Float64, 0) * float64(time.Second))
	default:
		lag = math.MaxInt64 // nothing replayed yet
	}
	r.mu.Lock()
	wasUsable := r.usableLocked()
	r.up, r.lag, r.lastErr = err == nil, lag, err
	nowUsable := r.usableLocked()
	r.mu.Unlock()
	if lag == math.MaxInt64 {
		r.lagGauge.Set(-1)
	} else {
		r.lagGauge.Set(lag.Seconds())
	}
	if nowUsable {
		r.usable.Set(1)
	} else {
		r.usable.Set(0)
	}
	switch {
	case wasUsable && !nowUsable && err != nil:
		r.log.Warn("read replica unreachable; reads go to the primary", "error", err)
	case wasUsable && !nowUsable:
		r.log.Warn("read replica lags past the bound; reads go to the primary", "lag", lag, "max_lag", r.maxLag)
	case !wasUsable && nowUsable:
		r.log.Info("read replica usable; lag-tolerant reads go to it", "lag", lag)
	}
}

func (r *readSide) usableLocked() bool { return r.up && r.lag <= r.maxLag }

// route says whether a lag-tolerant read may use the standby, and if not, why.
func (r *readSide) route() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.up:
		return false, fallbackDown
	case r.lag > r.maxLag:
		return false, fallbackLagging
	}
	return true, ""
}

// lost marks the standby unreachable until the next check says otherwise.
func (r *readSide) lost(err error) {
	r.mu.Lock()
	was := r.usableLocked()
	r.up, r.lastErr = false, err
	r.mu.Unlock()
	r.usable.Set(0)
	if was {
		r.log.Warn("read replica unreachable; reads go to the primary", "error", err)
	}
}

func (r *readSide) close() {
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		r.db.Close()
	})
}

// replicaRead runs a lag-tolerant read on the standby when it is usable, else on the
// primary (counted). A standby found unreachable mid-read is retried on the primary.
func (s *Store) replicaRead(fn func(q queries) error) error {
	r := s.read
	if r == nil {
		return fn(s.readQueries())
	}
	ok, reason := r.route()
	if ok {
		err := fn(r.q)
		if err == nil || !unreachable(err) && !recoveryConflict(err) {
			return err
		}
		if unreachable(err) {
			r.lost(err)
		}
		reason = fallbackError
	}
	r.fallbacks.WithLabelValues(reason).Inc()
	return fn(s.queries)
}

// recoveryConflict: the standby cancelled the read because replaying the primary's
// WAL needed what it read (a vacuumed row, a dropped partition). The primary has no such
// conflict.
func recoveryConflict(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "40001"
}

// primaryRead runs a read on the primary, and on the standby only when the primary is
// unreachable (and the standby answered its last check).
func (s *Store) primaryRead(fn func(q queries) error) error {
	err := fn(s.queries)
	if err == nil || s.read == nil || !unreachable(err) {
		return err
	}
	r := s.read
	r.mu.Lock()
	up := r.up
	r.mu.Unlock()
	if !up {
		return err
	}
	if serr := fn(r.q); serr == nil || !unreachable(serr) {
		return serr
	}
	return err
}

// HasReadReplica reports whether the store was opened with a read replica.
func (s *Store) HasReadReplica() bool { return s.read != nil }

// PingPrimary is the readiness of the primary. With a read replica that answers, an
// unreachable primary is degraded, not down: lag-tolerant reads still answer, and
// writes answer 503 with Retry-After, so a load balancer should keep the host.
func (s *Store) PingPrimary(ctx context.Context) error {
	err := s.Ping(ctx)
	if err == nil || s.read == nil || !unreachable(err) {
		return err
	}
	if s.read.db.PingContext(ctx) == nil {
		return fmt.Errorf("%w: primary unreachable, reads served by the read replica: %w", host.ErrDegraded, err)
	}
	return err
}

// PingReadReplica is the readiness of the read replica: nil while reads go to it, and
// degraded (reads go to the primary; the host stays ready) while it is down or lags.
func (s *Store) PingReadReplica(ctx context.Context) error {
	r := s.read
	if r == nil {
		return nil
	}
	r.mu.Lock()
	up, lag, lastErr := r.up, r.lag, r.lastErr
	r.mu.Unlock()
	switch {
	case !up:
		if lastErr == nil {
			lastErr = errors.New("unreachable")
		}
		return fmt.Errorf("%w: read replica down, reads go to the primary: %w", host.ErrDegraded, lastErr)
	case lag > r.maxLag:
		return fmt.Errorf("%w: read replica lags %s (bound %s), reads go to the primary", host.ErrDegraded, lagText(lag), r.maxLag)
	}
	return nil
}

func lagText(d time.Duration) string {
	if d == math.MaxInt64 {
		return "unknown"
	}
	return d.Round(time.Millisecond).String()
}

// The lag-tolerant reads: the standby while it is usable.

func (s *Store) ListReadings(ctx context.Context, rq ReadingQuery) (rs []Reading, next *ReadingCursor, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		rs, next, err = q.ListReadings(ctx, rq)
		return err
	})
	return rs, next, err
}

func (s *Store) CountReadings(ctx context.Context, poolID int64) (n int64, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		n, err = q.CountReadings(ctx, poolID)
		return err
	})
	return n, err
}

func (s *Store) LatestMeasurements(ctx context.Context, poolID int64, metrics []string) (out []Latest, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.LatestMeasurements(ctx, poolID, metrics)
		return err
	})
	return out, err
}

func (s *Store) SummarizeMeasurements(ctx context.Context, sq SummaryQuery) (out []Bucket, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.SummarizeMeasurements(ctx, sq)
		return err
	})
	return out, err
}

func (s *Store) ListTestSessions(ctx context.Context, poolID int64, before *TestSessionCursor, limit int) (out []TestSession, next *TestSessionCursor, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, next, err = q.ListTestSessions(ctx, poolID, before, limit)
		return err
	})
	return out, next, err
}

func (s *Store) ListPoolsForUser(ctx context.Context, userID, afterID int64, limit int) (out []PoolWithRole, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.ListPoolsForUser(ctx, userID, afterID, limit)
		return err
	})
	return out, err
}

func (s *Store) ListAudit(ctx context.Context, f AuditFilter) (out []AuditEvent, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.ListAudit(ctx, f)
		return err
	})
	return out, err
}

func (s *Store) DeliveryActivity(ctx context.Context, since time.Time) (out []ActivityCount, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.DeliveryActivity(ctx, since)
		return err
	})
	return out, err
}

func (s *Store) DroppedReadings(ctx context.Context, since time.Time) (out []DroppedCount, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.DroppedReadings(ctx, since)
		return err
	})
	return out, err
}

func (s *Store) PollActivitySince(ctx context.Context, since time.Time) (out []PollActivity, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.PollActivitySince(ctx, since)
		return err
	})
	return out, err
}

func (s *Store) AccountsNeedingAttention(ctx context.Context, f AttentionFilter) (out []AttentionAccount, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.AccountsNeedingAttention(ctx, f)
		return err
	})
	return out, err
}

func (s *Store) ConnectedAccountsPerProvider(ctx context.Context) (out []ProviderAccounts, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.ConnectedAccountsPerProvider(ctx)
		return err
	})
	return out, err
}

func (s *Store) ConnectedAccountsOf(ctx context.Context, provider string, limit int) (out []AttentionAccount, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.ConnectedAccountsOf(ctx, provider, limit)
		return err
	})
	return out, err
}

func (s *Store) DeadLettersWaiting(ctx context.Context) (out []DeadWaiting, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.DeadLettersWaiting(ctx)
		return err
	})
	return out, err
}

func (s *Store) FailureCounts(ctx context.Context) (out []FailureCount, err error) {
	err = s.replicaRead(func(q queries) error {
		var err error
		out, err = q.FailureCounts(ctx)
		return err
	})
	return out, err
}

// The primary-first reads: who may do what, and what a client just wrote.

func (s *Store) AuthenticateToken(ctx context.Context, plaintext string) (u User, t APIToken, err error) {
	err = s.primaryRead(func(q queries) error {
		var err error
		u, t, err = q.AuthenticateToken(ctx, plaintext)
		return err
	})
	return u, t, err
}

func (s *Store) AuthenticateConsoleSession(ctx context.Context, value string) (u User, cs ConsoleSession, err error) {
	err = s.primaryRead(func(q queries) error {
		var err error
		u, cs, err = q.AuthenticateConsoleSession(ctx, value)
		return err
	})
	return u, cs, err
}

func (s *Store) PoolRole(ctx context.Context, poolID, userID int64) (r Role, err error) {
	err = s.primaryRead(func(q queries) error {
		var err error
		r, err = q.PoolRole(ctx, poolID, userID)
		return err
	})
	return r, err
}

func (s *Store) GetPool(ctx context.Context, id int64) (p Pool, err error) {
	err = s.primaryRead(func(q queries) error {
		var err error
		p, err = q.GetPool(ctx, id)
		return err
	})
	return p, err
}

// VerifyReady is Verify for /readyz: with a read replica answering, a schema that cannot
// be read because the primary is unreachable is degraded, as PingPrimary is (the schema
// was verified when the host started, and the standby replays the primary's).
func (s *Store) VerifyReady(ctx context.Context) error {
	err := s.Verify(ctx)
	if err == nil || s.read == nil || !unreachable(err) {
		return err
	}
	if s.read.db.PingContext(ctx) == nil {
		return fmt.Errorf("%w: schema not checked, primary unreachable: %w", host.ErrDegraded, err)
	}
	return err
}
