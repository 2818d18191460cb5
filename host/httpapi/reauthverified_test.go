package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
)

// TestReauthAccountLosesProviderLevelDevices: the provider-level URL reaches a device
// because the provider vouched, for an account's credentials, that the account owns it.
// Once the provider refuses those credentials (the provider account's owner revoked the
// access of someone who once linked it: the account is reauth_required), that word holds
// no longer: the account's pool stops receiving the provider's deliveries for the
// device, and the owner who connects the provider account anew receives them alone
// (before, both did, however long ago the other's access ended).
func TestReauthAccountLosesProviderLevelDevices(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true})
		mallory, alice := e.newUser("mallory", false), e.newUser("alice", false)
		// Mallory once had the provider account's key and linked it.
		stale, malloryPool := e.connectFaulty(mallory, "shared")
		deliver := func(ph string, ago time.Duration) ingest.Result {
			t.Helper()
			at := time.Now().Add(-ago).UTC().Format(time.RFC3339)
			return e.delivered(e.signedTo("/v1/webhooks/faulty", genericWebhookSecret,
				fmt.Appendf(nil, `{"device_id":"d1","readings":[{"metric":"ph","value":%q,"recorded_at":%q}]}`, ph, at)))
		}
		if got := deliver("7.1", 3*time.Hour); got.Accepted != 1 {
			t.Fatalf("while the provider takes mallory's credentials: %+v, want 1 accepted", got)
		}

		// The provider refuses them now (a poll, discovery or command said sdk.Reauth).
		must(t, e.st.SetAccountStatus(context.Background(), stale.Account.ID, store.AccountReauthRequired))
		if got := deliver("7.2", 2*time.Hour); got.Accepted != 0 || got.Dropped[ingest.DropUnverifiedDevice] != 1 {
			t.Errorf("mallory's account reauth_required: %+v, want the reading dropped as unverified_device", got)
		}

		// The provider account's owner connects it herself: hers alone receives.
		_, alicePool := e.connectFaulty(alice, "shared")
		if got := deliver("7.3", time.Hour); got.Accepted != 1 {
			t.Errorf("alice's account: %+v, want 1 accepted", got)
		}
		if n := e.readingCount(mallory, malloryPool); n != 1 {
			t.Errorf("mallory's pool holds %d readings, want only the 1 from before", n)
		}
		if n := e.readingCount(alice, alicePool); n != 1 {
			t.Errorf("alice's pool holds %d readings, want 1", n)
		}
	})
}
