package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"

	"github.com/poolhost/poolhost/sdk/tracing"
)

// The group commit's INSERTs on SQLite run on the driver's statements directly, not
// through database/sql. database/sql converts every argument of every Exec into a new
// []driver.NamedValue (checking each value's type on the way): for the group commit's
// multi-row INSERTs, 640 values a statement. Here the arguments go into one buffer the
// writer keeps from one transaction to the next, and the prepared statement is the
// driver's own, kept for the life of the writer's connection. A group commit of 26
// deliveries allocated 6.7 KB per delivery instead of 11.9 (6.1 since the readings'
// arguments too are kept, with 256 a statement)
// (TestSQLiteGroupCommitAllocations; BenchmarkWriteDeliveries 8.7 instead of 13.9 KB),
// less for the host's GC to do; its CPU per delivery moved within the shared VM's noise
// (means of eight interleaved pairs 98 and 101 µs). The transaction stays
// database/sql's, on the same connection (a sql.Conn), and so do the rare reads that
// follow a conflict.
type rawStmts struct {
	mu    sync.Mutex
	conn  any // the driver connection m's statements were prepared on
	m     map[string]driver.StmtExecContext
	buf   []driver.NamedValue // the arguments' buffers between transactions
	args  []any
	runs  int // statements executed, for tests
	bound int // arguments bound by them, for tests
}

// takeBuf and putBuf lend the arguments' buffers to one transaction at a time (there is
// one writer): grown afresh by each, they were 3 KB per delivery at 26 a transaction.
func (r *rawStmts) takeBuf() ([]driver.NamedValue, []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, a := r.buf, r.args
	r.buf, r.args = nil, nil
	return b, a
}

func (r *rawStmts) putBuf(b []driver.NamedValue, a []any) {
	clear(a[:cap(a)]) // no references kept to the batch's values
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf, r.args = b[:0], a[:0]
}

// stmt returns query's statement on the driver connection dc, preparing it once.
func (r *rawStmts) stmt(ctx context.Context, dc any, query string) (driver.StmtExecContext, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != dc {
		// Another connection (database/sql replaced a broken one): the statements went
		// with the old one.
		r.conn, r.m = dc, map[string]driver.StmtExecContext{}
	}
	if st, ok := r.m[query]; ok {
		return st, nil
	}
	p, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("sqlite driver connection %T cannot prepare", dc)
	}
	ds, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(driver.StmtExecContext)
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("sqlite driver statement %T cannot execute with a context", ds)
	}
	r.m[query] = st
	return st, nil
}

// close closes the statements prepared on db's connection.
func (r *rawStmts) close(db *sql.DB) {
	if r == nil {
		return
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.Raw(func(dc any) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.conn == dc {
			for _, st := range r.m {
				if c, ok := st.(driver.Stmt); ok {
					c.Close()
				}
			}
		}
		r.conn, r.m = nil, nil
		return nil
	})
}

// exec runs query with args on conn's driver connection, with its prepared statement;
// nv is the caller's buffer for the arguments, returned for reuse.
func (r *rawStmts) exec(ctx context.Context, conn *sql.Conn, query string, args []any, nv []driver.NamedValue) (added, last int64, _ []driver.NamedValue, err error) {
	nv = nv[:0]
	for i, a := range args {
		if v, ok := a.(driver.Valuer); ok { // Details: what database/sql would have called
			if a, err = v.Value(); err != nil {
				return 0, 0, nv, err
			}
		}
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	err = conn.Raw(func(dc any) error {
		r.mu.Lock()
		r.runs++
		r.bound += len(nv)
		r.mu.Unlock()
		st, err := r.stmt(ctx, dc, query)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, nv)
		if err != nil {
			return err
		}
		if added, err = res.RowsAffected(); err != nil {
			return err
		}
		last, err = res.LastInsertId()
		return err
	})
	clear(nv) // no references kept to the batch's values
	return added, last, nv, err
}

// inConnTx runs fn in a transaction on the store's connection, held as a sql.Conn so
// that fn can reach its driver connection (rawStmts.exec); as inTxWith otherwise. With
// unsynced, the transaction commits at synchronous=NORMAL and the caller syncs the WAL
// before it answers anyone (sqlitesync.go).
func (q queries) inConnTx(ctx context.Context, unsynced bool, fn func(conn *sql.Conn, tx *sql.Tx) error) (err error) {
	ctx, span := q.startSpan(ctx, "store.transaction")
	defer func() {
		tracing.Fail(span, err)
		span.End()
	}()
	conn, err := q.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	defer conn.Close()
	if unsynced {
		return withNormalSync(ctx, conn, q.raw, func() error { return connTx(ctx, conn, fn) })
	}
	return connTx(ctx, conn, fn)
}

func connTx(ctx context.Context, conn *sql.Conn, fn func(conn *sql.Conn, tx *sql.Tx) error) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(conn, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	return nil
}
