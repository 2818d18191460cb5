package commands

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
)

// Metrics counts command transitions by provider, command and outcome (a status, or
// "refused" for a command that was not approved).
type Metrics struct {
	transitions *prometheus.CounterVec
}

// NewMetrics registers the counters on reg (nil: unregistered, still counted).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{transitions: ingest.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poolhost_commands_total",
		Help: "Write/control command transitions, by provider, command and outcome (queued, sending, sent, delivered, succeeded, failed, expired, canceled, unknown, requeued, refused).",
	}, []string{"provider", "command", "outcome"}))}
}

func (m *Metrics) outcome(provider, cmd, outcome string) {
	if m == nil {
		return
	}
	m.transitions.WithLabelValues(provider, cmd, outcome).Inc()
}
