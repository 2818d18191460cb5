package store

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
)

// This file is the one place where PostgreSQL and SQLite differ. Everything else in the
// package is plain SQL with ? placeholders (rebound to $n for PostgreSQL) and
// INSERT … ON CONFLICT, which both engines spell the same way.

func init() {
	// sqlx does not know modernc's driver name; it takes ? placeholders like sqlite3.
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

type dialect int

const (
	dialectPostgres dialect = iota + 1
	dialectSQLite
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

func (d dialect) goose() goose.Dialect {
	if d == dialectPostgres {
		return goose.DialectPostgres
	}
	return goose.DialectSQLite3
}

// claimFailuresSQL moves up to N due pending failures to processing under one lease.
//
// PostgreSQL: several replicas claim at once, so the candidate rows are locked with
// FOR UPDATE SKIP LOCKED — a replica skips rows another is claiming instead of waiting
// for them or claiming them twice.
// SQLite: one writer at a time, so a single UPDATE … RETURNING is already atomic.
//
// Args: owner, token, lease expiry, now, now (due), limit.
func (d dialect) claimFailuresSQL() string {
	const set = `status = 'processing', lease_owner = ?, lease_token = ?, lease_expires_at = ?,
		attempts = attempts + 1, updated_at = ?`
	if d == dialectPostgres {
		return `UPDATE integration_ingestion_failures AS f SET ` + set + `
		FROM (SELECT id AS due_id FROM integration_ingestion_failures
		      WHERE status = 'pending' AND next_attempt_at <= ?
		      ORDER BY next_attempt_at, id LIMIT ?
		      FOR UPDATE SKIP LOCKED) AS due
		WHERE f.id = due.due_id
		RETURNING ` + failureColumns
	}
	return `UPDATE integration_ingestion_failures SET ` + set + `
		WHERE id IN (SELECT id FROM integration_ingestion_failures
		             WHERE status = 'pending' AND next_attempt_at <= ?
		             ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING ` + failureColumns
}

// claimCommandsSQL leases up to N due commands: queued, not_before passed, not expired,
// the oldest queued of their device, the device with nothing sending and nothing
// dispatched since the rate limit's cut-off. The partial unique index
// commands_one_sending_idx backs "one in flight per device" in the database itself.
//
// PostgreSQL: FOR UPDATE SKIP LOCKED, so replicas skip each other's candidates. A replica
// whose snapshot predates another's claim still sees that command queued and older, so
// it never claims the next one of the same device early.
// SQLite: one writer, a single UPDATE … RETURNING is atomic.
//
// Args: owner, token, lease expiry, now (updated), now (dispatched), now (due),
// now (expiry), rate-limit cut-off, limit.
func (d dialect) claimCommandsSQL() string {
	const set = `status = 'sending', lease_owner = ?, lease_token = ?, lease_expires_at = ?,
		attempts = attempts + 1, updated_at = ?, dispatched_at = ?`
	const due = `SELECT c.id AS due_id FROM commands AS c
		WHERE c.status = 'queued' AND c.not_before <= ? AND c.expires_at > ?
		  AND NOT EXISTS (SELECT 1 FROM commands AS o WHERE o.device_id = c.device_id AND (
		        o.status = 'sending' OR (o.status = 'queued' AND o.id < c.id) OR o.dispatched_at > ?))
		ORDER BY c.id LIMIT ?`
	if d == dialectPostgres {
		return `UPDATE commands AS f SET ` + set + `
		FROM (` + due + ` FOR UPDATE SKIP LOCKED) AS due
		WHERE f.id = due.due_id
		RETURNING ` + commandColumns
	}
	return `UPDATE commands SET ` + set + `
		WHERE id IN (` + due + `)
		RETURNING ` + commandColumns
}

// claimPollsSQL leases up to N accounts whose poll is due: next_poll_at passed, no live
// lease (an expired lease is taken over here — that is the poll rescue), the account
// active, and its owner not disabled: a disabled user's readings would be dropped anyway,
// so polling her account would only pull her data with her credentials and spend the
// provider's quota. providerIn is an "IN (?)" list expanded by sqlx.In.
//
// Args: owner, token, lease expiry, now, providers…, now (due), now (lease expired), limit.
func (d dialect) claimPollsSQL() string {
	const set = `lease_owner = ?, lease_token = ?, lease_expires_at = ?, updated_at = ?`
	const due = `SELECT p.account_id AS due_id FROM poll_state AS p
		JOIN integration_accounts AS a ON a.id = p.account_id AND a.status = 'active'
		JOIN users AS u ON u.id = a.user_id AND u.disabled_at IS NULL
		WHERE p.provider IN (?) AND p.next_poll_at <= ?
		  AND (p.lease_token IS NULL OR p.lease_expires_at < ?)
		ORDER BY p.next_poll_at, p.account_id LIMIT ?`
	if d == dialectPostgres {
		return `UPDATE poll_state AS ps SET ` + set + `
		FROM (` + due + ` FOR UPDATE OF p SKIP LOCKED) AS due
		WHERE ps.account_id = due.due_id
		RETURNING ` + pollColumns
	}
	return `UPDATE poll_state SET ` + set + `
		WHERE account_id IN (` + due + `)
		RETURNING ` + pollColumns
}

// skipLockedSQL ends a SELECT … FOR UPDATE of rows to change: on PostgreSQL, rows
// another transaction holds are skipped rather than waited for; SQLite has one writer.
func (d dialect) skipLockedSQL() string {
	if d == dialectPostgres {
		return ` FOR UPDATE SKIP LOCKED`
	}
	return ``
}

// appendErrorSQL is the SET expression that appends one {at, attempt, error} entry to
// the error_history JSON array. Args: at (RFC 3339 text), error text.
func (d dialect) appendErrorSQL() string {
	if d == dialectPostgres {
		return `error_history = error_history || jsonb_build_array(jsonb_build_object(
			'at', CAST(? AS TEXT), 'attempt', attempts, 'error', CAST(? AS TEXT)))`
	}
	return `error_history = json_insert(error_history, '$[#]', json_object(
			'at', ?, 'attempt', attempts, 'error', ?))`
}

// hourSQL is the hour (since the Unix epoch) of the timestamp column col: SQLite keeps
// timestamps as Unix microseconds, PostgreSQL as timestamptz.
func (d dialect) hourSQL(col string) string {
	if d == dialectPostgres {
		return `CAST(floor(extract(epoch FROM ` + col + `) / 3600) AS BIGINT)`
	}
	return `(` + col + ` / 3600000000)`
}

// epochMicroSQL is a timestamp expression as microseconds since the Unix epoch, which
// scans the same on both engines even where SQLite has lost the column's declared type
// (aggregates, UNION branches).
func (d dialect) epochMicroSQL(expr string) string {
	if d == dialectPostgres {
		return `CAST(floor(extract(epoch FROM ` + expr + `) * 1000000) AS BIGINT)`
	}
	return `(` + expr + ` + 0)` // an expression: no declared type, so no time conversion
}

// bucketSQL is the start, in seconds since the Unix epoch, of the secs-long bucket
// holding the timestamp column col (UTC; secs divides a day).
func (d dialect) bucketSQL(col string, secs int64) string {
	n := strconv.FormatInt(secs, 10)
	if d == dialectPostgres {
		return `(CAST(floor(extract(epoch FROM ` + col + `) / ` + n + `) AS BIGINT) * ` + n + `)`
	}
	return `((` + col + ` / ` + strconv.FormatInt(secs*1000000, 10) + `) * ` + n + `)`
}

// auditDetailIntSQL is an integer member of audit_events.details, 0 when absent.
func (d dialect) auditDetailIntSQL(key string) string {
	if d == dialectPostgres {
		return `COALESCE(CAST(details->>'` + key + `' AS BIGINT), 0)`
	}
	return `COALESCE(json_extract(details, '$.` + key + `'), 0)`
}

// droppedByHourSQL sums audit_events.details.dropped ({reason: count}) by provider, hour
// and reason over the given actions, for the audit rows where (a condition on
// audit_events with its own args) selects.
func (d dialect) droppedByHourSQL(actions, where string) string {
	if d == dialectPostgres {
		return `SELECT provider, ` + d.hourSQL("at") + ` AS hour, r.key AS reason, SUM(CAST(r.value AS BIGINT)) AS n
			FROM audit_events, jsonb_each_text(CASE WHEN jsonb_typeof(details->'dropped') = 'object'
				THEN details->'dropped' ELSE '{}'::jsonb END) r
			WHERE ` + where + ` AND action IN (` + actions + `) AND provider <> ''
			GROUP BY provider, hour, r.key`
	}
	return `SELECT provider, ` + d.hourSQL("at") + ` AS hour, r.key AS reason, SUM(r.value) AS n
		FROM audit_events, json_each(audit_events.details, '$.dropped') r
		WHERE ` + where + ` AND action IN (` + actions + `) AND provider <> ''
		GROUP BY provider, hour, r.key`
}

// aboveWatermarkSQL is sensor_readings as a summary reads its open edge: the readings
// with ids in (watermark, maxID], a few when the rollup worker keeps up, and with
// recorded_at in the range it asks for (two placeholders: from, to). Left to
// themselves both planners take the (pool_id, metric, recorded_at) index and filter a
// year of one pool's rows by id (23 ms on PostgreSQL for 35,000 rows); read by the id
// range first, it is the readings since the last run. SQLite: NOT INDEXED leaves it the
// rowid range. PostgreSQL: OFFSET 0 keeps the pool's conditions out of the subquery, so
// it scans the primary key's id range, and the recorded_at range inside it prunes the
// partitions to the range's months: sensor_readings is partitioned by recorded_at, so
// an id range alone probes every month kept (130 at 100 million readings, 16-30 ms of
// planning and probing for an edge of no reading). Far behind (the worker stopped),
// the pool's index is the better way again.
func (d dialect) aboveWatermarkSQL(watermark, maxID int64) string {
	ids := `id > ` + strconv.FormatInt(watermark, 10) + ` AND id <= ` + strconv.FormatInt(maxID, 10)
	if maxID-watermark > 50000 {
		return `(SELECT * FROM sensor_readings WHERE recorded_at >= ? AND recorded_at < ?) AS sensor_readings`
	}
	if d == dialectSQLite {
		return `(SELECT * FROM sensor_readings NOT INDEXED WHERE ` + ids + ` AND recorded_at >= ? AND recorded_at < ?) AS sensor_readings`
	}
	return `(SELECT * FROM sensor_readings WHERE ` + ids + ` AND recorded_at >= ? AND recorded_at < ? OFFSET 0) AS sensor_readings`
}

// readingIDBoundSQL is an expression at least the highest sensor reading id committed:
// where a summary's open edge ends. On PostgreSQL it is the identity sequence's last
// value, one row to read: MAX(id) has no partition to prune (sensor_readings is
// partitioned by recorded_at), so it plans and probes every month kept, 47-84 ms on
// the shared 2-core box at 130 months. The sequence is ahead of MAX(id) by the ids
// that conflicts and rolled-back inserts used up, which only widens the id range the
// edge reads. SQLite keeps a plain table, whose MAX(id) is its rowid B-tree's last
// entry.
func (d dialect) readingIDBoundSQL() string {
	if d == dialectPostgres {
		return `COALESCE(pg_sequence_last_value(pg_get_serial_sequence('sensor_readings', 'id')::regclass), 0)`
	}
	return `(SELECT COALESCE(MAX(id), 0) FROM sensor_readings)`
}

// serializeOnSQL ends a SELECT of a parent row (a user, a pool, an account) whose
// transactions must take turns, such as those counting its children against a cap: FOR
// NO KEY UPDATE on PostgreSQL, which makes them wait for one another but not the inserts
// elsewhere that reference the row (a foreign key's check takes FOR KEY SHARE, which FOR
// UPDATE would block). SQLite's write transaction is alone anyway.
func (d dialect) serializeOnSQL() string {
	if d == dialectPostgres {
		return ` FOR NO KEY UPDATE`
	}
	return ``
}

// forUpdateSQL locks the rows a SELECT reads until the transaction ends (PostgreSQL;
// SQLite's write transaction is alone anyway).
func (d dialect) forUpdateSQL() string {
	if d == dialectPostgres {
		return ` FOR UPDATE`
	}
	return ``
}

// forKeyShareSQL locks the rows a SELECT reads against their deletion until the
// transaction ends, as a foreign key's check does (PostgreSQL; SQLite's write
// transaction is alone anyway).
func (d dialect) forKeyShareSQL() string {
	if d == dialectPostgres {
		return ` FOR KEY SHARE`
	}
	return ``
}

// tableExistsSQL counts tables with the given name in the current schema.
func (d dialect) tableExistsSQL() string {
	if d == dialectPostgres {
		return `SELECT COUNT(*) FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name = ?`
	}
	return `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
}

// readingBatchSize bounds a multi-row INSERT: 9 parameters per reading stay far below
// PostgreSQL's 65,535 and SQLite's 32,766 bind-parameter limits.
func (d dialect) readingBatchSize() int { return 500 }

// insertReadingsSQL is one INSERT of rs into sensor_readings (their times already
// defaulted) that skips keys already stored.
//
// PostgreSQL: nine array parameters, unnested. The statement text is the same for any
// number of rows, and the server parses nine parameters instead of nine per row: with
// group commit a statement carries hundreds of rows, and parsing and planning a VALUES
// list that long cost more server CPU than inserting it. An empty payload is NULL, as
// on SQLite (ByteaArray cannot say NULL per element). The rows go in key order, as
// writeDeliveriesSQL's, so that concurrent writers sharing keys cannot deadlock.
// SQLite: a multi-row VALUES list (InsertReadings, for imports and tests; the group
// commit prepares one row's INSERT instead: writeDeliveriesTx).
func (d dialect) insertReadingsSQL(rs []Reading) (string, []any) {
	const cols = `INSERT INTO sensor_readings
		(device_id, pool_id, metric, value, unit, recorded_at, received_at, quality, raw_payload, qualifier) `
	const conflict = ` ON CONFLICT (device_id, recorded_at, metric) DO NOTHING`
	if d == dialectPostgres {
		return cols + `SELECT d, p, m, v, u, ` + microsSQL("rec") + `, ` + microsSQL("rcv") + `, q, NULLIF(raw, ''::bytea), NULLIF(ql, '')
			FROM unnest(CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS DOUBLE PRECISION[]),
			            CAST(? AS TEXT[]), CAST(? AS BIGINT[]), CAST(? AS BIGINT[]), CAST(? AS TEXT[]),
			            CAST(? AS BYTEA[]), CAST(? AS TEXT[])) AS r(d, p, m, v, u, rec, rcv, q, raw, ql)
			ORDER BY d, rec, m` + conflict,
			readingArrays(rs)
	}
	var sb strings.Builder
	sb.Grow(len(cols) + len(conflict) + 20*len(rs))
	sb.WriteString(cols)
	sb.WriteString("VALUES ")
	args := make([]any, 0, len(rs)*10)
	for i, r := range rs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?)")
		var raw, qual any
		if len(r.RawPayload) > 0 {
			raw = r.RawPayload
		}
		if r.Qualifier != "" {
			qual = r.Qualifier
		}
		args = append(args, r.DeviceID, r.PoolID, r.Metric, r.Value, r.Unit, r.RecordedAt, r.ReceivedAt, r.Quality, raw, qual)
	}
	sb.WriteString(conflict)
	return sb.String(), args
}

// postgresDSN turns on lib/pq's binary_parameters unless the URL chooses: parameters
// are then sent with the statement (one round trip) instead of after a Describe of the
// unnamed statement (two). A group-committed delivery is ~5 statements, so that is most
// of its round trips. []byte parameters go in binary, which only bytea columns receive:
// the JSON types write text.
func postgresDSN(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// Not url.Error's own text: it quotes the URL, password and all.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("parse database url: %w", err)
	}
	q := u.Query()
	if !q.Has("binary_parameters") {
		q.Set("binary_parameters", "yes")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// readingArrays is rs as the ten column arrays PostgreSQL's unnest INSERTs take, in
// sensor_readings' column order (device, pool, metric, value, unit, recorded, received,
// quality, raw payload, qualifier).
//
// The two times go as microseconds since the Unix epoch (their precision on both
// engines: ts), which the statements turn back into timestamps exactly (microsSQL).
// Formatting them as RFC 3339 text cost two allocations per reading, 20 of a 10-reading
// delivery's (host/bench), and the server parsed the text back.
func readingArrays(rs []Reading) []any {
	n := len(rs)
	var (
		device, pool      = make(int8Array, n), make(int8Array, n)
		metric, unit      = make(textArray, n), make(textArray, n)
		quality, qual     = make(textArray, n), make(textArray, n)
		recorded, receive = make(int8Array, n), make(int8Array, n)
		value             = make(float8Array, n)
		raw               = make(byteaArray, n)
	)
	for i, r := range rs {
		device[i], pool[i], metric[i], value[i], unit[i] = r.DeviceID, r.PoolID, r.Metric, r.Value, r.Unit
		recorded[i], receive[i] = r.RecordedAt.UnixMicro(), r.ReceivedAt.UnixMicro()
		quality[i], raw[i], qual[i] = r.Quality, r.RawPayload, r.Qualifier
	}
	return []any{device, pool, metric, value, unit, recorded, receive, quality, raw, qual}
}

// microsSQL is the PostgreSQL timestamp of expr, a count of microseconds since the Unix
// epoch (BIGINT). Exact: the count converts to a double without loss below 2^53 µs
// (year 2255), and interval multiplication rounds to a whole microsecond.
func microsSQL(expr string) string {
	return `(TIMESTAMPTZ 'epoch' + ` + expr + ` * INTERVAL '1 microsecond')`
}

// opaque is a placeholder whose value a prepared statement's plans do not look at.
// PostgreSQL plans a prepared statement for its first five executions with their
// values (custom plans), then keeps its generic plan only if that is estimated no
// dearer. When a value's statistics make the custom plans look much cheaper (one
// provider with 8 devices beside one with 20,000: the custom plan costed 24, the
// generic 240), it plans the statement afresh on every execution, forever. Read
// through an InitPlan, the value is unknown to every plan alike, so the estimates
// agree and the generic plan is kept. The InitPlan still feeds index conditions.
// SQLite keeps no plans across executions, so there it is the plain placeholder.
func (d dialect) opaque(cast string) string {
	if d == dialectPostgres {
		return "(SELECT CAST(? AS " + cast + "))"
	}
	return "?"
}

// inList is "column IN (…)" for a list of text values: the SQL after the column and its
// arguments. PostgreSQL takes the list as one array parameter, = ANY(?), so the
// statement text — and the server's parse of it — is the same for any length of list;
// the array is opaque, for a prepared statement's generic plan. SQLite expands one placeholder per value.
func (d dialect) inList(values []string) (string, []any, error) {
	if d == dialectPostgres {
		// The outer CAST: without it, ANY would read the InitPlan's SELECT as the rows
		// to compare with (ANY (subquery)).
		return "= ANY(CAST(" + d.opaque("TEXT[]") + " AS TEXT[]))", []any{pq.StringArray(values)}, nil
	}
	in, args, err := sqlx.In("IN (?)", values)
	return in, args, err
}
