package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

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
