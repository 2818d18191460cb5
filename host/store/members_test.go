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

// TestLastOwnerSurvivesConcurrentLeaves: a pool keeps an owner however its owners leave
// or are demoted at once. Owners leaving at the same instant each counted the others
// still there (PostgreSQL, read committed: none saw the others' uncommitted deletes), and
// all went, leaving a pool nobody could manage; removals and demotions alike.
func TestLastOwnerSurvivesConcurrentLeaves(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const rounds, owners = 100, 6
		for i := range rounds {
			f := newFixture(t, e, fmt.Sprintf("first%d@x.io", i))
			ids := []int64{f.user.ID}
			for j := 1; j < owners; j++ {
				u, err := e.s.CreateUser(ctx, fmt.Sprintf("owner%d-%d@x.io", i, j), false)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.s.SetPoolMember(ctx, f.pool.ID, u.ID, store.RoleOwner); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, u.ID)
			}
			start := make(chan struct{})
			errs := make(chan error, owners)
			for j, id := range ids {
				go func() {
					<-start
					var err error
					if j%2 == 0 {
						_, err = e.s.RemovePoolMember(ctx, f.pool.ID, id)
					} else {
						_, err = e.s.SetPoolMember(ctx, f.pool.ID, id, store.RoleViewer)
					}
					errs <- err
				}()
			}
			close(start)
			refused := 0
			for range owners {
				switch err := <-errs; {
				case errors.Is(err, store.ErrLastOwner):
					refused++
				case err != nil:
					t.Fatalf("round %d: %v", i, err)
				}
			}
			ms, err := e.s.ListPoolMembers(ctx, f.pool.ID)
			if err != nil {
				t.Fatal(err)
			}
			left := 0
			for _, m := range ms {
				if m.Role == store.RoleOwner {
					left++
				}
			}
			if left != 1 || refused != 1 {
				t.Fatalf("round %d: %d owners left and %d of the %d changes refused, want 1 and 1", i, left, refused, owners)
			}
		}
	})
}
