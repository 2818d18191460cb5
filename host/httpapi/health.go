package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolhost/poolhost/host/auth"
)

// healthz says the process is up and serving; it checks nothing else, so an orchestrator
// does not restart the host because the database blinked.
func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz runs every readiness check under a short deadline. A failing check is named in
// the answer; its error (which may hold a DSN or a path) only goes to the log.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	for _, c := range h.deps.Ready {
		if err := c.Check(ctx); err != nil {
			ok = false
			checks[c.Name] = "failing"
			h.log.Warn("readiness check failed", "request_id", auth.RequestID(r.Context()), "check", c.Name, "error", err)
			continue
		}
		checks[c.Name] = "ok"
	}
	status, code := "ready", http.StatusOK
	if !ok {
		status, code = "not ready", http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	WriteJSON(w, code, map[string]any{"status": status, "checks": checks})
}

func (h *Handler) metricsHandler() http.Handler {
	return promhttp.HandlerFor(h.deps.Registry, promhttp.HandlerOpts{Registry: h.deps.Registry})
}
