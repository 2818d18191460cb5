// Package retention prunes rows that have outlived their use: OAuth states long expired,
// and webhook delivery ids older than any redelivery. Nothing a user or operator reads
// is pruned here; readings, audit events and dead letters are kept until someone decides
// otherwise.
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
}

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
	st   Store
	cfg  Config
	log  hclog.Logger
	loop worker.Loop
}

// New returns a pruner; nothing runs until Start.
func New(st Store, cfg Config, log hclog.Logger) *Pruner {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Pruner{st: st, cfg: cfg, log: log.Named("retention")}
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

// Start runs the pruner now and every Interval until ctx ends or Close.
func (p *Pruner) Start(ctx context.Context) {
	p.loop.Start(ctx, Interval, func(ctx context.Context) {
		s, err := p.Run(ctx)
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
