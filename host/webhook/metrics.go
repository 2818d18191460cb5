package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
)

type metrics struct {
	deliveries *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		deliveries: ingest.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_webhook_deliveries_total",
			Help: "Webhook deliveries by outcome: accepted (200), queued and dead (202), rejected (401), unavailable (503), not_found (404), too_large (413).",
		}, []string{"provider", "outcome"})),
	}
}
