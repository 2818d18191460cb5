package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestBackupRestore takes a backup of a served SQLite database while senders write,
// then restores it: every reading acknowledged before the backup started is in the
// restored database, and migrate verify passes. The backup is 0600; restore refuses to
// replace a database without --force, and refuses a file that is no poolhost database.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	snd, _ := newSender(t, b, c, c.baseURL)

	var (
		mu          sync.Mutex
		acked       []float64
		beforeCount int
		stop        = make(chan struct{})
		wg          sync.WaitGroup
	)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, status, err := snd.post(t, c.baseURL)
				if err != nil || status != http.StatusOK {
					t.Errorf("post: %d %v", status, err)
					return
				}
				mu.Lock()
				acked = append(acked, v)
				mu.Unlock()
			}
		}()
	}
	// Let the load run, then back up in the middle of it.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 30 || t.Failed() {
			break
		}
		waitHTTP(t, srv, c.baseURL+"/healthz", "")
	}
	mu.Lock()
	beforeCount = len(acked)
	before := append([]float64(nil), acked...)
	mu.Unlock()
	backup := filepath.Join(t.TempDir(), "poolhost-backup.db")
	out := cliOK(t, b, "backup", "--to", backup, "--config", c.path)
	close(stop)
	wg.Wait()
	if !strings.Contains(out, "backed up to") {
		t.Fatalf("backup: %s", out)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	// A second backup to the same file is refused.
	if code, _, stderr := runCLI(t, b, "backup", "--to", backup, "--config", c.path); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("backup over an existing file: %d %s", code, stderr)
	}

	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	if code := srv.wait(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	if code, _, stderr := runCLI(t, b, "restore", "--from", backup, "--config", c.path); code != 1 || !strings.Contains(stderr, "--force") {
		t.Fatalf("restore over a database without --force: %d %s", code, stderr)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	writeTestFile(t, junk, "not a database")
	if code, _, stderr := runCLI(t, b, "restore", "--from", junk, "--force", "--config", c.path); code != 1 || !strings.Contains(stderr, "nothing restored") {
		t.Fatalf("restore of junk: %d %s", code, stderr)
	}
	out = cliOK(t, b, "restore", "--from", backup, "--force", "--config", c.path)
	if !strings.Contains(out, "schema ok") {
		t.Fatalf("restore: %s", out)
	}
	cliOK(t, b, "migrate", "verify", "--config", c.path)

	stored := storedValues(t, c.dbURL)
	for _, v := range before {
		if !stored[v] {
			t.Errorf("reading %g acknowledged before the backup is not in the restored database", v)
		}
	}
	t.Logf("%d readings acknowledged before the backup, %d in it, %d acknowledged in all", beforeCount, len(stored), len(acked))
}
