package store

import (
	"context"
	"fmt"
	"time"

	"github.com/poolhost/poolhost/host"
)

// AccountStatus is a linked provider account's state.
type AccountStatus string

const (
	AccountActive         AccountStatus = "active"
	AccountReauthRequired AccountStatus = "reauth_required" // the provider rejected the credentials
	AccountDisconnected   AccountStatus = "disconnected"    // credentials erased, devices unlinked
)

// Account is a user's linked provider account. Credentials are not part of it: read
// them with AccountCredentials, so listing accounts never decrypts anything.
type Account struct {
	ID                int64         `db:"id"`
	UserID            int64         `db:"user_id"`
	Provider          string        `db:"provider"`
	ExternalAccountID string        `db:"external_account_id"`
	DisplayName       string        `db:"display_name"`
	Status            AccountStatus `db:"status"`
	// CredentialsKeyID names the key that sealed the credentials; "" when there are none.
	CredentialsKeyID string     `db:"credentials_key_id"`
	CreatedAt        time.Time  `db:"created_at"`
	UpdatedAt        time.Time  `db:"updated_at"`
	DisconnectedAt   *time.Time `db:"disconnected_at"`
	// SubscriptionError says why the plugin could not register the account's own
	// webhook URL with its provider (sdk.Subscriber); "" when registered or not needed.
	SubscriptionError string `db:"subscription_error"`
	// SubscriptionAttempts counts the failed subscriptions in a row (since the last
	// success or reconnect); SubscriptionRetryAt
	// is when the next is due (nil without an error).
	SubscriptionAttempts int        `db:"subscription_attempts"`
	SubscriptionRetryAt  *time.Time `db:"subscription_retry_at"`
}

const accountColumns = `id, user_id, provider, external_account_id, display_name, status,
	COALESCE(credentials_key_id, '') AS credentials_key_id, created_at, updated_at, disconnected_at,
	COALESCE(subscription_error, '') AS subscription_error, subscription_attempts, subscription_retry_at`

// NewAccount is a linkage returned by a plugin's Connect or Callback.
type NewAccount struct {
	UserID            int64
	Provider          string
	ExternalAccountID string
	// AlternateAccountIDs are other ids the same provider account may already be linked
	// under (sdk.Linkage.AlternateAccountIDs): when the user has none linked under
	// ExternalAccountID, the first account linked under one of these, in order, is the
	// one renewed, and it keeps its own id.
	AlternateAccountIDs []string
	DisplayName         string
	Credentials         map[string]string
	// MaxPerUser, when positive, refuses a new account (not a reconnect) once the user
	// has that many, disconnected ones included: ErrAccountLimit. Each account may keep
	// its own dead letters, poll state and subscription, so without it one user bounds
	// none of them (connect, disconnect, connect again).
	MaxPerUser int
}

// UpsertAccount stores a linkage: a new account, or — when the user already linked this
// external account — fresh credentials and display name on the existing one, which
// becomes active again with its subscription outcome cleared. created reports which.
func (q queries) UpsertAccount(ctx context.Context, a NewAccount) (acc Account, created bool, err error) {
	if a.Provider == "" || a.ExternalAccountID == "" {
		return Account{}, false, fmt.Errorf("upsert account: %w: provider and external account id are required", ErrInvalid)
	}
	ct, keyID, err := q.seal(a.Credentials, credentialsAAD(a.UserID, a.Provider, a.ExternalAccountID))
	if err != nil {
		return Account{}, false, fmt.Errorf("upsert account: %w", err)
	}
	err = q.inTx(ctx, func(q queries) error {
		now := q.clock()
		var ids []int64
		if err := q.sel(ctx, &ids, `SELECT id FROM integration_accounts
			WHERE user_id = ? AND provider = ? AND external_account_id = ?`,
			a.UserID, a.Provider, a.ExternalAccountID); err != nil {
			return err
		}
		for _, alt := range a.AlternateAccountIDs {
			if len(ids) > 0 {
				break
			}
			if alt == "" || alt == a.ExternalAccountID {
				continue
			}
			if err := q.sel(ctx, &ids, `SELECT id FROM integration_accounts
				WHERE user_id = ? AND provider = ? AND external_account_id = ?`,
				a.UserID, a.Provider, alt); err != nil {
				return err
			}
			if len(ids) > 0 {
				// The account keeps the id it was linked under, and its credentials
				// stay bound to that id.
				var err error
				if ct, keyID, err = q.seal(a.Credentials, credentialsAAD(a.UserID, a.Provider, alt)); err != nil {
					return err
				}
			}
		}
		if len(ids) == 0 {
			created = true
			if err := q.underAccountLimit(ctx, a.UserID, a.MaxPerUser); err != nil {
				return err
			}
			err = q.get(ctx, &acc, `INSERT INTO integration_accounts
				(user_id, provider, external_account_id, display_name, credentials_ciphertext, credentials_key_id,
				 status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?) RETURNING `+accountColumns,
				a.UserID, a.Provider, a.ExternalAccountID, a.DisplayName, ct, keyID, now, now)
		} else {
			// A reconnect is a fresh linkage: its webhook subscription starts afresh too
			// (the caller subscribes next), so a failure now waits the first backoff, not
			// the long one an old run of failures had reached.
			// It is a new connection of the account too: tokens a plugin call of the one
			// it replaces refreshes later are not its own (RefreshAccountCredentials).
			err = q.get(ctx, &acc, `UPDATE integration_accounts SET display_name = ?, credentials_ciphertext = ?,
					credentials_key_id = ?, status = 'active', disconnected_at = NULL, updated_at = ?,
					subscription_error = NULL, subscription_attempts = 0, subscription_retry_at = NULL,
					connection_generation = connection_generation + 1
				WHERE id = ? RETURNING `+accountColumns,
				a.DisplayName, ct, keyID, now, ids[0])
		}
		if err != nil {
			return err
		}
		// The poll state is made here, with the account, so the poll worker only ever
		// reads the due rows (never every account). Every provider gets one: the worker
		// claims only those configured with poll = true, and a provider switched to
		// polling later finds its accounts ready. A reconnect keeps an existing state
		// (cursor, and the due time a reauth left, which has passed).
		return q.EnsurePollState(ctx, acc.ID, acc.Provider, now)
	})
	if err != nil {
		return Account{}, false, fmt.Errorf("upsert account: %w", err)
	}
	return acc, created, nil
}

// underAccountLimit is ErrAccountLimit when the user already has max accounts (max 0:
// no limit).
func (q queries) underAccountLimit(ctx context.Context, userID int64, max int) error {
	n, full, err := q.taken(ctx, "users", userID, max,
		`SELECT COUNT(*) FROM integration_accounts WHERE user_id = ?`, userID)
	if err != nil || !full {
		return err
	}
	return host.Wrap(host.ECONFLICT, ErrAccountLimit,
		"you have %d provider accounts, the most one user may (the operator's ingest { max_accounts_per_user }); reconnecting one of them is still possible", n).WithType(ErrAccountLimit.Type)
}

// GetAccount returns an account by id, whoever owns it.
func (q queries) GetAccount(ctx context.Context, id int64) (Account, error) {
	var a Account
	if err := q.get(ctx, &a, `SELECT `+accountColumns+` FROM integration_accounts WHERE id = ?`, id); err != nil {
		return Account{}, fmt.Errorf("get account: %w", err)
	}
	return a, nil
}

// GetUserAccount returns the account only when userID owns it; otherwise ErrNotFound,
// so another user's account looks like no account at all.
func (q queries) GetUserAccount(ctx context.Context, userID, accountID int64) (Account, error) {
	var a Account
	if err := q.get(ctx, &a, `SELECT `+accountColumns+` FROM integration_accounts WHERE id = ? AND user_id = ?`,
		accountID, userID); err != nil {
		return Account{}, fmt.Errorf("get account: %w", err)
	}
	return a, nil
}

// ListAccounts returns a user's accounts, disconnected ones included.
func (q queries) ListAccounts(ctx context.Context, userID int64) ([]Account, error) {
	var as []Account
	if err := q.sel(ctx, &as, `SELECT `+accountColumns+` FROM integration_accounts WHERE user_id = ? ORDER BY id`, userID); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return as, nil
}

// ListProviderAccounts returns a provider's accounts in the given status ("" = any).
func (q queries) ListProviderAccounts(ctx context.Context, provider string, status AccountStatus) ([]Account, error) {
	var as []Account
	err := q.sel(ctx, &as, `SELECT `+accountColumns+` FROM integration_accounts
		WHERE provider = ? AND (? = '' OR status = ?) ORDER BY id`, provider, string(status), string(status))
	if err != nil {
		return nil, fmt.Errorf("list provider accounts: %w", err)
	}
	return as, nil
}

// SetAccountStatus sets active or reauth_required. Use DisconnectAccount to disconnect;
// a disconnected account only comes back through UpsertAccount (a fresh linkage).
func (q queries) SetAccountStatus(ctx context.Context, accountID int64, status AccountStatus) error {
	if status != AccountActive && status != AccountReauthRequired {
		return fmt.Errorf("set account status: %w: status %q", ErrInvalid, status)
	}
	if err := q.execOne(ctx, `UPDATE integration_accounts SET status = ?, updated_at = ?
		WHERE id = ? AND status <> 'disconnected'`, status, q.clock(), accountID); err != nil {
		return fmt.Errorf("set account status: %w", err)
	}
	return nil
}

// MarkReauthRequired is SetAccountStatus(reauth_required) for a plugin call given the
// credentials of connection generation (AccountCallCredentials) that the provider
// rejected. An account reconnected since is ErrConnectionReplaced, left as it is: the
// provider rejected the credentials the reconnect replaced (perhaps revoked by it), not
// the owner's new ones. A disconnected account is ErrNotFound.
func (q queries) MarkReauthRequired(ctx context.Context, accountID, generation int64) error {
	err := q.inTx(ctx, func(q queries) error {
		var current int64
		if err := q.get(ctx, &current, `SELECT connection_generation FROM integration_accounts
			WHERE id = ? AND status <> 'disconnected'`+q.d.forUpdateSQL(), accountID); err != nil {
			return err
		}
		if current != generation {
			return ErrConnectionReplaced
		}
		return q.execOne(ctx, `UPDATE integration_accounts SET status = 'reauth_required', updated_at = ? WHERE id = ?`,
			q.clock(), accountID)
	})
	if err != nil {
		return fmt.Errorf("mark reauth required: %w", err)
	}
	return nil
}

// DisconnectResult says what a disconnect changed.
type DisconnectResult struct {
	Account         Account
	UnlinkedDevices int64
}

// DisconnectAccount erases the credentials, unlinks every device of the account from
// its pool and stops its polling, in one transaction. Devices and readings are kept, so
// history survives and a later reconnect finds the same devices.
func (q queries) DisconnectAccount(ctx context.Context, accountID int64) (DisconnectResult, error) {
	var res DisconnectResult
	err := q.inTx(ctx, func(q queries) error {
		now := q.clock()
		if err := q.get(ctx, &res.Account, `UPDATE integration_accounts SET credentials_ciphertext = NULL,
				credentials_key_id = NULL, status = 'disconnected', disconnected_at = COALESCE(disconnected_at, ?),
				updated_at = ?
			WHERE id = ? RETURNING `+accountColumns, now, now, accountID); err != nil {
			return err
		}
		r, err := q.exec(ctx, `DELETE FROM device_pool_links
			WHERE device_id IN (SELECT id FROM integration_devices WHERE account_id = ?)`, accountID)
		if err != nil {
			return err
		}
		if res.UnlinkedDevices, err = r.RowsAffected(); err != nil {
			return err
		}
		_, err = q.exec(ctx, `DELETE FROM poll_state WHERE account_id = ?`, accountID)
		return err
	})
	if err != nil {
		return DisconnectResult{}, fmt.Errorf("disconnect account: %w", err)
	}
	// Not needed for revocation (the row is read for every delivery, and is no longer
	// found), only so the erased credentials leave this process's memory now.
	q.opened.forget(accountID)
	return res, nil
}
