package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/jmoiron/sqlx"
	"time"
)

// FailureStatus is a dead-letter row's state: pending → processing → resolved | dead,
// and dead → pending again only by an operator's requeue.
type FailureStatus string

const (
	FailurePending    FailureStatus = "pending"
	FailureProcessing FailureStatus = "processing"
	FailureResolved   FailureStatus = "resolved"
	FailureDead       FailureStatus = "dead"
)

// Due reports whether a row in this state has a next attempt: only a pending one. A
// dead, resolved or processing row's next_attempt_at is history, not a plan, so the
// console and the CLI show none for it.
func (s FailureStatus) Due() bool { return s == FailurePending }

// Failure is a verified delivery that could not be parsed or persisted yet.
type Failure struct {
	ID             int64         `db:"id"`
	Provider       string        `db:"provider"`
	AccountID      int64         `db:"account_id"` // 0 for provider-level webhooks
	Payload        []byte        `db:"payload"`
	Headers        Headers       `db:"headers"`
	DeliveryID     string        `db:"delivery_id"`
	ReceivedAt     time.Time     `db:"received_at"`
	Status         FailureStatus `db:"status"`
	Attempts       int           `db:"attempts"`
	MaxAttempts    int           `db:"max_attempts"`
	NextAttemptAt  time.Time     `db:"next_attempt_at"`
	LeaseOwner     string        `db:"lease_owner"`
	LeaseToken     string        `db:"lease_token"`
	LeaseExpiresAt *time.Time    `db:"lease_expires_at"`
	LastError      string        `db:"last_error"`
	ErrorHistory   ErrorHistory  `db:"error_history"`
	CreatedAt      time.Time     `db:"created_at"`
	UpdatedAt      time.Time     `db:"updated_at"`
	ResolvedAt     *time.Time    `db:"resolved_at"`
}

// Lease identifies one claim of a row. Completing or failing a row compares both the
// owner and the token, so a worker whose lease was rescued — even one that later
// re-claimed the same row — cannot finish the row on a stale claim.
type Lease struct {
	Owner string
	Token string
}

// Lease returns the claim this failure was returned under.
func (f Failure) Lease() Lease { return Lease{Owner: f.LeaseOwner, Token: f.LeaseToken} }

const failureColumns = `id, provider, COALESCE(account_id, 0) AS account_id, payload, headers, delivery_id,
	received_at, status, attempts, max_attempts, next_attempt_at, COALESCE(lease_owner, '') AS lease_owner,
	COALESCE(lease_token, '') AS lease_token, lease_expires_at, last_error, error_history,
	created_at, updated_at, resolved_at`

// NewFailure is a delivery to keep for retry.
type NewFailure struct {
	Provider    string
	AccountID   int64 // 0 when not account-scoped
	Payload     []byte
	Headers     map[string][]string
	DeliveryID  string
	ReceivedAt  time.Time
	MaxAttempts int       // must be > 0
	Error       string    // why it failed, kept as last_error and first history entry
	Dead        bool      // a permanent error: straight to dead, never retried automatically
	NextAttempt time.Time // zero: due now
}

// EnqueueFailure stores a failed delivery, pending (or dead when f.Dead).
func (q queries) EnqueueFailure(ctx context.Context, f NewFailure) (Failure, error) {
	if f.MaxAttempts <= 0 {
		return Failure{}, fmt.Errorf("enqueue failure: %w: max attempts must be positive", ErrInvalid)
	}
	if f.Payload == nil {
		f.Payload = []byte{}
	}
	now := q.clock()
	next := now
	if !f.NextAttempt.IsZero() {
		next = ts(f.NextAttempt)
	}
	received := now
	if !f.ReceivedAt.IsZero() {
		received = ts(f.ReceivedAt)
	}
	status := FailurePending
	if f.Dead {
		status = FailureDead
	}
	history := ErrorHistory{}
	if f.Error != "" {
		history = append(history, FailureError{At: now.Format(time.RFC3339Nano), Attempt: 0, Error: f.Error})
	}
	hist, err := jsonValue(history)
	if err != nil {
		return Failure{}, fmt.Errorf("enqueue failure: %w", err)
	}
	var out Failure
	err = q.get(ctx, &out, `INSERT INTO integration_ingestion_failures
		(provider, account_id, payload, headers, delivery_id, received_at, status, attempts, max_attempts,
		 next_attempt_at, last_error, error_history, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?) RETURNING `+failureColumns,
		f.Provider, nullID(f.AccountID), f.Payload, Headers(f.Headers), f.DeliveryID, received, status,
		f.MaxAttempts, next, f.Error, hist, now, now)
	if err != nil {
		return Failure{}, fmt.Errorf("enqueue failure: %w", err)
	}
	return out, nil
}

func newLeaseToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ClaimFailures moves up to limit due pending failures to processing under a lease for
// owner that expires after lease, counting the attempt, and returns them. Concurrent
// claimers (goroutines or replicas) never get the same row.
func (q queries) ClaimFailures(ctx context.Context, owner string, limit int, lease time.Duration) ([]Failure, error) {
	if owner == "" || limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim failures: %w: owner, limit and lease are required", ErrInvalid)
	}
	token, err := newLeaseToken()
	if err != nil {
		return nil, err
	}
	now := q.clock()
	var fs []Failure
	if err := q.sel(ctx, &fs, q.d.claimFailuresSQL(), owner, token, ts(now.Add(lease)), now, now, limit); err != nil {
		return nil, fmt.Errorf("claim failures: %w", err)
	}
	return fs, nil
}

// CompleteFailure marks a claimed failure resolved. ErrLeaseLost when the row is no
// longer processing under this lease.
func (q queries) CompleteFailure(ctx context.Context, id int64, l Lease) error {
	now := q.clock()
	res, err := q.exec(ctx, `UPDATE integration_ingestion_failures
		SET status = 'resolved', resolved_at = ?, updated_at = ?, lease_owner = NULL, lease_token = NULL,
			lease_expires_at = NULL
		WHERE id = ? AND status = 'processing' AND lease_owner = ? AND lease_token = ?`,
		now, now, id, l.Owner, l.Token)
	if err != nil {
		return fmt.Errorf("complete failure: %w", err)
	}
	return leaseResult(res, "complete failure")
}

// FailureOutcome is how an attempt failed.
type FailureOutcome struct {
	Error     string
	RetryAt   time.Time // when to try again if attempts remain
	Permanent bool      // never retry: dead now
	// NotAttempted: the attempt never reached the plugin (not running). The attempt the
	// claim counted is taken back and the row stays pending until RetryAt, whatever its
	// budget: the delivery is not at fault for the host's plugin being down, and the
	// budget is for attempts that parsed it. Permanent wins over it.
	NotAttempted bool
}

// FailFailure records a failed attempt on a claimed row: back to pending until RetryAt,
// or dead when the error is permanent or the attempts are used up. The decision is made
// in the same compare-and-set UPDATE, and the new status is returned. ErrLeaseLost when
// the row is no longer processing under this lease.
func (q queries) FailFailure(ctx context.Context, id int64, l Lease, o FailureOutcome) (FailureStatus, error) {
	now := q.clock()
	retry := now
	if !o.RetryAt.IsZero() {
		retry = ts(o.RetryAt)
	}
	refund := o.NotAttempted && !o.Permanent
	var status FailureStatus
	err := q.get(ctx, &status, `UPDATE integration_ingestion_failures
		SET status = CASE WHEN ? THEN 'dead' WHEN ? THEN 'pending' WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
			attempts = CASE WHEN ? AND attempts > 0 THEN attempts - 1 ELSE attempts END,
			next_attempt_at = ?, last_error = ?, `+q.d.appendErrorSQL()+`,
			updated_at = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE id = ? AND status = 'processing' AND lease_owner = ? AND lease_token = ?
		RETURNING status`,
		o.Permanent, refund, refund, retry, o.Error, now.Format(time.RFC3339Nano), o.Error, now, id, l.Owner, l.Token)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("fail failure: %w", ErrLeaseLost)
		}
		return "", fmt.Errorf("fail failure: %w", err)
	}
	return status, nil
}

// ReleaseFailure hands a claimed row back as if its claim had not happened: pending,
// the attempt the claim counted taken back, due when it was before (so at once, for
// another worker). It is for an attempt the worker cut short because it is stopping,
// never for one that failed (FailFailure counts that). A compare-and-set on the lease
// like CompleteFailure: when the cut-short attempt's transaction committed after all
// (the row is resolved, its readings stored), or the lease expired and another worker
// took the row, nothing changes and the error is ErrLeaseLost. The claim and the
// completion are the row's only other writers under a lease, so a release can neither
// undo a stored attempt nor take a row from its new owner.
func (q queries) ReleaseFailure(ctx context.Context, id int64, l Lease) error {
	now := q.clock()
	res, err := q.exec(ctx, `UPDATE integration_ingestion_failures
		SET status = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
			updated_at = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE id = ? AND status = 'processing' AND lease_owner = ? AND lease_token = ?`,
		now, id, l.Owner, l.Token)
	if err != nil {
		return fmt.Errorf("release failure: %w", err)
	}
	return leaseResult(res, "release failure")
}

// ExtendFailureLease pushes a live lease's expiry out, for slow work.
func (q queries) ExtendFailureLease(ctx context.Context, id int64, l Lease, lease time.Duration) error {
	now := q.clock()
	res, err := q.exec(ctx, `UPDATE integration_ingestion_failures SET lease_expires_at = ?, updated_at = ?
		WHERE id = ? AND status = 'processing' AND lease_owner = ? AND lease_token = ?`,
		ts(now.Add(lease)), now, id, l.Owner, l.Token)
	if err != nil {
		return fmt.Errorf("extend failure lease: %w", err)
	}
	return leaseResult(res, "extend failure lease")
}

// RescuedFailure is a row whose lease expired.
type RescuedFailure struct {
	ID        int64         `db:"id"`
	Provider  string        `db:"provider"`
	Status    FailureStatus `db:"status"`     // pending, or dead when its attempts are used up
	LastError string        `db:"last_error"` // names the owner that lost the lease
}

// RescueExpiredFailures returns up to limit processing rows whose lease has expired to
// pending (or dead when out of attempts), due now, oldest lease first; a caller with more
// to rescue calls again (a page at a time, so one rescue never holds a table-wide lock).
// It is a compare-and-set UPDATE: it only touches rows still processing with an expired
// lease, so a row its owner finished — or that another rescuer already took — is never
// overwritten.
func (q queries) RescueExpiredFailures(ctx context.Context, limit int) ([]RescuedFailure, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("rescue failures: %w: limit is required", ErrInvalid)
	}
	now := q.clock()
	var out []RescuedFailure
	err := q.inTx(ctx, func(q queries) error {
		// The page is picked first, then updated by id: PostgreSQL applied a LIMIT in an
		// UPDATE's subquery past its limit when the UPDATE changed the sort column.
		var ids []int64
		if err := q.sel(ctx, &ids, `SELECT id FROM integration_ingestion_failures
			WHERE status = 'processing' AND lease_expires_at < ?
			ORDER BY lease_expires_at, id LIMIT ?`+q.d.skipLockedSQL(), now, limit); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		query, args, err := sqlx.In(`UPDATE integration_ingestion_failures
			SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
				next_attempt_at = ?, last_error = 'lease expired (owner ' || lease_owner || ')',
				`+q.d.appendErrorSQL()+`,
				updated_at = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
			WHERE id IN (?) AND status = 'processing' AND lease_expires_at < ?
			RETURNING id, provider, status, last_error`,
			now, now.Format(time.RFC3339Nano), "lease expired", now, ids, now)
		if err != nil {
			return err
		}
		return q.sel(ctx, &out, query, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("rescue failures: %w", err)
	}
	return out, nil
}

// GetFailure returns one failure.
func (q queries) GetFailure(ctx context.Context, id int64) (Failure, error) {
	var f Failure
	if err := q.get(ctx, &f, `SELECT `+failureColumns+` FROM integration_ingestion_failures WHERE id = ?`, id); err != nil {
		return Failure{}, fmt.Errorf("get failure: %w", err)
	}
	return f, nil
}

// FailureFilter selects failures for operators, newest first.
type FailureFilter struct {
	Status   FailureStatus // "" for any
	Provider string        // "" for any
	BeforeID int64         // keyset: only ids below this; 0 for the first page
	Limit    int           // 1..501 (a page of 500 and one more to tell whether another follows), default 50
	From, To time.Time     // created in [From, To); zero for no bound
}

// ListFailures returns one page of failures, newest first. The next page is
// BeforeID = the last row's ID, while a full page came back.
func (q queries) ListFailures(ctx context.Context, f FailureFilter) ([]Failure, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 501)
	from, to := bound(f.From), bound(f.To)
	var fs []Failure
	err := q.sel(ctx, &fs, `SELECT `+failureColumns+` FROM integration_ingestion_failures
		WHERE (? = '' OR status = ?) AND (? = '' OR provider = ?) AND (? = 0 OR id < ?)
		  AND (CAST(? AS BIGINT) IS NULL OR created_at >= ?) AND (CAST(? AS BIGINT) IS NULL OR created_at < ?)
		ORDER BY id DESC LIMIT ?`,
		string(f.Status), string(f.Status), f.Provider, f.Provider, f.BeforeID, f.BeforeID,
		isSet(from), from, isSet(to), to, limit)
	if err != nil {
		return nil, fmt.Errorf("list failures: %w", err)
	}
	return fs, nil
}

// RequeueFailure turns a dead failure back to pending, due now, with a fresh attempt
// budget. Only dead rows can be requeued: another is left as it is and returned, as it
// stands, with ErrConflict, so the caller can say what it is instead. The error history
// is kept.
func (q queries) RequeueFailure(ctx context.Context, id int64) (Failure, error) {
	now := q.clock()
	var f Failure
	err := q.get(ctx, &f, `UPDATE integration_ingestion_failures
		SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND status = 'dead' RETURNING `+failureColumns, now, now, id)
	if err == nil {
		return f, nil
	}
	if !isNotFound(err) {
		return Failure{}, fmt.Errorf("requeue failure: %w", err)
	}
	cur, gerr := q.GetFailure(ctx, id)
	if gerr != nil {
		return Failure{}, fmt.Errorf("requeue failure: %w", gerr)
	}
	return cur, fmt.Errorf("requeue failure: %w: only dead failures can be requeued", ErrConflict)
}

// RequeueFilter selects dead failures to requeue in bulk.
type RequeueFilter struct {
	Provider string    // required
	From     time.Time // created at or after; zero for no bound
	To       time.Time // created before; zero for no bound
}

// RequeueFailures requeues every dead failure of a provider created in [From, To) and
// returns their ids.
func (q queries) RequeueFailures(ctx context.Context, f RequeueFilter) ([]int64, error) {
	if f.Provider == "" {
		return nil, fmt.Errorf("requeue failures: %w: provider is required", ErrInvalid)
	}
	now := q.clock()
	from, to := bound(f.From), bound(f.To)
	var ids []int64
	err := q.sel(ctx, &ids, `UPDATE integration_ingestion_failures
		SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
		WHERE status = 'dead' AND provider = ?
		  AND (CAST(? AS BIGINT) IS NULL OR created_at >= ?) AND (CAST(? AS BIGINT) IS NULL OR created_at < ?)
		RETURNING id`, now, now, f.Provider, isSet(from), from, isSet(to), to)
	if err != nil {
		return nil, fmt.Errorf("requeue failures: %w", err)
	}
	return ids, nil
}

// bound is an optional time bound: nil (SQL NULL) when zero.
func bound(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// CountDeadFailures counts the dead failures of a provider created in [From, To): what a
// bulk requeue or discard with the same filter would change, for its confirmation.
func (q queries) CountDeadFailures(ctx context.Context, f RequeueFilter) (int64, error) {
	if f.Provider == "" {
		return 0, fmt.Errorf("count failures: %w: provider is required", ErrInvalid)
	}
	from, to := bound(f.From), bound(f.To)
	var n int64
	err := q.get(ctx, &n, `SELECT COUNT(*) FROM integration_ingestion_failures
		WHERE status = 'dead' AND provider = ?
		  AND (CAST(? AS BIGINT) IS NULL OR created_at >= ?) AND (CAST(? AS BIGINT) IS NULL OR created_at < ?)`,
		f.Provider, isSet(from), from, isSet(to), to)
	if err != nil {
		return 0, fmt.Errorf("count failures: %w", err)
	}
	return n, nil
}

// DiscardDeadFailures deletes every dead failure of a provider created in [From, To) and
// returns their ids. Only dead rows: pending ones are still the retry worker's.
func (q queries) DiscardDeadFailures(ctx context.Context, f RequeueFilter) ([]int64, error) {
	if f.Provider == "" {
		return nil, fmt.Errorf("discard failures: %w: provider is required", ErrInvalid)
	}
	from, to := bound(f.From), bound(f.To)
	var ids []int64
	err := q.sel(ctx, &ids, `DELETE FROM integration_ingestion_failures
		WHERE status = 'dead' AND provider = ?
		  AND (CAST(? AS BIGINT) IS NULL OR created_at >= ?) AND (CAST(? AS BIGINT) IS NULL OR created_at < ?)
		RETURNING id`, f.Provider, isSet(from), from, isSet(to), to)
	if err != nil {
		return nil, fmt.Errorf("discard failures: %w", err)
	}
	return ids, nil
}

// isSet is a typed NULL-or-1 flag: PostgreSQL cannot infer a parameter's type from
// "? IS NULL" alone, so optional bounds are tested through this instead.
func isSet(v any) any {
	if v == nil {
		return nil
	}
	return int64(1)
}

// DiscardFailure deletes a failure an operator gave up on. A row being processed is
// ErrConflict (its worker still holds it); a missing one ErrNotFound.
func (q queries) DiscardFailure(ctx context.Context, id int64) (Failure, error) {
	var f Failure
	err := q.get(ctx, &f, `DELETE FROM integration_ingestion_failures WHERE id = ? AND status <> 'processing'
		RETURNING `+failureColumns, id)
	if err == nil {
		return f, nil
	}
	if !isNotFound(err) {
		return Failure{}, fmt.Errorf("discard failure: %w", err)
	}
	if _, gerr := q.GetFailure(ctx, id); gerr != nil {
		return Failure{}, fmt.Errorf("discard failure: %w", gerr)
	}
	return Failure{}, fmt.Errorf("discard failure: %w: it is being processed", ErrConflict)
}

// FailureCount is the number of failures of one provider in one status.
type FailureCount struct {
	Provider string        `db:"provider"`
	Status   FailureStatus `db:"status"`
	Count    int64         `db:"n"`
}

// FailureCounts counts failures by provider and status, for metrics.
func (q queries) FailureCounts(ctx context.Context) ([]FailureCount, error) {
	var cs []FailureCount
	if err := q.sel(ctx, &cs, `SELECT provider, status, COUNT(*) AS n FROM integration_ingestion_failures
		GROUP BY provider, status ORDER BY provider, status`); err != nil {
		return nil, fmt.Errorf("count failures: %w", err)
	}
	return cs, nil
}

// OldestDueFailureAge is how long the oldest due pending failure has been waiting past
// its next attempt time; 0 when nothing is due.
func (q queries) OldestDueFailureAge(ctx context.Context) (time.Duration, error) {
	now := q.clock()
	var due []time.Time
	if err := q.sel(ctx, &due, `SELECT next_attempt_at FROM integration_ingestion_failures
		WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 1`, now); err != nil {
		return 0, fmt.Errorf("oldest due failure: %w", err)
	}
	if len(due) == 0 {
		return 0, nil
	}
	return now.Sub(due[0]), nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// leaseResult turns a compare-and-set UPDATE's row count into ErrLeaseLost.
func leaseResult(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, ErrLeaseLost)
	}
	return nil
}

// DeadLetterUsage is what an account's dead letters hold: how many, and their payload
// bytes. Counted to cap them (webhooks.max_dead_letters_per_account).
type DeadLetterUsage struct {
	Count int   `db:"n"`
	Bytes int64 `db:"bytes"`
}

// DeadLetterUsage sums the dead letters of one provider account. Run it in the
// transaction that would add one, so the check and the insert see the same rows.
func (q queries) DeadLetterUsage(ctx context.Context, provider string, accountID int64) (DeadLetterUsage, error) {
	var u DeadLetterUsage
	if err := q.get(ctx, &u, `SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(payload)), 0) AS bytes
		FROM integration_ingestion_failures WHERE account_id = ? AND provider = ? AND status = ?`,
		accountID, provider, FailureDead); err != nil {
		return DeadLetterUsage{}, fmt.Errorf("dead letter usage: %w", err)
	}
	return u, nil
}
