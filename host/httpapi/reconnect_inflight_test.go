package httpapi_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/poll"
)

// TestReconnectOutlivesAPollInFlight: an owner reconnects a provider account (to
// re-authorise it, or after disconnecting it) while a poll of it is with the plugin. The
// plugin answers the old connection's credentials, tokens refreshed ("token" t1), and the
// host stores refreshed tokens even when the poll's lease is gone (with rotating refresh
// tokens the stored pair is dead). They must not replace the reconnect's credentials: a
// provider that revoked the old tokens at the reconnect would leave the account broken
// again, the owner's fresh authorisation thrown away. Nor may the provider's rejection of
// the replaced connection's tokens mark the reconnected account reauth_required.
func TestReconnectOutlivesAPollInFlight(t *testing.T) {
	for _, tc := range []struct {
		name       string
		disconnect bool       // before reconnecting
		revoked    bool       // the provider rejects the old connection's tokens (reauth)
		want       poll.Stats // of the held poll's tick
	}{
		// The poll's lease is kept across a reconnect: its readings and cursor commit,
		// with the refreshed credentials left out.
		{name: "reconnect", want: poll.Stats{Claimed: 1, Succeeded: 1}},
		// A disconnect ends the poll's lease: nothing is stored but the refreshed
		// credentials, and those not either.
		{name: "disconnect and reconnect", disconnect: true, want: poll.Stats{Claimed: 1, LeaseLost: 1}},
		// The provider revoked the old tokens at the reconnect, so the held poll's
		// call fails as reauth: a failed poll, due again at once, the account active.
		{name: "reconnect after the provider revoked the old tokens", revoked: true, want: poll.Stats{Claimed: 1, Failed: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, dbURL string) {
				hold := filepath.Join(t.TempDir(), "hold")
				e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"hold_file": hold}})
				u := e.newUser("owner", false)
				out, _ := e.connectFaulty(u, "k1")
				if tc.revoked {
					old, err := e.st.AccountCredentials(context.Background(), out.Account.ID)
					must(t, err)
					old["fail"] = "reauth"
					must(t, e.st.UpdateAccountCredentials(context.Background(), out.Account.ID, old))
				}
				w, release := e.heldPoll(t, hold, "reconnect-test")

				accPath := fmt.Sprintf("/v1/accounts/%d", out.Account.ID)
				if tc.disconnect {
					e.must(204, req{method: "DELETE", path: accPath, token: u.Token})
				}
				var again struct {
					Account accountView `json:"account"`
				}
				e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
					body: map[string]any{"input": map[string]string{"api_key": "k1"}}}).json(t, &again)
				if again.Account.ID != out.Account.ID {
					t.Fatalf("the reconnect made account %d, want the same account %d", again.Account.ID, out.Account.ID)
				}
				reconnected, err := e.st.AccountCredentials(context.Background(), out.Account.ID)
				must(t, err)
				if reconnected["token"] != "" || reconnected["webhook_secret"] == "" {
					t.Fatalf("the reconnect's credentials: token %q, a webhook secret: %v", reconnected["token"], reconnected["webhook_secret"] != "")
				}

				if st := release(); st != tc.want {
					t.Errorf("the held poll: %+v, want %+v", st, tc.want)
				}
				got, err := e.st.AccountCredentials(context.Background(), out.Account.ID)
				must(t, err)
				if !maps.Equal(got, reconnected) {
					t.Errorf("after the held poll the account's credentials are not the reconnect's: token %q (the replaced connection's refresh is t1)",
						got["token"])
				}
				var acc struct{ Status string }
				e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &acc)
				if acc.Status != "active" {
					t.Errorf("account status after the held poll: %q", acc.Status)
				}
				if tc.revoked {
					// Polled again at once, with the reconnect's credentials.
					if st, err := w.Tick(context.Background()); err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
						t.Errorf("the next tick: %+v, %v; want the account polled with the new credentials", st, err)
					}
				}
			})
		})
	}
}

// heldPoll starts a poll worker's tick on the faulty plugin, configured with hold_file
// hold, and returns once the plugin is inside the poll, holding it. release lets the
// poll answer and returns the tick's figures.
func (e *env) heldPoll(t *testing.T, hold, owner string) (w *poll.Worker, release func() poll.Stats) {
	t.Helper()
	w = poll.New(poll.Deps{
		Store: e.st, Ingest: ingest.New(e.st, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil),
		Plugins: e.mgr, Providers: e.pollingFaulty, Logger: hclog.NewNullLogger(),
	}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: owner, Now: time.Now, Rand: func() float64 { return 0.5 }})
	must(t, os.WriteFile(hold, nil, 0o600))
	done := make(chan poll.Stats, 1)
	go func() {
		st, _ := w.Tick(context.Background())
		done <- st
	}()
	// Bounded far past what a slow box needs: it fails only if the plugin is never polled.
	deadline := time.Now().Add(30 * time.Second)
	for _, err := os.Stat(hold + ".polling"); err != nil; _, err = os.Stat(hold + ".polling") {
		if time.Now().After(deadline) {
			t.Fatal("the plugin was not polled within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return w, func() poll.Stats {
		must(t, os.Remove(hold))
		return <-done
	}
}

// pollingFaulty is the providers in force with the faulty one polled.
func (e *env) pollingFaulty() []config.Provider {
	var ps []config.Provider
	for _, p := range e.cfg.Load().Providers {
		if p.ID == "faulty" {
			p.Poll = true
		}
		ps = append(ps, p)
	}
	return ps
}
