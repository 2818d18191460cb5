package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq" // registers "postgres"
	"github.com/prometheus/client_golang/prometheus"
	"modernc.org/sqlite" // registers "sqlite"

	"github.com/poolhost/poolhost/sdk/tracing"
)

// Cipher seals account credentials at rest. host/credentials.Keyring implements it.
// aad binds a ciphertext to the row it belongs to, so a ciphertext copied onto another
// account fails to open.
type Cipher interface {
	Encrypt(plaintext, aad []byte) (ciphertext []byte, keyID string, err error)
	Decrypt(ciphertext, aad []byte) ([]byte, error)
}

// Option configures Open.
type Option func(*options)

type options struct {
	maxConns int
	cipher   Cipher
	now      func() time.Time
	logger   hclog.Logger
	claim    claimMode
	// The read replica (replica.go).
	readURL    string
	readMaxLag time.Duration
	registerer prometheus.Registerer
}

// WithCipher sets the cipher for account credentials. Without one, reading or writing
// credentials fails with ErrNoCipher.
func WithCipher(c Cipher) Option { return func(o *options) { o.cipher = c } }

// WithClock replaces time.Now, for tests that move time past leases and expiries.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxOpenConns caps PostgreSQL connections (default 20). SQLite always uses one.
func WithMaxOpenConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithLogger sets the logger; the store logs only lifecycle events, never values.
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// Store is the host's database. It is safe for concurrent use.
type Store struct {
	queries
	db     *sqlx.DB
	logger hclog.Logger
	claim  *claim    // Serving or Exclusive; nil otherwise
	read   *readSide // WithReadReplica; nil otherwise
	// readers: SQLite's read-only connections (sqlitereaders.go); nil otherwise.
	readers *sqliteReaders
	// ckpt: SQLite with a file only, the WAL's checkpoints beside the writer
	// (sqlitecheckpoint.go).
	ckpt *sqliteCheckpointer
}

// Tx is a transaction from InTx. It has the same data methods as Store; methods that
// need atomicity run inside it instead of opening their own.
type Tx struct {
	queries
}

// queries holds every data method. It runs on the *sqlx.DB for a Store and on the
// *sqlx.Tx for a Tx.
type queries struct {
	q      sqlx.ExtContext
	db     *sqlx.DB // nil inside a Tx
	d      dialect
	cipher Cipher
	now    func() time.Time
	prep   *prepared // shared by a Store and its Txs
	decoy  *decoy    // shared by a Store and its Txs
	// opened: credentials AccountWithCredentials opened (opened.go); shared by a Store,
	// its Txs and its SQLite readers.
	opened *openedCredentials
	spans  *partitionSpans // shared by a Store and its Txs
	// measured: PostgreSQL only (nil on SQLite); shared by a Store and its Txs.
	measured *measuredPairs
	// conflicts: PostgreSQL only; whether the group commit inserts readings without ON
	// CONFLICT (readingconflicts.go); shared by a Store and its Txs.
	conflicts *readingConflicts
	// comb: SQLite only, WriteDeliveries' calls combined (deliverycombine_sqlite.go).
	comb *sqliteCombiner
	// raw: SQLite's writer only, the group commit's driver statements (sqliteraw.go).
	raw *rawStmts
	// standby: q is the read replica, which refuses writes (a read's side effects,
	// such as a token's last-use time, are skipped there).
	standby bool
}

// Open connects to databaseURL and checks the connection. It does not migrate.
//
// Accepted forms: postgres://… or postgresql://… (lib/pq), and sqlite:PATH,
// sqlite://PATH or file:PATH for SQLite (PATH may carry its own ?query).
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	o := options{now: time.Now, logger: hclog.NewNullLogger(), maxConns: 20}
	for _, opt := range opts {
		opt(&o)
	}
	driver, dsn, d, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	var cl *claim
	if d == dialectSQLite {
		if err := sqliteDirExists(dsn); err != nil {
			return nil, err
		}
		if cl, err = sqliteClaim(dsn, o.claim); err != nil {
			return nil, err
		}
		createPrivate(dsn)
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		cl.release()
		return nil, fmt.Errorf("open database: %w", err)
	}
	if d == dialectSQLite {
		// One connection: SQLite has one writer at a time anyway, and funnelling every
		// statement through one connection means goroutines queue in database/sql instead
		// of meeting SQLITE_BUSY. Plain reads go to read-only connections beside it
		// (sqlitereaders.go). busy_timeout still covers other processes (the CLI
		// beside a running server). WAL lets those processes read while we write.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		// A commit syncs the WAL with fdatasync(2), as SQLite's own Linux builds do;
		// the transpiled driver defaults to fsync(2), which also flushes the file's
		// timestamps through the file system's journal. Same durability (the data and
		// the size needed to read it back), a shorter wait with the writer held: a lone
		// delivery's commit took 0.5-1.1 ms instead of 0.8-2.7 (three interleaved
		// pairs on the shared VM, host/store). Process-wide; where the platform has no
		// fdatasync (macOS, Windows) SQLite keeps its own sync.
		_, _ = sqlite.Fdatasync(true)
	} else {
		conns := o.maxConns
		if o.claim != claimNone {
			conns++ // the claim's session is held for the Store's life: not one of the pool's
		}
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := db.PingContext(ctx); err != nil {
		cl.release()
		db.Close()
		if errors.Is(err, pq.ErrSSLNotSupported) {
			// lib/pq asks for TLS unless the URL says otherwise, so a server without it
			// answers this whatever else is wrong with the URL: say what to change.
			return nil, fmt.Errorf("connect to database: %w: database_url asks for TLS (lib/pq's default sslmode=require); enable TLS on the server, or add sslmode=disable to the URL for a server on this machine or a network you trust", err)
		}
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if d == dialectPostgres {
		if cl, err = postgresClaim(ctx, db.DB, o.claim); err != nil {
			db.Close()
			return nil, err
		}
	}
	s := &Store{
		db:     db,
		claim:  cl,
		logger: o.logger.Named("store"),
		queries: queries{
			q:      db,
			db:     db,
			d:      d,
			cipher: o.cipher,
			now:    o.now,
			decoy:  &decoy{},
			opened: &openedCredentials{m: map[openedKey]*opened{}},
			spans:  &partitionSpans{},
		},
	}
	if d == dialectPostgres {
		s.measured = &measuredPairs{}
		s.conflicts = &readingConflicts{}
	}
	if d == dialectSQLite {
		s.comb = &sqliteCombiner{}
		if s.comb.wal, err = sqliteWAL(ctx, db.DB, dsn); err != nil {
			s.Close()
			return nil, fmt.Errorf("open database: %w", err)
		}
		s.raw = &rawStmts{}
	}
	s.prep = newPrepared(db, d == dialectSQLite)
	if d == dialectSQLite {
		if s.readers, err = openSQLiteReaders(dsn, s.queries); err != nil {
			s.Close()
			return nil, err
		}
		if s.readers != nil {
			if s.ckpt, err = openSQLiteCheckpointer(ctx, db, dsn, s.comb.wal, s.logger); err != nil {
				s.Close()
				return nil, err
			}
			s.comb.ckpt = s.ckpt
		}
	}
	if o.readURL != "" {
		if d != dialectPostgres {
			s.Close()
			return nil, errors.New("open database: database_read_url needs a PostgreSQL database_url")
		}
		if s.read, err = openReadSide(ctx, o, db, s.queries); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// parseURL picks the driver and builds its DSN. SQLite always gets the pragmas the store
// relies on (foreign keys, WAL checkpointed every 4,000 pages, synchronous FULL,
// in-memory temporary storage, busy timeout, immediate transactions, integer microsecond
// timestamps); a caller's own query parameters are kept.
func parseURL(raw string) (driver, dsn string, d dialect, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		dsn, err := postgresDSN(raw)
		return "postgres", dsn, dialectPostgres, err
	case strings.HasPrefix(raw, "sqlite://"):
		return sqliteDSN(strings.TrimPrefix(raw, "sqlite://"))
	case strings.HasPrefix(raw, "sqlite:"):
		return sqliteDSN(strings.TrimPrefix(raw, "sqlite:"))
	case strings.HasPrefix(raw, "file:"):
		return sqliteDSN(strings.TrimPrefix(raw, "file:"))
	case raw == "":
		return "", "", 0, errors.New("open database: empty database URL")
	}
	scheme, _, _ := strings.Cut(raw, ":")
	return "", "", 0, fmt.Errorf("open database: unsupported URL scheme %q (want postgres://, sqlite: or file:)", scheme)
}

func sqliteDSN(rest string) (string, string, dialect, error) {
	path, rawQuery, _ := strings.Cut(rest, "?")
	if path == "" {
		return "", "", 0, errors.New("open database: sqlite URL has no path")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", "", 0, fmt.Errorf("open database: sqlite URL query: %w", err)
	}
	own := map[string]bool{} // pragmas the URL sets itself
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		own[strings.ToLower(strings.TrimSpace(name))] = true
	}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	if !own["synchronous"] {
		// FULL: in WAL mode a commit returns only once the WAL is fsynced, so a delivery
		// acknowledged is on disk even if the machine loses power right after. NORMAL
		// would survive a crash of the process but lose the last commits to a power
		// loss or kernel crash. Group commit pays the fsync once per batch, not per
		// delivery, and syncs the WAL after the writer is free (sqlitesync.go). A URL
		// that sets synchronous itself (the README says what NORMAL trades away) keeps
		// its own.
		q.Add("_pragma", "synchronous(FULL)")
	}
	// The statement journal of a multi-row INSERT (a copy of the pages it changes, for
	// rolling back that statement alone) spilled to a temporary file past 64 KiB: a
	// quarter of a group commit's CPU was write(2) into it (BenchmarkWriteDeliveries).
	// In memory it costs a copy. Temporary tables and sort spills stay in memory too;
	// the store makes no large ones.
	q.Add("_pragma", "temp_store(MEMORY)")
	// A checkpoint runs in the commit that fills the WAL to this many pages, with the
	// writer held through its copy and fsync of the database file. SQLite's default,
	// 1,000 pages (4 MiB), was every few group commits; at 4,000 pages (a 16 MiB WAL)
	// pages rewritten by several commits are copied once, and BenchmarkWriteDeliveries
	// stored 1.3-1.9 times as many deliveries per second in five interleaved pairs on
	// the shared VM (CPU per delivery within noise). A store on a file checkpoints at
	// this threshold on a connection of its own instead, and leaves its writer this as
	// a backstop at four times it (sqlitecheckpoint.go).
	q.Add("_pragma", "wal_autocheckpoint(4000)")
	if q.Get("_busy_timeout") == "" && q.Get("_timeout") == "" {
		q.Set("_busy_timeout", "10000")
	}
	q.Set("_txlock", "immediate")
	q.Set("_time_integer_format", "unix_micro")
	q.Set("_inttotime", "1")
	return "sqlite", "file:" + path + "?" + q.Encode(), dialectSQLite, nil
}

// createPrivate creates a SQLite database file that does not exist yet with mode 0600:
// it holds sealed credentials and token hashes, and SQLite gives its -wal and -shm files
// the database file's mode. Any failure is left for SQLite to report when it opens the
// file; an existing file keeps its mode.
// sqliteDirExists says which directory is missing when a SQLite file's is: SQLite only
// says "unable to open database file (14)", and the claim's lock file "no such file or
// directory", neither naming the directory the operator has to create.
func sqliteDirExists(dsn string) error {
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || strings.HasPrefix(path, ":") || strings.Contains(query, "mode=memory") {
		return nil
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		where := ""
		if !filepath.IsAbs(path) {
			// Unlike file() in the config, a relative database_url is taken from the
			// working directory: run from elsewhere, it names another place.
			wd, _ := os.Getwd()
			where = fmt.Sprintf(" (a relative database_url is taken from the working directory, %s, not from the config file's)", wd)
		}
		return fmt.Errorf("open database: the directory %s of the SQLite database %s does not exist%s: create it, or fix database_url", dir, path, where)
	}
	return nil
}

func createPrivate(dsn string) {
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || strings.HasPrefix(path, ":") || strings.Contains(query, "mode=memory") {
		return
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		f.Close()
	}
}

// Close closes the database.
func (s *Store) Close() error {
	if s.read != nil {
		s.read.close()
	}
	if s.prep != nil {
		s.prep.close()
	}
	s.opened.clear()
	s.ckpt.close()
	s.readers.close()
	s.raw.close(s.db.DB)
	// The claim's PostgreSQL session goes before the pool closes (Close would wait for
	// it); the SQLite lock only after the database is closed, so a restore never finds
	// the claim free while this process still has the file open.
	s.claim.releaseSession()
	err := s.db.Close()
	s.ckpt.closeIndex()
	s.claim.release()
	return err
}

// DB exposes the underlying handle for tests and health checks.
func (s *Store) DB() *sqlx.DB { return s.db }

// Dialect reports "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.d.String() }

// Ping checks that the database answers and, on a Serving PostgreSQL store, that the
// claim is still held (taken again when its session was lost).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	return s.claim.recheck(ctx)
}

// InTx runs fn in one transaction: committed when fn returns nil, rolled back otherwise
// (and on panic). fn must not call out to plugins or the network: on SQLite it holds
// the only connection that writes.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return s.queries.inTx(ctx, func(q queries) error { return fn(&Tx{queries: q}) })
}

// inTx runs fn in a transaction, or directly when q already is one.
func (q queries) inTx(ctx context.Context, fn func(q queries) error) error {
	return q.inTxWith(ctx, nil, fn)
}

// inReadTx is inTx for a read-only transaction: one a streaming standby accepts, where
// lib/pq's default BEGIN READ WRITE fails ("cannot set transaction read-write mode
// during recovery"). For reads that need a transaction only for its settings (SET
// LOCAL) and may run on the read replica.
func (q queries) inReadTx(ctx context.Context, fn func(q queries) error) error {
	return q.inTxWith(ctx, &sql.TxOptions{ReadOnly: true}, fn)
}

// withoutJIT runs fn's reads on PostgreSQL in a read-only transaction with JIT off; on
// SQLite, or inside a transaction already, it runs fn as it is. PostgreSQL compiles a
// statement whose estimated cost passes jit_above_cost, and over a partitioned table it
// compiles every partition's expressions: tens of milliseconds to seconds for a
// statement that reads a few hundred rows (a summary, ListAudit). The transaction costs
// three round trips (BEGIN, SET, COMMIT): the median pool's 24 hourly buckets went from
// 1.2 to 2.0 ms. Read only, as the read replica requires.
func (q queries) withoutJIT(ctx context.Context, fn func(q queries) error) error {
	if q.d != dialectPostgres || q.db == nil {
		return fn(q)
	}
	return q.inReadTx(ctx, func(q queries) error {
		if _, err := q.exec(ctx, `SET LOCAL jit = off`); err != nil {
			return err
		}
		return fn(q)
	})
}

func (q queries) inTxWith(ctx context.Context, opts *sql.TxOptions, fn func(q queries) error) (err error) {
	if q.db == nil {
		return fn(q)
	}
	ctx, span := q.startSpan(ctx, "store.transaction")
	tx, err := q.db.BeginTxx(ctx, opts)
	if err != nil {
		tracing.Fail(span, err)
		span.End()
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			span.End()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
		tracing.Fail(span, err)
		span.End()
	}()
	inner := q
	inner.q = tx
	inner.db = nil
	if err := fn(inner); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	return nil
}

// ts normalizes a time for storage: UTC, microseconds (PostgreSQL's precision), so a
// value written and read back compares equal on both engines.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsPtr is ts for nullable columns; a zero time is NULL.
func tsPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := ts(t)
	return &v
}

func (q queries) clock() time.Time { return ts(q.now()) }

// get and sel wrap sqlx with Rebind and error mapping.
func (q queries) get(ctx context.Context, dest any, query string, args ...any) error {
	return mapError(sqlx.GetContext(ctx, q.q, dest, q.q.Rebind(query), args...))
}

func (q queries) sel(ctx context.Context, dest any, query string, args ...any) error {
	return mapError(sqlx.SelectContext(ctx, q.q, dest, q.q.Rebind(query), args...))
}

func (q queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := q.q.ExecContext(ctx, q.q.Rebind(query), args...)
	return res, mapError(err)
}

// taken counts, for a cap of max places (max 0: no limit, nothing read), the places
// countSQL finds, after taking its turn on the row of table whose id is id: two creates
// at once cannot both take the last place (serializeOnSQL; SQLite's transactions are one
// at a time). full reports n >= max. Run inside the transaction that then creates.
func (q queries) taken(ctx context.Context, table string, id int64, max int, countSQL string, args ...any) (n int, full bool, err error) {
	if max <= 0 {
		return 0, false, nil
	}
	var locked int64
	if err := q.get(ctx, &locked, `SELECT id FROM `+table+` WHERE id = ?`+q.d.serializeOnSQL(), id); err != nil {
		return 0, false, err
	}
	if err := q.get(ctx, &n, countSQL, args...); err != nil {
		return 0, false, err
	}
	return n, n >= max, nil
}

// execOne runs an update that must touch exactly one row, ErrNotFound otherwise.
func (q queries) execOne(ctx context.Context, query string, args ...any) error {
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
