package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestMembersPerPoolCapped: a pool holds at most MaxMembersPerPool members (its member
// list is part of every read of the pool, and any owner adds any user unasked); adding
// another is ErrMemberLimit, a 409, until one leaves. Changing a member's role when the
// pool is full still works, and another pool has its own.
func TestMembersPerPoolCapped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "owner@x.io") // its owner is member 1
		var last int64
		for i := 1; i < store.MaxMembersPerPool; i++ {
			u, err := e.s.CreateUser(ctx, fmt.Sprintf("m%d@x.io", i), false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.SetPoolMember(ctx, f.pool.ID, u.ID, store.RoleViewer); err != nil {
				t.Fatalf("member %d: %v", i+1, err)
			}
			last = u.ID
		}
		extra, err := e.s.CreateUser(ctx, "one-too-many@x.io", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, extra.ID, store.RoleViewer); !errors.Is(err, store.ErrMemberLimit) {
			t.Fatalf("member %d: %v, want ErrMemberLimit", store.MaxMembersPerPool+1, err)
		}
		if ms, _ := e.s.ListPoolMembers(ctx, f.pool.ID); len(ms) != store.MaxMembersPerPool {
			t.Fatalf("%d members, want %d", len(ms), store.MaxMembersPerPool)
		}
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, last, store.RoleEditor); err != nil {
			t.Fatalf("a role change in a full pool: %v", err)
		}
		if _, err := e.s.RemovePoolMember(ctx, f.pool.ID, last); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, extra.ID, store.RoleViewer); err != nil {
			t.Fatalf("after one left: %v", err)
		}
		g := newFixture(t, e, "other@x.io")
		if _, err := e.s.SetPoolMember(ctx, g.pool.ID, last, store.RoleViewer); err != nil {
			t.Fatalf("another pool: %v", err)
		}
	})
}
