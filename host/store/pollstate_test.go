package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// A linked account has its poll state from the transaction that links it, due at once,
// so the poll worker never has to make states (a statement per account per tick). A
// reconnect after a disconnect (which deletes the state) makes it again.
func TestPollStateMadeWithTheAccount(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "new@x.io")
		ps, err := e.s.GetPollState(ctx, f.account.ID)
		if err != nil || ps.Provider != "acme" || !ps.NextPollAt.Equal(e.clock.Now()) || ps.LeaseToken != "" {
			t.Fatalf("poll state of a new account = %+v, %v; want acme, due now", ps, err)
		}
		if got, err := e.s.ClaimDuePolls(ctx, []string{"acme"}, "p", 10, time.Minute); err != nil || len(got) != 1 {
			t.Fatalf("claim = %+v, %v; want the new account", got, err)
		}
		if _, err := e.s.DisconnectAccount(ctx, f.account.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.GetPollState(ctx, f.account.ID); err == nil {
			t.Fatal("a disconnected account kept its poll state")
		}
		e.clock.Advance(time.Hour)
		if _, _, err := e.s.UpsertAccount(ctx, store.NewAccount{UserID: f.user.ID, Provider: "acme",
			ExternalAccountID: f.account.ExternalAccountID, Credentials: map[string]string{"access_token": "again"}}); err != nil {
			t.Fatal(err)
		}
		if ps, err := e.s.GetPollState(ctx, f.account.ID); err != nil || !ps.NextPollAt.Equal(e.clock.Now()) {
			t.Fatalf("poll state after a reconnect = %+v, %v; want due now", ps, err)
		}
	})
}

// 00011 backfills the poll state of accounts linked before it (the worker used to make
// them): every account not disconnected gets one, due at once; a state that exists is
// kept as it is.
func TestPollStateBackfillMigration(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, true)
			kept := newFixture(t, e, "kept@x.io")
			missing := newFixture(t, e, "missing@x.io")
			gone := newFixture(t, e, "gone@x.io")
			if _, err := e.s.DisconnectAccount(ctx, gone.account.ID); err != nil {
				t.Fatal(err)
			}
			if err := e.s.MigrateDownTo(ctx, 10); err != nil {
				t.Fatal(err)
			}
			// Before 00011 the worker made states: one exists, with a cursor; one not.
			if _, err := e.s.DB().ExecContext(ctx, e.s.DB().Rebind(`DELETE FROM poll_state WHERE account_id = ?`), missing.account.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.DB().ExecContext(ctx, e.s.DB().Rebind(`UPDATE poll_state SET cursor = 'c-7' WHERE account_id = ?`), kept.account.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if ps, err := e.s.GetPollState(ctx, kept.account.ID); err != nil || ps.Cursor != "c-7" {
				t.Errorf("existing state = %+v, %v; want it kept", ps, err)
			}
			// Due at the migration's wall-clock now (the test's clock is not the database's).
			if ps, err := e.s.GetPollState(ctx, missing.account.ID); err != nil || ps.Provider != "acme" || ps.LeaseToken != "" ||
				time.Since(ps.NextPollAt).Abs() > time.Minute {
				t.Errorf("backfilled state = %+v, %v; want acme, due at the migration", ps, err)
			}
			if _, err := e.s.GetPollState(ctx, gone.account.ID); err == nil {
				t.Error("a disconnected account got a poll state")
			}
			if err := e.s.Verify(ctx); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}
