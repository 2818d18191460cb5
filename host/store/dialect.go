package store

import (
	"github.com/jmoiron/sqlx"
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

// claimPollsSQL leases up to N accounts whose poll is due: next_poll_at passed, no live
// lease (an expired lease is taken over here — that is the poll rescue), and the account
// active. providerIn is an "IN (?)" list expanded by sqlx.In.
//
// Args: owner, token, lease expiry, now, providers…, now (due), now (lease expired), limit.
func (d dialect) claimPollsSQL() string {
	const set = `lease_owner = ?, lease_token = ?, lease_expires_at = ?, updated_at = ?`
	const due = `SELECT p.account_id AS due_id FROM poll_state AS p
		JOIN integration_accounts AS a ON a.id = p.account_id AND a.status = 'active'
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
