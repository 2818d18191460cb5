package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// User is a person or app backend that calls the API.
type User struct {
	ID        int64     `db:"id"`
	Email     string    `db:"email"`
	IsAdmin   bool      `db:"is_admin"`
	CreatedAt time.Time `db:"created_at"`
	// DisabledAt is set by DisableUser: the user's tokens and console sessions stop
	// authenticating.
	DisabledAt *time.Time `db:"disabled_at"`
}

// APIToken is a stored token. The plaintext exists only in CreateAPIToken's return.
type APIToken struct {
	ID         int64      `db:"id"`
	UserID     int64      `db:"user_id"`
	Name       string     `db:"name"`
	Prefix     string     `db:"prefix"` // the first characters of the plaintext, for display
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
}

const userColumns = `id, email, is_admin, created_at, disabled_at`
const tokenColumns = `id, user_id, name, prefix, created_at, last_used_at, revoked_at`

// TokenPrefix starts every API token so leaked tokens are recognisable by scanners.
const TokenPrefix = "pht_"

// NormalizeEmail is how emails are compared: trimmed and lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser adds a user. A taken email is ErrConflict.
func (q queries) CreateUser(ctx context.Context, email string, isAdmin bool) (User, error) {
	email = NormalizeEmail(email)
	if email == "" || !strings.Contains(email, "@") {
		return User{}, fmt.Errorf("create user: %w: email %q", ErrInvalid, email)
	}
	var u User
	// A new user is never disabled: RETURNING leaves disabled_at out, so creating a user
	// also works on a schema before 00007 (the migration tests build fixtures there).
	err := q.get(ctx, &u, `INSERT INTO users (email, is_admin, created_at) VALUES (?, ?, ?)
		RETURNING id, email, is_admin, created_at`, email, isAdmin, q.clock())
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// GetUser returns a user by id.
func (q queries) GetUser(ctx context.Context, id int64) (User, error) {
	var u User
	if err := q.get(ctx, &u, `SELECT `+userColumns+` FROM users WHERE id = ?`, id); err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// GetUserByEmail returns a user by (normalized) email.
func (q queries) GetUserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	if err := q.get(ctx, &u, `SELECT `+userColumns+` FROM users WHERE email = ?`, NormalizeEmail(email)); err != nil {
		return User{}, fmt.Errorf("get user by email: %w", err)
	}
	return u, nil
}

// ListUsers returns all users by id.
func (q queries) ListUsers(ctx context.Context) ([]User, error) {
	var us []User
	if err := q.sel(ctx, &us, `SELECT `+userColumns+` FROM users ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// UserEmails returns the emails of the users among ids that exist: the audit trail
// shows its actors by email. At most 1000 ids.
func (q queries) UserEmails(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > 1000 {
		return nil, fmt.Errorf("user emails: %w: at most 1000 ids", ErrInvalid)
	}
	query, args, err := sqlx.In(`SELECT id, email FROM users WHERE id IN (?)`, ids)
	if err != nil {
		return nil, fmt.Errorf("user emails: %w", err)
	}
	var us []User
	if err := q.sel(ctx, &us, query, args...); err != nil {
		return nil, fmt.Errorf("user emails: %w", err)
	}
	for _, u := range us {
		out[u.ID] = u.Email
	}
	return out, nil
}

// HashToken is how tokens are stored and looked up: sha256, hex. Tokens carry 256 random
// bits, so a fast unsalted hash is enough; nothing to brute-force.
func HashToken(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// NewTokenValue returns a fresh random token: TokenPrefix + 43 base64url characters.
func NewTokenValue() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// CreateAPIToken issues a token for userID. The plaintext is returned once and never
// stored; only its hash is.
func (q queries) CreateAPIToken(ctx context.Context, userID int64, name string) (string, APIToken, error) {
	plain, err := NewTokenValue()
	if err != nil {
		return "", APIToken{}, err
	}
	var t APIToken
	err = q.get(ctx, &t, `INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING `+tokenColumns,
		userID, name, plain[:len(TokenPrefix)+8], HashToken(plain), q.clock())
	if err != nil {
		return "", APIToken{}, fmt.Errorf("create api token: %w", err)
	}
	return plain, t, nil
}

// tokenTouchInterval limits last_used_at writes to one per token per interval, so
// authentication is a read on the hot path.
const tokenTouchInterval = time.Minute

// AuthenticateToken resolves a bearer token to its user. Unknown and revoked tokens are
// both ErrNotFound: the caller answers 401 either way.
func (q queries) AuthenticateToken(ctx context.Context, plaintext string) (User, APIToken, error) {
	if !strings.HasPrefix(plaintext, TokenPrefix) {
		return User{}, APIToken{}, fmt.Errorf("authenticate token: %w", ErrNotFound)
	}
	var row struct {
		APIToken
		Email   string    `db:"email"`
		IsAdmin bool      `db:"is_admin"`
		UCreate time.Time `db:"user_created_at"`
	}
	err := q.get(ctx, &row, `SELECT t.id, t.user_id, t.name, t.prefix, t.created_at, t.last_used_at, t.revoked_at,
			u.email, u.is_admin, u.created_at AS user_created_at
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.disabled_at IS NULL`, HashToken(plaintext))
	if err != nil {
		return User{}, APIToken{}, fmt.Errorf("authenticate token: %w", err)
	}
	now := q.clock()
	if !q.standby && (row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) >= tokenTouchInterval) {
		if _, err := q.exec(ctx, `UPDATE api_tokens SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
			now, row.ID, now.Add(-tokenTouchInterval)); err != nil {
			return User{}, APIToken{}, fmt.Errorf("touch api token: %w", err)
		}
		row.LastUsedAt = &now
	}
	u := User{ID: row.UserID, Email: row.Email, IsAdmin: row.IsAdmin, CreatedAt: row.UCreate}
	return u, row.APIToken, nil
}

// GetAPITokenByValue returns the unrevoked token with this value. Unlike
// AuthenticateToken it is not a use: revoking a leaked token by its value must leave its
// last_used_at as the leak left it, which is what the operator looks at next.
func (q queries) GetAPITokenByValue(ctx context.Context, plaintext string) (APIToken, error) {
	var t APIToken
	if !strings.HasPrefix(plaintext, TokenPrefix) {
		return APIToken{}, fmt.Errorf("get api token: %w", ErrNotFound)
	}
	if err := q.get(ctx, &t, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`, HashToken(plaintext)); err != nil {
		return APIToken{}, fmt.Errorf("get api token: %w", err)
	}
	return t, nil
}

// GetAPIToken returns a token's record (never its plaintext) by id.
func (q queries) GetAPIToken(ctx context.Context, tokenID int64) (APIToken, error) {
	var t APIToken
	if err := q.get(ctx, &t, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, tokenID); err != nil {
		return APIToken{}, fmt.Errorf("get api token: %w", err)
	}
	return t, nil
}

// ListAPITokens returns a user's tokens, revoked ones included.
func (q queries) ListAPITokens(ctx context.Context, userID int64) ([]APIToken, error) {
	var ts []APIToken
	if err := q.sel(ctx, &ts, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = ? ORDER BY id`, userID); err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return ts, nil
}

// RevokeAPIToken revokes one token by id, and the connects it started that nobody
// completed (endConnects). Revoking a revoked token is a no-op; an unknown id is
// ErrNotFound.
func (q queries) RevokeAPIToken(ctx context.Context, tokenID int64) error {
	err := q.inTx(ctx, func(q queries) error {
		if err := q.execOne(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
			q.clock(), tokenID); err != nil {
			return err
		}
		return q.endConnects(ctx, tokenID)
	})
	if err != nil {
		return fmt.Errorf("revoke api token: %w", err)
	}
	return nil
}

// RevokeAPITokenValue revokes the token with this plaintext, and the connects it
// started that nobody completed (endConnects).
func (q queries) RevokeAPITokenValue(ctx context.Context, plaintext string) (APIToken, error) {
	var t APIToken
	err := q.inTx(ctx, func(q queries) error {
		if err := q.get(ctx, &t, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_hash = ?
			RETURNING `+tokenColumns, q.clock(), HashToken(plaintext)); err != nil {
			return err
		}
		return q.endConnects(ctx, t.ID)
	})
	if err != nil {
		return APIToken{}, fmt.Errorf("revoke api token: %w", err)
	}
	return t, nil
}

// endConnects deletes the OAuth states token started and nobody used: a revoked (perhaps
// leaked) token's holder could otherwise have started a connect, authorized it with a
// provider account of their own, and sent the owner the link, which the owner's app
// completes with another token of theirs (a state is the user's), linking that account
// to them. States made before migration 00036 name no token; RevokeUserTokens ends
// every one of the user's.
func (q queries) endConnects(ctx context.Context, tokenID int64) error {
	_, err := q.exec(ctx, `DELETE FROM integration_oauth_states WHERE token_id = ? AND used_at IS NULL`, tokenID)
	return err
}

// RevokeUserTokens revokes every live token of a user and returns how many. The
// connects the tokens started and nobody completed end with them: every OAuth state of
// the user not yet used is deleted, not only those endConnects would find by token, as
// a state made before migration 00036 names none. Left, the next token made for the user
// would complete one a revoked (perhaps leaked) token started — its holder having
// authorized with a provider account of their own, say, and sent the owner the link
// their app completes.
func (q queries) RevokeUserTokens(ctx context.Context, userID int64) (revoked int64, err error) {
	err = q.inTx(ctx, func(q queries) error {
		res, err := q.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
			q.clock(), userID)
		if err != nil {
			return err
		}
		if revoked, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = q.exec(ctx, `DELETE FROM integration_oauth_states WHERE user_id = ? AND used_at IS NULL`, userID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke user tokens: %w", err)
	}
	return revoked, nil
}

// EnableUser gives a disabled user back their access and reports whether they were
// disabled, and how many tokens it revoked: every token of theirs still live, in the
// same transaction. Their old tokens (and the console sessions opened with them) never
// authenticate again, whoever held them while the user was disabled; an operator
// makes new ones (tokens create). Their connects in progress end too (RevokeUserTokens
// deletes their OAuth states not yet used): left, once enabled any token of theirs would
// complete one an old token started — one a leaked token's holder started and
// authorized with a provider account of their own, say, then sent the owner as a link
// their app completes. Enabling an enabled user is a no-op.
func (q queries) EnableUser(ctx context.Context, id int64) (enabled bool, revoked int64, err error) {
	err = q.inTx(ctx, func(q queries) error {
		res, err := q.exec(ctx, `UPDATE users SET disabled_at = NULL WHERE id = ? AND disabled_at IS NOT NULL`, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			_, err := q.GetUser(ctx, id)
			return err
		}
		enabled = true
		revoked, err = q.RevokeUserTokens(ctx, id) // their connects in progress too
		return err
	})
	if err != nil {
		return false, 0, fmt.Errorf("enable user: %w", err)
	}
	return enabled, revoked, nil
}

// DisableUser marks a user disabled (their tokens and console sessions stop
// authenticating at once) and reports whether it changed anything: disabling a
// disabled user is a no-op.
// SetUserAdmin makes a user an admin or takes it away, and reports whether that changed
// anything. Their tokens stay theirs; what a token may do is read from the user at each
// request, so it follows at once (console sessions too).
func (q queries) SetUserAdmin(ctx context.Context, id int64, admin bool) (bool, error) {
	res, err := q.exec(ctx, `UPDATE users SET is_admin = ? WHERE id = ? AND is_admin <> ?`, admin, id, admin)
	if err != nil {
		return false, fmt.Errorf("set user admin: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("set user admin: %w", err)
	}
	if n == 0 {
		if _, err := q.GetUser(ctx, id); err != nil {
			return false, fmt.Errorf("set user admin: %w", err)
		}
	}
	return n == 1, nil
}

func (q queries) DisableUser(ctx context.Context, id int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE users SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL`, q.clock(), id)
	if err != nil {
		return false, fmt.Errorf("disable user: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("disable user: %w", err)
	}
	if n == 0 {
		if _, err := q.GetUser(ctx, id); err != nil {
			return false, fmt.Errorf("disable user: %w", err)
		}
	}
	return n == 1, nil
}
