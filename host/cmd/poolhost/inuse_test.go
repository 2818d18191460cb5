package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

// TestRestoreRefusesLiveHost is issue 18's repro: restore --force against the SQLite
// database a running serve has open. It must refuse, say how to stop the host, and
// change nothing: the host keeps its file, and every write it acknowledges, before and
// after the refusal, is in the database after SIGTERM. migrate down is refused the same
// way. Once the host is stopped, the same restore works.
func TestRestoreRefusesLiveHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	dbPath := strings.TrimPrefix(c.dbURL, "sqlite:")
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	snd, _ := newSender(t, b, c, c.baseURL)
	acked := map[float64]bool{}
	ingest := func(n int) {
		t.Helper()
		for range n {
			v, status, err := snd.post(t, c.baseURL)
			if err != nil || status != http.StatusOK {
				t.Fatalf("post: %d %v", status, err)
			}
			acked[v] = true
		}
	}
	ingest(3)
	backup := filepath.Join(t.TempDir(), "backup.db")
	cliOK(t, b, "backup", "--to", backup, "--config", c.path)
	ingest(3)
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := inode()

	code, _, stderr := runCLI(t, b, "restore", "--from", backup, "--force", "--config", c.path)
	if code != 1 || !strings.Contains(stderr, "a running poolhost serves this database") || !strings.Contains(stderr, "Stop the host") {
		t.Fatalf("restore --force on a live database: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat("/proc/locks"); err == nil && !strings.Contains(stderr, "pid "+strconv.Itoa(srv.cmd.Process.Pid)) {
		t.Errorf("the refusal does not name serve's pid %d: %s", srv.cmd.Process.Pid, stderr)
	}
	code, _, stderr = runCLI(t, b, "migrate", "down", "--to", "1", "--config", c.path)
	if code != 1 || !strings.Contains(stderr, "a running poolhost serves this database") {
		t.Fatalf("migrate down on a live database: exit %d, %s", code, stderr)
	}
	if after := inode(); after != before {
		t.Fatalf("the refused restore replaced the database file (inode %d → %d)", before, after)
	}
	if left, _ := filepath.Glob(dbPath + ".*.restoring"); len(left) > 0 {
		t.Fatalf("the refused restore left %v", left)
	}
	ingest(3)
	cliOK(t, b, "migrate", "verify", "--config", c.path)

	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	if code := srv.wait(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	stored := storedValues(t, c.dbURL)
	for v := range acked {
		if !stored[v] {
			t.Errorf("reading %g acknowledged by the host is not in its database", v)
		}
	}

	// Stopped, the same command restores.
	out := cliOK(t, b, "restore", "--from", backup, "--force", "--config", c.path)
	if !strings.Contains(out, "schema ok") {
		t.Fatalf("restore after stopping the host: %s", out)
	}
	if n := len(storedValues(t, c.dbURL)); n != 3 {
		t.Fatalf("restored database holds %d readings, want the backup's 3", n)
	}
	srv = startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
}

// TestMigrateDownRefusesLiveReplicas: two replicas serve one PostgreSQL database (the
// claim is shared, so both start); migrate down refuses while either runs, naming how
// many hold it, and both keep serving. With both stopped it runs.
func TestMigrateDownRefusesLiveReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	dbURL := pgtest.NewDatabase(t)
	b := buildE2E(t)
	onDB := func(s string) string {
		return regexp.MustCompile(`(?m)^database_url\s*=.*$`).ReplaceAllLiteralString(s, "database_url = \""+dbURL+"\"")
	}
	ca, cb := writeE2EConfig(t, b, onDB), writeE2EConfig(t, b, onDB)
	copySecrets(t, ca, cb)
	a := startServe(t, b, ca)
	waitHTTP(t, a, ca.baseURL+"/readyz", "")
	r2 := startServe(t, b, cb)
	waitHTTP(t, r2, cb.baseURL+"/readyz", "")
	snd, _ := newSender(t, b, ca, ca.baseURL)

	downRefused := func(hosts string) {
		t.Helper()
		code, _, stderr := runCLI(t, b, "migrate", "down", "--to", "1", "--database-url", dbURL)
		if code != 1 || !strings.Contains(stderr, "a running poolhost serves this database: "+hosts) || !strings.Contains(stderr, "Stop the host") {
			t.Fatalf("migrate down beside %s: exit %d, %s", hosts, code, stderr)
		}
	}
	downRefused("2 host(s)")
	for _, base := range []string{ca.baseURL, cb.baseURL} {
		if _, status, err := snd.post(t, base); err != nil || status != http.StatusOK {
			t.Fatalf("post to %s after the refusal: %d %v", base, status, err)
		}
	}
	cliOK(t, b, "migrate", "verify", "--database-url", dbURL)

	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.wait(t); code != 0 {
		t.Fatalf("replica a exited %d", code)
	}
	downRefused("1 host(s)")
	_ = r2.cmd.Process.Signal(syscall.SIGTERM)
	if code := r2.wait(t); code != 0 {
		t.Fatalf("replica b exited %d", code)
	}
	out := cliOK(t, b, "migrate", "down", "--to", "99998", "--database-url", dbURL)
	if !strings.Contains(out, "nothing to undo") {
		t.Fatalf("migrate down with no host serving: %s", out)
	}
}
