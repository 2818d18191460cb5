package store_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// The group commit commits at synchronous=NORMAL and syncs the WAL itself once the
// writer is handed on (sqlitesync.go). So what must hold is what FULL gave: the WAL is
// synced after the commit and before any call is answered, and every other write of the
// connection is still at FULL.
func TestSQLiteGroupCommitSyncsWALBeforeAnswering(t *testing.T) {
	e := onEngine(t, "sqlite", true)
	f := newFixture(t, e, "sync@x.io")
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	wal := strings.TrimPrefix(e.url, "sqlite:") + "-wal"

	var mu sync.Mutex
	var synced []string
	var answered atomic.Bool
	var problems []string
	restore := store.SetSyncWAL(func(path string) error {
		mu.Lock()
		defer mu.Unlock()
		synced = append(synced, path)
		if answered.Load() {
			problems = append(problems, "a call was answered before the WAL was synced")
		}
		// The commit is done: another connection reads the readings.
		var n int
		if err := e.s.DB().QueryRowContext(ctx, `SELECT count(*) FROM sensor_readings`).Scan(&n); err != nil {
			problems = append(problems, err.Error())
		} else if n == 0 {
			problems = append(problems, "the WAL was synced before the commit")
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	defer restore()

	ds := []store.DeliveryWrite{ingestDelivery(f, 1, base, time.Second, base), ingestDelivery(f, 2, base, time.Second, base)}
	got, err := e.s.WriteDeliveries(ctx, ds)
	answered.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != len(deliveryMetrics) || got[1] != len(deliveryMetrics) {
		t.Fatalf("accepted %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(synced) != 1 || synced[0] != wal {
		t.Errorf("WAL syncs %q, want one of %q", synced, wal)
	}
	for _, p := range problems {
		t.Error(p)
	}
	// The writer is back at FULL (2) for every other write.
	var level int
	if err := e.s.DB().QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != 2 {
		t.Errorf("writer's synchronous is %d after a group commit, want 2 (FULL)", level)
	}
}

// A WAL that cannot be synced answers every call of the batch with an error: nothing is
// acknowledged that may not be on disk.
func TestSQLiteGroupCommitSyncFailure(t *testing.T) {
	e := onEngine(t, "sqlite", true)
	f := newFixture(t, e, "syncfail@x.io")
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	restore := store.SetSyncWAL(func(string) error { return errors.New("disk on fire") })
	defer restore()
	_, err := e.s.WriteDeliveries(context.Background(), []store.DeliveryWrite{ingestDelivery(f, 1, base, time.Second, base)})
	if err == nil || !strings.Contains(err.Error(), "sync the WAL: disk on fire") {
		t.Fatalf("err = %v, want the sync's failure", err)
	}
}

// A URL that sets synchronous itself keeps it for the group commit too: NORMAL asked
// for no sync, EXTRA for SQLite's own.
func TestSQLiteOwnSynchronousKept(t *testing.T) {
	for _, level := range []string{"NORMAL", "EXTRA"} {
		t.Run(level, func(t *testing.T) {
			e := onEngine(t, "sqlite", true)
			e.s.Close()
			e.url += "?_pragma=synchronous(" + level + ")"
			e.s = e.open(t)
			f := newFixture(t, e, "own@x.io")
			base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var syncs atomic.Int32
			restore := store.SetSyncWAL(func(string) error { syncs.Add(1); return nil })
			defer restore()
			if _, err := e.s.WriteDeliveries(context.Background(), []store.DeliveryWrite{ingestDelivery(f, 1, base, time.Second, base)}); err != nil {
				t.Fatal(err)
			}
			if n := syncs.Load(); n != 0 {
				t.Errorf("%d WAL syncs by the group commit, want none", n)
			}
		})
	}
}
