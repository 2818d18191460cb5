package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
)

func TestMigrateTwiceIsNoop(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, false)
			if err := e.s.Verify(ctx); !errors.Is(err, store.ErrSchema) {
				t.Fatalf("Verify on an empty database = %v, want ErrSchema", err)
			}
			first, err := e.s.Migrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(first) == 0 {
				t.Fatal("first migrate applied nothing")
			}
			second, err := e.s.Migrate(ctx)
			if err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if len(second) != 0 {
				t.Fatalf("second migrate applied %v, want nothing", second)
			}
			st, err := e.s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range st {
				if !m.Applied {
					t.Errorf("migration %d %s not applied", m.Version, m.Name)
				}
			}
			if err := e.s.Verify(ctx); err != nil {
				t.Fatalf("Verify after migrate: %v", err)
			}
			// A second process (another replica, the CLI) migrating the same database.
			other := e.open(t)
			if res, err := other.Migrate(ctx); err != nil || len(res) != 0 {
				t.Fatalf("migrate from a second store: %v, %v", res, err)
			}
		})
	}
}

func TestVerifyFailsWithoutDeadLetterTable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		if _, err := e.s.DB().ExecContext(ctx, "DROP TABLE integration_ingestion_failures"); err != nil {
			t.Fatal(err)
		}
		err := e.s.Verify(ctx)
		if !errors.Is(err, store.ErrSchema) {
			t.Fatalf("Verify = %v, want ErrSchema", err)
		}
		if !strings.Contains(err.Error(), "integration_ingestion_failures") {
			t.Fatalf("Verify error does not name the missing table: %v", err)
		}
	})
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "mysql://x", "sqlite:", "nonsense"} {
		if s, err := store.Open(context.Background(), u); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}

// A PostgreSQL server without TLS answers a URL that does not say sslmode (lib/pq's
// default is require) with "SSL is not enabled on the server", before it looks at the
// password or the database: the error says what to change.
func TestOpenWithoutTLSSaysSSLMode(t *testing.T) {
	u := pgtest.NewDatabase(t)
	u = strings.Replace(u, "sslmode=disable", "sslmode=require", 1)
	s, err := store.Open(context.Background(), u)
	if err == nil {
		s.Close()
		t.Skip("the test server offers TLS")
	}
	for _, want := range []string{"SSL is not enabled on the server", "sslmode=disable", "enable TLS on the server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open without TLS: %v, want it to say %q", err, want)
		}
	}
}

func TestOpenSQLiteURLForms(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"sqlite:" + dir + "/a.db", "sqlite://" + dir + "/b.db", "file:" + dir + "/c.db?cache=private"} {
		s, err := store.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if s.Dialect() != "sqlite" {
			t.Fatalf("dialect = %s", s.Dialect())
		}
		var fk, timeout int
		var mode string
		db := s.DB()
		if err := db.GetContext(ctx, &fk, "PRAGMA foreign_keys"); err != nil || fk != 1 {
			t.Fatalf("foreign_keys = %d, %v", fk, err)
		}
		if err := db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v", mode, err)
		}
		if err := db.GetContext(ctx, &timeout, "PRAGMA busy_timeout"); err != nil || timeout < 1000 {
			t.Fatalf("busy_timeout = %d, %v", timeout, err)
		}
		// An acknowledged write survives a power loss (FULL is 2); statement journals
		// stay off the disk (MEMORY is 2).
		var sync, temp int
		if err := db.GetContext(ctx, &sync, "PRAGMA synchronous"); err != nil || sync != 2 {
			t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
		}
		if err := db.GetContext(ctx, &temp, "PRAGMA temp_store"); err != nil || temp != 2 {
			t.Fatalf("temp_store = %d, %v; want 2 (MEMORY)", temp, err)
		}
		// The writer's own checkpoint is the backstop at four times 4,000 where the store
		// checkpoints beside it (a file: sqlitecheckpoint.go).
		want := 4000
		if s.SQLiteCheckpoints() >= 0 {
			want = 16000
		}
		var ckpt int
		if err := db.GetContext(ctx, &ckpt, "PRAGMA wal_autocheckpoint"); err != nil || ckpt != want {
			t.Fatalf("wal_autocheckpoint = %d, %v; want %d", ckpt, err, want)
		}
		s.Close()
	}
	// A URL that chooses synchronous itself keeps its choice.
	s, err := store.Open(ctx, "sqlite:"+dir+"/d.db?_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sync int
	if err := s.DB().GetContext(ctx, &sync, "PRAGMA synchronous"); err != nil || sync != 1 {
		t.Fatalf("synchronous with the URL's NORMAL = %d, %v; want 1", sync, err)
	}
}

// TestMigrateAppliesLateMigration: 00005 landed after 00006–00009, so a database can be
// at 9 without 5. Migrate applies 5 and the schema verifies; a gap below applied
// migrations anywhere else is refused before anything changes.
func TestMigrateAppliesLateMigration(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, false)
			if err := e.s.ApplyMigrations(ctx, 1, 2, 3, 6, 7, 8, 9); err != nil {
				t.Fatal(err)
			}
			res, err := e.s.Migrate(ctx)
			if err != nil {
				t.Fatalf("migrate a database at 9 without 5: %v", err)
			}
			var applied []int64
			for _, r := range res {
				applied = append(applied, r.Version)
			}
			if len(applied) == 0 || applied[0] != 5 {
				t.Fatalf("applied %v, want 5 first", applied)
			}
			if err := e.s.Verify(ctx); err != nil {
				t.Fatalf("Verify after the late migration: %v", err)
			}
		})
		t.Run(eng.name+"/other gap refused", func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, false)
			if err := e.s.ApplyMigrations(ctx, 1, 2, 5, 6); err != nil {
				t.Fatal(err)
			}
			_, err := e.s.Migrate(ctx)
			if err == nil || !strings.Contains(err.Error(), "migration 3 is missing") {
				t.Fatalf("migrate with 3 missing below 6 = %v, want a refusal naming 3", err)
			}
			st, err := e.s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range st {
				if m.Applied != (m.Version == 1 || m.Version == 2 || m.Version == 5 || m.Version == 6) {
					t.Errorf("after the refusal migration %d applied=%v", m.Version, m.Applied)
				}
			}
		})
	}
}
