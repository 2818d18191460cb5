// Package retention prunes rows that have outlived their use: OAuth states long expired,
// and webhook delivery ids older than any redelivery, on one elected replica (Leader).
// Nothing a user or operator reads is pruned here; readings, audit events and dead
// letters are kept until someone decides otherwise.
package retention

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/internal/worker"
)

// Interval is how often the pruner runs; the rows it deletes are harmless while they
// wait, so there is nothing to tune.
const Interval = time.Hour

// OAuthStateGrace keeps an expired OAuth state a while, so a late callback is answered
// "expired" rather than "unknown" and the audit trail can still explain it.
const OAuthStateGrace = 24 * time.Hour

// Store is what the pruner deletes from: *store.Store.
type Store interface {
	PurgeOAuthStates(ctx context.Context, cutoff time.Time) (int64, error)
	PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error)
	ElectLeader(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
}

// Leader names the pruning's leadership (store.ElectLeader): one replica prunes, the
// others do not run the same deletes at the same time. The leadership lasts two
// intervals, so one missed run does not hand it over; when the leader dies, another
// replica prunes within two hours.
const Leader = "retention"

// Config says how long delivery ids are kept (ingest.delivery_id_retention).
type Config struct {
	DeliveryIDs time.Duration
	Now         func() time.Time
}

// Stats counts what one run deleted.
type Stats struct {
	OAuthStates, DeliveryIDs int64
}

// Pruner runs the pruning every Interval.
type Pruner struct {
	st    Store
	cfg   Config
	log   hclog.Logger
	loop  worker.Loop
	owner string
}

// New returns a pruner; nothing runs until Start.
func New(st Store, cfg Config, log hclog.Logger) *Pruner {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Pruner{st: st, cfg: cfg, log: log.Named("retention"), owner: worker.OwnerID("retention")}
}

// Run prunes once. A delivery-id retention of zero or less keeps ids forever.
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
	return s, nil
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
			return
		}
		if s != (Stats{}) {
			p.log.Info("pruned", "oauth_states", s.OAuthStates, "delivery_ids", s.DeliveryIDs)
		}
	})
}

// Close stops the pruner, waiting for a run in progress.
func (p *Pruner) Close() { p.loop.Close() }
