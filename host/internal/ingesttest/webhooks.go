package ingesttest

import (
	"net/http/httptest"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// Webhooks is what ServeWebhooks needs: the parts a test varies of a host's webhook path.
type Webhooks struct {
	Store   *store.Store
	Plugins webhook.Plugins
	// Log takes what the ingest service logs; PipelineLog, when set, what the webhook
	// pipeline and the HTTP API log (else Log too).
	Log, PipelineLog hclog.Logger
	Registry         *prometheus.Registry // every metric of the host
	Ingest           ingest.Config
	Pipeline         webhook.Config
	HTTP             config.HTTP
	// Mutate, when set, changes the pipeline's dependencies before it is built (a store
	// or plugins that fail on purpose, a hook on the ingest service).
	Mutate func(*webhook.Deps, *ingest.Service)
}

// WebhookHost is a host's webhook path built in the test process from the real
// components, as cmd/poolhost wires them: an ingest service (group commit), the webhook
// pipeline, and the HTTP API serving it over real HTTP.
type WebhookHost struct {
	Ingest   *ingest.Service
	Pipeline *webhook.Service
	Server   *httptest.Server
}

// ServeWebhooks starts a WebhookHost on w and closes its server when the test ends.
func ServeWebhooks(t testing.TB, w Webhooks) WebhookHost {
	t.Helper()
	plog := w.PipelineLog
	if plog == nil {
		plog = w.Log
	}
	ing := ingest.New(w.Store, w.Ingest, w.Log, w.Registry)
	d := webhook.Deps{Store: w.Store, Ingest: ing, Plugins: w.Plugins, Logger: plog, Registerer: w.Registry}
	if w.Mutate != nil {
		w.Mutate(&d, ing)
	}
	svc := webhook.New(d, w.Pipeline)
	h := httpapi.New(httpapi.Deps{Logger: d.Logger, Registry: w.Registry, HTTP: w.HTTP}, httpapi.WithWebhooks(svc))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return WebhookHost{Ingest: ing, Pipeline: svc, Server: srv}
}
