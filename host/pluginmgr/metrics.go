package pluginmgr

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	state    *prometheus.GaugeVec
	restarts *prometheus.CounterVec
	calls    *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	pending  *prometheus.GaugeVec
	batches  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "poolhost_plugin_state",
			Help: "1 for the state each provider's plugin is in, 0 for the others.",
		}, []string{"provider", "state"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_plugin_restarts_total",
			Help: "Plugin restarts after an exit, a hang or a failed start.",
		}, []string{"provider"}),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "poolhost_plugin_call_duration_seconds",
			Help:    "Latency of calls to plugins, by provider, method and outcome (ok, unavailable or the sdk error kind).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"provider", "method", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_plugin_answers_refused_total",
			Help: "Plugin answers refused for exceeding a plugins.max_* cap, by provider, method and cap (message, readings, account_id, delivery_id, device_id, metric, unit, raw_payload).",
		}, []string{"provider", "method", "limit"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "poolhost_plugin_pending_config_refused",
			Help: "1 while the provider's config block from the last reload is refused (it could not start, e.g. a wrong sha256) and the provider runs its previous block; 0 otherwise.",
		}, []string{"provider"}),
		batches: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "poolhost_plugin_ingest_batch_deliveries",
			Help:    "Webhook deliveries per message to the plugin (an IngestWebhookBatch): 1 under light load, more as deliveries queue behind a batch the plugin is working through.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}, []string{"provider"}),
	}
	if reg == nil {
		return m
	}
	m.state = register(reg, m.state)
	m.restarts = register(reg, m.restarts)
	m.calls = register(reg, m.calls)
	m.refused = register(reg, m.refused)
	m.pending = register(reg, m.pending)
	m.batches = register(reg, m.batches)
	return m
}

// register reuses an identical collector already registered (a second Manager on the
// same registry, as in tests or a re-created manager) instead of failing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (m *metrics) setState(provider string, s State) {
	for _, st := range allStates {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(provider, string(st)).Set(v)
	}
}

func (m *metrics) setRefused(provider string, refused bool) {
	v := 0.0
	if refused {
		v = 1
	}
	m.pending.WithLabelValues(provider).Set(v)
}
