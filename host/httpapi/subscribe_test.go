package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// subscriptionCloud is a fake provider cloud taking per-account callback
// subscriptions: a POST registers the URL in the body, a DELETE removes it.
type subscriptionCloud struct {
	*httptest.Server
	down atomic.Bool // answer 503
	mu   sync.Mutex
	log  []string // "POST <url>", "DELETE <url>"
}

func newSubscriptionCloud(t *testing.T) *subscriptionCloud {
	c := &subscriptionCloud{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.log = append(c.log, r.Method+" "+string(b))
		c.mu.Unlock()
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *subscriptionCloud) calls() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "; ")
}

// TestAccountWebhookSubscription: a plugin implementing sdk.Subscriber registers the
// account's own URL once the account exists; a failure shows on the account and is
// retried at its next discovery; disconnect unsubscribes it.
func TestAccountWebhookSubscription(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := newSubscriptionCloud(t)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"subscribe_url": cloud.URL}})
		u := e.newUser("u", false)

		// The provider's cloud is down at connect: the account is linked all the same,
		// and says its URL is not registered.
		cloud.down.Store(true)
		var out struct {
			Account struct {
				accountView
				SubscriptionError string `json:"subscriptionError"`
			} `json:"account"`
		}
		e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"api_key": "k1"}}}).json(t, &out)
		url := out.Account.WebhookURL
		if url == "" || !strings.Contains(out.Account.SubscriptionError, "503") {
			t.Fatalf("connect answer account = %+v, want a webhook URL and a subscription error", out.Account)
		}
		accPath := fmt.Sprintf("/v1/accounts/%d", out.Account.ID)
		var got struct {
			SubscriptionError string `json:"subscriptionError"`
		}
		e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &got)
		if got.SubscriptionError != out.Account.SubscriptionError {
			t.Errorf("GET account subscriptionError = %q, want %q", got.SubscriptionError, out.Account.SubscriptionError)
		}

		// Back up: the next discovery registers it.
		cloud.down.Store(false)
		e.must(200, req{method: "POST", path: accPath + "/discover", token: u.Token})
		got.SubscriptionError = ""
		e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &got)
		if got.SubscriptionError != "" {
			t.Errorf("after a successful retry subscriptionError = %q", got.SubscriptionError)
		}
		if c := cloud.calls(); c != "POST "+url {
			t.Fatalf("cloud saw %q, want the account URL subscribed once", c)
		}
		// A later discovery does not register it again.
		e.must(200, req{method: "POST", path: accPath + "/discover", token: u.Token})

		e.must(204, req{method: "DELETE", path: accPath, token: u.Token})
		if c, want := cloud.calls(), "POST "+url+"; DELETE "+url; c != want {
			t.Errorf("cloud saw %q, want %q", c, want)
		}
	})
}
