package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// A database in use. A running host holds a shared claim on its database for its whole
// life (Serving); the commands that would lose a running host's writes (restore puts
// another file in place; migrate down drops what the host writes to) take an exclusive
// one (Exclusive, ClaimSQLite) and refuse while a host holds it. A documentation
// sentence was not enough: restore --force on a live SQLite database unlinked the file
// the host kept writing to, and every write acknowledged after that was lost.
//
// The claim is one the engine or the kernel releases when the process dies, however it
// dies, so a crashed host never blocks a restore:
//   - SQLite: flock(2) on PATH.lock beside the database, taken before the database is
//     opened. A lock file of its own rather than the database file: restore renames a
//     new file over the database, and a lock on the old inode would not stop a host
//     starting meanwhile from opening the new one (or the old one).
//   - PostgreSQL: a session advisory lock on serveLockKey, held on one connection of
//     the pool. Replicas serve one database together, so serve takes it shared and the
//     exclusive commands try it exclusive.

// serveLockKey is the advisory lock key serve holds shared. It differs from goose's
// migration lock (5887940537704921958), which migrate up takes exclusive while replicas
// serve.
const serveLockKey int64 = 0x706f6f6c686f7374 // "poolhost"

var (
	// ErrServing: a running host has the database open; the exclusive command refused
	// and changed nothing.
	ErrServing = errors.New("a running poolhost serves this database")
	// ErrClaimed: serve found restore or migrate down holding the database.
	ErrClaimed = errors.New("restore or migrate down is working on this database")
)

// Serving marks the Store as the one a running host serves from: Open takes the shared
// claim and Close gives it back. Open fails with ErrClaimed while restore or migrate
// down works on the database.
func Serving() Option { return func(o *options) { o.claim = claimShared } }

// Exclusive is for commands that must not run under a live host: Open fails with
// ErrServing while any host serves the database, and holds it until Close so no host
// starts meanwhile.
func Exclusive() Option { return func(o *options) { o.claim = claimExclusive } }

type claimMode int

const (
	claimNone claimMode = iota
	claimShared
	claimExclusive
)

// claim is what a Store holds on its database; release gives it back.
type claim struct {
	mode claimMode
	file func() error // SQLite: unlocks and closes PATH.lock

	// PostgreSQL: the connection that holds the advisory lock. The lock lives as long
	// as that session; recheck takes it again on a new one when the session was lost
	// (the server restarted, a proxy cut it), so a host serving after that is still seen.
	mu   sync.Mutex
	db   *sql.DB
	conn *sql.Conn
}

// ClaimSQLite claims the SQLite database at path exclusively, without opening it, for
// restore: it fails with ErrServing while a host serves it; release gives it back.
// Hold it across the whole replacement, so that no host starts on the old file.
func ClaimSQLite(path string) (release func() error, err error) {
	return flockFile(path, true)
}

// sqliteClaim takes the claim the options ask for, before the database is opened (see
// above); postgresClaim once the pool connects.
func sqliteClaim(dsn string, mode claimMode) (*claim, error) {
	if mode == claimNone {
		return nil, nil
	}
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || strings.HasPrefix(path, ":") || strings.Contains(query, "mode=memory") {
		return nil, nil // in memory: no other process can see it
	}
	release, err := flockFile(path, mode == claimExclusive)
	if err != nil {
		return nil, err
	}
	return &claim{mode: mode, file: release}, nil
}

func postgresClaim(ctx context.Context, db *sql.DB, mode claimMode) (*claim, error) {
	if mode == claimNone {
		return nil, nil
	}
	c := &claim{mode: mode, db: db}
	if err := c.lockPostgres(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// lockPostgres takes the advisory lock on a connection of its own. c.mu is held or c
// is not shared yet.
func (c *claim) lockPostgres(ctx context.Context) error {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("claim database: %w", err)
	}
	fn := "pg_try_advisory_lock_shared"
	if c.mode == claimExclusive {
		fn = "pg_try_advisory_lock"
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT `+fn+`($1)`, serveLockKey).Scan(&ok); err != nil {
		discard(conn)
		return fmt.Errorf("claim database: %w", err)
	}
	if !ok {
		discard(conn)
		if c.mode == claimExclusive {
			return postgresHolders(ctx, c.db)
		}
		return fmt.Errorf("%w (it holds PostgreSQL advisory lock %d exclusively); start serve again once it has finished", ErrClaimed, serveLockKey)
	}
	c.conn = conn
	return nil
}

// postgresHolders is ErrServing with the sessions that hold the claim, so the operator
// can find the hosts to stop.
func postgresHolders(ctx context.Context, db *sql.DB) error {
	var n int
	var addrs sql.NullString
	key := uint64(serveLockKey) // pg_locks splits a bigint key: high half classid, low half objid
	_ = db.QueryRowContext(ctx, `
SELECT count(*), string_agg(DISTINCT COALESCE(host(a.client_addr), 'local'), ', ')
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1`,
		uint32(key>>32), uint32(key)).Scan(&n, &addrs)
	if n > 0 {
		return fmt.Errorf("%w: %d host(s) hold PostgreSQL advisory lock %d (from %s)", ErrServing, n, serveLockKey, addrs.String)
	}
	return fmt.Errorf("%w: a session holds PostgreSQL advisory lock %d", ErrServing, serveLockKey)
}

// recheck makes sure a PostgreSQL claim is still held, taking it again on a new
// session when the old one is gone. It runs with Ping, so the readiness probe both
// notices and repairs a lost claim.
func (c *claim) recheck(ctx context.Context) error {
	if c == nil || c.db == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		if err := c.conn.PingContext(ctx); err == nil {
			return nil
		}
		discard(c.conn)
		c.conn = nil
	}
	return c.lockPostgres(ctx)
}

// release gives the claim back.
func (c *claim) release() {
	if c == nil {
		return
	}
	if c.file != nil {
		_ = c.file()
		c.file = nil
	}
	c.releaseSession()
}

// releaseSession ends the PostgreSQL session holding the claim.
func (c *claim) releaseSession() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		// Unlock before ending the session: the server frees a closed session's locks
		// only once its backend notices the disconnect, so an exclusive open right
		// after Close could still find the claim held. Ending the session stays the
		// backstop when the unlock cannot be sent.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = c.conn.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`)
		cancel()
		discard(c.conn)
		c.conn = nil
	}
}

// discard closes conn's session instead of returning it to the pool: a pooled session
// would keep the advisory lock.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
