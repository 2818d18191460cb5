package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/attribute"

	"github.com/poolhost/poolhost/sdk/tracing"
)

// DeliveryWrite is one delivery's share of a group commit: its readings and, optionally,
// the audit row that accounts for them.
type DeliveryWrite struct {
	Readings []Reading
	// Audit, when set, is stored with the readings. Its Details get "accepted" and
	// "duplicates": this delivery's counts, known only once the readings are written.
	Audit *AuditEvent
	// Once, when set, names the webhook delivery these rows came from: it is recorded
	// (webhook_deliveries) with them, and when it already was — a copy was stored or
	// kept before, by this host or another replica — nothing of this delivery is
	// written and its count is Replayed. Two copies in flight at once on two replicas
	// serialize on the key: the second waits for the first's commit, then writes
	// nothing (or, if the first rolled back, everything).
	Once *DeliveryKey
}

// Replayed is WriteDeliveries' count for a delivery whose Once key was already
// recorded: none of its rows were written.
const Replayed = -1

// GroupCommitWriters is how many group commits (WriteDeliveries) ingest may have in
// flight at once. PostgreSQL: a quarter of the connection pool (5 at the default 20),
// at least 2 (1 in a pool under 4 connections), the rest left to lookups, single
// deliveries, polls and the API. A write is one statement on one backend, so it keeps at
// most one of the server's cores busy and waits out its own COMMIT's WAL flush; with two
// in flight at 64 senders both were always busy and a delivery queued about a third of
// its time for a turn while the box had idle CPU (issue 23, host/bench's queue-ms and
// writes-in-flight). Ingest starts another write only for a batch of 16 waiting
// deliveries (ingest's minShared), so more writers mean more overlap, not smaller
// batches.
//
// SQLite: two where the store has its readers (a file). Both still write
// through the one connection, one after the other; what the second overlaps is
// everything before that: its device lookup (on the readers) and the building of its
// rows, while the first's transaction runs and fsyncs. With one, the writer sat idle
// through those between commits. In four interleaved pairs of BenchmarkWebhookIngest
// (sqlite, c64, on the shared VM) the time between commits fell from 16-36 ms to
// 10-20 ms (the second batch waits for the connection while the first commits),
// deliveries/s rose in every pair (in process 952→1,839, 2,031→2,138, 1,652→1,746,
// 1,598→2,574; through the plugin 1,066→1,082, 1,577→1,876, 1,244→1,241, 1,548→1,996)
// at the same CPU per delivery within noise, though batches are smaller (22 deliveries
// rather than 32). Four rather than two: a batch that waits for the writer shares the
// next transaction and its sync with the others waiting (sqliteCombiner), and with two
// there was rarely more than one waiting. Through the plugin at 64 senders (three
// interleaved pairs on the shared VM) a transaction carried 26.5-28.8 deliveries instead
// of 20.7-21.9, the host spent 222-266 µs of CPU per delivery instead of 275-324, and
// deliveries/s rose 1,988→2,722, 2,133→2,474, 2,546→2,873. Eight did no better.
func (s *Store) GroupCommitWriters() int {
	if s.d != dialectPostgres {
		if s.readers != nil {
			return 4
		}
		return 1
	}
	n := s.db.Stats().MaxOpenConnections
	if n <= 0 {
		n = 20 // unlimited: as many as the default pool (WithMaxOpenConns) would give
	}
	if n < 4 {
		return 1
	}
	return max(2, n/4)
}

// WriteDeliveries stores several deliveries atomically — every reading (skipping keys
// already stored, and keys an earlier reading of the batch repeats) and every audit row —
// and returns how many of each delivery's readings were new (Replayed for a delivery
// whose Once key was recorded before).
//
// On PostgreSQL it is one statement, so one round trip and no BEGIN/COMMIT: under load
// each round trip costs a wakeup on both ends of the connection, and those wakeups, not
// the server's work, were half of a group commit's time (host/bench). The audit rows'
// counts are computed in the statement from what the INSERT returned. On SQLite, in
// process, it is the same work in a transaction, which calls made at once share
// (deliverycombine_sqlite.go).
func (q queries) WriteDeliveries(ctx context.Context, ds []DeliveryWrite) ([]int, error) {
	if q.comb != nil && q.db != nil { // SQLite, outside a transaction
		return q.comb.write(ctx, q, ds)
	}
	return q.writeDeliveries(ctx, ds)
}

func (q queries) writeDeliveries(ctx context.Context, ds []DeliveryWrite) (_ []int, err error) {
	ctx, span := q.startSpan(ctx, "store.write_deliveries")
	defer func() { tracing.Fail(span, err); span.End() }()
	if firsts, of := firstCopies(ds); of != nil {
		// A delivery given twice in one call is written once, here for both engines:
		// PostgreSQL's statement would see both copies' key as new.
		got, err := q.writeDeliveries(ctx, firsts)
		if err != nil {
			return nil, err
		}
		accepted := make([]int, len(ds))
		for i, j := range of {
			accepted[i] = Replayed
			if j >= 0 {
				accepted[i] = got[j]
			}
		}
		return accepted, nil
	}
	rows, owner := uniqueReadings(ds, q.clock())
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("poolhost.deliveries", len(ds)), attribute.Int("poolhost.readings", len(rows)))
	}
	var accepted []int
	if q.d == dialectPostgres {
		accepted, err = q.writeDeliveriesPostgres(ctx, ds, rows, owner)
	} else {
		accepted, err = q.writeDeliveriesTx(ctx, ds, rows, owner)
	}
	if err != nil {
		return nil, fmt.Errorf("write deliveries: %w", err)
	}
	return accepted, nil
}

// firstCopies is ds without the deliveries whose Once key an earlier one of ds carries
// (two requests with one delivery, sharing a group commit): of[i] is ds[i]'s index in
// firsts, -1 for a later copy. of is nil, and ds not copied, when no key repeats — the
// usual case, as the webhook pipeline lets one copy of a delivery in flight per process.
func firstCopies(ds []DeliveryWrite) (firsts []DeliveryWrite, of []int) {
	var seen map[DeliveryKey]bool
	for i, d := range ds {
		if d.Once == nil {
			continue
		}
		if seen == nil {
			seen = make(map[DeliveryKey]bool, len(ds)-i)
		}
		if !seen[*d.Once] {
			seen[*d.Once] = true
			continue
		}
		// A repeat: from here on, build the answer.
		seen = map[DeliveryKey]bool{}
		of = make([]int, len(ds))
		for j, d := range ds {
			if d.Once != nil && seen[*d.Once] {
				of[j] = -1
				continue
			}
			if d.Once != nil {
				seen[*d.Once] = true
			}
			of[j] = len(firsts)
			firsts = append(firsts, d)
		}
		return firsts, of
	}
	return ds, nil
}

// uniqueReadings flattens ds's readings, their times defaulted, leaving out any that
// repeats the key of an earlier one (the first copy wins; the others are duplicates).
// owner[i] is the delivery rows[i] came from.
func uniqueReadings(ds []DeliveryWrite, now time.Time) (rows []Reading, owner []int) {
	// Sized once: grown by append, the rows, the owners and the map were 40% of the bytes
	// a group commit allocated (BenchmarkWriteDeliveries, SQLite).
	n := 0
	for _, d := range ds {
		n += len(d.Readings)
	}
	seen := make(map[readingKey]bool, n)
	rows, owner = make([]Reading, 0, n), make([]int, 0, n)
	for i, d := range ds {
		for _, r := range d.Readings {
			r.ReceivedAt, r.RecordedAt = readingTimes(r, now)
			k := keyOf(r.DeviceID, r.Metric, r.RecordedAt)
			if seen[k] {
				continue
			}
			seen[k] = true
			rows = append(rows, r)
			owner = append(owner, i)
		}
	}
	return rows, owner
}

// withCounts is e with its delivery's counts in its details: accepted of total readings
// were new.
func withCounts(e AuditEvent, accepted, total int) AuditEvent {
	details := make(Details, len(e.Details)+2)
	for k, v := range e.Details {
		details[k] = v
	}
	details["accepted"], details["duplicates"] = accepted, total-accepted
	e.Details = details
	return e
}

// writeDeliveriesSQL records the deliveries' replay keys (k, dl), inserts the readings of
// the deliveries whose key was new (unnested arrays, as insertReadingsSQL), joins
// the rows the INSERT returned back to their deliveries to count them, and inserts the
// audit rows with those counts merged into their details — all one statement, atomic by
// itself. It answers (delivery, new rows) for each delivery with at least one new row
// and (delivery, -1) for each replay; the plain statements answer nothing.
//
// Both INSERTs go in key order (the readings' duplicate key is (device_id, recorded_at,
// metric) since migration 00032). Two writes in flight at once (GroupCommitWriters) may
// share keys — a copy of a delivery, readings sent again under a new delivery id — and
// an INSERT that meets a key another transaction inserted but has not committed waits
// for it. In any other order, two statements could each hold a key the other waits
// for: a deadlock, which PostgreSQL breaks after a second by failing one, whose group
// commit is then retried request by request. In key order, whoever holds the
// smallest shared key finishes first.
var writeDeliveriesSQL = writeDeliveriesStatement(false, false)

// writeDeliveriesFastSQL is writeDeliveriesSQL for readings whose (pool, metric) pairs
// are all in measured_metrics already (measuredPairs): it sets poolhost.measured_kept
// for its transaction, so sensor_readings' measured_metrics trigger (00029) does
// nothing. The setting is made by a condition on the readings' INSERT, evaluated once
// before its first row (a one-time filter), so before the trigger's WHEN is checked at
// the INSERT's end; it lasts until the statement's implicit transaction ends.
var writeDeliveriesFastSQL = writeDeliveriesStatement(true, false)

// writeDeliveriesPlainSQL and writeDeliveriesPlainFastSQL are those two with the
// readings and the replay keys inserted without ON CONFLICT: the statement fails with a
// unique violation rather than skip a key already stored (readingConflicts).
var (
	writeDeliveriesPlainSQL     = writeDeliveriesStatement(false, true)
	writeDeliveriesPlainFastSQL = writeDeliveriesStatement(true, true)
)

// writeDeliveriesStatement is the text of writeDeliveriesSQL, or with measuredKept that
// of writeDeliveriesFastSQL; plain leaves out the readings' and the replay keys' ON
// CONFLICT.
func writeDeliveriesStatement(measuredKept, plain bool) string {
	// The pools the readings are for must still exist (DeletePool): checked once, in a
	// one-time filter like the gate's, under each pool's advisory lock held shared
	// (poolhost_hold_pools, migration 00039). A deleted one fails the statement with
	// ErrPoolGone, nothing written.
	hold := ` AND (SELECT poolhost_hold_pools($28::BIGINT[]))`
	gate := ""
	if measuredKept {
		gate = ` AND (SELECT set_config('poolhost.measured_kept', 'on', true)) = 'on'`
	}
	// The replays' owners (skipped) are one array, computed once: every step tests a
	// row against it with <> ALL, an InitPlan, where NOT IN (SELECT owner FROM
	// skipped) was a hashed SubPlan built in each of three steps for a handful of rows.
	// Usually no key was stored before: then dl returned a row per key (k's keys are
	// distinct: firstCopies) and skipped is the empty array without the anti-join of
	// the keys to dl (the ELSE arm's InitPlan runs only when a key is missing from dl).
	// Owners are never NULL, so <> ALL is NOT IN.
	//
	// With ON CONFLICT the rows the INSERT returned are the new ones, joined back to
	// their deliveries to count them. A plain INSERT stores every row it is given or
	// fails whole, so a delivery's new rows are its rows, known before the statement
	// runs: the audit rows take them from a parameter (kept) and the statement answers
	// only the replays, without returning the rows, counting or joining them (the
	// data-modifying CTE runs to its end whether read or not), and r, read once, is
	// inlined rather than stored in a tuplestore. The backend's CPU for the plain
	// statement, this against the NOT IN form, interleaved batch by batch on one durable
	// cluster (medians of 400 rounds, per delivery): 238 against 254 µs at 16
	// deliveries, 177 against 187 µs at 32 (means 6-8% lower). What was left of the
	// hashing is the replays' anti-join, run only when a key was stored before
	// (TestWriteDeliveriesStatementBuildsNoHashTables).
	counts := `, counts AS (
	SELECT r.owner, count(*)::INT AS n
	FROM ins JOIN r ON r.d = ins.device_id AND r.m = ins.metric AND r.rec = ins.recorded_at
	GROUP BY r.owner
)`
	onConflict := `
	ON CONFLICT (device_id, recorded_at, metric) DO NOTHING
	RETURNING device_id, metric, recorded_at`
	accepted, countsJoin := `COALESCE(c.n, 0)`, `
	LEFT JOIN counts c ON c.owner = a.owner`
	answer := `SELECT owner, n FROM counts UNION ALL `
	if plain {
		counts, onConflict, accepted, countsJoin, answer = "", "", "a.kept", "", ""
	}
	notSkipped := ` <> ALL ((SELECT owners FROM skipped)::INT[])`
	dlConflict := `
	ON CONFLICT (provider, account_id, delivery_id) DO NOTHING
	RETURNING provider, account_id, delivery_id`
	skipped := `, skipped AS (
	SELECT CASE WHEN (SELECT count(*) FROM dl) = COALESCE(cardinality($26::INT[]), 0) THEN '{}'::INT[]
		ELSE ARRAY(SELECT k.owner FROM k WHERE NOT EXISTS (SELECT 1 FROM dl
			WHERE dl.provider = k.provider AND dl.account_id = k.account_id AND dl.delivery_id = k.delivery_id))
	END AS owners
)`
	readingsWhere, auditsWhere := `
	WHERE r.owner`+notSkipped+hold+gate, `
	WHERE a.owner`+notSkipped
	final := answer + `SELECT owner, -1 FROM skipped, unnest(skipped.owners) AS owner`
	if plain {
		// The replay keys are inserted plain as well, as the readings: a key stored
		// before fails the statement with a unique violation like a reading stored
		// before, and the batch is written again with ON CONFLICT for both, which
		// answers the replay (readingConflicts). So the plain statement has no replays
		// to find: no skipped, no replays' filter on either INSERT, and nothing to
		// answer (every delivery's count is its kept). A replay reaching the
		// database is rare (one copy of a delivery in flight per process; a provider's
		// retry of a delivery already stored). The backend's CPU per delivery (ingest's
		// deliveries of 10 readings from 8 devices, two databases of one durable
		// cluster, this against replay keys with ON CONFLICT, statement by statement
		// interleaved, medians of 300): 140 -> 133 µs at 16 deliveries a statement (the
		// new one cheaper in 228 of 300 pairs), 110 -> 106 at 32 (225 of 300).
		//
		// It still takes its keys in the ON CONFLICT statement's order: the replay keys,
		// then the readings, then the audit rows. That one reads dl (skipped) before its
		// first reading and leaves the audit rows, which nothing reads, to the end. Here
		// nothing reads any of the three, so PostgreSQL runs them at the statement's end,
		// the last in the WITH list first (ExecPostprocessPlan; es_auxmodifytables is
		// built with lcons): the audit rows, the readings, then the keys. Two replicas
		// writing copies of one delivery at once, one with each statement, then each
		// took a key the other wanted next and waited for it: a deadlock, which
		// PostgreSQL broke after deadlock_timeout (1 s) by failing one copy's write.
		// So the readings' INSERT reads dl in a one-time filter (an InitPlan, which runs
		// dl to its end before the first reading; dl returns a constant for it to
		// count), and the audit rows come before the readings in the WITH list, so they
		// run after them (their only key is an identity, which nobody waits for, but
		// all three go in one order) (TestWriteDeliveriesTakeReplayKeysThenReadingsThenAudits).
		// That costs nothing measurable in a batch: the backend's CPU per delivery, this
		// against the statement before, interleaved as above (medians of 400 pairs, two
		// runs), 70.9 and 74.5 against 70.7 and 74.8 µs at 16 deliveries, 63.5 and 70.9
		// against 63.4 and 70.9 at 32. A lone delivery pays a few µs for the filter:
		// means 222.9 and 234.4 against 217.1 and 230.4 (medians 206.7 and 217.2
		// against 205.1 and 218.2).
		dlConflict, skipped, auditsWhere, final = `
	RETURNING 1`, "", "", `SELECT 0, 0 WHERE false`
		readingsWhere = `
	WHERE (SELECT count(*) FROM dl) >= 0` + hold
		if measuredKept {
			readingsWhere += `
		AND (SELECT set_config('poolhost.measured_kept', 'on', true)) = 'on'`
		}
	}
	ins := `, ins AS (
	INSERT INTO sensor_readings (device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier)
	SELECT d, p, m, v, u, rec, rcv, q, NULLIF(raw, ''::bytea), NULLIF(ql, '') FROM r` + readingsWhere + `
	ORDER BY d, rec, m` + onConflict + `
)` + counts
	audits := `, audits AS (
	INSERT INTO audit_events (at, action, actor, provider, target_type, target_id, request_id, details)
	SELECT ` + microsSQL("a.at") + `, a.action, a.actor, a.provider, a.target_type, a.target_id, a.request_id,
	       a.details::JSONB || jsonb_build_object('accepted', ` + accepted + `, 'duplicates', a.total - ` + accepted + `)
	FROM unnest($12::BIGINT[], $13::TEXT[], $14::TEXT[], $15::TEXT[], $16::TEXT[], $17::TEXT[],
	            $18::TEXT[], $19::TEXT[], $20::INT[], $21::INT[], $27::INT[])
		WITH ORDINALITY AS a(at, action, actor, provider, target_type, target_id, request_id, details, owner, total, kept, ord)` + countsJoin + auditsWhere + `
	ORDER BY a.ord
)`
	modify := ins + audits
	if plain {
		modify = audits + ins // run last first: see above
	}
	// The readings' arrays are unnested in the select list (a ProjectSet, which streams
	// its rows, the arrays in step as unnest's) rather than by unnest in FROM (a
	// Function Scan, which first copies every row into a tuplestore): interleaved batch
	// by batch as above, 220 against 207 and 159 against 147 µs per delivery at 16
	// deliveries (two runs), 129 against 123 and 201 against 190 at 32.
	return `WITH r AS (
	SELECT d, p, m, v, u, ` + microsSQL("rec_us") + ` AS rec, ` + microsSQL("rcv_us") + ` AS rcv, q, raw, ql, owner
	FROM (SELECT unnest($1::BIGINT[]) AS d, unnest($2::BIGINT[]) AS p, unnest($3::TEXT[]) AS m,
		unnest($4::DOUBLE PRECISION[]) AS v, unnest($5::TEXT[]) AS u, unnest($6::BIGINT[]) AS rec_us,
		unnest($7::BIGINT[]) AS rcv_us, unnest($8::TEXT[]) AS q, unnest($9::BYTEA[]) AS raw,
		unnest($10::TEXT[]) AS ql, unnest($11::INT[]) AS owner) AS r
), k AS (
	SELECT provider, account_id, delivery_id, ` + microsSQL("at_us") + ` AS at, owner
	FROM unnest($22::TEXT[], $23::BIGINT[], $24::TEXT[], $25::BIGINT[], $26::INT[])
		AS k(provider, account_id, delivery_id, at_us, owner)
), dl AS (
	INSERT INTO webhook_deliveries (provider, account_id, delivery_id, first_received_at)
	SELECT provider, account_id, delivery_id, at FROM k ORDER BY provider, account_id, delivery_id` + dlConflict + `
)` + skipped + modify + `
` + final
}

func (q queries) writeDeliveriesPostgres(ctx context.Context, ds []DeliveryWrite, rows []Reading, owner []int) ([]int, error) {
	kept := make([]int, len(ds)) // each delivery's rows, after the batch's duplicates; the plain statement's answer, replays aside
	for _, o := range owner {
		kept[o]++
	}
	args, err := writeDeliveriesArgs(ds, rows, owner, kept, q.clock())
	if err != nil {
		return nil, err
	}
	// Prepared: as an unnamed statement (how lib/pq sends a query) PostgreSQL parsed,
	// analysed and planned this long statement anew for every group commit. Prepared,
	// the backend's CPU per delivery went from 432 to 375 µs (32 deliveries a
	// statement, the two interleaved on one database). It is not planned again either:
	// from its sixth execution on a connection PostgreSQL keeps a generic plan
	// (pg_prepared_statements on the writers' backends after 10,000 deliveries at 64
	// senders: 651 generic plans, 29 custom). What a statement still pays whatever its
	// size is executing, not planning: BenchmarkGroupCommitStatementCPU.
	_, inTx := q.q.(*sqlx.Tx)
	// Not inside a caller's transaction: there the setting would outlive this
	// statement and silence the trigger for the caller's next inserts, and a failed
	// plain statement would abort the caller's transaction.
	fast := !inTx && q.measured.allKnown(rows)
	if !inTx && q.conflicts != nil && q.conflicts.plain() {
		// Stored whole or not at all: every delivery accepted its rows (a replay, like a
		// reading stored before, fails the statement).
		accepted, err := q.runWriteDeliveries(ctx, writeDeliveriesText(fast, true), args, kept)
		if err == nil {
			q.conflicts.stored()
			q.afterWriteDeliveries(ds, rows, owner, accepted, fast, inTx)
			return accepted, nil
		}
		if !isUniqueViolation(err) {
			return nil, err
		}
		// A key already stored (or stored meanwhile by a writer in flight): nothing of
		// the statement was, so the batch is written again with ON CONFLICT.
		q.conflicts.conflicted()
	}
	accepted, err := q.runWriteDeliveries(ctx, writeDeliveriesText(fast, false), args, make([]int, len(ds)))
	if err != nil {
		return nil, err
	}
	q.afterWriteDeliveries(ds, rows, owner, accepted, fast, inTx)
	return accepted, nil
}

// writeDeliveriesText is the group commit's statement: with the measured_metrics
// trigger skipped (fast) or not, the readings inserted plain or with ON CONFLICT.
func writeDeliveriesText(fast, plain bool) string {
	switch {
	case fast && plain:
		return writeDeliveriesPlainFastSQL
	case fast:
		return writeDeliveriesFastSQL
	case plain:
		return writeDeliveriesPlainSQL
	}
	return writeDeliveriesSQL
}

// runWriteDeliveries runs the group commit's statement query and returns each
// delivery's count of new readings: accepted, with the counts the statement answered
// (Replayed for a replay) in place of the ones given.
func (q queries) runWriteDeliveries(ctx context.Context, query string, args []any, accepted []int) ([]int, error) {
	n := len(accepted)
	err := q.eachPrepared(ctx, query, args, func(res *sql.Rows) error {
		for res.Next() {
			var o, c int
			if err := res.Scan(&o, &c); err != nil {
				return err
			}
			if o < 0 || o >= n {
				return fmt.Errorf("count for delivery %d of %d", o, n)
			}
			accepted[o] = c
			if c < 0 {
				accepted[o] = Replayed
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return accepted, nil
}

// afterWriteDeliveries notes the pairs a committed group commit kept in
// measured_metrics.
func (q queries) afterWriteDeliveries(ds []DeliveryWrite, rows []Reading, owner, accepted []int, fast, inTx bool) {
	if !fast && !inTx {
		// Committed, the trigger having kept the pairs of the rows inserted. Only
		// whole deliveries count: of one partly a duplicate, which rows were new is
		// not known (a duplicate's stored row may be of another pool).
		total := make([]int, len(ds))
		for _, o := range owner {
			total[o]++
		}
		q.measured.add(rows, func(i int) bool { return accepted[owner[i]] == total[owner[i]] })
	}
}

// writeDeliveriesArgs is writeDeliveriesSQL's arguments; kept[i] is how many of rows are
// ds[i]'s.
func writeDeliveriesArgs(ds []DeliveryWrite, rows []Reading, owner, kept []int, now time.Time) ([]any, error) {
	rowOwner := make(int4Array, len(rows))
	for i, o := range owner {
		rowOwner[i] = int32(o) // < len(ds) <= ingest's maxBatch
	}
	// Every array sized for every delivery (each usually has an audit row and a key):
	// grown by append, the 14 were about 4 of a delivery's allocations at 14 a batch.
	n := len(ds)
	texts := func() textArray { return make(textArray, 0, n) }
	int4s := func() int4Array { return make(int4Array, 0, n) }
	var (
		at                                  = make(int8Array, 0, n) // µs since the epoch, as readingArrays
		action, actor, provider, targetType = texts(), texts(), texts(), texts()
		targetID, requestID, details        = texts(), texts(), texts()
		auditOwner, total, auditKept        = int4s(), int4s(), int4s()
	)
	for i, d := range ds {
		if d.Audit == nil {
			continue
		}
		e := d.Audit
		if e.Action == "" || e.Actor == "" {
			return nil, fmt.Errorf("%w: audit action and actor are required", ErrInvalid)
		}
		when := now
		if !e.At.IsZero() {
			when = ts(e.At)
		}
		js, err := e.Details.Value() // "{}" for none, which the counts are merged into
		text, ok := js.(string)
		if err != nil || !ok {
			return nil, fmt.Errorf("audit details: %v (%T)", err, js)
		}
		readings, err := int4(len(d.Readings))
		if err != nil {
			return nil, err
		}
		at = append(at, when.UnixMicro())
		action, actor, provider = append(action, e.Action), append(actor, e.Actor), append(provider, e.Provider)
		targetType, targetID = append(targetType, e.TargetType), append(targetID, e.TargetID)
		requestID, details = append(requestID, e.RequestID), append(details, text)
		auditOwner, total = append(auditOwner, int32(i)), append(total, readings)
		auditKept = append(auditKept, int32(kept[i])) // <= total
	}
	var (
		kProvider, kID = texts(), texts()
		kAccount, kAt  = make(int8Array, 0, n), make(int8Array, 0, n)
		kOwner         = int4s()
	)
	for i, d := range ds {
		if d.Once == nil {
			continue
		}
		kProvider, kAccount, kID = append(kProvider, d.Once.Provider), append(kAccount, d.Once.AccountID), append(kID, d.Once.DeliveryID)
		kAt, kOwner = append(kAt, d.onceAt(now).UnixMicro()), append(kOwner, int32(i))
	}
	return append(readingArrays(rows), rowOwner, at, action, actor, provider, targetType, targetID, requestID,
		details, auditOwner, total, kProvider, kAccount, kID, kAt, kOwner, auditKept, int8Array(poolIDs(rows))), nil
}

// onceAt is when d's delivery was received, for its Once record: its audit row's time,
// else now.
func (d DeliveryWrite) onceAt(now time.Time) time.Time {
	if d.Audit != nil && !d.Audit.At.IsZero() {
		return ts(d.Audit.At)
	}
	return now
}
