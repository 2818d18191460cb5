package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
)

// A provider that refuses for now and says for how long (iopool's 429 with Retry-After)
// makes connect and discover answer 503 with that Retry-After, not the default 5
// seconds: an app retrying in 5 seconds would only have the plugin ask again.
func TestProviderRetryAfterReachesTheApp(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		fake := iopooltest.NewServer(t)
		e := newEnv(t, dbURL, envOpts{iopool: true, iopoolURL: fake.URL})
		u := e.newUser("u", false)
		var conn struct {
			Account struct{ ID int64 } `json:"account"`
		}
		e.must(http.StatusCreated, req{method: "POST", path: "/v1/providers/iopool/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"api_key": iopooltest.APIKey}}}).json(t, &conn)

		fake.SetStatus(http.StatusTooManyRequests)
		fake.SetRetryAfter("3600")
		resp := e.must(http.StatusServiceUnavailable, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", conn.Account.ID), token: u.Token})
		if got := resp.Header.Get("Retry-After"); got != "3600" {
			t.Errorf("discover: Retry-After %q, want the provider's 3600", got)
		}
		resp = e.must(http.StatusServiceUnavailable, req{method: "POST", path: "/v1/providers/iopool/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"api_key": iopooltest.APIKey}}})
		if got := resp.Header.Get("Retry-After"); got != "3600" {
			t.Errorf("connect: Retry-After %q, want the provider's 3600", got)
		}
		// Without one, the default stands.
		fake.SetRetryAfter("")
		resp = e.must(http.StatusServiceUnavailable, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", conn.Account.ID), token: u.Token})
		if got := resp.Header.Get("Retry-After"); got != "5" {
			t.Errorf("discover without the provider's: Retry-After %q, want 5", got)
		}
	})
}
