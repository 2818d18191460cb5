package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestPendingOAuthStatesCapped: a user's pending OAuth states are capped at
// store.MaxPendingOAuthStates, not rate limit × TTL. A connect past the cap drops the
// user's oldest pending state, whose callback then answers a 400 problem saying why,
// while the newest connects complete; concurrent connects keep the cap exactly.
func TestPendingOAuthStatesCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		pending := func(u user) int {
			t.Helper()
			var n int
			if err := e.st.DB().GetContext(context.Background(), &n, e.st.DB().Rebind(
				`SELECT COUNT(*) FROM integration_oauth_states WHERE user_id = ? AND used_at IS NULL`), u.ID); err != nil {
				t.Fatal(err)
			}
			return n
		}
		connect := func(u user) string {
			var cr struct {
				AuthorizeURL string `json:"authorizeUrl"`
			}
			e.must(200, req{method: "POST", path: "/v1/providers/template/connect", token: u.Token}).json(t, &cr)
			return cr.AuthorizeURL
		}

		u := e.newUser("tabs", false)
		var urls []string
		for range store.MaxPendingOAuthStates + 1 {
			urls = append(urls, connect(u))
		}
		if n := pending(u); n != store.MaxPendingOAuthStates {
			t.Fatalf("%d pending states after %d connects, want %d", n, len(urls), store.MaxPendingOAuthStates)
		}
		first, _ := url.Parse(urls[0])
		r := e.do(req{method: "GET", path: callbackPath("x", first.Query().Get("state")), token: u.Token})
		if p := r.problem(t); r.StatusCode != http.StatusBadRequest || !strings.HasSuffix(p.Type, "oauth-state-invalid") || !strings.Contains(p.Detail, "connect again") {
			t.Fatalf("callback of the dropped state: %d %+v", r.StatusCode, p)
		}
		for _, au := range []string{urls[1], urls[len(urls)-1]} {
			code, state, err := e.acme.Authorize(au)
			if err != nil {
				t.Fatal(err)
			}
			e.must(200, req{method: "GET", path: callbackPath(code, state), token: u.Token})
		}

		v := e.newUser("racer", false)
		var wg sync.WaitGroup
		for range 2 * store.MaxPendingOAuthStates {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := e.do(req{method: "POST", path: "/v1/providers/template/connect", token: v.Token}); r.StatusCode != 200 {
					t.Errorf("concurrent connect: %d %s", r.StatusCode, r.Body)
				}
			}()
		}
		wg.Wait()
		if n := pending(v); n != store.MaxPendingOAuthStates {
			t.Fatalf("%d pending states after %d concurrent connects, want %d", n, 2*store.MaxPendingOAuthStates, store.MaxPendingOAuthStates)
		}
		if n := pending(u); n != store.MaxPendingOAuthStates-2 {
			t.Fatalf("the other user's pending states: %d, want %d", n, store.MaxPendingOAuthStates-2)
		}
	})
}
