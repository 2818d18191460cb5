package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/httpapi"
)

// adminAuth accepts any token as an admin, so access levels never hide the 503.
type adminAuth struct{}

func (adminAuth) Authenticate(context.Context, string) (auth.Actor, error) {
	return auth.Actor{UserID: 1, Email: "admin@example.com", Admin: true}, nil
}

// TestUnwiredServicesAnswer503 pins the registration-time guard: with no service wired,
// every route but the process's own (health, metrics, spec) answers a 503 problem
// naming what is missing, and never reaches a handler (which would panic on nil).
func TestUnwiredServicesAnswer503(t *testing.T) {
	h := httpapi.New(httpapi.Deps{Auth: adminAuth{}}, httpapi.WithWebhooks(nil), httpapi.WithFailures(nil))
	ops, err := httpapi.RoutedOperations(h.Mux())
	must(t, err)
	self := map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /openapi.yaml": true}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, op := range ops {
		method, tpl, _ := strings.Cut(op, " ")
		r := httptest.NewRequest(method, param.ReplaceAllString(tpl, "1"), strings.NewReader("{}"))
		r.Header.Set("Authorization", "Bearer any")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if self[op] {
			if w.Code != http.StatusOK {
				t.Errorf("%s: status %d, want 200", op, w.Code)
			}
			continue
		}
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(w.Body.String(), "is not available") {
			t.Errorf("%s: status %d %q %s, want a 503 problem", op, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
	if len(ops) < 30 {
		t.Fatalf("only %d routes: the options did not register theirs", len(ops))
	}
}
