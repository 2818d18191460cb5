package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
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

// TestRestoreStopsTheBackupsReplicas: a backup holds the heartbeats of the hosts that
// served when it was taken (ready, last seen then). Restored as they were, the console's
// Overview listed each as gone — crashed — under "Needs attention" for an hour after
// every restore (seen restoring a make run backup). No host serves a database restore
// puts in place, so restore marks them stopped, keeping when they were last seen.
func TestRestoreStopsTheBackupsReplicas(t *testing.T) {
	dir := t.TempDir()
	live := "--database-url=sqlite:" + filepath.Join(dir, "live.db")
	if code, _, stderr := cli(t, "migrate", "up", live); code != 0 {
		t.Fatalf("migrate up: %d %s", code, stderr)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	seen := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	for _, r := range []store.Replica{
		{ID: "serve-a", Hostname: "a", Version: "v", StartedAt: seen.Add(-time.Hour), LastSeenAt: seen, Status: store.ReplicaReady},
		{ID: "serve-b", Hostname: "b", Version: "v", StartedAt: seen.Add(-time.Hour), LastSeenAt: seen, Status: store.ReplicaDegraded, Problem: "plugins degraded"},
	} {
		if err := st.BeatReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	backup := filepath.Join(dir, "backup.db")
	if code, _, stderr := cli(t, "backup", "--to", backup, live); code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	restored := filepath.Join(dir, "restored.db")
	if code, out, stderr := cli(t, "restore", "--from", backup, "--database-url=sqlite:"+restored); code != 0 || !strings.Contains(out, "schema ok") {
		t.Fatalf("restore: %d %q %q", code, out, stderr)
	}
	st, err = store.Open(ctx, "sqlite:"+restored)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.Replicas(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("restored replicas: %+v", rs)
	}
	for _, r := range rs {
		if r.Status != store.ReplicaStopped || r.Problem != "" || !r.LastSeenAt.Equal(seen) {
			t.Errorf("restored replica %s: status %q problem %q last seen %v, want stopped, last seen %v", r.ID, r.Status, r.Problem, r.LastSeenAt, seen)
		}
	}
	// The backup file itself is left as it was.
	bst, err := store.Open(ctx, "sqlite:"+backup)
	if err != nil {
		t.Fatal(err)
	}
	defer bst.Close()
	if rs, _ := bst.Replicas(ctx, time.Time{}); len(rs) != 2 || rs[0].Status == store.ReplicaStopped {
		t.Errorf("the backup file changed: %+v", rs)
	}
}
