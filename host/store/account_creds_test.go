package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

func TestAccountWithCredentials(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "awc@x.io")
		acc, creds, err := e.s.AccountWithCredentials(ctx, f.account.ID, f.account.Provider)
		if err != nil {
			t.Fatal(err)
		}
		if acc.ID != f.account.ID || acc.Provider != "acme" || acc.UserID != f.user.ID || acc.Status != store.AccountActive {
			t.Errorf("account %+v, want the fixture's %+v", acc, f.account)
		}
		if creds["access_token"] != "tok-awc@x.io" {
			t.Errorf("credentials %v", creds)
		}

		if _, err := e.s.DisconnectAccount(ctx, f.account.ID); err != nil {
			t.Fatal(err)
		}
		// A disconnected account, or one of another provider, is not found (and its
		// credentials are not decrypted).
		if _, _, err := e.s.AccountWithCredentials(ctx, f.account.ID, f.account.Provider); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("disconnected: %v, want ErrNotFound", err)
		}
		if _, _, err := e.s.AccountWithCredentials(ctx, f.account.ID, "another"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another provider: %v, want ErrNotFound", err)
		}
		if _, _, err := e.s.AccountWithCredentials(ctx, 987654, f.account.Provider); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing account: %v, want ErrNotFound", err)
		}
	})
}
