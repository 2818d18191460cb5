package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

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
