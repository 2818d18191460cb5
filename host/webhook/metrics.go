package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
)

type metrics struct {
	deliveries *prometheus.CounterVec
	replays    *prometheus.CounterVec
	rejections *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		deliveries: ingest.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_webhook_deliveries_total",
			Help: "Webhook deliveries by outcome: accepted (200), queued and dead (202), rejected (401), unavailable (503), not_found (404), too_large (413).",
		}, []string{"provider", "outcome"})),
		replays: ingest.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_webhook_replays_total",
			Help: "Verified deliveries that repeated one handled within the replay window (same delivery id, or the same unparseable body): answered as the first, nothing written.",
		}, []string{"provider"})),
		rejections: ingest.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_webhook_rejections_total",
			Help: "Rejected webhook deliveries (401) by reason: missing_signature, malformed_signature, bad_signature, stale_timestamp, unknown_account or other (the plugin gave none).",
		}, []string{"provider", "reason"})),
	}
}
