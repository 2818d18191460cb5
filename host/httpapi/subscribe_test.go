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
	"time"
	"unicode/utf8"

	"github.com/poolhost/poolhost/host/connect"
)

// subscriptionCloud is a fake provider cloud taking per-account callback
// subscriptions: a POST registers the URL in the body, a DELETE removes it.
type subscriptionCloud struct {
	*httptest.Server
	down atomic.Bool // answer 503
	// failPosts answers that many POSTs 503 (counting down), noting each in failed.
	failPosts atomic.Int64
	mu        sync.Mutex
	log       []string // "POST <url>", "DELETE <url>"
	failed    []string // "POST <url>" answered 503
	// at, when set, notes when each request came (the test's simulated clock).
	at    func() time.Time
	times []time.Time // of every POST, failed or not
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
		defer c.mu.Unlock()
		if r.Method == http.MethodPost && c.at != nil {
			c.times = append(c.times, c.at())
		}
		if r.Method == http.MethodPost && c.failPosts.Add(-1) >= 0 {
			c.failed = append(c.failed, r.Method+" "+string(b))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		c.log = append(c.log, r.Method+" "+string(b))
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *subscriptionCloud) calls() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "; ")
}

// subscribedAccount is an account as the API shows it, with its subscription's outcome.
type subscribedAccount struct {
	accountView
	SubscriptionError    string     `json:"subscriptionError"`
	SubscriptionAttempts int        `json:"subscriptionAttempts"`
	SubscriptionRetryAt  *time.Time `json:"subscriptionRetryAt"`
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

// TestSubscriptionRetriedWithBackoff: a subscription that fails at connect is retried in
// the background (connect.SubscriptionWorker) with the poll worker's backoff, over a
// day of simulated time on the store's clock: the account shows the error, the failures
// in a row and when the next attempt is due; the registration that finally succeeds
// clears them, and nothing is tried after it. An account whose subscription worked is
// never called again, and a second replica's worker stands by.
func TestSubscriptionRetriedWithBackoff(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := newSubscriptionCloud(t)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"subscribe_url": cloud.URL}})
		now := func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }
		cloud.mu.Lock()
		cloud.at = now
		cloud.mu.Unlock()
		u := e.newUser("u", false)
		connectKey := func(key string) subscribedAccount {
			var out struct {
				Account subscribedAccount `json:"account"`
			}
			e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
				body: map[string]any{"input": map[string]string{"api_key": key}}}).json(t, &out)
			return out.Account
		}
		// The quiet account: registered at connect, never again.
		quiet := connectKey("quiet")
		if quiet.SubscriptionError != "" || quiet.SubscriptionRetryAt != nil {
			t.Fatalf("quiet account = %+v, want it registered", quiet)
		}

		const failures = 8 // the one at connect and seven retries
		cloud.failPosts.Store(failures)
		acc := connectKey("flaky")
		if !strings.Contains(acc.SubscriptionError, "503") || acc.SubscriptionAttempts != 1 || acc.SubscriptionRetryAt == nil {
			t.Fatalf("connect answer account = %+v, want the 503, one failure and a next attempt", acc)
		}
		accPath := fmt.Sprintf("/v1/accounts/%d", acc.ID)

		w, standby := connect.NewSubscriptionWorker(e.connect), connect.NewSubscriptionWorker(e.connect)
		ctx := t.Context()
		step := 2 * time.Minute
		seen := 0                      // POSTs of the flaky account seen so far
		for i := 0; i < 24*60/2; i++ { // a day: the whole schedule is at most 20 hours
			e.offset.Add(int64(step))
			leader, _, err := w.Tick(ctx)
			if err != nil || !leader {
				t.Fatalf("tick %d: leader %v, %v", i, leader, err)
			}
			if l, st, err := standby.Tick(ctx); err != nil || l || st.Tried != 0 {
				t.Fatalf("standby replica: leader %v, tried %d, %v; want it standing by", l, st.Tried, err)
			}
			cloud.mu.Lock()
			n := len(cloud.times) - 2 // less the two connects
			cloud.mu.Unlock()
			if n == seen {
				continue
			}
			seen = n
			var got subscribedAccount
			e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &got)
			if n < failures {
				// Failed again: shown, counted, and due later.
				if !strings.Contains(got.SubscriptionError, "503") || got.SubscriptionAttempts != n+1 ||
					got.SubscriptionRetryAt == nil || !got.SubscriptionRetryAt.After(now()) {
					t.Fatalf("after retry %d GET account = %+v (now %v), want the error, %d failures and a next attempt ahead",
						n, got, now(), n+1)
				}
			} else if got.SubscriptionError != "" || got.SubscriptionAttempts != 0 || got.SubscriptionRetryAt != nil {
				t.Fatalf("after the successful retry GET account = %+v, want no error and nothing due", got)
			}
		}

		cloud.mu.Lock()
		times, failed, log := cloud.times, cloud.failed, strings.Join(cloud.log, "; ")
		cloud.mu.Unlock()
		if want := "POST " + quiet.WebhookURL + "; POST " + acc.WebhookURL; log != want {
			t.Fatalf("cloud registered %q, want %q: each account once, the quiet one never again", log, want)
		}
		if len(failed) != failures || len(times) != failures+2 {
			t.Fatalf("cloud saw %d failed and %d POSTs in all, want %d and %d", len(failed), len(times), failures, failures+2)
		}
		// The gaps between attempts: the backoff of a failing poll, from
		// SubscriptionRetryBase doubling up to SubscriptionRetryMax, ±20% jitter, within
		// the tick's step.
		for k := 1; k <= failures; k++ {
			gap := times[k+1].Sub(times[k])
			d := min(connect.SubscriptionRetryBase<<(k-1), connect.SubscriptionRetryMax)
			lo, hi := time.Duration(float64(d)*0.8), time.Duration(float64(d)*1.2)+step
			if gap < lo || gap > hi {
				t.Errorf("attempt %d came %v after the previous, want between %v and %v", k+1, gap, lo, hi)
			}
		}
	})
}

// TestSubscriptionAttemptsResetOnReconnect: the failures in a row restart when the user
// reconnects the account (a fresh linkage) and when a registration succeeds, so a
// reconnect never inherits the long wait of an old run of failures.
func TestSubscriptionAttemptsResetOnReconnect(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := newSubscriptionCloud(t)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"subscribe_url": cloud.URL}})
		now := func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }
		u := e.newUser("u", false)
		reconnect := func() subscribedAccount {
			var out struct {
				Account subscribedAccount `json:"account"`
			}
			e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
				body: map[string]any{"input": map[string]string{"api_key": "flaky"}}}).json(t, &out)
			return out.Account
		}
		w := connect.NewSubscriptionWorker(e.connect)
		retry := func() { // one retry: past any backoff, then a tick
			t.Helper()
			e.offset.Add(int64(connect.SubscriptionRetryMax * 2))
			if leader, st, err := w.Tick(t.Context()); err != nil || !leader || st.Tried != 1 {
				t.Fatalf("tick: leader %v, tried %d, %v; want one retry", leader, st.Tried, err)
			}
		}
		// A cap on the first wait: SubscriptionRetryBase, +20% jitter, with a margin for
		// the time the request took.
		firstWait := func(got subscribedAccount) bool {
			return got.SubscriptionRetryAt != nil && got.SubscriptionRetryAt.Sub(now()) <= connect.SubscriptionRetryBase*6/5
		}

		cloud.failPosts.Store(4) // the connect, two retries, and the reconnect
		acc := reconnect()
		retry()
		retry()
		accPath := fmt.Sprintf("/v1/accounts/%d", acc.ID)
		var got subscribedAccount
		e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &got)
		if got.SubscriptionAttempts != 3 {
			t.Fatalf("after three failures GET account = %+v, want 3 attempts", got)
		}

		// The user reconnects while the cloud still fails: one failure, the first wait.
		again := reconnect()
		if again.ID != acc.ID {
			t.Fatalf("reconnect made account %d, want %d again", again.ID, acc.ID)
		}
		got = subscribedAccount{}
		e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &got)
		if !strings.Contains(got.SubscriptionError, "503") || got.SubscriptionAttempts != 1 || !firstWait(got) {
			t.Fatalf("after a reconnect GET account = %+v (now %v), want the error, 1 attempt and the first wait (%v)",
				got, now(), connect.SubscriptionRetryBase)
		}
		if again.SubscriptionAttempts != 1 || !firstWait(again) {
			t.Errorf("reconnect answer account = %+v, want 1 attempt and the first wait", again)
		}

		// The retry succeeds: nothing counted, nothing due.
		retry()
		got = subscribedAccount{}
		e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &got)
		if got.SubscriptionError != "" || got.SubscriptionAttempts != 0 || got.SubscriptionRetryAt != nil {
			t.Fatalf("after a successful retry GET account = %+v, want no error, 0 attempts, nothing due", got)
		}
		// A later failure counts from one again.
		cloud.failPosts.Store(1)
		if again = reconnect(); again.SubscriptionAttempts != 1 || !firstWait(again) {
			t.Fatalf("a failure after a success = %+v, want 1 attempt and the first wait", again)
		}
	})
}

// TestSubscriptionErrorCapped: a plugin relays what the provider's cloud answered when
// a registration fails, and the host shows it on the account: capped, however much the
// cloud (or the plugin) said, in the connect answer and on every later read.
func TestSubscriptionErrorCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, strings.Repeat("é", 100<<10))
		}))
		t.Cleanup(cloud.Close)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"subscribe_url": cloud.URL}})
		u := e.newUser("u", false)
		var out struct {
			Account struct {
				ID                int64  `json:"id"`
				SubscriptionError string `json:"subscriptionError"`
			} `json:"account"`
		}
		e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"api_key": "k1"}}}).json(t, &out)
		var got subscribedAccount
		r := e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d", out.Account.ID), token: u.Token})
		r.json(t, &got)
		for _, msg := range []string{out.Account.SubscriptionError, got.SubscriptionError} {
			if !strings.Contains(msg, "503: éé") || len(msg) > connect.MaxPluginMessageBytes+200 || !utf8.ValidString(msg) {
				t.Fatalf("subscriptionError is %d bytes (valid UTF-8: %v), want the cloud's words capped near %d", len(msg), utf8.ValidString(msg), connect.MaxPluginMessageBytes)
			}
		}
		if len(r.Body) > 4<<10 {
			t.Errorf("GET account answered %d bytes", len(r.Body))
		}
	})
}

// TestSubscriptionRetryWaitsForProvider: the background retries leave alone the failed
// subscriptions of a provider the operator disabled, removed from the configuration or
// turned webhooks off for — not tried, their attempts unspent — and take them up again
// once it takes webhooks again.
func TestSubscriptionRetryWaitsForProvider(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := newSubscriptionCloud(t)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"subscribe_url": cloud.URL}})
		u := e.newUser("u", false)
		w := connect.NewSubscriptionWorker(e.connect)
		tick := func(want connect.SubscriptionStats) {
			t.Helper()
			e.offset.Add(int64(connect.SubscriptionRetryMax * 2)) // past any backoff
			if leader, st, err := w.Tick(t.Context()); err != nil || !leader || st != want {
				t.Fatalf("tick: leader %v, %+v, %v; want %+v", leader, st, err, want)
			}
		}
		for _, way := range []string{"disabled", "removed", "webhooks off"} {
			cloud.failPosts.Store(1) // the connect
			var out struct {
				Account subscribedAccount `json:"account"`
			}
			e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
				body: map[string]any{"input": map[string]string{"api_key": way}}}).json(t, &out)
			if out.Account.SubscriptionAttempts != 1 {
				t.Fatalf("%s: connect answer account = %+v, want one failed subscription", way, out.Account)
			}
			posts := cloud.calls()

			switch way {
			case "disabled":
				e.opts.faultyDisabled = true
			case "removed":
				e.opts.faulty = false
			case "webhooks off":
				e.opts.faultyNoWebhooks = true
			}
			e.reload()
			tick(connect.SubscriptionStats{})
			tick(connect.SubscriptionStats{})
			acc, err := e.st.GetAccount(t.Context(), out.Account.ID)
			if err != nil {
				t.Fatal(err)
			}
			if acc.SubscriptionAttempts != 1 || acc.SubscriptionError != out.Account.SubscriptionError {
				t.Errorf("%s: account while its provider is off = %d attempts, error %q; want 1 and %q unchanged",
					way, acc.SubscriptionAttempts, acc.SubscriptionError, out.Account.SubscriptionError)
			}
			if c := cloud.calls(); c != posts {
				t.Errorf("%s: cloud saw %q, want nothing more than %q", way, c, posts)
			}

			e.opts.faultyDisabled, e.opts.faulty, e.opts.faultyNoWebhooks = false, true, false
			e.reload()
			tick(connect.SubscriptionStats{Tried: 1, Registered: 1})
			if c, want := cloud.calls(), "POST "+out.Account.WebhookURL; !strings.HasSuffix(c, want) {
				t.Errorf("%s: cloud saw %q after the provider came back, want it to end with %q", way, c, want)
			}
		}
	})
}

// TestSubscriptionRetrySkipsDisabledUsers: a disabled user's account is not registered
// with the provider's cloud again (as it is not polled): the user lost every grant, and
// the retry would only act for her with her credentials.
func TestSubscriptionRetrySkipsDisabledUsers(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := newSubscriptionCloud(t)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"subscribe_url": cloud.URL}})
		u := e.newUser("u", false)
		w := connect.NewSubscriptionWorker(e.connect)
		cloud.failPosts.Store(1) // the connect
		var out struct {
			Account subscribedAccount `json:"account"`
		}
		e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"api_key": "k"}}}).json(t, &out)
		if out.Account.SubscriptionAttempts != 1 {
			t.Fatalf("connect answer account = %+v, want one failed subscription", out.Account)
		}
		posts := cloud.calls()
		if _, err := e.st.DisableUser(t.Context(), u.ID); err != nil {
			t.Fatal(err)
		}
		e.offset.Add(int64(connect.SubscriptionRetryMax * 2)) // past any backoff
		if leader, st, err := w.Tick(t.Context()); err != nil || !leader || st != (connect.SubscriptionStats{}) {
			t.Fatalf("tick: leader %v, %+v, %v; want nothing tried", leader, st, err)
		}
		if c := cloud.calls(); c != posts {
			t.Errorf("cloud saw %q, want nothing more than %q", c, posts)
		}
	})
}
