package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestSetUserAdmin: the admin role is granted and taken on both engines (is_admin is a
// BOOLEAN on PostgreSQL, a 0/1 column on SQLite, and the update compares it with the
// wanted value), a repeated change reports no change, an unknown user is ErrNotFound,
// and the user's token follows at once.
func TestSetUserAdmin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ana@example.com")
		token, _, err := e.s.CreateAPIToken(ctx, f.user.ID, "laptop")
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct{ admin, changed bool }{
			{true, true}, {true, false}, {false, true}, {false, false},
		} {
			changed, err := e.s.SetUserAdmin(ctx, f.user.ID, step.admin)
			if err != nil || changed != step.changed {
				t.Fatalf("SetUserAdmin(%v) = %v %v, want changed %v", step.admin, changed, err, step.changed)
			}
			u, _, err := e.s.AuthenticateToken(ctx, token)
			if err != nil || u.IsAdmin != step.admin {
				t.Fatalf("after SetUserAdmin(%v) the token's user = %+v %v", step.admin, u, err)
			}
		}
		if _, err := e.s.SetUserAdmin(ctx, 999, true); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SetUserAdmin of an unknown user: %v, want ErrNotFound", err)
		}
	})
}
