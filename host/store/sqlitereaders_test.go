package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// The reads a webhook makes (its account, its devices) and the readings list answer
// while a write transaction is open, and see only what is committed. On SQLite they
// waited for the store's one connection, which the transaction holds: called from
// inside it they never returned (the context's bound is only a guard, far above any
// answer's time).
func TestReadsAnswerDuringWriteTransaction(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		f := newFixture(t, e, "reads@x.io")
		ctx := context.Background()
		at := e.clock.Now().Add(-time.Hour)
		err := e.s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.InsertReadings(ctx, []store.Reading{{DeviceID: f.device.ID, PoolID: f.pool.ID,
				Metric: "ph", Value: 7.4, RecordedAt: at, ReceivedAt: at}}); err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			acc, creds, err := e.s.AccountWithCredentials(rctx, f.account.ID, "acme")
			if err != nil || acc.ID != f.account.ID || creds["access_token"] != "tok-reads@x.io" {
				t.Errorf("account during a write: %+v %v, %v", acc, creds != nil, err)
			}
			ds, err := e.s.LookupDevices(rctx, store.DeviceLookup{Provider: "acme", ProviderDeviceIDs: []string{"dev-reads@x.io"}})
			if err != nil || len(ds) != 1 || ds[0].ID != f.device.ID {
				t.Errorf("devices during a write: %+v, %v", ds, err)
			}
			rs, _, err := e.s.ListReadings(rctx, store.ReadingQuery{PoolID: f.pool.ID})
			if err != nil || len(rs) != 0 {
				t.Errorf("readings during a write: %d (want none: not committed), %v", len(rs), err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		rs, _, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID})
		if err != nil || len(rs) != 1 {
			t.Fatalf("readings after the commit: %d, %v", len(rs), err)
		}
	})
}

// A SQLite file takes four group commits at once: the others look their devices up on
// the readers and build their rows while the first holds the writer, and those waiting
// together share its next transaction and sync (two rarely had more than one waiting).
// An in-memory database has no readers, so a second batch would only wait for the one
// connection.
func TestSQLiteGroupCommitWriters(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		url  string
		want int
	}{
		{"sqlite:" + filepath.Join(t.TempDir(), "poolhost.db"), 4},
		{"sqlite::memory:", 1},
	} {
		s, err := store.Open(ctx, c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.GroupCommitWriters(); got != c.want {
			t.Errorf("%s: %d group commits at once, want %d", c.url, got, c.want)
		}
		s.Close()
	}
}
