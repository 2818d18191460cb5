package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/httpapi"
)

// TestReadyzProviderStates: /readyz names each provider's state; a failed provider
// makes the host degraded (still 200, in rotation), a failing dependency not ready.
func TestReadyzProviderStates(t *testing.T) {
	states := func() map[string]string { return map[string]string{"generic": "running", "ttn": "failed"} }
	for _, tc := range []struct {
		name       string
		plugins    error
		database   error
		wantCode   int
		wantStatus string
		wantChecks map[string]string
	}{
		{"all running", nil, nil, 200, "ready", map[string]string{"database": "ok", "plugins": "ok"}},
		{"a provider failed", fmt.Errorf("%w: ttn failed", host.ErrDegraded), nil, 200, "degraded", map[string]string{"database": "ok", "plugins": "degraded"}},
		{"failed provider and database down", fmt.Errorf("%w: ttn failed", host.ErrDegraded), errors.New("dial"), 503, "not ready", map[string]string{"database": "failing", "plugins": "degraded"}},
		{"first start", errors.New("generic is still starting"), nil, 503, "not ready", map[string]string{"database": "ok", "plugins": "failing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := httpapi.New(httpapi.Deps{
				Ready: []httpapi.ReadyCheck{
					{Name: "database", Check: func(context.Context) error { return tc.database }},
					{Name: "plugins", Check: func(context.Context) error { return tc.plugins }},
				},
				ProviderStates: states,
			})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var body struct {
				Status    string            `json:"status"`
				Checks    map[string]string `json:"checks"`
				Providers map[string]string `json:"providers"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.wantCode || body.Status != tc.wantStatus || fmt.Sprint(body.Checks) != fmt.Sprint(tc.wantChecks) {
				t.Errorf("got %d %s", w.Code, w.Body)
			}
			if body.Providers["ttn"] != "failed" || body.Providers["generic"] != "running" {
				t.Errorf("providers %v", body.Providers)
			}
		})
	}
}

// TestReadyzLogsChanges: a probe logs a check's failure when it starts or its reason
// changes, and its recovery, not on every probe: probed every few seconds, a host
// degraded for hours (one provider failed) wrote a WARN per probe.
func TestReadyzLogsChanges(t *testing.T) {
	var logs bytes.Buffer
	var plugins error
	h := httpapi.New(httpapi.Deps{
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}),
		Ready:  []httpapi.ReadyCheck{{Name: "plugins", Check: func(context.Context) error { return plugins }}},
	})
	probe := func(times int) string {
		t.Helper()
		logs.Reset()
		for range times {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
		}
		var lines []string
		for l := range strings.SplitSeq(logs.String(), "\n") {
			if strings.Contains(l, "readiness check") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n")
	}
	if got := probe(3); got != "" {
		t.Fatalf("ready: %s", got)
	}
	plugins = fmt.Errorf("%w: ttn failed", host.ErrDegraded)
	if got := probe(5); strings.Count(got, "readiness check failed") != 1 || !strings.Contains(got, "ttn failed") {
		t.Errorf("5 probes of a degraded host logged:\n%s\nwant one failure line", got)
	}
	plugins = fmt.Errorf("%w: ttn failed, iopool failed", host.ErrDegraded)
	if got := probe(3); strings.Count(got, "readiness check failed") != 1 || !strings.Contains(got, "iopool failed") {
		t.Errorf("a new reason logged:\n%s\nwant one failure line naming it", got)
	}
	plugins = nil
	if got := probe(3); strings.Count(got, "\n") != 0 || !strings.Contains(got, "readiness check ok again: ") || !strings.Contains(got, "check=plugins") {
		t.Errorf("recovery logged:\n%s\nwant one 'ok again' line", got)
	}
}
