package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// The group commit's sync, after the writer is free. With synchronous=FULL SQLite syncs
// the WAL inside COMMIT, before it releases the write lock, so the one writer was held
// through every fdatasync: about half of its time at 64 senders (host/bench), time in
// which no other transaction could run. So the group commit's own transactions commit
// with synchronous=NORMAL (SQLite writes the WAL's frames but does not sync them), the
// combiner hands the writer to the next batch, and only then syncs the WAL itself
// (fdatasync, as SQLite's own would) and answers the batch's callers: the next batch's
// statements run during this one's sync. Nothing is acknowledged before the WAL holding
// it is on disk, as with FULL.
//
// Why that is as durable as FULL:
//   - The WAL is appended to, and a sync of the file covers every frame written before
//     it, so a transaction's frames, and all the frames before them, are on disk before
//     its callers hear of it. A power loss can lose only frames written after the last
//     sync: transactions not yet acknowledged, which recovery drops whole (each frame
//     carries a checksum of all before it).
//   - A checkpoint copies frames into the database file only after syncing the WAL, and
//     the WAL starts again from its beginning (overwriting frames) only after the
//     database file is synced too; SQLite does both at NORMAL as at FULL. So frames
//     overwritten before this sync ran were already on disk in the database file.
//   - The file is opened afresh for each sync, so that it is always the WAL now in use,
//     and a new WAL's directory entry is synced once, as SQLite's own first sync of it
//     would (syncWALEntry).
//   - Every other write (InTx, single statements, migrations) stays at FULL: the
//     connection goes back to FULL after each group commit's transaction, and is
//     discarded if that fails.
//   - A failed sync fails the batch's calls: nothing is acknowledged.
//
// A URL that sets synchronous itself keeps it for every transaction (NORMAL gives up
// the sync on purpose; EXTRA wants SQLite's own).
//
// What SQLite's readers see is the commit, before its sync: a reading may be visible a
// millisecond before its webhook is answered, and lost with it to a power cut, when the
// provider has not been told it was stored and sends it again.

// sqliteWAL is the WAL's path when the group commit syncs it itself (see above): the
// database is a file, and synchronous is FULL. "" otherwise. The path is SQLite's own
// (a URL's path may be relative or escaped).
func sqliteWAL(ctx context.Context, db *sql.DB, dsn string) (string, error) {
	_, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", err
	}
	full := false
	for _, p := range q["_pragma"] {
		name, val, _ := strings.Cut(p, "(")
		if strings.EqualFold(strings.TrimSpace(name), "synchronous") {
			full = strings.EqualFold(strings.TrimSuffix(strings.TrimSpace(val), ")"), "FULL")
		}
	}
	if !full {
		return "", nil
	}
	var file string
	if err := db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		return "", fmt.Errorf("database file: %w", err)
	}
	if file == "" { // in memory: no WAL
		return "", nil
	}
	return file + "-wal", nil
}

// syncWAL makes every frame written to the WAL at path so far durable, and the WAL's
// entry in its directory (syncWALEntry). A variable for tests.
var syncWAL = func(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := fdatasync(f); err != nil {
		return err
	}
	return syncWALEntry(f, path)
}

// walEntries are, by path, the WAL files whose directory entry is durable.
var walEntries = struct {
	sync.Mutex
	m map[string]os.FileInfo
}{m: map[string]os.FileInfo{}}

// syncWALEntry makes the directory entry of the WAL open as f durable, once per file.
// SQLite creates the WAL at the first write after every connection closed (as when the
// host starts), and its own first sync of a new WAL syncs the directory too (the unix
// VFS's DIRSYNC); at synchronous=NORMAL the first sync is this one, so it does the same:
// without it, a power cut could lose the whole file, acknowledged frames and all. Once
// per file (device and inode), so one fstat per sync after that. (A WAL deleted and
// created again under the same inode number would be missed; SQLite deletes it only
// when its last connection closes, and the store keeps its connections open until it
// closes, so a new WAL comes with a new process, whose first sync syncs the directory.)
func syncWALEntry(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	walEntries.Lock()
	defer walEntries.Unlock()
	if done := walEntries.m[path]; done != nil && os.SameFile(done, fi) {
		return nil
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("sync the WAL's directory: %w", err)
	}
	walEntries.m[path] = fi
	return nil
}

// syncDir makes dir's entries durable. A variable for tests.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// withNormalSync runs fn with the writer's connection at synchronous=NORMAL, then puts
// it back to FULL; a connection that cannot be put back is discarded (database/sql
// opens a new one, at FULL from the DSN), so no other write runs unsynced. The PRAGMAs
// run on the driver's statements (rawStmts), prepared once.
func withNormalSync(ctx context.Context, conn *sql.Conn, raw *rawStmts, fn func() error) (err error) {
	if err := raw.pragma(ctx, conn, "PRAGMA synchronous=NORMAL"); err != nil {
		return fmt.Errorf("synchronous normal: %w", mapError(err))
	}
	defer func() {
		// Not ctx: the connection goes back to FULL even when the caller gave up.
		if e := raw.pragma(context.Background(), conn, "PRAGMA synchronous=FULL"); e != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = fmt.Errorf("synchronous full: %w", mapError(e))
			}
		}
	}()
	return fn()
}

// pragma runs query, a statement without arguments or rows, on conn's driver
// connection.
func (r *rawStmts) pragma(ctx context.Context, conn *sql.Conn, query string) error {
	return conn.Raw(func(dc any) error {
		st, err := r.stmt(ctx, dc, query)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, nil)
		return err
	})
}
