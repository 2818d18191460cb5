package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
)

// healthz says the process is up and serving; it checks nothing else, so an orchestrator
// does not restart the host because the database blinked.
func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz runs every readiness check under a short deadline. A failing check is named in
// the answer; its error (which may hold a DSN or a path) only goes to the log. A
// degraded check (an enabled provider failed) keeps the host ready — 200, status
// "degraded" — so a load balancer keeps it while on-call sees what is wrong.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	status, checks := h.readiness(r.Context(), true)
	code := http.StatusOK
	if status == "not ready" {
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	body := map[string]any{"status": status, "checks": checks}
	if h.deps.ProviderStates != nil {
		body["providers"] = h.deps.ProviderStates()
	}
	WriteJSON(w, code, body)
}

// Readiness is what /readyz answers, for the replica's heartbeat (host/replicas):
// "ready", "degraded" or "not ready", and each check's "ok", "degraded" or "failing".
func (h *Handler) Readiness(ctx context.Context) (status string, checks map[string]string) {
	return h.readiness(ctx, false) // the probe logs failed checks; a heartbeat every few seconds would repeat them
}

func (h *Handler) readiness(ctx context.Context, logFailed bool) (string, map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok, degraded := true, false
	for _, c := range h.deps.Ready {
		err := c.Check(ctx)
		switch {
		case err == nil:
			checks[c.Name] = "ok"
			if logFailed && h.readyFailing(c.Name, "") {
				h.log.Info("readiness check ok again", "request_id", auth.RequestID(ctx), "check", c.Name)
			}
			continue
		case errors.Is(err, host.ErrDegraded):
			degraded = true
			checks[c.Name] = "degraded"
		default:
			ok = false
			checks[c.Name] = "failing"
		}
		if logFailed && h.readyFailing(c.Name, err.Error()) {
			h.log.Warn("readiness check failed", "request_id", auth.RequestID(ctx), "check", c.Name, "error", err)
		}
	}
	switch {
	case !ok:
		return "not ready", checks
	case degraded:
		return "degraded", checks
	}
	return "ready", checks
}

// readyFailing records what the probes last saw of check (its error, "" for ok) and
// reports whether that changed. A probe logs a check's failure only then: a load
// balancer or orchestrator probing every few seconds had a degraded host (one provider
// failed, for hours) or an unreachable database write the same WARN lines on every
// probe. The log says when a check starts failing, when its reason changes, and when it
// is ok again; /readyz's answer and the metrics say the rest.
func (h *Handler) readyFailing(check, errText string) (changed bool) {
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	if h.readyErr[check] == errText {
		return false
	}
	if h.readyErr == nil {
		h.readyErr = map[string]string{}
	}
	if errText == "" {
		delete(h.readyErr, check)
	} else {
		h.readyErr[check] = errText
	}
	return true
}

func (h *Handler) metricsHandler() http.Handler { return MetricsHandler(h.deps.Registry) }

// MetricsHandler serves reg in the Prometheus text format: /metrics on the API port, or
// alone on metrics_listen.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// metricsRoute is GET /metrics on the API port. With metrics_listen set it answers 404
// as an unknown route does: the metrics are not public there.
func (h *Handler) metricsRoute() HandlerFunc {
	if h.deps.MetricsElsewhere {
		return func(http.ResponseWriter, *http.Request) error {
			return host.Errorf(host.ENOTFOUND, "no such route")
		}
	}
	return plain(h.metricsHandler().ServeHTTP)
}
