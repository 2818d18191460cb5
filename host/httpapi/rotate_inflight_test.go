package httpapi_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

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

		_, release := e.heldPoll(t, hold, "rotate-test")

		var rot struct{ Secret string }
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/webhook-secret/rotate", out.Account.ID), token: u.Token}).json(t, &rot)
		if st := release(); st.Succeeded != 1 {
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
