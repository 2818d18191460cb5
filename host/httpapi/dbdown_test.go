package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

// TestAPIReadsWhileTheDatabaseIsDown: with PostgreSQL stopped, an API read (the token
// check included) answers 503 with Retry-After and a problem saying to retry, never a 500
// "internal error"; once the server is back, the same read answers 200.
func TestAPIReadsWhileTheDatabaseIsDown(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	e := newEnv(t, cluster.NewDatabase(t), envOpts{})
	u := e.newUser("owner", false)
	poolID := e.createPool(u, "Backyard")
	path := fmt.Sprintf("/v1/pools/%d/readings", poolID)
	e.must(http.StatusOK, req{method: "GET", path: path, token: u.Token})

	if err := cluster.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	for _, r := range []req{
		{method: "GET", path: path, token: u.Token},
		{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status", poolID), token: u.Token},
		{method: "GET", path: "/v1/pools", token: u.Token},
	} {
		resp := e.do(r)
		p := resp.problem(t)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(p.Detail, "retry later") || strings.Contains(string(resp.Body), "dial") {
			t.Errorf("%s %s with the database down: %d Retry-After %q %s, want 503 with Retry-After and no driver detail",
				r.method, r.path, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Body)
		}
	}

	if err := cluster.Start(); err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	e.must(http.StatusOK, req{method: "GET", path: path, token: u.Token})
}
