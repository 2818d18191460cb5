package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// SQLite's side of WriteDeliveries: in one transaction, the batch's replay keys, its
// readings and its audit rows, each as multi-row INSERTs of a few fixed sizes.
//
// What a group commit cost on SQLite, and what each choice here buys, from
// BenchmarkWriteDeliveries (32 deliveries a call, CPU per delivery, SQLite included):
//   - A multi-row statement that may abort keeps a statement journal: a copy of every
//     page it changes that the transaction had changed before. Past 64 KiB SQLite spills
//     that journal to a temporary file, so a quarter of the CPU was write(2) into it
//     (temp_store MEMORY, sqliteDSN). Fewer, larger statements also copy fewer pages.
//   - The readings' and replay keys' INSERTs keep no statement journal at all: they are
//     INSERT OR IGNORE, which cannot abort (a duplicate key is skipped, as ON CONFLICT
//     DO NOTHING did, and so would be a row failing NOT NULL or CHECK), and SQLite
//     journals only statements that may abort halfway. What those constraints refused
//     (an empty metric or delivery id, a NaN value, which SQLite stores as NULL) is
//     refused before the INSERT instead, with the same ErrInvalid.
//     BenchmarkWriteDeliveries spent 106-123 µs of CPU per delivery instead of 120-140
//     (three interleaved pairs on the shared VM, all three lower).
//   - A statement's text is parsed and compiled on every prepare (modernc's driver
//     keeps no cache), and a statement prepared inside a transaction dies with it. So
//     every statement here has one of a few fixed sizes — full chunks, then powers of
//     two for the rest — and is prepared once on the store's one connection, outside
//     any transaction (prepared), then borrowed by each transaction.
//   - Rows of several deliveries share a statement. RowsAffected says how many of the
//     statement's rows were new; when that is all of them (a webhook's usual case),
//     each delivery's count is its row count. When not, the new ones are the rows with
//     rowids just below LastInsertId: SQLite gives every new row of an INSERT the
//     table's largest rowid plus one, and this transaction is the only writer, so one
//     statement's new rows hold exactly the rowids (LastInsertId-RowsAffected,
//     LastInsertId], and reading their keys back says which rows were new.
const (
	// 256 readings are 2,560 parameters, far below SQLite's limit (32,766). Each
	// statement costs about 26 µs of CPU of its own (opening its cursors and statement
	// journal, binding, resetting; BenchmarkWriteDeliveries at 8 rows a statement against
	// 256), and with 64 a group commit of 26 deliveries (260 readings) ran 11 INSERTs
	// instead of 8 (TestSQLiteGroupCommitStatements). BenchmarkWriteDeliveries (32
	// deliveries a call) went from 114-126 to 93-124 µs a delivery, and from 87-95 to
	// 76-110 µs of CPU, in four interleaved pairs on the shared VM (three better, one
	// worse), with the readings' argument buffer kept between transactions (sqliteraw.go).
	readingsChunkSQLite = 256
	claimsChunkSQLite   = 64
	auditsChunkSQLite   = 32
)

// sqliteInsert is a multi-row INSERT: head, n rows, tail.
//
// A padded one (the replay keys and the audit rows: one row of few values per delivery)
// has one statement for any number of rows up to its chunk: its rows come from a
// VALUES list of the next power of two, the rest NULL, which its WHERE leaves out.
// Binding a padded row costs far less than a statement of its own (about 26 µs, see
// above): a group commit of 26 deliveries ran three INSERTs of keys (16, 8 and 2 rows)
// and three of audit rows, now one each (TestSQLiteGroupCommitStatements), and
// BenchmarkWriteDeliveries at 26 deliveries a call spent 82 µs of CPU a delivery
// instead of 93 (means of four interleaved pairs on the shared VM; all four faster).
type sqliteInsert struct {
	head, row, tail string
	chunk           int  // most rows in one statement
	pad             bool // see above
}

var (
	readingsSQLite = sqliteInsert{
		head: `INSERT OR IGNORE INTO sensor_readings
		(device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier) VALUES `,
		row:   `(?,?,?,?,?,?,?,?,?,?)`,
		chunk: readingsChunkSQLite,
	}
	// The readings of a chunk with no raw payload and no qualifier (a webhook's usual
	// case): those two columns are NULL in the statement itself, not bound. Binding
	// goes through the driver and SQLite's connection mutex once per parameter, and the
	// two NULLs were a fifth of a chunk's 2,560 (the profile of BenchmarkWriteDeliveries
	// had 6% of its CPU in binding NULLs).
	readingsPlainSQLite = sqliteInsert{
		head:  readingsSQLite.head,
		row:   `(?,?,?,?,?,?,?,?,NULL,NULL)`,
		tail:  readingsSQLite.tail,
		chunk: readingsChunkSQLite,
	}
	// Padded: the VALUES list's first column (provider, at) is never NULL in a real row.
	claimsSQLite = sqliteInsert{
		head:  `INSERT OR IGNORE INTO webhook_deliveries (provider, account_id, delivery_id, first_received_at) SELECT * FROM (VALUES `,
		row:   `(?,?,?,?)`,
		tail:  `) WHERE column1 IS NOT NULL`,
		chunk: claimsChunkSQLite,
		pad:   true,
	}
	auditsSQLite = sqliteInsert{
		head:  `INSERT INTO audit_events (at, action, actor, provider, target_type, target_id, request_id, details) SELECT * FROM (VALUES `,
		row:   `(?,?,?,?,?,?,?,?)`,
		tail:  `) WHERE column1 IS NOT NULL`,
		chunk: auditsChunkSQLite,
		pad:   true,
	}
)

// Statements that read back one INSERT's new rows, by rowid range (see above).
const (
	newReadingsSQLite = `SELECT device_id, metric, recorded_at + 0 FROM sensor_readings WHERE id > ? AND id <= ?`
	newClaimsSQLite   = `SELECT provider, account_id, delivery_id FROM webhook_deliveries WHERE rowid > ? AND rowid <= ?`
)

// sqlTexts keeps each statement's text: built for every statement of every group
// commit, a 256-row INSERT of readings was 10 KB to allocate and write.
var sqlTexts = struct {
	sync.RWMutex
	m map[sqlTextKey]string
}{m: map[sqlTextKey]string{}}

type sqlTextKey struct {
	head, row string
	n         int
}

// sql is the statement for n rows.
func (s sqliteInsert) sql(n int) string {
	k := sqlTextKey{s.head, s.row, n}
	sqlTexts.RLock()
	text, ok := sqlTexts.m[k]
	sqlTexts.RUnlock()
	if ok {
		return text
	}
	text = s.build(n)
	sqlTexts.Lock()
	sqlTexts.m[k] = text
	sqlTexts.Unlock()
	return text
}

func (s sqliteInsert) build(n int) string {
	var sb strings.Builder
	sb.Grow(len(s.head) + n*(len(s.row)+1) + len(s.tail))
	sb.WriteString(s.head)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(s.row)
	}
	sb.WriteString(s.tail)
	return sb.String()
}

// split cuts n rows into statement sizes: full chunks, then the rest as powers of two,
// largest first, so that a few statements serve every batch size; a padded insert's
// rest is one statement, of the power of two at or above it.
func (s sqliteInsert) split(n int) []int {
	var sizes []int
	for ; n >= s.chunk; n -= s.chunk {
		sizes = append(sizes, s.chunk)
	}
	if s.pad {
		if n > 0 {
			p := 1
			for p < n {
				p *= 2
			}
			sizes = append(sizes, p)
		}
		return sizes
	}
	for p := s.chunk / 2; n > 0; p /= 2 {
		if n >= p {
			sizes = append(sizes, p)
			n -= p
		}
	}
	return sizes
}

// sqliteStmts hands a transaction its statements: the store's prepared ones, borrowed
// for the transaction, or, for one prepared nowhere yet, one prepared on the
// transaction (the pool's only connection is the transaction's, so nothing can be
// prepared outside it until it ends).
type sqliteStmts struct {
	ctx  context.Context
	tx   *sqlx.Tx  // nil on conn
	prep *prepared // nil: none
	m    map[string]*sql.Stmt
	// rd runs the reads that follow a conflict: the transaction.
	rd interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
	// conn: the INSERTs run on this connection's driver statements (sqliteraw.go); nil
	// inside a caller's Tx, where they go through database/sql.
	conn *sql.Conn
	raw  *rawStmts
	nv   []driver.NamedValue
	args []any // the readings' arguments
}

func (s *sqliteStmts) get(query string) (*sql.Stmt, error) {
	if st, ok := s.m[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if s.prep != nil {
		cached, err := s.prep.stmt(s.ctx, query, true)
		if err != nil {
			return nil, err
		}
		if cached != nil {
			st = s.tx.StmtContext(s.ctx, cached.Stmt) // closed with the transaction
		}
	}
	if st == nil {
		var err error
		if st, err = s.tx.PrepareContext(s.ctx, query); err != nil {
			return nil, mapError(err)
		}
	}
	s.m[query] = st
	return st, nil
}

// warm prepares, outside any transaction, the statements a batch of rows (ignoring
// replays) will use, so that the transaction finds them prepared.
func (q queries) warmSQLite(ctx context.Context, ins sqliteInsert, rows int) error {
	if q.prep == nil || q.db == nil {
		return nil
	}
	for _, n := range ins.split(rows) {
		if _, err := q.prep.stmt(ctx, ins.sql(n), false); err != nil {
			return mapError(err)
		}
	}
	return nil
}

func (q queries) writeDeliveriesTx(ctx context.Context, ds []DeliveryWrite, rows []Reading, owner []int) ([]int, error) {
	now := q.clock()
	var keys, audits int
	for _, d := range ds {
		if d.Once != nil {
			keys++
		}
		if d.Audit != nil {
			if d.Audit.Action == "" || d.Audit.Actor == "" {
				return nil, fmt.Errorf("append audit: %w: action and actor are required", ErrInvalid)
			}
			audits++
		}
	}
	accepted := make([]int, len(ds))
	pools := poolIDs(rows)
	write := func(st *sqliteStmts) error {
		clear(accepted)
		if err := livePoolsSQLite(st, pools); err != nil {
			return err
		}
		skip, err := claimDeliveriesSQLite(st, ds, now)
		if err != nil {
			return err
		}
		if err := insertReadingsSQLiteTx(st, rows, owner, skip, accepted); err != nil {
			return err
		}
		for i := range ds {
			if skip[i] {
				accepted[i] = Replayed
			}
		}
		return insertAuditsSQLite(st, ds, accepted, now)
	}
	if q.raw != nil && q.db != nil { // the store's own transaction: driver statements
		// Reached only through the combiner (WriteDeliveries), which syncs the WAL after
		// the commit when it has one to sync (sqlitesync.go).
		unsynced := q.comb != nil && q.comb.wal != ""
		err := q.inConnTx(ctx, unsynced, func(conn *sql.Conn, tx *sql.Tx) error {
			st := &sqliteStmts{ctx: ctx, rd: tx, conn: conn, raw: q.raw}
			st.nv, st.args = q.raw.takeBuf()
			defer func() { q.raw.putBuf(st.nv, st.args) }()
			return write(st)
		})
		return accepted, err
	}
	for _, w := range []struct {
		ins sqliteInsert
		n   int
	}{{claimsSQLite, keys}, {readingsSQLite, len(rows)}, {readingsPlainSQLite, len(rows)}, {auditsSQLite, audits}} {
		if err := q.warmSQLite(ctx, w.ins, w.n); err != nil {
			return nil, err
		}
	}
	err := q.inTx(ctx, func(q queries) error {
		tx, ok := q.q.(*sqlx.Tx)
		if !ok {
			return fmt.Errorf("write deliveries: not in a transaction (%T)", q.q)
		}
		return write(&sqliteStmts{ctx: ctx, tx: tx, rd: tx, prep: q.prep, m: map[string]*sql.Stmt{}})
	})
	return accepted, err
}

// livePoolsSQLite is ErrPoolGone when one of pools was deleted (DeletePool) since the
// batch's devices were resolved: nothing of the batch is written. The one writer's
// transaction orders it with the delete.
func livePoolsSQLite(st *sqliteStmts, pools []int64) error {
	if len(pools) == 0 {
		return nil
	}
	list, err := json.Marshal(pools)
	if err != nil {
		return err
	}
	rows, err := st.rd.QueryContext(st.ctx, `SELECT COUNT(*) FROM pools WHERE id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return mapError(err)
	}
	defer rows.Close()
	n := 0
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return mapError(err)
	}
	if n < len(pools) {
		return ErrPoolGone
	}
	return nil
}

// claimDeliveriesSQLite records the batch's replay keys and says which deliveries were
// recorded before (or earlier in the batch): nothing of those is written.
func claimDeliveriesSQLite(st *sqliteStmts, ds []DeliveryWrite, now time.Time) (skip []bool, err error) {
	skip = make([]bool, len(ds))
	var idx []int // deliveries with a key
	for i, d := range ds {
		if d.Once != nil {
			if d.Once.DeliveryID == "" { // the table's CHECK, which OR IGNORE would skip
				return nil, fmt.Errorf("record delivery: %w: a delivery id is required", ErrInvalid)
			}
			idx = append(idx, i)
		}
	}
	sizes := claimsSQLite.split(len(idx))
	args := make([]any, 0, 4*largest(sizes))
	for _, size := range sizes {
		n := min(size, len(idx))
		chunk := idx[:n]
		idx = idx[n:]
		args = args[:0]
		for _, i := range chunk {
			k := ds[i].Once
			args = append(args, k.Provider, k.AccountID, k.DeliveryID, ts(ds[i].onceAt(now)))
		}
		args = padRows(args, 4*(size-n))
		added, last, err := execSQLite(st, claimsSQLite.sql(size), args)
		if err != nil {
			return nil, err
		}
		if added == int64(n) {
			continue
		}
		fresh := map[DeliveryKey]bool{} // recorded by this statement
		if added > 0 {
			rows, err := st.rd.QueryContext(st.ctx, newClaimsSQLite, last-added, last)
			if err != nil {
				return nil, mapError(err)
			}
			for rows.Next() {
				var k DeliveryKey
				if err := rows.Scan(&k.Provider, &k.AccountID, &k.DeliveryID); err != nil {
					rows.Close()
					return nil, err
				}
				fresh[k] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, mapError(err)
			}
		}
		for _, i := range chunk {
			k := *ds[i].Once
			skip[i] = !fresh[k]
			delete(fresh, k) // a second copy in the same statement is a replay of the first
		}
	}
	return skip, nil
}

// insertReadingsSQLiteTx inserts the rows of the deliveries not skipped and adds each
// delivery's new rows to accepted.
func insertReadingsSQLiteTx(st *sqliteStmts, rows []Reading, owner []int, skip []bool, accepted []int) error {
	var idx []int // rows to write
	for i := range rows {
		if skip[owner[i]] {
			continue
		}
		// What the table's NOT NULL and CHECK refuse, which OR IGNORE would skip
		// (SQLite stores a NaN as NULL).
		if rows[i].Metric == "" {
			return fmt.Errorf("insert readings: %w: a reading without a metric", ErrInvalid)
		}
		if math.IsNaN(rows[i].Value) {
			return fmt.Errorf("insert readings: %w: %s is not a number", ErrInvalid, rows[i].Metric)
		}
		idx = append(idx, i)
	}
	args := st.args[:0] // the writer's, kept between transactions (sqliteraw.go)
	if need := 10 * min(len(idx), readingsSQLite.chunk); cap(args) < need {
		args = make([]any, 0, need)
	}
	defer func() { st.args = args[:0] }()
	ids, strs, times := boxes[int64]{}, boxes[string]{}, boxes[time.Time]{}
	for _, n := range readingsSQLite.split(len(idx)) {
		chunk := idx[:n]
		idx = idx[n:]
		args = args[:0]
		ins, plain := readingsPlainSQLite, true
		for _, i := range chunk {
			if len(rows[i].RawPayload) > 0 || rows[i].Qualifier != "" {
				ins, plain = readingsSQLite, false
				break
			}
		}
		for _, i := range chunk {
			r := &rows[i]
			args = append(args, ids.of(r.DeviceID), ids.of(r.PoolID), strs.of(r.Metric), r.Value, strs.of(r.Unit),
				times.of(r.RecordedAt), times.of(r.ReceivedAt), strs.of(r.Quality))
			if plain {
				continue
			}
			var raw, qual any
			if len(r.RawPayload) > 0 {
				raw = r.RawPayload
			}
			if r.Qualifier != "" {
				qual = r.Qualifier
			}
			args = append(args, raw, qual)
		}
		added, last, err := execSQLite(st, ins.sql(n), args)
		if err != nil {
			return err
		}
		if added == int64(n) {
			for _, i := range chunk {
				accepted[owner[i]]++
			}
			continue
		}
		if added == 0 {
			continue
		}
		fresh := map[readingKey]bool{} // stored by this statement
		res, err := st.rd.QueryContext(st.ctx, newReadingsSQLite, last-added, last)
		if err != nil {
			return mapError(err)
		}
		for res.Next() {
			var k readingKey
			if err := res.Scan(&k.device, &k.metric, &k.at); err != nil {
				res.Close()
				return err
			}
			fresh[k] = true
		}
		res.Close()
		if err := res.Err(); err != nil {
			return mapError(err)
		}
		for _, i := range chunk {
			if fresh[keyOf(rows[i].DeviceID, rows[i].Metric, rows[i].RecordedAt)] {
				accepted[owner[i]]++
			}
		}
	}
	return nil
}

// insertAuditsSQLite inserts the audit rows of the deliveries not replayed, in their
// order, each with its delivery's counts.
func insertAuditsSQLite(st *sqliteStmts, ds []DeliveryWrite, accepted []int, now time.Time) error {
	var idx []int
	for i, d := range ds {
		if d.Audit != nil && accepted[i] != Replayed {
			idx = append(idx, i)
		}
	}
	sizes := auditsSQLite.split(len(idx))
	args := make([]any, 0, 8*largest(sizes))
	for _, size := range sizes {
		n := min(size, len(idx))
		chunk := idx[:n]
		idx = idx[n:]
		args = args[:0]
		for _, i := range chunk {
			e := withCounts(*ds[i].Audit, accepted[i], len(ds[i].Readings))
			at := now
			if !e.At.IsZero() {
				at = ts(e.At)
			}
			args = append(args, at, e.Action, e.Actor, e.Provider, e.TargetType, e.TargetID, e.RequestID, e.Details)
		}
		args = padRows(args, 8*(size-n))
		if _, _, err := execSQLite(st, auditsSQLite.sql(size), args); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
	}
	return nil
}

// largest is the first of split's sizes, the largest; 0 for none.
func largest(sizes []int) int {
	if len(sizes) == 0 {
		return 0
	}
	return sizes[0]
}

// padRows appends n NULL arguments: a padded insert's rows past the real ones.
func padRows(args []any, n int) []any {
	for range n {
		args = append(args, nil)
	}
	return args
}

// execSQLite runs one multi-row INSERT and returns how many rows it added and the
// rowid of the last.
func execSQLite(st *sqliteStmts, query string, args []any) (added, last int64, err error) {
	if st.conn != nil {
		added, last, st.nv, err = st.raw.exec(st.ctx, st.conn, query, args, st.nv)
		return added, last, mapError(err)
	}
	stmt, err := st.get(query)
	if err != nil {
		return 0, 0, err
	}
	res, err := stmt.ExecContext(st.ctx, args...)
	if err != nil {
		return 0, 0, mapError(err)
	}
	if added, err = res.RowsAffected(); err != nil {
		return 0, 0, err
	}
	if last, err = res.LastInsertId(); err != nil {
		return 0, 0, err
	}
	return added, last, nil
}

// boxes turns values into the interface values database/sql takes as arguments, once
// per distinct value. A group commit's rows repeat a few devices, pools, metrics, units
// and qualities, and a delivery's readings share their receipt time (often their time
// too): boxing every row's anew was 5 allocations per reading, 50 of a 10-reading
// delivery's (host/bench, SQLite in process).
type boxes[T comparable] map[T]any

func (b boxes[T]) of(v T) any {
	x, ok := b[v]
	if !ok {
		x = v
		b[v] = x
	}
	return x
}
