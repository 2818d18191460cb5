package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The audit actions the activity overview counts. They are written by host/webhook and
// host/retry; the strings are repeated here because store knows SQL, not those packages
// (a test in host/activity checks they agree).
const (
	auditWebhookReceived = "webhook.received"
	auditWebhookQueued   = "webhook.queued_for_retry"
	auditWebhookRejected = "webhook.rejected"
	auditIngestionDead   = "ingestion.dead"
	auditRetrySucceeded  = "ingestion.retry_succeeded"
)

// ActivityCount is how many audit events of one action a provider had in one hour.
type ActivityCount struct {
	Provider string `db:"provider"`
	Action   string `db:"action"`
	Hour     int64  `db:"hour"` // hours since the Unix epoch
	Count    int64  `db:"n"`
	// Suppressed adds the rejections the audit rate limit folded into this hour's rows
	// (webhook.rejected's suppressed_since_last), so rejected counts are whole.
	Suppressed int64 `db:"suppressed"`
}

// DeliveryActivity counts webhook outcomes (received, queued for retry, dead, rejected,
// stored by a retry)
// by provider and hour since a time, from the audit trail — the one record every
// replica writes. It reads the audit rows of the period: meant for an operator's page,
// not for a hot path.
func (q queries) DeliveryActivity(ctx context.Context, since time.Time) ([]ActivityCount, error) {
	var out []ActivityCount
	err := q.sel(ctx, &out, `SELECT provider, action, `+q.d.hourSQL("at")+` AS hour, COUNT(*) AS n,
			SUM(`+q.d.auditDetailIntSQL("suppressed_since_last")+`) AS suppressed
		FROM audit_events
		WHERE at >= ? AND action IN (?, ?, ?, ?, ?) AND provider <> ''
		GROUP BY provider, action, hour ORDER BY provider, hour`,
		ts(since), auditWebhookReceived, auditWebhookQueued, auditWebhookRejected, auditIngestionDead, auditRetrySucceeded)
	if err != nil {
		return nil, fmt.Errorf("delivery activity: %w", err)
	}
	return out, nil
}

// DroppedCount is how many readings of a provider were dropped for one reason.
type DroppedCount struct {
	Provider string `db:"provider"`
	Reason   string `db:"reason"`
	Count    int64  `db:"n"`
}

// DroppedReadings sums the readings dropped by reason per provider since a time, as
// recorded on each delivery's and each successful retry's audit row.
func (q queries) DroppedReadings(ctx context.Context, since time.Time) ([]DroppedCount, error) {
	actions := "'" + strings.Join([]string{auditWebhookReceived, auditRetrySucceeded}, "', '") + "'"
	var out []DroppedCount
	if err := q.sel(ctx, &out, q.d.droppedByReasonSQL(actions)+` ORDER BY provider, reason`, ts(since)); err != nil {
		return nil, fmt.Errorf("dropped readings: %w", err)
	}
	return out, nil
}

// PollActivity is a provider's pull path at a glance.
type PollActivity struct {
	Provider string `db:"provider"`
	Accounts int64  `db:"accounts"` // accounts with a poll state
	Polled   int64  `db:"polled"`   // polled at least once since the time asked
	Failing  int64  `db:"failing"`  // whose last poll failed
}

// PollActivitySince summarises poll_state per provider.
func (q queries) PollActivitySince(ctx context.Context, since time.Time) ([]PollActivity, error) {
	var out []PollActivity
	err := q.sel(ctx, &out, `SELECT provider, COUNT(*) AS accounts,
			SUM(CASE WHEN last_polled_at >= ? THEN 1 ELSE 0 END) AS polled,
			SUM(CASE WHEN consecutive_errors > 0 THEN 1 ELSE 0 END) AS failing
		FROM poll_state GROUP BY provider ORDER BY provider`, ts(since))
	if err != nil {
		return nil, fmt.Errorf("poll activity: %w", err)
	}
	return out, nil
}

// AttentionAccount is an account an operator should look at: its credentials were
// rejected (reauth_required), or its polls keep failing.
type AttentionAccount struct {
	AccountID         int64      `db:"account_id"`
	UserID            int64      `db:"user_id"`
	Email             string     `db:"email"`
	Provider          string     `db:"provider"`
	DisplayName       string     `db:"display_name"`
	Status            string     `db:"status"`
	ConsecutiveErrors int        `db:"consecutive_errors"`
	LastError         string     `db:"last_error"`
	LastPolledAt      *time.Time `db:"last_polled_at"`
	NextPollAt        *time.Time `db:"next_poll_at"`
	UpdatedAt         time.Time  `db:"updated_at"`
}

// AccountsNeedingAttention lists reauth_required accounts and active accounts whose last
// minErrors polls or more failed in a row, worst first.
func (q queries) AccountsNeedingAttention(ctx context.Context, minErrors, limit int) ([]AttentionAccount, error) {
	if minErrors < 1 {
		minErrors = 1
	}
	if limit <= 0 {
		limit = 200
	}
	var out []AttentionAccount
	err := q.sel(ctx, &out, `SELECT a.id AS account_id, a.user_id, u.email, a.provider, a.display_name, a.status,
			COALESCE(p.consecutive_errors, 0) AS consecutive_errors, COALESCE(p.last_error, '') AS last_error,
			p.last_polled_at, p.next_poll_at, a.updated_at
		FROM integration_accounts a JOIN users u ON u.id = a.user_id
			LEFT JOIN poll_state p ON p.account_id = a.id
		WHERE a.status = 'reauth_required' OR (a.status = 'active' AND p.consecutive_errors >= ?)
		ORDER BY CASE WHEN a.status = 'reauth_required' THEN 0 ELSE 1 END,
			COALESCE(p.consecutive_errors, 0) DESC, a.id
		LIMIT ?`, minErrors, limit)
	if err != nil {
		return nil, fmt.Errorf("accounts needing attention: %w", err)
	}
	return out, nil
}

// DeadWaiting is how many dead letters of a provider wait for an operator.
type DeadWaiting struct {
	Provider string `db:"provider"`
	Count    int64  `db:"n"`
}

// DeadLettersWaiting counts dead letters (requeue or discard them) per provider.
func (q queries) DeadLettersWaiting(ctx context.Context) ([]DeadWaiting, error) {
	var out []DeadWaiting
	if err := q.sel(ctx, &out, `SELECT provider, COUNT(*) AS n FROM integration_ingestion_failures
		WHERE status = 'dead' GROUP BY provider ORDER BY provider`); err != nil {
		return nil, fmt.Errorf("dead letters waiting: %w", err)
	}
	return out, nil
}
