package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestEnableUser: enabling a disabled user gives them back their access but none of the
// tokens they had — revoked with it, so one that leaked (why users are disabled) stays
// dead — while a token made afterwards works; enabling an enabled user, or an unknown
// one, changes nothing.
func TestEnableUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ana@example.com")
		old, _, err := e.s.CreateAPIToken(ctx, f.user.ID, "laptop")
		if err != nil {
			t.Fatal(err)
		}
		if ok, revoked, err := e.s.EnableUser(ctx, f.user.ID); ok || revoked != 0 || err != nil {
			t.Fatalf("enable an enabled user = %v %d %v, want a no-op", ok, revoked, err)
		}
		if _, _, err := e.s.AuthenticateToken(ctx, old); err != nil {
			t.Fatalf("a no-op enable revoked the token: %v", err)
		}
		if _, err := e.s.DisableUser(ctx, f.user.ID); err != nil {
			t.Fatal(err)
		}
		ok, revoked, err := e.s.EnableUser(ctx, f.user.ID)
		if !ok || revoked != 1 || err != nil {
			t.Fatalf("enable = %v %d %v, want enabled with 1 token revoked", ok, revoked, err)
		}
		if _, _, err := e.s.AuthenticateToken(ctx, old); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the token from before the disable authenticates again: %v", err)
		}
		u, err := e.s.GetUser(ctx, f.user.ID)
		if err != nil || u.DisabledAt != nil {
			t.Fatalf("user after enable = %+v, %v", u, err)
		}
		fresh, _, err := e.s.CreateAPIToken(ctx, f.user.ID, "new laptop")
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := e.s.AuthenticateToken(ctx, fresh); err != nil || got.ID != f.user.ID {
			t.Fatalf("a new token after enable = %+v, %v", got, err)
		}
		if _, _, err := e.s.EnableUser(ctx, 999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("enable an unknown user: %v, want ErrNotFound", err)
		}
	})
}

// TestEnableUserEndsConnectsInFlight: a connect started before the disable (with a
// token that may have leaked: the reason for the disable) does not outlive it. Left,
// once the user is enabled any token of theirs would complete it (the state here names
// no token, as one made before migration 00036), a new one included: whoever held the
// old token could have logged in at the provider with an account of their own and hand
// the owner a link whose code and state their app completes, linking that account to
// them. Enabling deletes the user's states not yet used; another user's stay.
func TestEnableUserEndsConnectsInFlight(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ana@example.com")
		other := newFixture(t, e, "bo@example.com")
		started, _, err := e.s.CreateOAuthState(ctx, f.user.ID, 0, "ondilo", "http://host/cb", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		others, _, err := e.s.CreateOAuthState(ctx, other.user.ID, 0, "ondilo", "http://host/cb", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.DisableUser(ctx, f.user.ID); err != nil {
			t.Fatal(err)
		}
		if ok, _, err := e.s.EnableUser(ctx, f.user.ID); !ok || err != nil {
			t.Fatalf("enable = %v %v", ok, err)
		}
		if st, err := e.s.ConsumeOAuthState(ctx, started); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the connect started before the disable completes after the enable: %+v, %v", st, err)
		}
		if _, err := e.s.ConsumeOAuthState(ctx, others); err != nil {
			t.Fatalf("another user's connect: %v", err)
		}
	})
}

// TestRevokeUserTokensEndsConnectsInFlight: revoking all of a user's tokens (tokens
// revoke --all, what an operator does about a leaked one) ends the connects they
// started, as enabling a user does: the next token made for the user would complete
// them otherwise.
func TestRevokeUserTokensEndsConnectsInFlight(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ana@example.com")
		if _, _, err := e.s.CreateAPIToken(ctx, f.user.ID, "laptop"); err != nil {
			t.Fatal(err)
		}
		started, _, err := e.s.CreateOAuthState(ctx, f.user.ID, 0, "ondilo", "http://host/cb", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := e.s.RevokeUserTokens(ctx, f.user.ID); n != 1 || err != nil {
			t.Fatalf("revoke = %d, %v", n, err)
		}
		if st, err := e.s.ConsumeOAuthState(ctx, started); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the connect started before the revoke completes after it: %+v, %v", st, err)
		}
	})
}

// TestRevokeTokenValueEndsItsConnects: `tokens revoke --token` (RevokeAPITokenValue)
// ends the connects that token started, and only those: another token's, and one
// started with no token, stay.
func TestRevokeTokenValueEndsItsConnects(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ana@example.com")
		leaked, lt, err := e.s.CreateAPIToken(ctx, f.user.ID, "leaked")
		if err != nil {
			t.Fatal(err)
		}
		_, kt, err := e.s.CreateAPIToken(ctx, f.user.ID, "kept")
		if err != nil {
			t.Fatal(err)
		}
		state := func(tokenID int64) string {
			t.Helper()
			v, _, err := e.s.CreateOAuthState(ctx, f.user.ID, tokenID, "ondilo", "http://host/cb", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		byLeaked, byKept, byNone := state(lt.ID), state(kt.ID), state(0)
		if _, err := e.s.RevokeAPITokenValue(ctx, leaked); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.ConsumeOAuthState(ctx, byLeaked); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the revoked token's connect: %v, want it gone", err)
		}
		for _, v := range []string{byKept, byNone} {
			if _, err := e.s.ConsumeOAuthState(ctx, v); err != nil {
				t.Fatalf("another connect: %v", err)
			}
		}
	})
}
