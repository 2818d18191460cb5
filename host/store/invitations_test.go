package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// An invitation makes a member only when accepted with its role, before it expires,
// while its inviter is still an active owner of the pool; accepting uses it up, and a
// refused role leaves it in place.
func TestPoolInvitations(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "owner@x.io")
		user := func(email string) int64 {
			t.Helper()
			u, err := e.s.CreateUser(ctx, email, false)
			if err != nil {
				t.Fatal(err)
			}
			return u.ID
		}
		invite := func(by, who int64, role store.Role, ttl time.Duration) {
			t.Helper()
			if err := e.s.InvitePoolMember(ctx, f.pool.ID, who, by, role, e.clock.Now().Add(ttl)); err != nil {
				t.Fatal(err)
			}
		}
		ana, ben, cy, co := user("ana@x.io"), user("ben@x.io"), user("cy@x.io"), user("co@x.io")

		// Accepted with its role: a member, and the invitation is gone.
		invite(f.user.ID, ana, store.RoleEditor, time.Hour)
		if r, err := e.s.AcceptPoolInvitation(ctx, f.pool.ID, ana, store.RoleOwner); !errors.Is(err, store.ErrConflict) || r != store.RoleEditor {
			t.Fatalf("accept as owner = %q, %v; want editor, conflict", r, err)
		}
		if _, err := e.s.AcceptPoolInvitation(ctx, f.pool.ID, ana, store.RoleEditor); err != nil {
			t.Fatalf("accept = %v", err)
		}
		if r, err := e.s.PoolRole(ctx, f.pool.ID, ana); err != nil || r != store.RoleEditor {
			t.Fatalf("ana's role = %q, %v", r, err)
		}
		if _, err := e.s.AcceptPoolInvitation(ctx, f.pool.ID, ana, store.RoleEditor); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second accept = %v, want not found", err)
		}

		// Expired.
		invite(f.user.ID, ben, store.RoleViewer, time.Hour)
		e.clock.Advance(time.Hour)
		if _, err := e.s.AcceptPoolInvitation(ctx, f.pool.ID, ben, store.RoleViewer); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("accept after expiry = %v, want not found", err)
		}

		// The inviter is no longer an owner, or is disabled.
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, co, store.RoleOwner); err != nil {
			t.Fatal(err)
		}
		invite(co, cy, store.RoleViewer, time.Hour)
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, co, store.RoleEditor); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.AcceptPoolInvitation(ctx, f.pool.ID, cy, store.RoleViewer); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("accept from a demoted inviter = %v, want not found", err)
		}
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, co, store.RoleOwner); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.DisableUser(ctx, co); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.AcceptPoolInvitation(ctx, f.pool.ID, cy, store.RoleViewer); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("accept from a disabled inviter = %v, want not found", err)
		}
		if _, err := e.s.PoolRole(ctx, f.pool.ID, cy); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cy is a member: %v", err)
		}
	})
}
