package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestServingClaim: stores opened Serving (hosts, several replicas) share the database;
// an Exclusive open (migrate down) is refused with ErrServing while any of them is
// open, and a Serving open is refused with ErrClaimed while an Exclusive one is. Closing
// gives the claim back. On SQLite, ClaimSQLite (restore) follows the same claim.
func TestServingClaim(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		replicaA := e.open(t, store.Serving())
		replicaB := e.open(t, store.Serving())
		if _, err := store.Open(ctx, e.url, store.Exclusive()); !errors.Is(err, store.ErrServing) {
			t.Fatalf("exclusive open beside two serving stores: %v, want ErrServing", err)
		}
		path, sqlite := store.IsSQLite(e.url)
		if sqlite {
			if _, err := store.ClaimSQLite(path); !errors.Is(err, store.ErrServing) {
				t.Fatalf("ClaimSQLite beside serving stores: %v, want ErrServing", err)
			}
		}
		replicaA.Close()
		if _, err := store.Open(ctx, e.url, store.Exclusive()); !errors.Is(err, store.ErrServing) {
			t.Fatalf("exclusive open beside one serving store: %v, want ErrServing", err)
		}
		replicaB.Close()

		x, err := store.Open(ctx, e.url, store.Exclusive())
		if err != nil {
			t.Fatalf("exclusive open with no host serving: %v", err)
		}
		if _, err := store.Open(ctx, e.url, store.Serving()); !errors.Is(err, store.ErrClaimed) {
			t.Fatalf("serving open during an exclusive one: %v, want ErrClaimed", err)
		}
		x.Close()
		if sqlite {
			release, err := store.ClaimSQLite(path)
			if err != nil {
				t.Fatalf("ClaimSQLite with no host serving: %v", err)
			}
			if _, err := store.Open(ctx, e.url, store.Serving()); !errors.Is(err, store.ErrClaimed) {
				t.Fatalf("serving open during a restore: %v, want ErrClaimed", err)
			}
			release()
		}
		e.open(t, store.Serving())
	})
}

// TestServingClaimSurvivesLostSession: on PostgreSQL the claim is a session's advisory
// lock. When that session is killed (a server restart, a proxy), Ping, which the
// readiness probe runs, takes the claim again, so migrate down still sees the host.
func TestServingClaimSurvivesLostSession(t *testing.T) {
	e := newEnv(t, engines[1], false)
	ctx := context.Background()
	served := e.open(t, store.Serving())
	var killed int
	if err := e.s.DB().QueryRowContext(ctx, `
SELECT count(pg_terminate_backend(pid)) FROM pg_locks
 WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate the claim's session: %d %v", killed, err)
	}
	if err := served.Ping(ctx); err != nil {
		t.Fatalf("ping after the claim's session was lost: %v", err)
	}
	_, err := store.Open(ctx, e.url, store.Exclusive())
	if !errors.Is(err, store.ErrServing) || !strings.Contains(err.Error(), "1 host(s)") {
		t.Fatalf("exclusive open after the claim was taken again: %v, want ErrServing naming 1 host", err)
	}
}

// TestServingClaimIsNotOneOfThePool: the claim's PostgreSQL session is held for the
// Store's life, so it must not take one of the pool's connections: with a pool of one, a
// query still gets a connection instead of waiting forever.
func TestServingClaimIsNotOneOfThePool(t *testing.T) {
	e := newEnv(t, engines[1], false)
	served := e.open(t, store.Serving(), store.WithMaxOpenConns(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := served.Ping(ctx); err != nil {
		t.Fatalf("ping on a pool of one beside the claim: %v", err)
	}
	var one int
	if err := served.DB().QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		t.Fatalf("query on a pool of one beside the claim: %v", err)
	}
}
