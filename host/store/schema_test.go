package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
)

// newerMigration records a migration a newer binary applied: goose's row and, unless
// declare is nil, its schema_compat declaration.
func newerMigration(t *testing.T, e *env, version int64, declare *bool) {
	t.Helper()
	ctx := context.Background()
	db := e.s.DB()
	if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)`), version, true); err != nil {
		t.Fatal(err)
	}
	if declare != nil {
		if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO schema_compat (version, compatible_with_previous) VALUES (?, ?)`), version, *declare); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSchemaCompatibility: a binary serves while the database is ahead of it by
// migrations that each declare the previous binary compatible, and says what to do
// otherwise: migrate up when behind, upgrade this replica when ahead and incompatible.
func TestSchemaCompatibility(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name    string
		setup   func(t *testing.T, e *env, expected int64)
		serves  bool
		problem string
	}{
		{"current", func(*testing.T, *env, int64) {}, true, ""},
		{"one compatible migration ahead", func(t *testing.T, e *env, x int64) { newerMigration(t, e, x+1, &yes) }, true, ""},
		{"three compatible ahead", func(t *testing.T, e *env, x int64) {
			for i := int64(1); i <= 3; i++ {
				newerMigration(t, e, x+i, &yes)
			}
		}, true, ""},
		{"four compatible ahead", func(t *testing.T, e *env, x int64) {
			for i := int64(1); i <= 4; i++ {
				newerMigration(t, e, x+i, &yes)
			}
		}, false, "4 migrations ahead of this binary"},
		{"ahead and incompatible", func(t *testing.T, e *env, x int64) {
			newerMigration(t, e, x+1, &yes)
			newerMigration(t, e, x+2, &no)
		}, false, "is not compatible with older binaries: replace this replica"},
		{"ahead without a declaration", func(t *testing.T, e *env, x int64) { newerMigration(t, e, x+1, nil) }, false, "not compatible"},
		{"behind", func(t *testing.T, e *env, x int64) {
			if _, err := e.s.MigrateDown(context.Background(), x-1); err != nil {
				t.Fatal(err)
			}
		}, false, "run `poolhost migrate up` with this binary"},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e := newEnv(t, eng, true)
					ctx := context.Background()
					st, err := e.s.SchemaState(ctx)
					if err != nil {
						t.Fatal(err)
					}
					tt.setup(t, e, st.Expected)
					err = e.s.Verify(ctx)
					if tt.serves != (err == nil) {
						t.Fatalf("Verify = %v, want serving %v", err, tt.serves)
					}
					if err != nil && (!errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), tt.problem)) {
						t.Fatalf("Verify = %v, want ErrSchema saying %q", err, tt.problem)
					}
					// Migrating with the older binary changes nothing and does not fail.
					if res, err := e.s.Migrate(ctx); tt.name != "behind" && (err != nil || len(res) != 0) {
						t.Fatalf("migrate up on a newer schema = %v, %v", res, err)
					}
				})
			}
		})
	}
}

// TestMigrateDown: down undoes to the version asked and up brings it back; it refuses,
// changing nothing, a migration this binary does not know and a version below 1.
func TestMigrateDown(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		st, _ := e.s.SchemaState(ctx)
		res, err := e.s.MigrateDown(ctx, 6)
		if err != nil || len(res) == 0 || res[0].Version != st.Expected || res[len(res)-1].Version != 7 {
			t.Fatalf("down to 6 = %+v, %v", res, err)
		}
		if err := e.s.Verify(ctx); err == nil || !strings.Contains(err.Error(), "migrate up") {
			t.Fatalf("Verify after down = %v", err)
		}
		if up, err := e.s.Migrate(ctx); err != nil || len(up) != len(res) {
			t.Fatalf("up after down = %+v, %v", up, err)
		}
		if err := e.s.Verify(ctx); err != nil {
			t.Fatal(err)
		}
		yes := true
		newerMigration(t, e, st.Expected+1, &yes)
		if _, err := e.s.MigrateDown(ctx, 6); err == nil || !strings.Contains(err.Error(), "with the binary that applied it") {
			t.Fatalf("down past an unknown migration = %v", err)
		}
		if _, err := e.s.MigrateDown(ctx, 0); err == nil {
			t.Fatal("down to 0 accepted")
		}
		if after, _ := e.s.SchemaState(ctx); after.Current != st.Expected+1 {
			t.Fatalf("a refused down changed the schema: %+v", after)
		}
	})
}

// TestEveryMigrationDeclaresCompatibility: from 00007 on, every migration inserts its
// schema_compat row, so the binary before it knows whether it may keep serving.
func TestEveryMigrationDeclaresCompatibility(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ms, err := e.s.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var declared []int64
		if err := e.s.DB().SelectContext(ctx, &declared, `SELECT version FROM schema_compat`); err != nil {
			t.Fatal(err)
		}
		has := map[int64]bool{}
		for _, v := range declared {
			has[v] = true
		}
		for _, m := range ms {
			if m.Version >= 7 && !has[m.Version] {
				t.Errorf("migration %s inserts no schema_compat row (see migrations/*/00007_*.sql)", m.Name)
			}
		}
	})
}

// TestSQLiteFilesPrivate: a new SQLite database and its WAL files are 0600.
func TestSQLiteFilesPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

// TestSchemaUnreadableWhileDatabaseDown: with PostgreSQL stopped, Verify (the /readyz
// migrations check) says the database is unreachable, not that the schema is
// incompatible: it said "database schema is not compatible with this binary: read
// schema version: … bad connection", which an operator reads as a migration to run.
func TestSchemaUnreadableWhileDatabaseDown(t *testing.T) {
	c := pgtest.NewCluster(t)
	ctx := context.Background()
	s, err := store.Open(ctx, c.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify before: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, check := range []func(context.Context) error{s.Verify, s.VerifyReady} {
		err := check(ctx)
		if err == nil || errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), "schema not checked, the database is unreachable") {
			t.Errorf("with the database down: %v, want 'schema not checked, the database is unreachable', not ErrSchema", err)
		}
	}
}

// TestSchemaQuestionsWriteNothing: asking an empty database its schema (migrate status,
// migrate verify, readiness) answers version 0, every migration pending, and leaves it
// empty. goose created its version table to answer: migrate verify of a new database
// wrote to it, and as a role that may not create there (a database restored into one
// made by postgres, PostgreSQL 15) failed with "permission denied for schema public",
// reported as a schema "not compatible with this binary".
func TestSchemaQuestionsWriteNothing(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newEnv(t, eng, false)
			ctx := context.Background()
			st, err := e.s.SchemaState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Current != 0 || st.Expected == 0 || len(st.Pending) == 0 || st.Pending[0] != 1 || st.Pending[len(st.Pending)-1] != st.Expected || len(st.Ahead) != 0 {
				t.Errorf("schema state of an empty database: %+v", st)
			}
			ms, err := e.s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(st.Pending) || ms[0].Version != 1 || ms[0].Name != "00001_init.sql" {
				t.Errorf("migration status of an empty database: %d migrations, first %+v", len(ms), ms[0])
			}
			for _, m := range ms {
				if m.Applied {
					t.Errorf("migration %d applied in an empty database", m.Version)
				}
			}
			if err := e.s.Verify(ctx); err == nil || !errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), "version 0") {
				t.Errorf("verify of an empty database: %v, want a schema error at version 0", err)
			}
			_ = e.s.VerifyReady(ctx)
			var tables []string
			q := `SELECT name FROM sqlite_master WHERE type = 'table'`
			if eng.name == "postgres" {
				q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
			}
			if err := e.s.DB().SelectContext(ctx, &tables, q); err != nil {
				t.Fatal(err)
			}
			if len(tables) != 0 {
				t.Errorf("asking the schema created %v", tables)
			}
			// And migrate up still starts from there.
			if _, err := e.s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if st, err := e.s.SchemaState(ctx); err != nil || st.Current != st.Expected || len(st.Pending) != 0 {
				t.Errorf("after migrate up: %+v %v", st, err)
			}
		})
	}
}
