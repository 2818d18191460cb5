package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// SetSubscriptionError records why the account's webhook subscription failed, one more
// failure in a row, and that the next attempt is due retryIn from now, and returns that
// time; or, with msg "", that it succeeded (or is not needed): error, count and due
// time cleared.
func (q queries) SetSubscriptionError(ctx context.Context, accountID int64, msg string, retryIn time.Duration) (time.Time, error) {
	var err error
	var at time.Time
	if msg == "" {
		err = q.execOne(ctx, `UPDATE integration_accounts SET subscription_error = NULL, subscription_attempts = 0,
			subscription_retry_at = NULL WHERE id = ?`, accountID)
	} else {
		at = ts(q.clock().Add(retryIn))
		err = q.execOne(ctx, `UPDATE integration_accounts SET subscription_error = ?,
			subscription_attempts = subscription_attempts + 1, subscription_retry_at = ? WHERE id = ?`,
			msg, at, accountID)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("set subscription error: %w", err)
	}
	return at, nil
}

// DueSubscriptions returns up to limit active accounts of the given providers whose
// failed subscription is due for another attempt, the longest waiting first. It reads
// only the accounts waiting for one (integration_accounts_subscription_retry_idx).
// Accounts of other providers (disabled, removed, or with webhooks off) are left as they
// are, their attempts unspent, and are due again as soon as their provider is passed again.
func (q queries) DueSubscriptions(ctx context.Context, providers []string, limit int) ([]Account, error) {
	if len(providers) == 0 {
		return nil, nil
	}
	query, args, err := sqlx.In(`SELECT `+accountColumns+` FROM integration_accounts
		WHERE subscription_retry_at IS NOT NULL AND subscription_retry_at <= ?
			AND subscription_error IS NOT NULL AND status = 'active' AND provider IN (?)
			AND NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = integration_accounts.user_id AND u.disabled_at IS NOT NULL)
		ORDER BY subscription_retry_at, id LIMIT ?`, q.clock(), providers, limit)
	if err != nil {
		return nil, fmt.Errorf("due subscriptions: %w", err)
	}
	var as []Account
	if err := q.sel(ctx, &as, query, args...); err != nil {
		return nil, fmt.Errorf("due subscriptions: %w", err)
	}
	return as, nil
}
