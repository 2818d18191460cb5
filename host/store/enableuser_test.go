package store_test

import (
	"context"
	"errors"
	"testing"

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
