package ingest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAcceptedCounterKept: a provider's accepted counter is looked up once and kept,
// the series WithLabelValues finds, and appears only once a reading was accepted.
func TestAcceptedCounterKept(t *testing.T) {
	s := &Service{metrics: newMetrics(prometheus.NewRegistry())}
	s.count("acme", Result{Duplicates: 1})
	if n := testutil.CollectAndCount(s.metrics.accepted); n != 0 {
		t.Fatalf("%d accepted series before any reading was accepted", n)
	}
	s.count("acme", Result{Accepted: 3})
	s.count("acme", Result{Accepted: 2, Duplicates: 1})
	s.count("other", Result{Accepted: 1})
	if _, ok := s.metrics.acceptedBy.Load("acme"); !ok {
		t.Error("acme's accepted counter was not kept")
	}
	for provider, want := range map[string]float64{"acme": 5, "other": 1} {
		if got := testutil.ToFloat64(s.metrics.accepted.WithLabelValues(provider)); got != want {
			t.Errorf("accepted %s: %v, want %v", provider, got, want)
		}
	}
	if got := testutil.ToFloat64(s.metrics.duplicates.WithLabelValues("acme")); got != 2 {
		t.Errorf("duplicates acme: %v, want 2", got)
	}
}
