package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
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
// stored by a retry) by provider and hour from the hour of since on, from the audit
// trail — the one record every replica writes. It reads the hourly counts RollupAudit
// keeps plus the audit rows not rolled up yet, so its cost does not grow with traffic.
func (q queries) DeliveryActivity(ctx context.Context, since time.Time) ([]ActivityCount, error) {
	hour, start := hourOf(since)
	last, err := q.rolledUpTo(ctx)
	if err != nil {
		return nil, fmt.Errorf("delivery activity: %w", err)
	}
	actions := []any{auditWebhookReceived, auditWebhookQueued, auditWebhookRejected, auditIngestionDead, auditRetrySucceeded}
	args := append(append(append([]any{hour}, actions...), last, ts(start)), actions...)
	var out []ActivityCount
	err = q.sel(ctx, &out, `SELECT provider, action, hour, SUM(n) AS n, SUM(suppressed) AS suppressed FROM (
			SELECT provider, action, hour, n, suppressed FROM audit_hourly
			WHERE hour >= ? AND reason = '' AND action IN (?, ?, ?, ?, ?)
			UNION ALL
			SELECT provider, action, `+q.d.hourSQL("at")+` AS hour, 1 AS n, `+q.d.auditDetailIntSQL("suppressed_since_last")+` AS suppressed
			FROM audit_events
			WHERE id > ? AND at >= ? AND action IN (?, ?, ?, ?, ?) AND provider <> ''
		) x GROUP BY provider, action, hour ORDER BY provider, hour`, args...)
	if err != nil {
		return nil, fmt.Errorf("delivery activity: %w", err)
	}
	return out, nil
}

// rolledUpTo is the last audit id RollupAudit has counted: the rows after it are read
// from audit_events. Read first, as a value, so the planner sees how short that tail is.
func (q queries) rolledUpTo(ctx context.Context) (int64, error) {
	var last int64
	err := q.get(ctx, &last, `SELECT last_id FROM audit_rollup WHERE id = 1`)
	return last, err
}

// hourOf is the hour since the Unix epoch t falls in, and that hour's start: counts are
// kept per hour, so a window starts on an hour.
func hourOf(t time.Time) (int64, time.Time) {
	h := t.Unix() / 3600
	return h, time.Unix(h*3600, 0).UTC()
}

// droppedAction is audit_hourly's action for readings dropped, counted per reason.
const droppedAction = "readings.dropped"

// rollupChunk bounds the audit rows one RollupAudit call counts; rollupLag keeps it off
// rows so recent that a transaction with a smaller id may not have committed yet.
const (
	rollupChunk = 200_000
	rollupLag   = 30 * time.Second
)

// RollupAudit adds the audit rows written since its last call (up to rollupChunk of
// them, and none younger than rollupLag) to the hourly counts the Overview reads, and
// forgets counts older than two days. It returns how many audit ids it covered: call it
// again while that is rollupChunk. Replicas may call it concurrently; they take turns.
func (s *Store) RollupAudit(ctx context.Context) (int64, error) {
	var covered int64
	err := s.inTx(ctx, func(q queries) error {
		var last int64
		if err := q.get(ctx, &last, `SELECT last_id FROM audit_rollup WHERE id = 1`+q.d.forUpdateSQL()); err != nil {
			return err
		}
		// Up to the first row too young to be sure every smaller id has committed.
		var young, upto sql.NullInt64
		if err := q.get(ctx, &young, `SELECT MIN(id) FROM audit_events WHERE id > ? AND id <= ? AND at >= ?`,
			last, last+rollupChunk, ts(q.clock().Add(-rollupLag))); err != nil {
			return err
		}
		if young.Valid {
			upto = sql.NullInt64{Int64: young.Int64 - 1, Valid: young.Int64-1 > last}
		} else if err := q.get(ctx, &upto, `SELECT MAX(id) FROM audit_events WHERE id > ? AND id <= ?`, last, last+rollupChunk); err != nil {
			return err
		}
		if !upto.Valid {
			return nil
		}
		const upsert = ` ON CONFLICT (provider, action, reason, hour) DO UPDATE
			SET n = audit_hourly.n + excluded.n, suppressed = audit_hourly.suppressed + excluded.suppressed`
		if _, err := q.exec(ctx, `INSERT INTO audit_hourly (provider, action, reason, hour, n, suppressed)
			SELECT provider, action, '', `+q.d.hourSQL("at")+` AS hour, COUNT(*), SUM(`+q.d.auditDetailIntSQL("suppressed_since_last")+`)
			FROM audit_events
			WHERE id > ? AND id <= ? AND action IN (?, ?, ?, ?, ?) AND provider <> ''
			GROUP BY provider, action, hour`+upsert,
			last, upto.Int64, auditWebhookReceived, auditWebhookQueued, auditWebhookRejected, auditIngestionDead, auditRetrySucceeded); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO audit_hourly (provider, action, reason, hour, n, suppressed)
			SELECT provider, '`+droppedAction+`', reason, hour, n, 0 FROM (`+q.d.droppedByHourSQL(droppedActions(), "audit_events.id > ? AND audit_events.id <= ?")+`) d
			WHERE true`+upsert, last, upto.Int64); err != nil {
			return err
		}
		hour, _ := hourOf(q.clock().Add(-48 * time.Hour))
		if _, err := q.exec(ctx, `DELETE FROM audit_hourly WHERE hour < ?`, hour); err != nil {
			return err
		}
		covered = upto.Int64 - last
		_, err := q.exec(ctx, `UPDATE audit_rollup SET last_id = ? WHERE id = 1`, upto.Int64)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("roll up audit: %w", err)
	}
	return covered, nil
}

// droppedActions are the audit actions whose details count readings dropped.
func droppedActions() string {
	return "'" + strings.Join([]string{auditWebhookReceived, auditRetrySucceeded}, "', '") + "'"
}

// DroppedCount is how many readings of a provider were dropped for one reason.
type DroppedCount struct {
	Provider string `db:"provider"`
	Reason   string `db:"reason"`
	Count    int64  `db:"n"`
}

// DroppedReadings sums the readings dropped by reason per provider from the hour of
// since on, as recorded on each delivery's and each successful retry's audit row: the
// hourly counts plus the rows not rolled up yet.
func (q queries) DroppedReadings(ctx context.Context, since time.Time) ([]DroppedCount, error) {
	hour, start := hourOf(since)
	last, err := q.rolledUpTo(ctx)
	if err != nil {
		return nil, fmt.Errorf("dropped readings: %w", err)
	}
	var out []DroppedCount
	if err := q.sel(ctx, &out, `SELECT provider, reason, SUM(n) AS n FROM (
			SELECT provider, reason, n FROM audit_hourly WHERE hour >= ? AND action = '`+droppedAction+`'
			UNION ALL
			SELECT provider, reason, n FROM (`+q.d.droppedByHourSQL(droppedActions(),
		"audit_events.id > ? AND at >= ?")+`) t
		) x GROUP BY provider, reason ORDER BY provider, reason`, hour, last, ts(start)); err != nil {
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

// AttentionFilter pages AccountsNeedingAttention.
type AttentionFilter struct {
	MinErrors int             // polls in a row that failed; at least 1
	After     AttentionCursor // only accounts after this place in the order (the next page); zero from the worst
	Limit     int             // default 200
}

// AttentionCursor is an account's place in AccountsNeedingAttention's order, worst
// first: Rank (0 reauth_required, 1 failing polls), then Errors (consecutive failed
// polls) from the most, then ID from the newest. A page's last row's cursor is where the
// next page starts; the zero cursor starts at the worst.
type AttentionCursor struct {
	Rank   int
	Errors int
	ID     int64
}

// Cursor is the account's place in the order, as the query ranks it (attentionRank).
func (a AttentionAccount) Cursor() AttentionCursor {
	rank := 1
	if a.Status == string(AccountReauthRequired) {
		rank = 0
	}
	return AttentionCursor{Rank: rank, Errors: a.ConsecutiveErrors, ID: a.AccountID}
}

// String is the cursor as a page link carries it: "rank.errors.id", e.g. "1.17.4521".
func (c AttentionCursor) String() string {
	return fmt.Sprintf("%d.%d.%d", c.Rank, c.Errors, c.ID)
}

// ParseAttentionCursor reads what String wrote, and only that: rank 0 or 1, errors and
// id in decimal without sign or leading zeros, the id positive. ok is false otherwise.
func ParseAttentionCursor(s string) (c AttentionCursor, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return AttentionCursor{}, false
	}
	rank, err1 := strconv.ParseInt(parts[0], 10, 8)
	errs, err2 := strconv.ParseInt(parts[1], 10, 32)
	id, err3 := strconv.ParseInt(parts[2], 10, 64)
	c = AttentionCursor{Rank: int(rank), Errors: int(errs), ID: id}
	// Written back the same, it had no sign, no leading zero, no space.
	if err1 != nil || err2 != nil || err3 != nil || (rank != 0 && rank != 1) || errs < 0 || id <= 0 || c.String() != s {
		return AttentionCursor{}, false
	}
	return c, true
}

// attentionRank and attentionErrors are the first two keys of AccountsNeedingAttention's
// order, in its SELECT, ORDER BY and keyset alike (AttentionAccount.Cursor ranks the same).
const (
	attentionRank   = "CASE WHEN a.status = 'reauth_required' THEN 0 ELSE 1 END"
	attentionErrors = "COALESCE(p.consecutive_errors, 0)"
)

// AccountsNeedingAttention lists reauth_required accounts and active accounts whose last
// f.MinErrors polls or more failed in a row, worst first: reauth_required ones, then
// the most failed polls, then the newest account (id descending, so both tie-breaks run
// the same way and a page's keyset is "fewer errors, or as many and a smaller id").
//
// A page starts strictly after f.After in that order. The order is on columns that
// change while the operator reads: an account whose failures change between two page
// views may cross the cut and be listed twice, or not at all until a reload. For an
// attention list whose first page is what matters, that beats paging by a stable key
// (the id) and burying the worst accounts among the merely failing.
func (q queries) AccountsNeedingAttention(ctx context.Context, f AttentionFilter) ([]AttentionAccount, error) {
	minErrors, limit := max(f.MinErrors, 1), f.Limit
	if limit <= 0 {
		limit = 200
	}
	where, args := "(a.status = 'reauth_required' OR (a.status = 'active' AND p.consecutive_errors >= ?))", []any{minErrors}
	if f.After.ID > 0 {
		// Spelled out rather than a row comparison: the keys run in different
		// directions (rank up, errors and id down).
		where += " AND (" + attentionRank + " > ? OR (" + attentionRank + " = ? AND (" +
			attentionErrors + " < ? OR (" + attentionErrors + " = ? AND a.id < ?))))"
		args = append(args, f.After.Rank, f.After.Rank, f.After.Errors, f.After.Errors, f.After.ID)
	}
	var out []AttentionAccount
	err := q.sel(ctx, &out, `SELECT a.id AS account_id, a.user_id, u.email, a.provider, a.display_name, a.status,
			`+attentionErrors+` AS consecutive_errors, COALESCE(p.last_error, '') AS last_error,
			p.last_polled_at, p.next_poll_at, a.updated_at
		FROM integration_accounts a JOIN users u ON u.id = a.user_id
			LEFT JOIN poll_state p ON p.account_id = a.id
		WHERE `+where+`
		ORDER BY `+attentionRank+`, `+attentionErrors+` DESC, a.id DESC
		LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("accounts needing attention: %w", err)
	}
	return out, nil
}

// ProviderAccounts is how many connected (not disconnected) accounts a provider has.
type ProviderAccounts struct {
	Provider string `db:"provider"`
	Count    int64  `db:"n"`
}

// ConnectedAccountsPerProvider counts the connected accounts of every provider that has
// any, configured or not (integration_accounts_provider_idx answers it): the console
// shows those of providers no longer enabled, whose owners may still disconnect them.
func (q queries) ConnectedAccountsPerProvider(ctx context.Context) ([]ProviderAccounts, error) {
	var out []ProviderAccounts
	if err := q.sel(ctx, &out, `SELECT provider, COUNT(*) AS n FROM integration_accounts
		WHERE status <> 'disconnected' GROUP BY provider ORDER BY provider`); err != nil {
		return nil, fmt.Errorf("connected accounts per provider: %w", err)
	}
	return out, nil
}

// ConnectedAccountsOf lists up to limit connected accounts of one provider, oldest
// first, in the shape of AccountsNeedingAttention.
func (q queries) ConnectedAccountsOf(ctx context.Context, provider string, limit int) ([]AttentionAccount, error) {
	var out []AttentionAccount
	err := q.sel(ctx, &out, `SELECT a.id AS account_id, a.user_id, u.email, a.provider, a.display_name, a.status,
			COALESCE(p.consecutive_errors, 0) AS consecutive_errors, COALESCE(p.last_error, '') AS last_error,
			p.last_polled_at, p.next_poll_at, a.updated_at
		FROM integration_accounts a JOIN users u ON u.id = a.user_id
			LEFT JOIN poll_state p ON p.account_id = a.id
		WHERE a.provider = ? AND a.status <> 'disconnected'
		ORDER BY a.id
		LIMIT ?`, provider, limit)
	if err != nil {
		return nil, fmt.Errorf("connected accounts of %s: %w", provider, err)
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
