// Package retention keeps the stored history within bounds, on one elected replica
// (Leader): it prunes OAuth states long expired and webhook delivery ids older than any
// redelivery, keeps the monthly partitions of the time series on PostgreSQL (the
// months ahead, and a month for any row waiting in a default partition), and, when the
// operator set a retention block, expires readings, audit events and settled dead
// letters older than their period. By default nothing a user or operator reads is
// expired.
package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/store"
)

// Interval is how often the pruner runs; the rows it deletes are harmless while they
// wait, and partitions are kept months ahead, so there is nothing to tune.
const Interval = time.Hour

// OAuthStateGrace keeps an expired OAuth state a while, so a late callback is answered
// "expired" rather than "unknown" and the audit trail can still explain it.
const OAuthStateGrace = 24 * time.Hour

// ActionExpired is the audit action of each table retention removed rows from: which
// months were dropped (PostgreSQL) or how many rows were deleted (SQLite), and the
// cutoff.
const ActionExpired = "retention.expired"

// Store is what the pruner works on: *store.Store.
type Store interface {
	PurgeOAuthStates(ctx context.Context, cutoff time.Time) (int64, error)
	PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error)
	ElectLeader(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	EnsurePartitions(ctx context.Context) ([]store.Partition, error)
	ExpireBefore(ctx context.Context, table string, before time.Time) ([]store.Expired, error)
	AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error)
}

// Leader names the pruning's leadership (store.ElectLeader): one replica prunes and
// keeps partitions, the others do not run the same statements at the same time. The
// leadership lasts two intervals, so one missed run does not hand it over; when the
// leader dies, another replica takes over within two hours (partitions are kept
// PartitionsAhead months ahead, so that wait costs nothing).
const Leader = "retention"

// Config says how long each kind of row is kept; zero or less keeps it forever.
type Config struct {
	DeliveryIDs time.Duration // ingest.delivery_id_retention
	// Readings, Audit and DeadLetters are the retention block: sensor readings and test
	// sessions, audit events, and dead letters settled (dead or resolved).
	Readings, Audit, DeadLetters time.Duration
	// RollupWatermark returns, for retention's cutoff, the instant before which every
	// reading recorded before that cutoff is already in the rollups (the cutoff itself
	// when all are: store.RollupHorizon); retention never expires a reading at or after
	// it, so a summary over an expired range still answers from the rollups. It is
	// given the cutoff so that it reads only the months that may go, never the whole
	// table. Nil means there are no rollups: the readings' own period alone decides.
	RollupWatermark func(ctx context.Context, before time.Time) (time.Time, error)
	// Registerer receives the retention metrics; nil registers none.
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Stats counts what one run did.
type Stats struct {
	OAuthStates, DeliveryIDs int64
	// PartitionsCreated and PartitionsDropped are months of the partitioned tables
	// (PostgreSQL); RowsExpired are rows deleted by the retention block (SQLite, and
	// dead letters on both).
	PartitionsCreated, PartitionsDropped, RowsExpired int64
}

// Pruner runs the pruning every Interval.
type Pruner struct {
	st      Store
	cfg     Config
	log     hclog.Logger
	loop    worker.Loop
	owner   string
	metrics *metrics
}

type metrics struct {
	partitions *prometheus.CounterVec
	rows       *prometheus.CounterVec
}

// New returns a pruner; nothing runs until Start.
func New(st Store, cfg Config, log hclog.Logger) *Pruner {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	m := &metrics{
		partitions: ingest.Register(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_retention_partitions_dropped_total",
			Help: "Monthly partitions dropped whole by retention (PostgreSQL), by table.",
		}, []string{"table"})),
		rows: ingest.Register(cfg.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_retention_rows_total",
			Help: "Rows removed by retention, by table: deleted, or the estimated rows of dropped partitions.",
		}, []string{"table"})),
	}
	return &Pruner{st: st, cfg: cfg, log: log.Named("retention"), owner: worker.OwnerID("retention"), metrics: m}
}

// Run prunes once: delivery ids and OAuth states, then the partitions' upkeep, then the
// retention block. A failure of one step does not stop the others; their errors are
// joined.
func (p *Pruner) Run(ctx context.Context) (Stats, error) {
	now := p.cfg.Now()
	var s Stats
	var err error
	if s.OAuthStates, err = p.st.PurgeOAuthStates(ctx, now.Add(-OAuthStateGrace)); err != nil {
		return s, err
	}
	if p.cfg.DeliveryIDs > 0 {
		if s.DeliveryIDs, err = p.st.PruneDeliveries(ctx, now.Add(-p.cfg.DeliveryIDs)); err != nil {
			return s, err
		}
	}
	// Partitions first: a row waiting in a default partition gets its month, which
	// retention can then drop whole.
	created, err := p.st.EnsurePartitions(ctx)
	s.PartitionsCreated = int64(len(created))
	for _, c := range created {
		p.log.Info("partition created", "table", c.Table, "partition", c.Name)
	}
	errs := []error{err}
	if p.cfg.Readings > 0 {
		cutoff := now.Add(-p.cfg.Readings)
		if p.cfg.RollupWatermark != nil {
			w, err := p.cfg.RollupWatermark(ctx, cutoff)
			if err != nil {
				errs = append(errs, fmt.Errorf("rollup watermark: %w", err))
				cutoff = time.Time{} // unknown: expire no reading
			} else if w.Before(cutoff) {
				cutoff = w
			}
		}
		if !cutoff.IsZero() {
			errs = append(errs, p.expire(ctx, &s, store.TableReadings, cutoff), p.expire(ctx, &s, store.TableTestResults, cutoff))
		}
	}
	if p.cfg.Audit > 0 {
		errs = append(errs, p.expire(ctx, &s, store.TableAudit, now.Add(-p.cfg.Audit)))
	}
	if p.cfg.DeadLetters > 0 {
		errs = append(errs, p.expire(ctx, &s, "integration_ingestion_failures", now.Add(-p.cfg.DeadLetters)))
	}
	return s, errors.Join(errs...)
}

// expire removes table's rows older than cutoff, then audits and counts what went
// (what did go, even when a later step failed).
func (p *Pruner) expire(ctx context.Context, s *Stats, table string, cutoff time.Time) error {
	ex, err := p.st.ExpireBefore(ctx, table, cutoff)
	for _, e := range ex {
		if len(e.Partitions) == 0 && e.Rows == 0 {
			continue
		}
		details := store.Details{"cutoff": cutoff.UTC().Format(time.RFC3339)}
		var rows int64
		if len(e.Partitions) > 0 {
			names := make([]string, len(e.Partitions))
			for i, pt := range e.Partitions {
				names[i] = pt.Name
				rows += max(pt.Rows, 0)
			}
			details["partitions_dropped"] = names
			details["from"] = e.Partitions[0].From.Format(time.RFC3339)
			details["to"] = e.Partitions[len(e.Partitions)-1].To.Format(time.RFC3339)
			details["rows_estimate"] = rows
			s.PartitionsDropped += int64(len(e.Partitions))
			p.metrics.partitions.WithLabelValues(e.Table).Add(float64(len(e.Partitions)))
		} else {
			rows = e.Rows
			details["rows_deleted"] = rows
			s.RowsExpired += rows
		}
		p.metrics.rows.WithLabelValues(e.Table).Add(float64(rows))
		p.log.Info("expired", "table", e.Table, "partitions", len(e.Partitions), "rows", rows, "cutoff", cutoff)
		if _, aerr := p.st.AppendAudit(ctx, store.AuditEvent{
			Action: ActionExpired, Actor: store.ActorSystem, TargetType: "table", TargetID: e.Table, Details: details,
		}); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	return err
}

// Tick prunes once if this replica is (or becomes) the leader, and reports whether it
// was. Exported for tests.
func (p *Pruner) Tick(ctx context.Context) (bool, Stats, error) {
	leader, err := p.st.ElectLeader(ctx, Leader, p.owner, 2*Interval)
	if err != nil || !leader {
		return false, Stats{}, err
	}
	s, err := p.Run(ctx)
	return true, s, err
}

// Start runs the pruner now and every Interval until ctx ends or Close, on the elected
// replica only.
func (p *Pruner) Start(ctx context.Context) {
	p.loop.Start(ctx, Interval, func(ctx context.Context) {
		_, s, err := p.Tick(ctx)
		if err != nil {
			p.log.Warn("prune failed; trying again next interval", "error", err)
		}
		if s != (Stats{}) {
			p.log.Info("pruned", "oauth_states", s.OAuthStates, "delivery_ids", s.DeliveryIDs,
				"partitions_created", s.PartitionsCreated, "partitions_dropped", s.PartitionsDropped, "rows_expired", s.RowsExpired)
		}
	})
}

// Close stops the pruner, waiting for a run in progress.
func (p *Pruner) Close() { p.loop.Close() }

// Metrics are the pruner's counters, for tests.
type Metrics struct{ Partitions, Rows *prometheus.CounterVec }

// Metrics returns the pruner's counters.
func (p *Pruner) Metrics() Metrics { return Metrics{p.metrics.partitions, p.metrics.rows} }
