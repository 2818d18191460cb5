package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

// TestRollingUpgrade runs an old and a new binary against one PostgreSQL across an
// additive migration, as a rolling upgrade does. The "new" binary is this tree built
// with -tags poolhost_schemanext, which adds the test-only migration 99999 (a table, and
// its schema_compat row saying the previous binary stays compatible); the "old" one is
// this tree as released. After the new binary's `migrate up`, the old replica stays
// ready and keeps ingesting, and the new one serves too.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	dbURL := pgtest.NewDatabase(t)
	old := buildE2E(t)
	next := old
	next.poolhost = filepath.Join(t.TempDir(), "poolhost-next")
	goBuild(t, "-tags", "poolhost_schemanext", "-o", next.poolhost, "./host/cmd/poolhost")

	onDB := func(s string) string {
		return regexp.MustCompile(`(?m)^database_url\s*=.*$`).ReplaceAllLiteralString(s, "database_url = \""+dbURL+"\"")
	}
	oldCfg := writeE2EConfig(t, old, onDB)
	newCfg := writeE2EConfig(t, next, onDB)
	// One credentials key for both replicas, as in production.
	copySecrets(t, oldCfg, newCfg)

	oldSrv := startServe(t, old, oldCfg)
	waitHTTP(t, oldSrv, oldCfg.baseURL+"/readyz", "")
	snd, _ := newSender(t, old, oldCfg, oldCfg.baseURL)
	acked := map[float64]bool{}
	ingest := func(base string, n int) {
		t.Helper()
		for range n {
			v, status, err := snd.post(t, base)
			if err != nil || status != http.StatusOK {
				t.Fatalf("post to %s: %d %v", base, status, err)
			}
			acked[v] = true
		}
	}
	ingest(oldCfg.baseURL, 5)

	// The deploy step: the new binary migrates, once.
	out := cliOK(t, next, "migrate", "up", "--database-url", dbURL)
	if !strings.Contains(out, "applied 99999") {
		t.Fatalf("migrate up with the new binary: %s", out)
	}
	// The old binary's verify and readiness: compatible, serving.
	code, vout, verr := runCLI(t, old, "migrate", "verify", "--database-url", dbURL)
	if code != 0 || !strings.Contains(vout, "ahead of this binary") {
		t.Fatalf("old binary's migrate verify after the upgrade: %d %s %s", code, vout, verr)
	}
	if status, body := get(t, oldCfg.baseURL+"/readyz", ""); status != http.StatusOK {
		t.Fatalf("old replica /readyz after the additive migration: %d %s", status, body)
	}
	ingest(oldCfg.baseURL, 5)

	newSrv := startServe(t, next, newCfg)
	waitHTTP(t, newSrv, newCfg.baseURL+"/readyz", "")
	ingest(newCfg.baseURL, 5)
	ingest(oldCfg.baseURL, 5)
	if status, body := get(t, oldCfg.baseURL+"/readyz", ""); status != http.StatusOK {
		t.Fatalf("old replica /readyz beside the new one: %d %s", status, body)
	}

	stored := storedValues(t, dbURL)
	for v := range acked {
		if !stored[v] {
			t.Errorf("acknowledged reading %g is not stored", v)
		}
	}
	if len(acked) != 20 {
		t.Fatalf("%d readings acknowledged, want 20", len(acked))
	}

	// An old binary cannot undo a migration it does not know. migrate down refuses while
	// a host serves the database, so the replicas stop first.
	for _, srv := range []*served{oldSrv, newSrv} {
		_ = srv.cmd.Process.Signal(syscall.SIGTERM)
		if code := srv.wait(t); code != 0 {
			t.Fatalf("replica exited %d", code)
		}
	}
	if code, _, stderr := runCLI(t, old, "migrate", "down", "--to", "7", "--database-url", dbURL); code != 1 || !strings.Contains(stderr, "with the binary that applied it") {
		t.Fatalf("old binary's migrate down past 99999: %d %s", code, stderr)
	}
}
