package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// TestRequestMetricsKeptForWebhook200: a webhook route's POST answered 200 is counted in
// series looked up once and kept, the same series WithLabelValues finds; any other
// answer, route or method is looked up each time. A series appears only once used.
func TestRequestMetricsKeptForWebhook200(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	if n := testutil.CollectAndCount(m.requests); n != 0 {
		t.Fatalf("%d request series before any request", n)
	}
	for range 3 {
		m.observe(http.MethodPost, hookAccountRoute, http.StatusOK, time.Millisecond)
	}
	m.observe(http.MethodPost, hookAccountRoute, http.StatusServiceUnavailable, time.Millisecond)
	m.observe(http.MethodGet, "/healthz", http.StatusOK, time.Millisecond)
	if m.hookOK[1].Load() == nil || m.hookOK[0].Load() != nil {
		t.Errorf("kept series: account route %v, provider route %v; want only the account route's",
			m.hookOK[1].Load() != nil, m.hookOK[0].Load() != nil)
	}
	for _, c := range []struct {
		method, route, status string
		want                  float64
	}{
		{"POST", hookAccountRoute, "200", 3}, {"POST", hookAccountRoute, "503", 1}, {"GET", "/healthz", "200", 1},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(c.method, c.route, c.status)); got != c.want {
			t.Errorf("requests %s %s %s: %v, want %v", c.method, c.route, c.status, got, c.want)
		}
	}
	var h dto.Metric
	if err := m.duration.WithLabelValues("POST", hookAccountRoute).(prometheus.Histogram).Write(&h); err != nil {
		t.Fatal(err)
	}
	if got := h.GetHistogram().GetSampleCount(); got != 4 {
		t.Errorf("durations of POST %s: %d, want 4", hookAccountRoute, got)
	}
	if n := testutil.CollectAndCount(m.requests); n != 3 {
		t.Errorf("%d request series, want 3", n)
	}
}
