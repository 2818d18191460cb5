package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
)

// heldUpstream sits in front of the Ondilo fake and holds every API request made after a
// token refresh until release: the poll has rotated the account's tokens and waits on
// its upstream.
type heldUpstream struct {
	*httptest.Server
	held    chan struct{} // closed when a request is held
	release chan struct{}

	mu        sync.Mutex
	refreshed bool
	once      sync.Once
}

func newHeldUpstream(t *testing.T, target string) *heldUpstream {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	h := &heldUpstream{held: make(chan struct{}), release: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.mu.Lock()
			hold := h.refreshed
			h.mu.Unlock()
			if hold {
				h.once.Do(func() { close(h.held) })
				select {
				case <-h.release:
				case <-r.Context().Done():
					return
				}
			}
		}
		proxy.ServeHTTP(w, r)
		if r.URL.Path == "/oauth2/token" {
			h.mu.Lock()
			h.refreshed = true
			h.mu.Unlock()
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// TestSIGTERMMidPollKeepsRotatedTokens: serve is sent SIGTERM while its poll worker polls
// an Ondilo account through the real plugin process, after the plugin has refreshed the
// account's tokens (the provider revoking the old pair) and while it waits on the
// provider's API. The call is let answer, before the plugins stop, and the host stores
// what it answered: the rotated pair, which the provider still accepts, and the
// readings. Cut short at the stop, as it was, the call answered nothing and the host
// kept the revoked pair: the account could no longer poll.
func TestSIGTERMMidPollKeepsRotatedTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	ctx := context.Background()
	b := buildE2E(t)
	fake := ondilotest.NewServer(t)
	fake.RotateRefreshTokens()
	at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second).Format("2006-01-02 15:04:05")
	v := func(f float64) *float64 { return &f }
	fake.SetMeasures(ondilotest.SamplePoolID, []ondilotest.Measure{
		{DataType: "ph", Value: v(7.3), ValueTime: at, IsValid: true},
		{DataType: "orp", Value: v(700), ValueTime: at, IsValid: true},
	})
	upstream := newHeldUpstream(t, fake.URL)
	c := writeE2EConfig(t, b, func(s string) string {
		return strings.Replace(s, `provider "ondilo" {`, `provider "ondilo" {
  settings = { base_url = "`+upstream.URL+`" }`, 1)
	})

	// The account, stored before serve starts, is due at once; its access token has
	// expired, so the poll refreshes first.
	cfg, err := config.Load(c.path)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring(cfg)
	if err != nil {
		t.Fatal(err)
	}
	open := func() *store.Store {
		t.Helper()
		st, err := store.Open(ctx, c.dbURL, store.WithCipher(kr))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	access, refresh := fake.IssueTokens()
	w := ingesttest.Seed(t, st, "ondilo", "ico@example.com", map[string]string{
		"access_token": access, "refresh_token": refresh, "expiry": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
	}, []string{ondilotest.SampleDeviceUUID}, nil)
	st.Close()

	srv := startServe(t, b, c)
	select {
	case <-upstream.held:
	case <-time.After(e2eWait):
		t.Fatalf("no poll reached the provider's API after a refresh within %v\n%s", e2eWait, srv.out.String())
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The worker has stopped once /readyz says the replica drains: only then does the
	// provider answer.
	deadline := time.Now().Add(e2eWait)
	for {
		status, _, err := tryGet(c.baseURL+"/readyz", "")
		if err == nil && status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz did not turn 503 after SIGTERM: %d %v", status, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(upstream.release)
	if code := srv.wait(t); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM\n%s", code, srv.out.String())
	}

	st = open()
	defer st.Close()
	creds, err := st.AccountCredentials(ctx, w.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := fake.TokenRequests("refresh_token"); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	// The stored refresh token is the live one: the provider takes it.
	resp, err := http.PostForm(fake.URL+"/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "client_id": {ondilotest.ClientID}, "refresh_token": {creds["refresh_token"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if creds["refresh_token"] == refresh || resp.StatusCode != http.StatusOK {
		t.Fatalf("stored refresh token refused by the provider (%d; still the revoked one: %v)\n%s",
			resp.StatusCode, creds["refresh_token"] == refresh, srv.out.String())
	}
	if n := ingesttest.CountReadings(t, st); n != 2 {
		t.Fatalf("%d readings stored, want the held poll's 2", n)
	}
	ps, err := st.GetPollState(ctx, w.Account.ID)
	if err != nil || ps.LeaseOwner != "" || ps.Cursor == "" || ps.ConsecutiveErrors != 0 {
		t.Fatalf("poll state %+v (%v), want the held poll completed", ps, err)
	}
}
