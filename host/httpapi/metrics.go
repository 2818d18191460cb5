package httpapi

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// hookOK are the series of a webhook route's POST answered 200, most requests by
	// far, looked up on the first such request and kept (so a series still appears
	// only once used): WithLabelValues hashes its labels and takes its vector's lock,
	// twice a request; the two lookups and updates took 240 ns a request in a parallel
	// micro-benchmark on the 2-core VM, the updates alone 100.
	hookOK [4]atomic.Pointer[routeSeries] // hookRoute's, hookAccountRoute's, and their {event} routes'
}

// routeSeries are one route's request metrics for one method and status.
type routeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// methodLabel is method as the request metrics label it: one of HTTP's methods, or
// "other". A method is any token the client likes, sent without credentials to any
// path, so taken as it came each made-up one added series to the public /metrics
// without bound (as unknown provider ids would: webhook.Service's providerLabel).
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "other"
}

// observe counts a request of method to route answered status, and its duration.
func (m *metrics) observe(method, route string, status int, elapsed time.Duration) {
	method = methodLabel(method)
	var kept *atomic.Pointer[routeSeries]
	if method == http.MethodPost && status == http.StatusOK {
		switch route {
		case hookRoute:
			kept = &m.hookOK[0]
		case hookAccountRoute:
			kept = &m.hookOK[1]
		case hookEventRoute:
			kept = &m.hookOK[2]
		case hookAccountEventRoute:
			kept = &m.hookOK[3]
		}
	}
	if kept == nil {
		m.requests.WithLabelValues(method, route, statusLabel(status)).Inc()
		m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
		return
	}
	s := kept.Load()
	if s == nil {
		s = &routeSeries{m.requests.WithLabelValues(method, route, statusLabel(status)), m.duration.WithLabelValues(method, route)}
		kept.Store(s)
	}
	s.requests.Inc()
	s.duration.Observe(elapsed.Seconds())
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "poolhost", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "poolhost", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	// A second handler on the same registry (tests, reload) reuses the collectors.
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash between our own collectors: a bug
	}
	return c
}
