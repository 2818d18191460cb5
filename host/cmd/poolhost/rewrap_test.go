package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/store"
)

// TestRewrapWaitsForReplicasWithTheKey: credentials rewrap run while a serve process
// does not hold the new key yet (README's rotation, step 2 skipped on one replica)
// re-sealed everything, and that process then failed to open every credential until it
// was restarted. Now rewrap reads the replicas' heartbeats and refuses, naming the
// process and the keys it holds, until each live one says it holds the new key; a
// stopped one does not count, and --force re-seals anyway.
func TestRewrapWaitsForReplicasWithTheKey(t *testing.T) {
	dir := t.TempDir()
	oldKey, _ := credentials.GenerateKey()
	newKey, _ := credentials.GenerateKey()
	writeTestFile(t, filepath.Join(dir, "old.key"), credentials.EncodeKey(oldKey)+"\n")
	writeTestFile(t, filepath.Join(dir, "new.key"), credentials.EncodeKey(newKey)+"\n")
	db := "sqlite:" + filepath.Join(dir, "poolhost.db")
	before := filepath.Join(dir, "before.hcl")
	writeTestFile(t, before, `database_url = "`+db+`"
credentials_key = file("old.key")
`)
	rotated := filepath.Join(dir, "rotated.hcl")
	writeTestFile(t, rotated, `database_url = "`+db+`"
credentials_key = file("new.key")
credentials_old_keys = [file("old.key")]
`)
	if code, _, stderr := cli(t, "migrate", "up", "--config", before); code != 0 {
		t.Fatalf("migrate up = %d %q", code, stderr)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	oldID, newID := credentials.KeyID(oldKey), credentials.KeyID(newKey)
	beat := func(status, keys string) {
		t.Helper()
		r := store.Replica{ID: "serve-web1-4242-aa", Hostname: "web1", Version: "1", StartedAt: time.Now().Add(-time.Hour), Status: status, CredentialsKeyIDs: keys}
		if err := st.BeatReplica(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}

	beat(store.ReplicaReady, oldID) // still on the old key alone
	code, _, stderr := cli(t, "credentials", "rewrap", "--config", rotated)
	if code != 1 || !strings.Contains(stderr, "serve process serve-web1-4242-aa on web1") ||
		!strings.Contains(stderr, "opens credentials with key(s) "+oldID+", not "+newID) || !strings.Contains(stderr, "Nothing was re-sealed") {
		t.Fatalf("rewrap with a replica lacking the new key = %d %q, want a refusal naming it", code, stderr)
	}
	beat(store.ReplicaReady, "") // a binary older than the check
	if code, _, stderr := cli(t, "credentials", "rewrap", "--config", rotated); code != 1 || !strings.Contains(stderr, "says no key ids") {
		t.Fatalf("rewrap with a replica saying no key ids = %d %q", code, stderr)
	}
	if code, stdout, stderr := cli(t, "credentials", "rewrap", "--force", "--config", rotated); code != 0 || !strings.Contains(stdout, "re-sealed 0 account credentials under key "+newID) {
		t.Fatalf("rewrap --force = %d %q %q", code, stdout, stderr)
	}
	beat(store.ReplicaReady, newID+","+oldID) // restarted with both keys
	if code, stdout, stderr := cli(t, "credentials", "rewrap", "--config", rotated); code != 0 || !strings.Contains(stdout, "re-sealed 0") {
		t.Fatalf("rewrap once the replica holds the key = %d %q %q", code, stdout, stderr)
	}
	beat(store.ReplicaStopped, oldID) // a stopped process opens nothing
	if code, _, stderr := cli(t, "credentials", "rewrap", "--config", rotated); code != 0 {
		t.Fatalf("rewrap with only a stopped replica = %d %q", code, stderr)
	}
}
