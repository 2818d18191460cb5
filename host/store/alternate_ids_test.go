package store_test

import (
	"context"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestUpsertAccountAlternateIDs: what PLUGINS.md and adapter.proto promise of
// Linkage.AlternateAccountIDs. With no account under the new id, the first account
// linked under an alternate, in the list's order, is renewed (not a second one linked);
// it keeps the id it was linked under, and its new credentials read back under it.
func TestUpsertAccountAlternateIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, err := e.s.CreateUser(ctx, "alt@example.com", false)
		if err != nil {
			t.Fatal(err)
		}
		link := func(ext string, alts ...string) (store.Account, bool) {
			t.Helper()
			a, created, err := e.s.UpsertAccount(ctx, store.NewAccount{
				UserID: u.ID, Provider: "acme", ExternalAccountID: ext, AlternateAccountIDs: alts,
				DisplayName: "Acme", Credentials: map[string]string{"access_token": "tok-" + ext},
			})
			if err != nil {
				t.Fatal(err)
			}
			return a, created
		}
		a, _ := link("alt-a")
		b, _ := link("alt-b")

		got, created := link("new", "missing", "alt-b", "alt-a")
		if created || got.ID != b.ID || got.ExternalAccountID != "alt-b" {
			t.Fatalf("renewed %+v (created %v), want account %d still under alt-b", got, created, b.ID)
		}
		_, creds, err := e.s.AccountWithCredentials(ctx, b.ID, "acme")
		if err != nil || creds["access_token"] != "tok-new" {
			t.Fatalf("credentials of the renewed account: %v, %v", creds, err)
		}
		if got, _ := link("new2", "alt-a"); got.ID != a.ID {
			t.Errorf("alt-a renewed account %d, want %d", got.ID, a.ID)
		}
		// An id linked already wins over its alternates.
		if got, created := link("alt-b", "alt-a"); created || got.ID != b.ID {
			t.Errorf("reconnect under alt-b: account %d (created %v), want %d", got.ID, created, b.ID)
		}
		if _, created := link("fresh", "nowhere"); !created {
			t.Error("no account under the id or an alternate: want a new one")
		}
	})
}
