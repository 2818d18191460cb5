package main

import (
	"context"

	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// ingestion is the ingestion side of the host: the webhook pipeline, the dead-letter
// routes and the retry worker, all over the one ingest path.
type ingestion struct {
	retry *retry.Worker
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
	s.metrics.MustRegister(retry.NewFailureCollector(st))
	return &ingestion{retry: w}, []httpapi.Option{httpapi.WithWebhooks(hooks), httpapi.WithFailures(failures.New(st))}
}

// start runs the workers (each says once at start when it is disabled).
func (i *ingestion) start(ctx context.Context) { i.retry.Start(ctx) }

// stop waits for the workers' current tick; rows they held come back after their lease.
func (i *ingestion) stop() { i.retry.Close() }
