package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"
)

// SQLite readers. The store writes through one connection (Open says why), and until
// this pool every read waited for it too: a webhook's account lookup queued behind the
// group commit in flight, fsync included, so at 64 senders a delivery spent most of its
// time waiting for a connection that was mostly waiting for the disk (host/bench). In
// WAL mode a reader on another connection of the same process reads the last committed
// state without waiting for, or blocking, the writer, so the reads that need no
// transaction go to a small pool of read-only connections (query_only: a write sent
// there by mistake fails instead of contending with the writer):
//
//   - the two reads every webhook makes, AccountWithCredentials and LookupDevices;
//   - the lag-tolerant reads a PostgreSQL store sends to its standby (replicaRead:
//     readings, summaries, status, lists), which here see no lag at all.
//
// A read that must see a transaction's own writes runs in that transaction (Tx), and
// reads with side effects (a token's last use) stay on the writer.
type sqliteReaders struct {
	db *sqlx.DB
	q  queries
}

// sqliteReaderConns bounds the readers. Reads are short and the box small; more
// connections would only hold more page cache.
const sqliteReaderConns = 4

// openSQLiteReaders opens the read-only pool beside the writer's dsn, or returns nil for
// an in-memory database, which a second connection would not share.
func openSQLiteReaders(dsn string, q queries) (*sqliteReaders, error) {
	path, rawQuery, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || strings.HasPrefix(path, ":") || strings.Contains(rawQuery, "mode=memory") {
		return nil, nil
	}
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("open database: sqlite URL query: %w", err)
	}
	v.Add("_pragma", "query_only(1)")
	db, err := sqlx.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database readers: %w", err)
	}
	db.SetMaxOpenConns(sqliteReaderConns)
	db.SetMaxIdleConns(sqliteReaderConns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	q.q, q.db = db, db
	// Their own statements: a Stmt belongs to one pool. Several connections, so a
	// statement may be prepared at any time (see prepared).
	q.prep = newPrepared(db, false)
	q.comb, q.raw = nil, nil
	q.standby = true // query_only: skip a read's side effects, as on a standby
	return &sqliteReaders{db: db, q: q}, nil
}

func (r *sqliteReaders) close() {
	if r == nil {
		return
	}
	r.q.prep.close()
	r.db.Close()
}

// readQueries is where a read that needs no transaction runs: the SQLite readers, else
// the store's own pool.
func (s *Store) readQueries() queries {
	if s.readers != nil {
		return s.readers.q
	}
	return s.queries
}

// AccountWithCredentials reads from the SQLite readers (see above), else as queries does.
func (s *Store) AccountWithCredentials(ctx context.Context, id int64, provider string) (Account, map[string]string, error) {
	return s.readQueries().AccountWithCredentials(ctx, id, provider)
}

// LookupDevices reads from the SQLite readers (see above), else as queries does.
func (s *Store) LookupDevices(ctx context.Context, l DeviceLookup) ([]Device, error) {
	return s.readQueries().LookupDevices(ctx, l)
}
