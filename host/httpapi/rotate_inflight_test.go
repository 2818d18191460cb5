package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// TestRotationOutlivesAPollInFlight: an owner rotates an account's webhook secret (say,
// because the old one leaked) while a poll of that account is with the plugin. The
// plugin answers the credentials it was called with, tokens refreshed, and the host
// stores them: that must not put the retired secret back as the current one (accepted
// for good) nor throw away the secret the owner was just given.
func TestRotationOutlivesAPollInFlight(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		hold := filepath.Join(t.TempDir(), "hold")
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"hold_file": hold}})
		u := e.newUser("owner", false)
		out, _ := e.connectFaulty(u, "k1")
		leaked := out.Webhook.Secret

		providers := func() []config.Provider {
			var ps []config.Provider
			for _, p := range e.cfg.Load().Providers {
				if p.ID == "faulty" {
					p.Poll = true
				}
				ps = append(ps, p)
			}
			return ps
		}
		w := poll.New(poll.Deps{
			Store: e.st, Ingest: ingest.New(e.st, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil),
			Plugins: e.mgr, Providers: providers, Logger: hclog.NewNullLogger(),
		}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "rotate-test", Now: time.Now, Rand: func() float64 { return 0.5 }})

		must(t, os.WriteFile(hold, nil, 0o600))
		done := make(chan poll.Stats, 1)
		go func() {
			st, _ := w.Tick(context.Background())
			done <- st
		}()
		deadline := time.Now().Add(30 * time.Second)
		for _, err := os.Stat(hold + ".polling"); err != nil; _, err = os.Stat(hold + ".polling") {
			if time.Now().After(deadline) {
				t.Fatal("the plugin was not polled within 30 s")
			}
			time.Sleep(10 * time.Millisecond)
		}

		var rot struct{ Secret string }
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/webhook-secret/rotate", out.Account.ID), token: u.Token}).json(t, &rot)
		must(t, os.Remove(hold))
		if st := <-done; st.Succeeded != 1 {
			t.Fatalf("the held poll: %+v, want one success", st)
		}

		creds, err := e.st.AccountCredentials(context.Background(), out.Account.ID)
		must(t, err)
		if creds["token"] != "t1" {
			t.Errorf("the poll's refreshed token was not stored: %q", creds["token"])
		}
		if creds["webhook_secret"] != rot.Secret || creds[store.PreviousWebhookSecretKey] != leaked {
			t.Errorf("after the poll the current secret is the rotated one: %v, the previous one the retired one: %v",
				creds["webhook_secret"] == rot.Secret, creds[store.PreviousWebhookSecretKey] == leaked)
		}
		if r := e.postSigned(out.Webhook.URL, "msg_rotated", "7.2", rot.Secret); r.StatusCode != 200 {
			t.Errorf("a delivery signed with the rotated secret: %d %s", r.StatusCode, r.Body)
		}
		// Once the overlap is over, the secret the owner retired opens nothing.
		e.offset.Store(int64(25 * time.Hour))
		if r := e.postSigned(out.Webhook.URL, "msg_retired", "7.3", leaked); r.StatusCode != 401 {
			t.Errorf("a delivery signed with the retired secret after the overlap: %d, want 401: %s", r.StatusCode, r.Body)
		}
	})
}
