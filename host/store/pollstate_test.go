package store_test

import (
	"context"
	"errors"
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

// TestPollRelease: a released claim leaves the account as it was before the claim
// (cursor, next poll, errors) and due for another worker at once; a release under a
// lease the account no longer has (its poll committed, or another worker took it over
// after the lease expired) changes nothing, so a cursor never moves back.
func TestPollRelease(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "release@x.io")
		id := f.account.ID
		claim := func(owner string) store.PollState {
			t.Helper()
			got, err := e.s.ClaimDuePolls(ctx, []string{"acme"}, owner, 1, time.Minute)
			if err != nil || len(got) != 1 || got[0].AccountID != id {
				t.Fatalf("%s claims %+v, %v; want account %d", owner, got, err, id)
			}
			return got[0]
		}
		notReleased := func(l store.Lease) {
			t.Helper()
			if err := e.s.ReleasePoll(ctx, id, l); !errors.Is(err, store.ErrLeaseLost) {
				t.Fatalf("release under %s/%s: %v, want ErrLeaseLost", l.Owner, l.Token, err)
			}
		}
		state := func() store.PollState {
			t.Helper()
			ps, err := e.s.GetPollState(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return ps
		}
		// A cursor, then an error: the state a release must leave as it is.
		first := claim("w0")
		if err := e.s.CompletePoll(ctx, id, first.Lease(), "c1", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		second := claim("w0")
		if err := e.s.FailPoll(ctx, id, second.Lease(), "boom", e.clock.Now(), nil); err != nil {
			t.Fatal(err)
		}
		before := state()

		// Released: as before the claim, and claimed by another worker at once.
		held := claim("w1")
		if err := e.s.ReleasePoll(ctx, id, held.Lease()); err != nil {
			t.Fatalf("release: %v", err)
		}
		got := state()
		if got.LeaseOwner != "" || got.LeaseToken != "" || got.LeaseExpiresAt != nil || got.Cursor != "c1" ||
			!got.NextPollAt.Equal(before.NextPollAt) || got.ConsecutiveErrors != 1 || got.LastError != "boom" ||
			got.LastPolledAt == nil || !got.LastPolledAt.Equal(*before.LastPolledAt) {
			t.Fatalf("released state = %+v, want it as before the claim: %+v", got, before)
		}
		taken := claim("w2")
		if taken.Cursor != "c1" {
			t.Fatalf("w2 polls from cursor %q, want c1", taken.Cursor)
		}
		notReleased(held.Lease()) // the old claim's token
		notReleased(store.Lease{Owner: "w2", Token: "forged"})
		if got := state(); got.LeaseOwner != "w2" || got.LeaseToken != taken.LeaseToken {
			t.Fatalf("state after stale releases = %+v, want w2's claim", got)
		}
		// Its poll committed after all (the worker's context ended during the commit):
		// the release finds the lease gone and leaves the new cursor.
		e.clock.Advance(time.Second)
		if err := e.s.CompletePoll(ctx, id, taken.Lease(), "c2", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		completed := state()
		notReleased(taken.Lease())
		if got := state(); got.Cursor != "c2" || !got.NextPollAt.Equal(completed.NextPollAt) || got.ConsecutiveErrors != 0 ||
			!got.UpdatedAt.Equal(completed.UpdatedAt) {
			t.Fatalf("committed state after a release = %+v, want %+v", got, completed)
		}

		// Taken over: w1's lease expired and w2 claimed the account. w1's late release
		// changes nothing; w2 still completes.
		stale := claim("w1")
		e.clock.Advance(2 * time.Minute)
		owner := claim("w2")
		notReleased(stale.Lease())
		if got := state(); got.LeaseOwner != "w2" || got.LeaseToken != owner.LeaseToken || got.LeaseExpiresAt == nil ||
			!got.LeaseExpiresAt.Equal(*owner.LeaseExpiresAt) {
			t.Fatalf("state taken over, after the old owner's release = %+v", got)
		}
		if err := e.s.CompletePoll(ctx, id, owner.Lease(), "c3", e.clock.Now()); err != nil {
			t.Fatalf("w2 completes: %v", err)
		}
		if got := state(); got.Cursor != "c3" {
			t.Fatalf("cursor %q, want c3", got.Cursor)
		}
	})
}
