package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDatabaseIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if a == b {
		t.Fatalf("two tests got the same database %s", a)
	}
	dba, err := sql.Open("postgres", a)
	if err != nil {
		t.Fatal(err)
	}
	defer dba.Close()
	if _, err := dba.ExecContext(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	dbb, err := sql.Open("postgres", b)
	if err != nil {
		t.Fatal(err)
	}
	defer dbb.Close()
	var n int
	if err := dbb.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("table created in one test database is visible in another")
	}
}

func TestClusterStopStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private cluster")
	}
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	u := c.NewDatabase(t)
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping succeeded against a stopped cluster")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}

// TestMissingPostgres runs this test binary again with no PostgreSQL to be found: it
// must skip normally and fail under CI=true.
func TestMissingPostgres(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		pgtest.NewDatabase(t)
		t.Log("got a database")
		return
	}
	tests := []struct {
		ci       string
		wantFail bool
		wantOut  string
	}{
		{"", false, "--- SKIP"},
		{"true", true, "PostgreSQL unavailable"},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingPostgres$", "-test.v")
			cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", "CI="+tt.ci, "POOLHOST_PG_BIN="+t.TempDir(),
				pgtest.EnvURL+"=", "DATABASE_URL=")
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.wantFail {
				t.Fatalf("child failed=%v, want %v:\n%s", failed, tt.wantFail, out)
			}
			if !strings.Contains(string(out), tt.wantOut) {
				t.Fatalf("child output lacks %q:\n%s", tt.wantOut, out)
			}
		})
	}
}
