package retry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
)

type metrics struct {
	events *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{events: ingest.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poolhost_retry_worker_events_total",
		Help: "What the retry worker did with ingestion failures: claimed, succeeded, retried, dead, rescued, lease_lost, store_error, released.",
	}, []string{"event"}))}
}

func (m *metrics) add(s Stats) {
	for ev, n := range map[string]int{
		"claimed": s.Claimed, "succeeded": s.Succeeded, "retried": s.Retried,
		"dead": s.Dead, "rescued": s.Rescued, "lease_lost": s.LeaseLost, "store_error": s.StoreErrors,
		"released": s.Released,
	} {
		// Touch every series so dashboards see zeros rather than gaps.
		m.events.WithLabelValues(ev).Add(float64(n))
	}
}

// FailureStore is what the failures collector reads.
type FailureStore interface {
	FailureCounts(ctx context.Context) ([]store.FailureCount, error)
	OldestDueFailureAge(ctx context.Context) (time.Duration, error)
}

// failureCollector reads the failures table at scrape time, so the gauges are right on
// every replica whether or not its worker is enabled.
type failureCollector struct {
	s         FailureStore
	providers func() []string
	byState   *prometheus.Desc
	oldest    *prometheus.Desc
}

// FailureCollectorOption tunes NewFailureCollector.
type FailureCollectorOption func(*failureCollector)

// WithProviders names the providers whose every status is exported even with no rows
// (as 0), so a dashboard or an alert sees "no failures" rather than "no data". It is
// called at each scrape: the configured providers change on reload.
func WithProviders(providers func() []string) FailureCollectorOption {
	return func(c *failureCollector) { c.providers = providers }
}

// failureStatuses are the states exported for each provider, zeros included.
var failureStatuses = []store.FailureStatus{store.FailurePending, store.FailureProcessing, store.FailureResolved, store.FailureDead}

// NewFailureCollector returns a collector exporting failures by provider and state and
// the age of the oldest due failure.
func NewFailureCollector(s FailureStore, opts ...FailureCollectorOption) prometheus.Collector {
	c := &failureCollector{
		s: s,
		byState: prometheus.NewDesc("poolhost_ingestion_failures",
			"Rows in integration_ingestion_failures by provider and status.", []string{"provider", "status"}, nil),
		oldest: prometheus.NewDesc("poolhost_ingestion_oldest_due_failure_age_seconds",
			"How long the oldest due pending failure has waited past its next attempt time.", nil, nil),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *failureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byState
	ch <- c.oldest
}

func (c *failureCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.s.FailureCounts(ctx); err == nil {
		// Every status of every provider, known from the config or from the rows: a
		// series that is absent while it is zero breaks rate() and "no failures" panels.
		byKey := map[[2]string]int64{}
		var providers []string
		seen := map[string]bool{}
		add := func(p string) {
			if !seen[p] {
				seen[p] = true
				providers = append(providers, p)
			}
		}
		if c.providers != nil {
			for _, p := range c.providers() {
				add(p)
			}
		}
		for _, fc := range counts {
			add(fc.Provider)
			byKey[[2]string{fc.Provider, string(fc.Status)}] += fc.Count
		}
		for _, p := range providers {
			for _, st := range failureStatuses {
				ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(byKey[[2]string{p, string(st)}]), p, string(st))
			}
		}
	} else {
		ch <- prometheus.NewInvalidMetric(c.byState, err)
	}
	if age, err := c.s.OldestDueFailureAge(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age.Seconds())
	} else {
		ch <- prometheus.NewInvalidMetric(c.oldest, err)
	}
}
