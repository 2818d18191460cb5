package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/httpapi"
)

// TestEveryRouteRefusesBadInput sends every operation of the router, as a caller who
// may use it (the pool's owner, or an admin on admin routes), bodies that are not what
// it takes — malformed, of the wrong JSON type, two values, oversized — and ids that
// are not ids: words, negative, zero, past int64, in other digits. Each answer is a 4xx
// problem+json whose status is its own, never a 5xx nor a success.
func TestEveryRouteRefusesBadInput(t *testing.T) {
	routed, err := httpapi.RoutedOperations(httpapi.New(httpapi.Deps{}, httpapi.WithWebhooks(nil), httpapi.WithFailures(nil)).Mux())
	must(t, err)
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		f := e.fixture()
		ids := map[string]string{
			"{poolId}": fmt.Sprint(f.pool), "{userId}": fmt.Sprint(f.target.ID), "{deviceId}": fmt.Sprint(f.device),
			"{accountId}": fmt.Sprint(f.account), "{sessionId}": fmt.Sprint(f.session), "{equipmentId}": fmt.Sprint(f.equip),
			"{failureId}": fmt.Sprint(f.failure), "{commandId}": "cmd_none", "{provider}": "generic",
		}
		fill := func(tpl string, bad string, which string) string {
			for k, v := range ids {
				if k == which {
					v = bad
				}
				tpl = strings.ReplaceAll(tpl, k, v)
			}
			return tpl
		}
		bodies := map[string]string{
			"malformed":  `{"name": `,
			"array":      `[1, 2]`,
			"string":     `"x"`,
			"two values": `{} {}`,
			"oversized":  `{"name":"` + strings.Repeat("x", 2<<20) + `"}`,
			"wrong type": `{"name": 1, "role": 2, "poolId": "x", "deviceId": "x", "kind": 3, "command": 4, "email": 5, "input": 6, "config": 7, "method": 8}`,
		}
		badIDs := []string{"abc", "-1", "0", "9223372036854775808", "99999999999999999999999", "1e3", "0x10", "%EF%BC%91", "1%20", "%00"}
		check := func(what string, r response, okStatus ...int) {
			t.Helper()
			for _, s := range okStatus {
				if r.StatusCode == s {
					return
				}
			}
			if r.StatusCode < 400 || r.StatusCode >= 500 {
				t.Errorf("%s: status %d: %s", what, r.StatusCode, r.Body)
				return
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s: %d answered as %q: %.200s", what, r.StatusCode, ct, r.Body)
				return
			}
			var p httpapi.Problem
			r.json(t, &p)
			if p.Status != r.StatusCode {
				t.Errorf("%s: problem status %d on a %d", what, p.Status, r.StatusCode)
			}
		}
		for _, op := range routed {
			method, tpl, _ := strings.Cut(op, " ")
			token := f.users["owner"].Token
			if strings.HasPrefix(tpl, "/v1/admin/") {
				token = f.users["admin"].Token
			}
			if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
				for name, b := range bodies {
					r := e.do(req{method: method, path: fill(tpl, "", ""), token: token, body: b})
					// Routes that read no body (or let the plugin judge it) may succeed.
					check(op+" with a "+name+" body", r, http.StatusOK, http.StatusCreated, http.StatusNoContent)
				}
			}
			for k := range ids {
				if k == "{provider}" || k == "{commandId}" || !strings.Contains(tpl, k) {
					continue
				}
				for _, bad := range badIDs {
					r := e.do(req{method: method, path: fill(tpl, bad, k), token: token, body: map[string]any{}})
					check(fmt.Sprintf("%s with %s=%s", op, k, bad), r)
				}
			}
		}
	})
}
