package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
)

// TestRequestMetricsMethodLabelBounded: the method label of the request metrics is one
// of HTTP's methods or "other". It was the request's own method token, which anyone may
// choose without a token (any route, matched or not), so each made-up method added
// series to the public /metrics without bound, as unknown provider ids once did.
func TestRequestMetricsMethodLabelBounded(t *testing.T) {
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{HTTP: config.HTTP{MaxBodyBytes: 1 << 20}}))
	t.Cleanup(srv.Close)
	for i := range 40 {
		for _, path := range []string{"/healthz", "/v1/pools", "/v1/webhooks/generic", "/no/such/route"} {
			req, err := http.NewRequest(fmt.Sprintf("MADEUP%d", i), srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	known := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "other"}
	for _, family := range []string{"poolhost_http_requests_total", "poolhost_http_request_duration_seconds"} {
		mf := mfs[family]
		if mf == nil {
			t.Fatalf("no %s on /metrics", family)
		}
		methods := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					methods[l.GetValue()] = true
				}
			}
		}
		for m := range methods {
			if !slices.Contains(known, m) {
				t.Errorf("%s has method label %q (%d methods in all), want HTTP's methods and \"other\" only", family, m, len(methods))
				break
			}
		}
		if !methods["other"] {
			t.Errorf("%s: the made-up methods are not counted as \"other\" (methods %v)", family, methods)
		}
	}
}
