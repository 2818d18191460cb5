package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
)

// Checkpoints beside the writer. SQLite checkpoints a WAL in the commit that fills it
// past wal_autocheckpoint pages, on the committing connection: the group commit's one
// writer was held through the copy of every page into the database file and its fsync:
// writing batches of 16 deliveries as host/bench's (8 devices, 10 metrics) one after
// the other, 13-14 of 600 commits, one every ~45, took 5.6-10 ms instead of about 2.3,
// about 5% of the writer's time, in which no other batch could be written. So a store with its own file
// checkpoints on a connection of its own instead: after each group commit the combiner
// wakes it, and it checkpoints (PASSIVE, as the automatic one does) once the WAL holds
// checkpointFrames frames not yet copied, while the writer goes on with the next batch.
// A checkpoint never blocks a writer in WAL mode, and the WAL starts again from its
// beginning at the writer's next transaction, as before. host/bench (sqlite, c64,
// through the plugin, 20,000 deliveries), ten interleaved pairs on the shared VM, each
// figure ÷ the unchanged load generator's CPU per delivery (the VM's speed drifted 2x
// that hour): the writer's time per delivery lower in 9 of 10 pairs (-7% on average),
// the whole box's CPU per delivery in 8 of 10 (-2%: the checkpoint's work is the same,
// on another goroutine), p99 lower in 7 of 10 (33.7 -> 21.8 ms in the fastest pair),
// deliveries/s higher in 7 of 10.
//
// The writer keeps an automatic checkpoint as a backstop, at four times the threshold:
// if this one falls behind or stops, the WAL is still bounded. A connection database/sql
// opens anew for the writer (after an error) has the URL's threshold again, so its
// commits checkpoint as before until the store is reopened.
//
// Durability is SQLite's own: the checkpointing connection has the URL's synchronous
// setting (FULL unless the URL says otherwise), and at FULL and NORMAL a checkpoint
// syncs the WAL before it copies a frame and the database file before the WAL can be
// overwritten (sqlitesync.go relies on both), whichever connection runs it.

// checkpointFrames is when the checkpointer copies the WAL into the database: what
// wal_autocheckpoint was (sqliteDSN says why 4,000).
const checkpointFrames = 4000

// writerCheckpointFrames is the writer's own automatic checkpoint, the backstop above.
const writerCheckpointFrames = 4 * checkpointFrames

type sqliteCheckpointer struct {
	db  *sqlx.DB // one connection, never in a transaction between checkpoints
	shm string   // the WAL index, whose header says how many frames the WAL holds
	// index is shm, opened once by run's goroutine and closed only after the store's
	// last SQLite connection (closeIndex). Closing any descriptor of a file drops every
	// POSIX lock this process holds on it, SQLite's locks on the WAL index included, so
	// it must not be opened and closed per commit (as it was, three syscalls a commit
	// besides) while SQLite's connections are open.
	index  *os.File
	logger hclog.Logger
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu     sync.Mutex
	runs   int    // checkpoints run, for tests
	before func() // tests: called before each checkpoint
}

// openSQLiteCheckpointer opens the checkpointing connection beside the writer's dsn and
// turns the writer's own automatic checkpoint (db, the store's one connection) into the
// backstop; nil for a database with no file.
func openSQLiteCheckpointer(ctx context.Context, db *sqlx.DB, dsn, wal string, logger hclog.Logger) (*sqliteCheckpointer, error) {
	if wal == "" {
		var file string
		if err := db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
			return nil, fmt.Errorf("database file: %w", err)
		}
		if file == "" {
			return nil, nil
		}
		wal = file + "-wal"
	}
	cdb, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database checkpointer: %w", err)
	}
	cdb.SetMaxOpenConns(1)
	cdb.SetMaxIdleConns(1)
	cdb.SetConnMaxLifetime(0)
	cdb.SetConnMaxIdleTime(0)
	if err := cdb.PingContext(ctx); err != nil {
		cdb.Close()
		return nil, fmt.Errorf("open database checkpointer: %w", err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint=%d`, writerCheckpointFrames)); err != nil {
		cdb.Close()
		return nil, fmt.Errorf("writer's checkpoint: %w", mapError(err))
	}
	c := &sqliteCheckpointer{
		db:     cdb,
		shm:    strings.TrimSuffix(wal, "-wal") + "-shm",
		logger: logger,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go c.run()
	return c, nil
}

// poke says a transaction committed; it never waits.
func (c *sqliteCheckpointer) poke() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *sqliteCheckpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		if n, ok := c.pending(); !ok || n < checkpointFrames {
			continue
		}
		c.mu.Lock()
		before := c.before
		c.mu.Unlock()
		if before != nil {
			before()
		}
		// PASSIVE, as wal_autocheckpoint: copies what no reader still needs, waits
		// for nobody. Its result columns (busy, frames, copied) are not needed.
		if _, err := c.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			c.logger.Warn("checkpoint the WAL", "error", err)
		}
		c.mu.Lock()
		c.runs++
		c.mu.Unlock()
	}
}

// close stops the checkpointer and closes its connection (before the writer's, so the
// writer's close, the last, checkpoints and removes the WAL as before).
func (c *sqliteCheckpointer) close() {
	if c == nil {
		return
	}
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.db.Close()
	})
}

// closeIndex closes the WAL index's descriptor; the store calls it once its SQLite
// connections are closed (see index).
func (c *sqliteCheckpointer) closeIndex() {
	if c != nil && c.index != nil {
		c.index.Close()
		c.index = nil
	}
}

// pending is walPending on the index, opened at the first call.
func (c *sqliteCheckpointer) pending() (uint32, bool) {
	if c.index == nil {
		f, err := os.Open(c.shm)
		if err != nil {
			return 0, false
		}
		c.index = f
	}
	n, ok, _ := walPending(c.index)
	return n, ok
}

// walPending reads, from the WAL index, how many of the WAL's frames are not yet
// copied into the database: mxFrame - nBackfill, from the header SQLite keeps at the
// start of the -shm file (https://sqlite.org/walformat.html: two copies of a 48-byte
// header, mxFrame at byte 16 of each, then the checkpoint information, nBackfill first,
// at byte 96; in the machine's byte order). ok is false when it cannot be read (err),
// or the two copies differ (a commit was updating them): the next commit will tell.
func walPending(index io.ReaderAt) (n uint32, ok bool, err error) {
	var b [100]byte
	if _, err := index.ReadAt(b[:], 0); err != nil {
		return 0, false, err
	}
	if string(b[:48]) != string(b[48:96]) {
		return 0, false, nil
	}
	mx := binary.NativeEndian.Uint32(b[16:])
	backfilled := binary.NativeEndian.Uint32(b[96:])
	if backfilled > mx {
		return 0, true, nil
	}
	return mx - backfilled, true, nil
}
