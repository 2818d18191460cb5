package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
)

// TestAccountScopedCredentialsNeverStale: the store keeps what it opened of an account's
// credentials between deliveries (store/opened.go), and a change of them still holds from
// the very next delivery: a secret rotated with no overlap refuses the old one at once,
// and a disconnected account's URL refuses everything.
func TestAccountScopedCredentialsNeverStale(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			ctx := context.Background()
			path := "/v1/webhooks/generic/accounts/" + fmt.Sprint(e.mine.Account.ID)
			seq := 0
			post := func(secret string, want int) {
				t.Helper()
				seq++
				at := time.Now().UTC().Add(-time.Duration(seq) * time.Second).Format(time.RFC3339Nano)
				body := genericBody("probe", fmt.Sprintf(`{"metric": "ph", "value": 7.4, "recorded_at": %q}`, at))
				if r := e.signed(t, path, secret, fmt.Sprintf("msg_stale_%d", seq), body); r.status != want {
					t.Fatalf("delivery %d: %d %v, want %d", seq, r.status, r.body, want)
				}
			}
			post(accountSecret, http.StatusOK)
			post(accountSecret, http.StatusOK)

			const rotated = "whsec_cm90YXRlZC1zZWNyZXQtZm9yLXRoZS10ZXN0cw=="
			if _, err := e.s.RotateWebhookSecret(ctx, e.mine.Account.ID, rotated, 0); err != nil {
				t.Fatal(err)
			}
			post(accountSecret, http.StatusUnauthorized)
			post(rotated, http.StatusOK)

			if _, err := e.s.DisconnectAccount(ctx, e.mine.Account.ID); err != nil {
				t.Fatal(err)
			}
			post(rotated, http.StatusUnauthorized)
		})
	}
}
