package store

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// prepared keeps server-side prepared statements for the few queries on the ingestion
// hot path. lib/pq sends every other query as an unnamed statement that PostgreSQL
// parses and plans again each time; for the device lookup, planning cost four times
// its execution (pg_stat_statements under host/bench). database/sql prepares a Stmt
// lazily on each pooled connection and re-prepares it after a reconnect.
//
// SQLite keeps its statements in process: it has no cache here (nil).
type prepared struct {
	db *sqlx.DB
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

func newPrepared(db *sqlx.DB) *prepared { return &prepared{db: db, m: map[string]*sqlx.Stmt{}} }

// stmt returns the statement for query (already rebound), preparing it once.
func (p *prepared) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.m[query]; ok {
		return st, nil
	}
	st, err := p.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
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
	st, err := q.prep.stmt(ctx, q.q.Rebind(query))
	if err != nil {
		return mapError(err)
	}
	if tx, ok := q.q.(*sqlx.Tx); ok {
		st = tx.StmtxContext(ctx, st)
		defer st.Close()
	}
	return mapError(st.SelectContext(ctx, dest, args...))
}
