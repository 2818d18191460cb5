package pgtest_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

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

// TestStandbyFollowsPrimary: a standby from NewStandby is in recovery, refuses writes,
// and shows what the primary writes — also while the primary is stopped.
func TestStandbyFollowsPrimary(t *testing.T) {
	ctx := context.Background()
	primary := pgtest.NewCluster(t)
	dbURL := primary.NewDatabase(t)
	standby := primary.NewStandby(t)
	p, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.ExecContext(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitReplayed(t, primary, standby)
	s, err := sql.Open("postgres", standby.StandbyURL(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var inRecovery bool
	if err := s.QueryRowContext(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("standby in recovery = %v, %v; want true", inRecovery, err)
	}
	if _, err := s.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err == nil {
		t.Fatal("the standby accepted a write")
	}
	if err := primary.Stop(); err != nil {
		t.Fatal(err)
	}
	var x int
	if err := s.QueryRowContext(ctx, "SELECT x FROM t").Scan(&x); err != nil || x != 42 {
		t.Fatalf("standby read with the primary stopped = %d, %v; want 42", x, err)
	}
}

// TestKilledTestLeavesNoCluster: a test binary killed outright (go test's -timeout, a
// signal) runs none of its cleanups, and its cluster must not run on: the reaper stops
// it and removes its directory.
func TestKilledTestLeavesNoCluster(t *testing.T) {
	if os.Getenv("PGTEST_REAP_CHILD") == "1" {
		c := pgtest.NewCluster(t)
		fmt.Printf("CLUSTER %s %s\n", c.Dir(), c.URL())
		select {} // until killed
	}
	if testing.Short() {
		t.Skip("starts a private cluster in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledTestLeavesNoCluster$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), "PGTEST_REAP_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dir, adminURL string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "CLUSTER" {
			dir, adminURL = f[1], f[2]
			break
		}
	}
	if dir == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Skipf("the child started no cluster (no PostgreSQL here?): %v", sc.Err())
	}
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatalf("the child's cluster does not answer: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// Polled, with a bound far past what a slow box needs: the test fails only if the
	// cluster is never stopped.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, statErr := os.Stat(dir)
		gone := os.IsNotExist(statErr)
		down := db.Ping() != nil
		if gone && down {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 minutes after its test binary was killed: directory removed %v, server down %v", gone, down)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
