package main

import (
	"context"
	"sync"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/retention"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/rollup"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// ingestion is the ingestion side of the host: the webhook pipeline, the dead-letter
// routes, the retry worker and the poll worker, all over the one ingest path, and the
// pruner that forgets delivery ids (and OAuth states) nobody can need any more, keeps
// the monthly partitions and applies the retention block.
type ingestion struct {
	ing   *ingest.Service
	hooks *webhook.Service
	// The workers are rebuilt with their new settings on reload; these build them.
	newRetry  func(config.RetryWorker) *retry.Worker
	newPoll   func(config.PollWorker) *poll.Worker
	newPruner func(*config.Config) *retention.Pruner

	mu      sync.Mutex // start, reload and stop
	ctx     context.Context
	stopped bool
	cfg     *config.Config // the settings the workers run with
	retry   *retry.Worker
	poll    *poll.Worker
	pruner  *retention.Pruner
	rollups *rollup.Worker // no settings: never rebuilt
}

// newIngestion builds the ingestion components and returns the HTTP route groups they
// add to the API.
func (s *server) newIngestion(st *store.Store) (*ingestion, []httpapi.Option) {
	cfg := s.config()
	ing := ingest.New(st, ingestConfig(cfg), s.log, s.metrics)
	hooks := webhook.New(webhook.Deps{
		Store: st, Ingest: ing, Plugins: s.plugins, Logger: s.log, Registerer: s.metrics,
		CommandUpdates: s.commands.updates,
	}, webhook.Config{MaxAttempts: cfg.RetryWorker.MaxAttempts, DeadLetters: deadLetterCap(cfg)})
	// One lease owner per worker kind for the process's life, across rebuilds.
	retryOwner, pollOwner := "", ""
	i := &ingestion{ing: ing, hooks: hooks, cfg: cfg}
	i.newRetry = func(c config.RetryWorker) *retry.Worker {
		w := retry.New(retry.Deps{
			Store: st, Ingest: ing, Plugins: retry.ManagerPlugins(s.plugins), Logger: s.log, Registerer: s.metrics,
		}, retry.Config{RetryWorker: c, Owner: retryOwner})
		retryOwner = w.Owner()
		return w
	}
	i.newPoll = func(c config.PollWorker) *poll.Worker {
		w := poll.New(poll.Deps{
			Store: st, Ingest: ing, Plugins: s.plugins, Logger: s.log, Registerer: s.metrics,
			Providers:      func() []config.Provider { return s.config().Providers },
			CommandUpdates: s.commands.updates,
		}, poll.Config{PollWorker: c, Owner: pollOwner,
			StopGrace: func() time.Duration { return poll.StopGrace(s.config().HTTP) }})
		pollOwner = w.Owner()
		return w
	}
	i.newPruner = func(c *config.Config) *retention.Pruner {
		return retention.New(st, retention.Config{
			DeliveryIDs: c.Ingest.DeliveryIDRetention,
			Readings:    c.Retention.Readings, Audit: c.Retention.Audit, DeadLetters: c.Retention.DeadLetters,
			Registerer: s.metrics,
			// Retention never drops a reading the rollups have not aggregated yet.
			RollupWatermark: st.RollupHorizon,
		}, s.log)
	}
	s.metrics.MustRegister(retry.NewFailureCollector(st, retry.WithProviders(s.providerIDs)))
	i.retry, i.poll, i.pruner = i.newRetry(cfg.RetryWorker), i.newPoll(cfg.PollWorker), i.newPruner(cfg)
	i.rollups = rollup.New(st, s.log)
	return i, []httpapi.Option{httpapi.WithWebhooks(hooks), httpapi.WithFailures(failures.New(st))}
}

func deadLetterCap(cfg *config.Config) webhook.DeadLetterCap {
	return webhook.DeadLetterCap{Count: cfg.Ingest.MaxDeadLettersPerAccount, Bytes: cfg.Ingest.MaxDeadLetterBytesPerAccount}
}

func ingestConfig(cfg *config.Config) ingest.Config {
	return ingest.Config{MaxFutureSkew: cfg.Ingest.MaxFutureSkew, MaxPastAge: cfg.Ingest.MaxPastAge}
}

// start runs the workers (each says once at start when it is disabled).
func (i *ingestion) start(ctx context.Context) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.ctx = ctx
	i.retry.Start(ctx)
	i.poll.Start(ctx)
	i.pruner.Start(ctx)
	i.rollups.Start(ctx)
}

// reload puts new retry_worker, poll_worker and ingest settings in force. A worker whose
// settings changed is stopped (its current tick ends: the retry worker hands back the
// dead letters it cut short, the poll worker the accounts) and started again with the
// new ones, under the same owner; the ingest windows, the webhook attempt budget and the
// dead-letter cap apply from the next delivery. A new retention block rebuilds the
// pruner, which runs at once under it.
func (i *ingestion) reload(cfg *config.Config) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopped {
		return
	}
	old := i.cfg
	i.cfg = cfg
	i.ing.SetConfig(ingestConfig(cfg))
	i.hooks.SetMaxAttempts(cfg.RetryWorker.MaxAttempts)
	i.hooks.SetDeadLetterCap(deadLetterCap(cfg))
	if cfg.RetryWorker != old.RetryWorker {
		i.retry.Close()
		i.retry = i.newRetry(cfg.RetryWorker)
		if i.ctx != nil {
			i.retry.Start(i.ctx)
		}
	}
	if cfg.PollWorker != old.PollWorker {
		i.poll.Close()
		i.poll = i.newPoll(cfg.PollWorker)
		if i.ctx != nil {
			i.poll.Start(i.ctx)
		}
	}
	if cfg.Ingest.DeliveryIDRetention != old.Ingest.DeliveryIDRetention || cfg.Retention != old.Retention {
		i.pruner.Close()
		i.pruner = i.newPruner(cfg)
		if i.ctx != nil {
			i.pruner.Start(i.ctx)
		}
	}
}

// stop waits for the workers' current tick: dead letters the retry worker cut short and
// accounts the poll worker cut short are handed back at once; a poll call in flight at
// the plugin is let answer first, within the shutdown budget (poll.StopGrace).
func (i *ingestion) stop() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.stopped = true
	i.retry.Close()
	i.poll.Close()
	i.pruner.Close()
	i.rollups.Close()
}
