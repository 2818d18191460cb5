package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// prepared keeps server-side prepared statements for the few queries on the ingestion
// hot path. lib/pq sends every other query as an unnamed statement that PostgreSQL
// parses and plans again each time; for the device lookup, planning cost four times
// its execution (pg_stat_statements under host/bench). database/sql prepares a Stmt
// lazily on each pooled connection and re-prepares it after a reconnect.
//
// SQLite parses a statement's text on every query too (modernc's driver keeps no cache):
// the device lookup's parse was 3.5 % of the in-process SQLite benchmark's CPU. Its one
// connection is also the one a transaction holds, so a statement is prepared only
// outside a transaction (inside one, preparing on the pool would wait for the
// transaction's own connection forever); inside, a cached statement is used or the
// query runs unprepared.
type prepared struct {
	db      *sqlx.DB
	oneConn bool // SQLite: see above
	mu      sync.Mutex
	m       map[string]*sqlx.Stmt
}

func newPrepared(db *sqlx.DB, oneConn bool) *prepared {
	return &prepared{db: db, oneConn: oneConn, m: map[string]*sqlx.Stmt{}}
}

// stmt returns the statement for query (already rebound), preparing it once; nil when
// it is not prepared yet and cannot be now (inTx on SQLite).
func (p *prepared) stmt(ctx context.Context, query string, inTx bool) (*sqlx.Stmt, error) {
	p.mu.Lock()
	st, ok := p.m[query]
	p.mu.Unlock()
	if ok {
		return st, nil
	}
	if p.oneConn && inTx {
		return nil, nil
	}
	// Prepared without the lock held: on SQLite, preparing waits for the one connection,
	// which a transaction may hold while it looks up a statement here.
	st, err := p.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if first, ok := p.m[query]; ok { // another goroutine prepared it meanwhile
		st.Close()
		return first, nil
	}
	p.m[query] = st
	return st, nil
}

func (p *prepared) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.m {
		st.Close()
	}
	clear(p.m)
}

// selPrepared is sel through a prepared statement where there is a cache, on the
// transaction's connection inside one.
func (q queries) selPrepared(ctx context.Context, dest any, query string, args ...any) error {
	if q.prep == nil {
		return q.sel(ctx, dest, query, args...)
	}
	tx, inTx := q.q.(*sqlx.Tx)
	st, err := q.prep.stmt(ctx, q.q.Rebind(query), inTx)
	if err != nil {
		return mapError(err)
	}
	if st == nil {
		return q.sel(ctx, dest, query, args...)
	}
	if inTx {
		st = tx.StmtxContext(ctx, st)
		defer st.Close()
	}
	return mapError(st.SelectContext(ctx, dest, args...))
}

// eachPrepared runs query through a prepared statement where there is a cache (on the
// transaction's connection inside one) and calls fn with its rows.
func (q queries) eachPrepared(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	var st *sqlx.Stmt
	if q.prep != nil {
		tx, inTx := q.q.(*sqlx.Tx)
		var err error
		if st, err = q.prep.stmt(ctx, q.q.Rebind(query), inTx); err != nil {
			return mapError(err)
		}
		if st != nil && inTx {
			st = tx.StmtxContext(ctx, st)
			defer st.Close()
		}
	}
	var rows *sql.Rows
	var err error
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.q.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return mapError(err)
	}
	defer rows.Close()
	if err := fn(rows); err != nil {
		return err
	}
	return mapError(rows.Err())
}
