package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

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

// credentialsAAD binds a ciphertext to its account's identity, which never changes.
func credentialsAAD(userID int64, provider, externalID string) []byte {
	return []byte("poolhost/integration_accounts/" + strconv.FormatInt(userID, 10) + "/" + provider + "/" + externalID)
}

func (q queries) seal(creds map[string]string, aad []byte) ([]byte, string, error) {
	if q.cipher == nil {
		return nil, "", ErrNoCipher
	}
	if creds == nil {
		creds = map[string]string{}
	}
	plain, err := json.Marshal(creds)
	if err != nil {
		return nil, "", fmt.Errorf("encode credentials: %w", err)
	}
	ct, keyID, err := q.cipher.Encrypt(plain, aad)
	if err != nil {
		return nil, "", fmt.Errorf("encrypt credentials: %w", err)
	}
	return ct, keyID, nil
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
// no limit). The user's connects take turns (serializeOnSQL), so two at once cannot
// both take the last place; SQLite's transactions are one at a time.
func (q queries) underAccountLimit(ctx context.Context, userID int64, max int) error {
	if max <= 0 {
		return nil
	}
	var uid int64
	if err := q.get(ctx, &uid, `SELECT id FROM users WHERE id = ?`+q.d.serializeOnSQL(), userID); err != nil {
		return err
	}
	var n int
	if err := q.get(ctx, &n, `SELECT COUNT(*) FROM integration_accounts WHERE user_id = ?`, userID); err != nil {
		return err
	}
	if n >= max {
		return host.Wrap(host.ECONFLICT, ErrAccountLimit,
			"you have %d provider accounts, the most one user may (the operator's ingest { max_accounts_per_user }); reconnecting one of them is still possible", n).WithType(ErrAccountLimit.Type)
	}
	return nil
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

// AccountCredentials decrypts an account's credentials. A disconnected account has none
// (ErrNotFound). A ciphertext the cipher cannot open — wrong or unknown key, tampering —
// is a loud error, never an empty map.
func (q queries) AccountCredentials(ctx context.Context, accountID int64) (map[string]string, error) {
	if q.cipher == nil {
		return nil, ErrNoCipher
	}
	var row sealedAccount
	if err := q.get(ctx, &row, `SELECT user_id, provider, external_account_id, credentials_ciphertext
		FROM integration_accounts WHERE id = ?`, accountID); err != nil {
		return nil, fmt.Errorf("account credentials: %w", err)
	}
	if row.Ciphertext == nil {
		return nil, fmt.Errorf("account credentials: %w: account has no credentials", ErrNotFound)
	}
	return q.openCredentials(accountID, row)
}

// AccountWithCredentials is GetAccount and AccountCredentials in one query, for the
// webhook path, which needs both for every account-scoped delivery. Only a live account
// of provider is found (ErrNotFound otherwise). An id that does not match still costs
// one decryption, of a decoy (openDecoy): the webhook URL is public, and a cheaper miss
// would tell anyone which account ids exist by timing alone. creds is nil when the
// account has none.
func (q queries) AccountWithCredentials(ctx context.Context, id int64, provider string) (acc Account, creds map[string]string, err error) {
	if q.cipher == nil {
		return Account{}, nil, ErrNoCipher
	}
	// Prepared: as an unnamed statement, PostgreSQL parsed and planned it for every
	// delivery, and SQLite parsed it. Scanned by hand: sqlx's reflection was a third of
	// the lookup's allocations.
	var row struct {
		Account
		Ciphertext []byte
	}
	found := false
	err = q.eachPrepared(ctx, accountWithCredentialsQuery, []any{id, provider, AccountDisconnected}, func(rows *sql.Rows) error {
		if !rows.Next() {
			return rows.Err()
		}
		found = true
		a := &row.Account
		return rows.Scan(&a.ID, &a.UserID, &a.Provider, &a.ExternalAccountID, &a.DisplayName, &a.Status,
			&a.CredentialsKeyID, &a.CreatedAt, &a.UpdatedAt, &a.DisconnectedAt, &a.SubscriptionError,
			&a.SubscriptionAttempts, &a.SubscriptionRetryAt, &row.Ciphertext)
	})
	if err == nil && !found {
		err = ErrNotFound
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			q.openDecoy(openedKey{id, provider})
		}
		return Account{}, nil, fmt.Errorf("get account: %w", err)
	}
	if row.Ciphertext == nil {
		return row.Account, nil, nil
	}
	// Opened once per ciphertext (opened.go): the same row opens to the same map.
	creds, err = q.opened.open(q, openedKey{id, provider}, sealedAccount{UserID: row.UserID, Provider: row.Provider,
		ExternalID: row.ExternalAccountID, Ciphertext: row.Ciphertext})
	if err != nil {
		return Account{}, nil, err
	}
	return row.Account, retirePreviousSecret(creds, q.clock()), nil
}

// accountWithCredentialsQuery is AccountWithCredentials', its columns in the order it
// scans them.
const accountWithCredentialsQuery = `SELECT ` + accountColumns + `, credentials_ciphertext
	FROM integration_accounts WHERE id = ? AND provider = ? AND status <> ?`

// Credential keys of a rotated account webhook secret: the secret before the last
// rotation and when it stops being accepted (RFC 3339). The current secret stays under
// "webhook_secret".
const (
	PreviousWebhookSecretKey      = "webhook_secret_previous"
	PreviousWebhookSecretUntilKey = "webhook_secret_previous_until"
)

// retirePreviousSecret drops the previous webhook secret from creds once its overlap
// window is over (or when its end is unreadable): the one place that decides whether it
// is still accepted, on the store's clock.
func retirePreviousSecret(creds map[string]string, now time.Time) map[string]string {
	if creds[PreviousWebhookSecretKey] == "" {
		return creds
	}
	until, err := time.Parse(time.RFC3339Nano, creds[PreviousWebhookSecretUntilKey])
	if err != nil || !now.Before(until) {
		delete(creds, PreviousWebhookSecretKey)
		delete(creds, PreviousWebhookSecretUntilKey)
	}
	return creds
}

// RotateWebhookSecret makes secret the account's webhook secret and keeps the one it
// replaces accepted for overlap (see PreviousWebhookSecretKey), returning when that
// ends; an overlap of 0 keeps no previous secret at all (nor one kept from an earlier
// rotation). An account without a webhook secret is ErrNotFound; a disconnected one too.
func (q queries) RotateWebhookSecret(ctx context.Context, accountID int64, secret string, overlap time.Duration) (until time.Time, err error) {
	err = q.updateCredentials(ctx, accountID, func(creds map[string]string, _ int64) (map[string]string, error) {
		old := creds["webhook_secret"]
		if old == "" {
			return nil, fmt.Errorf("%w: the account has no webhook secret", ErrNotFound)
		}
		until = q.clock().Add(overlap)
		creds["webhook_secret"] = secret
		if overlap <= 0 {
			delete(creds, PreviousWebhookSecretKey)
			delete(creds, PreviousWebhookSecretUntilKey)
			return creds, nil
		}
		creds[PreviousWebhookSecretKey] = old
		creds[PreviousWebhookSecretUntilKey] = until.Format(time.RFC3339Nano)
		return creds, nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	return until, nil
}

// decoy is a sealed credentials map shaped like a webhook_secret account's, made once
// per Store with its cipher. openDecoy opens it where an account was not found, so a
// miss does the work of a hit: decrypted the first time for that id, then, like a hit's
// credentials, taken from what was opened (opened.go).
type decoy struct {
	once sync.Once
	row  sealedAccount
	err  error
}

// decoyAAD binds the decoy to no account: there is no user 0.
var decoyAAD = sealedAccount{Provider: "decoy", ExternalID: "decoy"}

func (q queries) openDecoy(key openedKey) {
	if q.decoy == nil || q.cipher == nil {
		return
	}
	q.decoy.once.Do(func() {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			q.decoy.err = err
			return
		}
		q.decoy.row = decoyAAD
		q.decoy.row.Ciphertext, _, q.decoy.err = q.seal(map[string]string{
			"webhook_secret": "whsec_" + base64.StdEncoding.EncodeToString(secret),
		}, credentialsAAD(q.decoy.row.UserID, q.decoy.row.Provider, q.decoy.row.ExternalID))
	})
	if q.decoy.err == nil {
		// The work, not the result; cached as a hit would be (opened.go), under key.
		_, _ = q.opened.open(q, key, q.decoy.row)
	}
}

// sealedAccount is what opening an account's credentials needs: the ciphertext and the
// fields its AAD binds it to.
type sealedAccount struct {
	UserID     int64  `db:"user_id"`
	Provider   string `db:"provider"`
	ExternalID string `db:"external_account_id"`
	Ciphertext []byte `db:"credentials_ciphertext"`
}

// openCredentials decrypts and decodes an account's credentials.
func (q queries) openCredentials(accountID int64, row sealedAccount) (map[string]string, error) {
	plain, err := q.cipher.Decrypt(row.Ciphertext, credentialsAAD(row.UserID, row.Provider, row.ExternalID))
	if err != nil {
		return nil, fmt.Errorf("decrypt credentials of account %d: %w", accountID, err)
	}
	creds := map[string]string{}
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, fmt.Errorf("decode credentials of account %d: %w", accountID, err)
	}
	return creds, nil
}

// UpdateAccountCredentials replaces the credentials, whichever connection of the
// account they belong to (tests). Credentials a plugin refreshed go through
// RefreshAccountCredentials instead. A nil map means "unchanged" and is a no-op.
// A disconnected account is ErrNotFound: a late write must not resurrect erased
// credentials. The account's webhook secret is kept as RefreshAccountCredentials keeps it.
func (q queries) UpdateAccountCredentials(ctx context.Context, accountID int64, creds map[string]string) error {
	if creds == nil {
		return nil
	}
	err := q.updateCredentials(ctx, accountID, func(stored map[string]string, _ int64) (map[string]string, error) {
		return keepWebhookSecret(stored, creds), nil
	})
	if err != nil {
		return fmt.Errorf("update credentials: %w", err)
	}
	return nil
}

// CallCredentials are an account's credentials as a plugin call is given them, and the
// generation of the account's connection they belong to (counted up by every reconnect,
// UpsertAccount), read together: what the call refreshes is stored with
// RefreshAccountCredentials(Generation).
type CallCredentials struct {
	Credentials map[string]string
	Generation  int64
}

// AccountCallCredentials is AccountCredentials for a plugin call that may refresh them
// (a poll, a discovery, a command send): the credentials with their connection's
// generation, from one read, so a reconnect can never fall between the two.
func (q queries) AccountCallCredentials(ctx context.Context, accountID int64) (CallCredentials, error) {
	if q.cipher == nil {
		return CallCredentials{}, ErrNoCipher
	}
	var row struct {
		sealedAccount
		Generation int64 `db:"connection_generation"`
	}
	if err := q.get(ctx, &row, `SELECT user_id, provider, external_account_id, credentials_ciphertext, connection_generation
		FROM integration_accounts WHERE id = ?`, accountID); err != nil {
		return CallCredentials{}, fmt.Errorf("account credentials: %w", err)
	}
	if row.Ciphertext == nil {
		return CallCredentials{}, fmt.Errorf("account credentials: %w: account has no credentials", ErrNotFound)
	}
	creds, err := q.openCredentials(accountID, row.sealedAccount)
	if err != nil {
		return CallCredentials{}, err
	}
	return CallCredentials{Credentials: creds, Generation: row.Generation}, nil
}

// RefreshAccountCredentials stores the credentials a plugin refreshed in a call that was
// given those of connection generation (AccountCallCredentials), replacing the stored
// map. A nil map means "unchanged" and is a no-op. A disconnected account is
// ErrNotFound, and one reconnected since the call read its credentials is
// ErrConnectionReplaced, nothing stored: the owner's new authorisation must not be
// replaced by tokens of the connection it replaced (the provider may have revoked those
// at the reconnect), which a call in flight across the reconnect would otherwise store,
// even one whose poll lease was lost (with rotating refresh tokens its refresh is kept
// whatever else happens). Refreshes of one connection all apply, the last one stored
// winning, as before there was a generation: two calls of a connection that refresh at
// once cannot tell which of their tokens the provider still honours, and a check on the
// tokens a call started from would drop the second refresh, which may be the only live
// one. Nor does a webhook secret rotation in between drop a refresh: the secret is
// kept apart (keepWebhookSecret).
func (q queries) RefreshAccountCredentials(ctx context.Context, accountID, generation int64, creds map[string]string) error {
	if creds == nil {
		return nil
	}
	err := q.updateCredentials(ctx, accountID, func(stored map[string]string, current int64) (map[string]string, error) {
		if current != generation {
			return nil, ErrConnectionReplaced
		}
		return keepWebhookSecret(stored, creds), nil
	})
	if err != nil {
		return fmt.Errorf("refresh credentials: %w", err)
	}
	return nil
}

// errStoredUnopened is what an updateCredentials change answers when it needs the stored
// credentials and they did not open.
var errStoredUnopened = errors.New("stored credentials do not open")

// keepWebhookSecret is refreshed credentials to store over stored ones. An account's
// own webhook secret is not a refresh's to change: when the stored credentials hold
// one, the stored secret and a rotation's previous one are kept, whatever refreshed
// says. A plugin answers the set it was called with, tokens refreshed, so a call in
// flight across a rotation would otherwise put back the secret the owner had just
// retired (accepted again, for good) and drop the one they were given; and a plugin
// answering its tokens alone would take the account's URL away.
func keepWebhookSecret(stored, refreshed map[string]string) map[string]string {
	next := maps.Clone(refreshed)
	if stored["webhook_secret"] != "" {
		for _, k := range []string{"webhook_secret", PreviousWebhookSecretKey, PreviousWebhookSecretUntilKey} {
			if v, ok := stored[k]; ok {
				next[k] = v
			} else {
				delete(next, k)
			}
		}
	}
	return next
}

// updateCredentials stores change(the stored credentials, their connection's
// generation), read and written in one transaction with the row locked (FOR UPDATE on
// PostgreSQL; SQLite's transactions take the writer at once): credentials stored
// meanwhile by another call or replica (a rotation, another refresh, a reconnect) are
// what change is given, never overwritten unseen. Stored credentials that do not open
// are given to change as nil; a change that cannot do without them answers
// errStoredUnopened, and updateCredentials the error they did not open with. A
// disconnected account is ErrNotFound.
func (q queries) updateCredentials(ctx context.Context, accountID int64, change func(stored map[string]string, generation int64) (map[string]string, error)) error {
	if q.cipher == nil {
		return ErrNoCipher
	}
	return q.inTx(ctx, func(q queries) error {
		var row struct {
			sealedAccount
			Generation int64 `db:"connection_generation"`
		}
		if err := q.get(ctx, &row, `SELECT user_id, provider, external_account_id, credentials_ciphertext, connection_generation
			FROM integration_accounts WHERE id = ? AND status <> 'disconnected'`+q.d.forUpdateSQL(), accountID); err != nil {
			return err
		}
		if row.Ciphertext == nil {
			return fmt.Errorf("%w: account has no credentials", ErrNotFound)
		}
		stored, openErr := q.openCredentials(accountID, row.sealedAccount)
		if openErr != nil {
			stored = nil
		}
		next, err := change(stored, row.Generation)
		if errors.Is(err, errStoredUnopened) {
			return openErr
		}
		if err != nil {
			return err
		}
		ct, keyID, err := q.seal(next, credentialsAAD(row.UserID, row.Provider, row.ExternalID))
		if err != nil {
			return err
		}
		return q.execOne(ctx, `UPDATE integration_accounts SET credentials_ciphertext = ?, credentials_key_id = ?,
			updated_at = ? WHERE id = ?`, ct, keyID, q.clock(), accountID)
	})
}

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

// CredentialKeyIDs counts the accounts whose credentials are sealed with each key id.
func (q queries) CredentialKeyIDs(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		KeyID string `db:"credentials_key_id"`
		N     int    `db:"n"`
	}
	if err := q.sel(ctx, &rows, `SELECT credentials_key_id, COUNT(*) AS n FROM integration_accounts
		WHERE credentials_key_id IS NOT NULL GROUP BY credentials_key_id`); err != nil {
		return nil, fmt.Errorf("credential key ids: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.KeyID] = r.N
	}
	return out, nil
}

// RewrapCredentials re-encrypts every credential not sealed with currentKeyID, for key
// rotation: once it returns, older keys can be retired. It returns how many rows moved.
func (q queries) RewrapCredentials(ctx context.Context, currentKeyID string) (int, error) {
	if q.cipher == nil {
		return 0, ErrNoCipher
	}
	var ids []int64
	if err := q.sel(ctx, &ids, `SELECT id FROM integration_accounts
		WHERE credentials_key_id IS NOT NULL AND credentials_key_id <> ? ORDER BY id`, currentKeyID); err != nil {
		return 0, fmt.Errorf("rewrap credentials: %w", err)
	}
	n := 0
	for _, id := range ids {
		// What is stored, re-sealed in the one locked read and write of updateCredentials:
		// replicas keep serving during a rewrap, and tokens a plugin refreshed, or a
		// reconnect's, stored between a read and a write of their own would have been
		// overwritten with what was read before them (with rotating refresh tokens, the
		// only live pair lost).
		err := q.updateCredentials(ctx, id, func(stored map[string]string, _ int64) (map[string]string, error) {
			if stored == nil {
				return nil, errStoredUnopened
			}
			return stored, nil
		})
		if errors.Is(err, ErrNotFound) {
			continue // disconnected meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("rewrap credentials: %w", err)
		}
		n++
	}
	return n, nil
}
