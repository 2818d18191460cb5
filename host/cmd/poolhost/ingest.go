package main

import (
	"context"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/retention"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// ingestion is the ingestion side of the host: the webhook pipeline, the dead-letter
// routes, the retry worker and the poll worker, all over the one ingest path, and the
// pruner that forgets delivery ids (and OAuth states) nobody can need any more.
type ingestion struct {
	retry  *retry.Worker
	poll   *poll.Worker
	pruner *retention.Pruner
}

// newIngestion builds the ingestion components and returns the HTTP route groups they
// add to the API.
func (s *server) newIngestion(st *store.Store) (*ingestion, []httpapi.Option) {
	cfg := s.config()
	ing := ingest.New(st, ingest.Config{MaxFutureSkew: cfg.Ingest.MaxFutureSkew, MaxPastAge: cfg.Ingest.MaxPastAge}, s.log, s.metrics)
	hooks := webhook.New(webhook.Deps{
		Store: st, Ingest: ing, Plugins: s.plugins, Logger: s.log, Registerer: s.metrics,
	}, webhook.Config{MaxAttempts: cfg.RetryWorker.MaxAttempts})
	w := retry.New(retry.Deps{
		Store: st, Ingest: ing, Plugins: retry.ManagerPlugins(s.plugins), Logger: s.log, Registerer: s.metrics,
	}, retry.Config{RetryWorker: cfg.RetryWorker})
	s.metrics.MustRegister(retry.NewFailureCollector(st, retry.WithProviders(s.providerIDs)))
	p := poll.New(poll.Deps{
		Store: st, Ingest: ing, Plugins: s.plugins, Logger: s.log, Registerer: s.metrics,
		Providers: func() []config.Provider { return s.config().Providers },
	}, poll.Config{PollWorker: cfg.PollWorker})
	pr := retention.New(st, retention.Config{DeliveryIDs: cfg.Ingest.DeliveryIDRetention}, s.log)
	return &ingestion{retry: w, poll: p, pruner: pr}, []httpapi.Option{httpapi.WithWebhooks(hooks), httpapi.WithFailures(failures.New(st))}
}

// start runs the workers (each says once at start when it is disabled).
func (i *ingestion) start(ctx context.Context) {
	i.retry.Start(ctx)
	i.poll.Start(ctx)
	i.pruner.Start(ctx)
}

// stop waits for the workers' current tick; rows they held come back after their lease.
func (i *ingestion) stop() {
	i.retry.Close()
	i.poll.Close()
	i.pruner.Close()
}
