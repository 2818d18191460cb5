package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// DeliveryWrite is one delivery's share of a group commit: its readings and, optionally,
// the audit row that accounts for them.
type DeliveryWrite struct {
	Readings []Reading
	// Audit, when set, is stored with the readings. Its Details get "accepted" and
	// "duplicates": this delivery's counts, known only once the readings are written.
	Audit *AuditEvent
}

// WriteDeliveries stores several deliveries atomically — every reading (skipping keys
// already stored, and keys an earlier reading of the batch repeats) and every audit row —
// and returns how many of each delivery's readings were new.
//
// On PostgreSQL it is one statement, so one round trip and no BEGIN/COMMIT: under load
// each round trip costs a wakeup on both ends of the connection, and those wakeups, not
// the server's work, were half of a group commit's time (host/bench). The audit rows'
// counts are computed in the statement from what the INSERT returned. On SQLite, in
// process, it is the same work in a transaction.
func (q queries) WriteDeliveries(ctx context.Context, ds []DeliveryWrite) ([]int, error) {
	rows, owner := uniqueReadings(ds, q.clock())
	var accepted []int
	var err error
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

// uniqueReadings flattens ds's readings, their times defaulted, leaving out any that
// repeats the key of an earlier one (the first copy wins; the others are duplicates).
// owner[i] is the delivery rows[i] came from.
func uniqueReadings(ds []DeliveryWrite, now time.Time) (rows []Reading, owner []int) {
	seen := map[readingKey]bool{}
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

// SQLite statements for writeDeliveriesTx: one row each, prepared once per transaction.
//
// A multi-row INSERT has a different text for every batch size, so modernc's SQLite
// parsed and compiled each group commit's statement anew: 300 readings' VALUES list and
// its RETURNING took 8.5 % of the in-process SQLite benchmark's CPU (host/bench), more
// than the commit. SQLite runs in this process, so a row per execution of a prepared
// statement costs no round trip, and RowsAffected says whether the row was new without
// RETURNING and a map from keys back to readings.
const (
	insertReadingSQLite = `INSERT INTO sensor_readings
		(device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier)
		VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (device_id, metric, recorded_at) DO NOTHING`
	insertAuditSQLite = `INSERT INTO audit_events (at, action, actor, provider, target_type, target_id, request_id, details)
		VALUES (?,?,?,?,?,?,?,?)`
)

func (q queries) writeDeliveriesTx(ctx context.Context, ds []DeliveryWrite, rows []Reading, owner []int) ([]int, error) {
	accepted := make([]int, len(ds))
	err := q.inTx(ctx, func(q queries) error {
		clear(accepted)
		tx, ok := q.q.(*sqlx.Tx)
		if !ok {
			return fmt.Errorf("write deliveries: not in a transaction (%T)", q.q)
		}
		ins, err := tx.PrepareContext(ctx, insertReadingSQLite)
		if err != nil {
			return mapError(err)
		}
		defer ins.Close()
		for i, r := range rows {
			var raw, qual any
			if len(r.RawPayload) > 0 {
				raw = r.RawPayload
			}
			if r.Qualifier != "" {
				qual = r.Qualifier
			}
			res, err := ins.ExecContext(ctx, r.DeviceID, r.PoolID, r.Metric, r.Value, r.Unit, r.RecordedAt, r.ReceivedAt,
				r.Quality, raw, qual)
			if err != nil {
				return mapError(err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				accepted[owner[i]]++
			}
		}
		var audit *sql.Stmt
		now := q.clock()
		for i, d := range ds {
			if d.Audit == nil {
				continue
			}
			e := withCounts(*d.Audit, accepted[i], len(d.Readings))
			if e.Action == "" || e.Actor == "" {
				return fmt.Errorf("append audit: %w: action and actor are required", ErrInvalid)
			}
			if audit == nil {
				if audit, err = tx.PrepareContext(ctx, insertAuditSQLite); err != nil {
					return mapError(err)
				}
				defer audit.Close()
			}
			at := now
			if !e.At.IsZero() {
				at = ts(e.At)
			}
			if _, err := audit.ExecContext(ctx, at, e.Action, e.Actor, e.Provider, e.TargetType, e.TargetID,
				e.RequestID, e.Details); err != nil {
				return fmt.Errorf("append audit: %w", mapError(err))
			}
		}
		return nil
	})
	return accepted, err
}

// writeDeliveriesSQL inserts the readings (unnested arrays, as insertReadingsSQL), joins
// the rows the INSERT returned back to their deliveries to count them, and inserts the
// audit rows with those counts merged into their details — all one statement, atomic by
// itself. It answers (delivery, new rows) for each delivery with at least one new row.
const writeDeliveriesSQL = `WITH r AS (
	SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::DOUBLE PRECISION[], $5::TEXT[],
	                     $6::TIMESTAMPTZ[], $7::TIMESTAMPTZ[], $8::TEXT[], $9::BYTEA[], $10::TEXT[], $11::INT[])
		AS r(d, p, m, v, u, rec, rcv, q, raw, ql, owner)
), ins AS (
	INSERT INTO sensor_readings (device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier)
	SELECT d, p, m, v, u, rec, rcv, q, NULLIF(raw, ''::bytea), NULLIF(ql, '') FROM r
	ON CONFLICT (device_id, metric, recorded_at) DO NOTHING
	RETURNING device_id, metric, recorded_at
), counts AS (
	SELECT r.owner, count(*)::INT AS n
	FROM ins JOIN r ON r.d = ins.device_id AND r.m = ins.metric AND r.rec = ins.recorded_at
	GROUP BY r.owner
), audits AS (
	INSERT INTO audit_events (at, action, actor, provider, target_type, target_id, request_id, details)
	SELECT a.at, a.action, a.actor, a.provider, a.target_type, a.target_id, a.request_id,
	       a.details::JSONB || jsonb_build_object('accepted', COALESCE(c.n, 0), 'duplicates', a.total - COALESCE(c.n, 0))
	FROM unnest($12::TIMESTAMPTZ[], $13::TEXT[], $14::TEXT[], $15::TEXT[], $16::TEXT[], $17::TEXT[],
	            $18::TEXT[], $19::TEXT[], $20::INT[], $21::INT[])
		WITH ORDINALITY AS a(at, action, actor, provider, target_type, target_id, request_id, details, owner, total, ord)
	LEFT JOIN counts c ON c.owner = a.owner
	ORDER BY a.ord
)
SELECT owner, n FROM counts`

func (q queries) writeDeliveriesPostgres(ctx context.Context, ds []DeliveryWrite, rows []Reading, owner []int) ([]int, error) {
	rowOwner := make(pq.Int64Array, len(rows))
	for i, o := range owner {
		rowOwner[i] = int64(o)
	}
	var (
		at                                  pq.StringArray
		action, actor, provider, targetType pq.StringArray
		targetID, requestID, details        pq.StringArray
		auditOwner, total                   pq.Int64Array
	)
	now := q.clock()
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
		at = append(at, when.Format(time.RFC3339Nano))
		action, actor, provider = append(action, e.Action), append(actor, e.Actor), append(provider, e.Provider)
		targetType, targetID = append(targetType, e.TargetType), append(targetID, e.TargetID)
		requestID, details = append(requestID, e.RequestID), append(details, text)
		auditOwner, total = append(auditOwner, int64(i)), append(total, int64(len(d.Readings)))
	}
	args := append(readingArrays(rows), rowOwner, at, action, actor, provider, targetType, targetID, requestID,
		details, auditOwner, total)
	res, err := q.q.QueryContext(ctx, writeDeliveriesSQL, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer res.Close()
	accepted := make([]int, len(ds))
	for res.Next() {
		var o, c int
		if err := res.Scan(&o, &c); err != nil {
			return nil, err
		}
		if o < 0 || o >= len(ds) {
			return nil, fmt.Errorf("count for delivery %d of %d", o, len(ds))
		}
		accepted[o] = c
	}
	if err := res.Err(); err != nil {
		return nil, mapError(err)
	}
	return accepted, nil
}
