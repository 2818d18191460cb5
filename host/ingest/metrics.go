package ingest

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the ingestion counters. Every drop is counted, webhook or poll alike.
type metrics struct {
	accepted *prometheus.CounterVec
	// acceptedBy keeps each provider's accepted counter once looked up (so a series
	// still appears only once used): WithLabelValues hashes the label and takes the
	// vector's lock, for every delivery.
	acceptedBy sync.Map // provider → prometheus.Counter
	duplicates *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	// Group commit: transactions shared by several requests, and how many each held.
	batches   prometheus.Counter
	batchSize prometheus.Histogram
	// Where a group-committed delivery's time goes: queued (waiting for a write to take
	// it), then its write's device lookup and its write (the statement, COMMIT included).
	// Where they go decides the scheduling (batch.go): a long queue beside short writes
	// means too few writes overlap.
	phase                     *prometheus.HistogramVec
	queued, lookup, statement prometheus.Observer
}

// acceptedFor is provider's accepted counter.
func (m *metrics) acceptedFor(provider string) prometheus.Counter {
	if c, ok := m.acceptedBy.Load(provider); ok {
		return c.(prometheus.Counter)
	}
	c := m.accepted.WithLabelValues(provider)
	m.acceptedBy.Store(provider, c)
	return c
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_readings_accepted_total",
			Help: "Readings inserted into sensor_readings.",
		}, []string{"provider"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_readings_duplicate_total",
			Help: "Valid readings already stored (replayed deliveries).",
		}, []string{"provider"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_readings_dropped_total",
			Help: "Readings dropped by validation before persistence, by reason.",
		}, []string{"provider", "reason"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "poolhost_ingest_group_commits_total",
			Help: "Transactions that stored several requests' readings at once (group commit).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "poolhost_ingest_group_commit_requests",
			Help:    "Requests stored by one group-commit transaction.",
			Buckets: []float64{2, 4, 8, 16, 32, 64},
		}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "poolhost_ingest_group_commit_seconds",
			Help:    "Group commit time by phase: queue (a request waiting for a write to take it), lookup (a write's device lookup), write (a write's statement, COMMIT included).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1},
		}, []string{"phase"}),
	}
	m.accepted = Register(reg, m.accepted)
	m.duplicates = Register(reg, m.duplicates)
	m.dropped = Register(reg, m.dropped)
	m.batches = Register(reg, m.batches)
	m.batchSize = Register(reg, m.batchSize)
	m.phase = Register(reg, m.phase)
	m.queued, m.lookup, m.statement = m.phase.WithLabelValues("queue"), m.phase.WithLabelValues("lookup"), m.phase.WithLabelValues("write")
	return m
}

// Register registers c with reg and returns the collector to use: c itself, or the one
// registered earlier under the same name, so several services built in one process (tests,
// a reload) share their counters instead of panicking. A nil reg registers nothing.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
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
