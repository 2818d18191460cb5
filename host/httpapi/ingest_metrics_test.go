package httpapi_test

import (
	"bytes"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
)

// scrape reads /metrics over HTTP and parses the text exposition.
func (e *env) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp := e.must(http.StatusOK, req{method: "GET", path: "/metrics"})
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(resp.Body))
	if err != nil {
		e.t.Fatalf("parse /metrics: %v\n%s", err, resp.Body)
	}
	return mfs
}

// series finds the sample of family with all the given labels; ok is false when absent.
func series(mfs map[string]*dto.MetricFamily, family string, labels map[string]string) (*dto.Metric, bool) {
	mf := mfs[family]
	if mf == nil {
		return nil, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// TestIngestMetricsExported checks issue 5's metrics on /metrics of a wired handler, on
// both engines, after one accepted delivery (with one reading dropped) and one rejected
// one: readings accepted and dropped by reason, webhook outcomes, failures by state, the
// oldest due failure's age and plugin call latency.
func TestIngestMetricsExported(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newIngestEnv(t, dbURL)
		ingesttest.Seed(t, e.st, "generic", "owner@example.com", nil, []string{"probe"}, nil)

		// Before any delivery the table-backed gauges are already there: a dashboard
		// must see "no failures", not "no data".
		before := e.scrape()
		for _, fam := range []string{"poolhost_ingestion_failures", "poolhost_ingestion_oldest_due_failure_age_seconds"} {
			if mfs := before[fam]; mfs == nil || len(mfs.GetMetric()) == 0 {
				t.Errorf("%s missing before any failure", fam)
			}
		}
		if m, ok := series(before, "poolhost_ingestion_failures", map[string]string{"provider": "generic", "status": "dead"}); !ok || m.GetGauge().GetValue() != 0 {
			t.Errorf("failures{generic,dead} before any failure = %v (present %t), want 0", m, ok)
		}

		body := []byte(`{"device_id": "probe", "readings": [{"metric": "ph", "value": 7.4}, {"metric": "turbidity", "value": 1}]}`)
		if r := e.signedWebhook("msg_ok", body, genericWebhookSecret); r.StatusCode != http.StatusOK {
			t.Fatalf("accepted delivery: %d %s", r.StatusCode, r.Body)
		}
		if r := e.signedWebhook("msg_bad", body, "whsec_d3Jvbmctc2VjcmV0LWZvci10aGUtbWV0cmljcy10ZXN0"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("rejected delivery: %d %s", r.StatusCode, r.Body)
		}
		// One pending failure due an hour ago, so the age gauge has something to say.
		f := e.enqueue("generic", false)
		_, err := e.st.DB().Exec(e.st.DB().Rebind(`UPDATE integration_ingestion_failures SET next_attempt_at = ? WHERE id = ?`),
			f.NextAttemptAt.Add(-3600e9), f.ID)
		must(t, err)

		mfs := e.scrape()
		type want struct {
			family string
			labels map[string]string
			check  func(*dto.Metric) bool
		}
		counter := func(v float64) func(*dto.Metric) bool {
			return func(m *dto.Metric) bool { return m.GetCounter().GetValue() == v }
		}
		for _, w := range []want{
			{"poolhost_readings_accepted_total", map[string]string{"provider": "generic"}, counter(1)},
			{"poolhost_readings_dropped_total", map[string]string{"provider": "generic", "reason": "unknown_metric"}, counter(1)},
			{"poolhost_webhook_deliveries_total", map[string]string{"provider": "generic", "outcome": "accepted"}, counter(1)},
			{"poolhost_webhook_deliveries_total", map[string]string{"provider": "generic", "outcome": "rejected"}, counter(1)},
			{"poolhost_ingestion_failures", map[string]string{"provider": "generic", "status": "pending"},
				func(m *dto.Metric) bool { return m.GetGauge().GetValue() == 1 }},
			{"poolhost_ingestion_oldest_due_failure_age_seconds", nil,
				func(m *dto.Metric) bool { return m.GetGauge().GetValue() >= 3000 }},
			{"poolhost_plugin_call_duration_seconds", map[string]string{"provider": "generic", "method": "ingest_webhook", "outcome": "ok"},
				func(m *dto.Metric) bool { return m.GetHistogram().GetSampleCount() >= 1 }},
			{"poolhost_plugin_call_duration_seconds", map[string]string{"provider": "generic", "method": "ingest_webhook", "outcome": "rejected"},
				func(m *dto.Metric) bool { return m.GetHistogram().GetSampleCount() >= 1 }},
			{"poolhost_http_requests_total", map[string]string{"route": "/v1/webhooks/{provider}", "status": "401"}, counter(1)},
		} {
			m, ok := series(mfs, w.family, w.labels)
			if !ok {
				t.Errorf("/metrics has no %s%v", w.family, w.labels)
				continue
			}
			if !w.check(m) {
				t.Errorf("%s%v = %v", w.family, w.labels, m)
			}
		}
	})
}
