package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// 00037: each pool stored before it counts, for ingest { max_pools_per_user }, for its
// earliest owner still there (not its other owners, editors or viewers); pools made after
// it count for whoever created them; down and up again keep the pools.
func TestPoolCreatorMigration(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, false)
			if err := e.s.MigrateUpTo(ctx, 36); err != nil {
				t.Fatal(err)
			}
			first, err := e.s.CreateUser(ctx, "first@x.io", false)
			if err != nil {
				t.Fatal(err)
			}
			second, err := e.s.CreateUser(ctx, "second@x.io", false)
			if err != nil {
				t.Fatal(err)
			}
			db := e.s.DB()
			t0 := e.clock.Now()
			pool := func(name string, members ...any) int64 {
				t.Helper()
				var id int64
				if err := db.GetContext(ctx, &id, db.Rebind(`INSERT INTO pools (name, created_at) VALUES (?, ?) RETURNING id`), name, t0); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < len(members); i += 3 {
					if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO pool_members (pool_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`),
						id, members[i], members[i+1], members[i+2]); err != nil {
						t.Fatal(err)
					}
				}
				return id
			}
			// first joined before second as owners; second's own pool has first as a viewer.
			shared := pool("shared", second.ID, "owner", t0.Add(time.Minute), first.ID, "owner", t0)
			own := pool("second's", second.ID, "owner", t0, first.ID, "viewer", t0.Add(-time.Minute))
			if _, err := e.s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			createdBy := func(id int64) int64 {
				t.Helper()
				var by int64
				if err := db.GetContext(ctx, &by, db.Rebind(`SELECT created_by FROM pools WHERE id = ?`), id); err != nil {
					t.Fatal(err)
				}
				return by
			}
			if got := createdBy(shared); got != first.ID {
				t.Errorf("the shared pool counts for user %d, want its earliest owner %d", got, first.ID)
			}
			if got := createdBy(own); got != second.ID {
				t.Errorf("second's pool counts for user %d, want %d", got, second.ID)
			}
			// Each has created one: a cap of 2 leaves each one more.
			for _, u := range []store.User{first, second} {
				p, err := e.s.CreateOwnedPool(ctx, "another", u.ID, 2)
				if err != nil {
					t.Fatalf("user %d's second pool: %v", u.ID, err)
				}
				if got := createdBy(p.ID); got != u.ID {
					t.Errorf("a new pool counts for user %d, want %d", got, u.ID)
				}
				if _, err := e.s.CreateOwnedPool(ctx, "a third", u.ID, 2); !errors.Is(err, store.ErrPoolLimit) {
					t.Errorf("user %d's third pool: %v, want ErrPoolLimit", u.ID, err)
				}
			}
			if err := e.s.MigrateDownTo(ctx, 36); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM pools`); err != nil || n != 4 {
				t.Fatalf("after down: %d pools, %v", n, err)
			}
			if _, err := e.s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if got := createdBy(shared); got != first.ID {
				t.Errorf("up again: the shared pool counts for user %d, want %d", got, first.ID)
			}
		})
	}
}
