package store

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSyncWALSyncsANewWALsDirectoryOnce: the group commit's sync makes a WAL's directory
// entry durable the first time it syncs that file, and again for a WAL created anew
// (SQLite deletes it when the last connection closes), never for every sync.
func TestSyncWALSyncsANewWALsDirectoryOnce(t *testing.T) {
	dirSyncs := 0
	old := syncDir
	syncDir = func(dir string) error { dirSyncs++; return old(dir) }
	t.Cleanup(func() { syncDir = old })
	dir := t.TempDir()
	wal := filepath.Join(dir, "poolhost.db-wal")
	// A new file under the WAL's name; written beside the old one and renamed over it,
	// so that its inode is a new one.
	create := func() {
		t.Helper()
		tmp := filepath.Join(dir, "new")
		if err := os.WriteFile(tmp, []byte("frames"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, wal); err != nil {
			t.Fatal(err)
		}
	}
	create()
	for range 3 {
		if err := syncWAL(wal); err != nil {
			t.Fatal(err)
		}
	}
	if dirSyncs != 1 {
		t.Fatalf("%d directory syncs for three syncs of one WAL, want 1", dirSyncs)
	}
	create()
	if err := syncWAL(wal); err != nil {
		t.Fatal(err)
	}
	if dirSyncs != 2 {
		t.Errorf("%d directory syncs after the WAL was created anew, want 2", dirSyncs)
	}
}
