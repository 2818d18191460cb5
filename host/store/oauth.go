package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// OAuthState binds a redirect-flow state value to the user who started the connect.
type OAuthState struct {
	ID          int64      `db:"id"`
	UserID      int64      `db:"user_id"`
	Provider    string     `db:"provider"`
	RedirectURI string     `db:"redirect_uri"`
	CreatedAt   time.Time  `db:"created_at"`
	ExpiresAt   time.Time  `db:"expires_at"`
	UsedAt      *time.Time `db:"used_at"`
	// CodeVerifier is the PKCE verifier whose S256 challenge went with the authorize URL.
	// It is stored sealed by the credentials cipher (see oauthRow).
	CodeVerifier string `db:"-"`
}

// oauthRow is a state as stored. The verifier is sealed like account credentials, with
// the state's user, provider and hash as associated data, so a database reader cannot
// use it and a sealed verifier cannot be moved to another state. plainVerifier is the
// column a binary before migration 00013 wrote (see the migration): read only when there
// is no ciphertext, for a connect a replica not yet upgraded started.
type oauthRow struct {
	OAuthState
	StateHash     string  `db:"state_hash"`
	PlainVerifier string  `db:"code_verifier"`
	VerifierCT    []byte  `db:"code_verifier_ciphertext"`
	VerifierKeyID *string `db:"code_verifier_key_id"`
}

func oauthAAD(userID int64, provider, stateHash string) []byte {
	return []byte("poolhost/integration_oauth_states/" + strconv.FormatInt(userID, 10) + "/" + provider + "/" + stateHash)
}

// unsealState returns the state with its verifier unsealed.
func (q queries) unsealState(r oauthRow) (OAuthState, error) {
	st := r.OAuthState
	if r.VerifierCT == nil {
		st.CodeVerifier = r.PlainVerifier
		return st, nil
	}
	if q.cipher == nil {
		return OAuthState{}, ErrNoCipher
	}
	plain, err := q.cipher.Decrypt(r.VerifierCT, oauthAAD(r.UserID, r.Provider, r.StateHash))
	if err != nil {
		return OAuthState{}, fmt.Errorf("decrypt code verifier: %w", err)
	}
	st.CodeVerifier = string(plain)
	return st, nil
}

// CodeChallenge is the S256 PKCE challenge of the state's verifier.
func (st OAuthState) CodeChallenge() string {
	sum := sha256.Sum256([]byte(st.CodeVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const oauthColumns = `id, user_id, provider, redirect_uri, created_at, expires_at, used_at, state_hash,
	code_verifier, code_verifier_ciphertext, code_verifier_key_id`

// MaxPendingOAuthStates caps a user's pending OAuth states (unused and unexpired, all
// providers together): without it a token could store rate limit × TTL of them. A
// connect past the cap deletes the user's oldest pending states rather than being
// refused: someone who started connects in several tabs, or gave up on some, expects
// the one they just started to work, and a refusal would lock them out until the TTL
// ran out with no way to clear their own states; the tab abandoned longest is the one
// least likely still wanted.
const MaxPendingOAuthStates = 20

// CreateOAuthState stores a fresh single-use state for userID, started with the API
// token tokenID (0: none, as in tests; revoking the token deletes the state, unused),
// that expires after ttl and returns its value, deleting the user's oldest pending
// states past MaxPendingOAuthStates. Only the value's hash is stored: the value authenticates the
// callback, so a database reader must not be able to forge one.
func (q queries) CreateOAuthState(ctx context.Context, userID, tokenID int64, provider, redirectURI string, ttl time.Duration) (string, OAuthState, error) {
	if ttl <= 0 {
		return "", OAuthState{}, fmt.Errorf("create oauth state: %w: ttl must be positive", ErrInvalid)
	}
	var b, v [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", OAuthState{}, fmt.Errorf("create oauth state: %w", err)
	}
	if _, err := rand.Read(v[:]); err != nil {
		return "", OAuthState{}, fmt.Errorf("create oauth state: %w", err)
	}
	value := base64.RawURLEncoding.EncodeToString(b[:])
	verifier := base64.RawURLEncoding.EncodeToString(v[:]) // 43 characters, RFC 7636's minimum
	if q.cipher == nil {
		return "", OAuthState{}, fmt.Errorf("create oauth state: %w", ErrNoCipher)
	}
	hash := HashToken(value)
	ct, keyID, err := q.cipher.Encrypt([]byte(verifier), oauthAAD(userID, provider, hash))
	if err != nil {
		return "", OAuthState{}, fmt.Errorf("create oauth state: encrypt code verifier: %w", err)
	}
	now := q.clock()
	var row oauthRow
	err = q.inTx(ctx, func(q queries) error {
		// One user's creates take turns (their user row locked on PostgreSQL; SQLite's
		// write transaction is alone anyway), so no two see the same count of pending
		// states and both keep theirs past the cap.
		var ids []int64
		if err := q.sel(ctx, &ids, `SELECT id FROM users WHERE id = ?`+q.d.serializeOnSQL(), userID); err != nil {
			return err
		}
		if err := q.get(ctx, &row, `INSERT INTO integration_oauth_states (state_hash, user_id, token_id, provider, redirect_uri, created_at, expires_at,
			code_verifier_ciphertext, code_verifier_key_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+oauthColumns,
			hash, userID, sql.NullInt64{Int64: tokenID, Valid: tokenID != 0}, provider, redirectURI, now, ts(now.Add(ttl)), ct, keyID); err != nil {
			return err
		}
		// Past the cap, the oldest pending states go (deleted, not expired: an expired
		// row stays for retention's grace, and would still pile up at the rate limit).
		_, err := q.exec(ctx, `DELETE FROM integration_oauth_states
			WHERE user_id = ? AND used_at IS NULL AND expires_at > ? AND id NOT IN (
				SELECT id FROM integration_oauth_states WHERE user_id = ? AND used_at IS NULL AND expires_at > ?
				ORDER BY id DESC LIMIT ?)`,
			userID, ts(now), userID, ts(now), MaxPendingOAuthStates)
		return err
	})
	if err != nil {
		return "", OAuthState{}, fmt.Errorf("create oauth state: %w", err)
	}
	st := row.OAuthState
	st.CodeVerifier = verifier
	return value, st, nil
}

// GetOAuthState returns the state with this value, used or not, without consuming it:
// a callback checks who and what the state is for before it spends it, so another
// user's attempt with a stolen state cannot burn it. ErrNotFound when unknown.
func (q queries) GetOAuthState(ctx context.Context, value string) (OAuthState, error) {
	var row oauthRow
	if err := q.get(ctx, &row, `SELECT `+oauthColumns+` FROM integration_oauth_states WHERE state_hash = ?`,
		HashToken(value)); err != nil {
		return OAuthState{}, fmt.Errorf("get oauth state: %w", err)
	}
	return q.unsealState(row)
}

// ConsumeOAuthState marks the state used and returns it, atomically: of two concurrent
// callbacks with one state, exactly one succeeds. Failures are distinct: ErrNotFound
// (unknown), ErrOAuthStateExpired, ErrOAuthStateUsed. Checking that the state belongs
// to the calling user and provider is the caller's job (it has the returned state).
func (q queries) ConsumeOAuthState(ctx context.Context, value string) (OAuthState, error) {
	now := q.clock()
	var row oauthRow
	err := q.get(ctx, &row, `UPDATE integration_oauth_states SET used_at = ?
		WHERE state_hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING `+oauthColumns, now, HashToken(value), now)
	if err == nil {
		return q.unsealState(row)
	}
	if !errors.Is(err, ErrNotFound) {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", err)
	}
	// Nothing consumed: say why, reading the row as it is now.
	if err := q.get(ctx, &row, `SELECT `+oauthColumns+` FROM integration_oauth_states WHERE state_hash = ?`,
		HashToken(value)); err != nil {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", err)
	}
	if row.UsedAt != nil {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", ErrOAuthStateUsed)
	}
	return OAuthState{}, fmt.Errorf("consume oauth state: %w", ErrOAuthStateExpired)
}

// PurgeOAuthStates deletes states that expired before cutoff, used or not.
func (q queries) PurgeOAuthStates(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM integration_oauth_states WHERE expires_at < ?`, ts(cutoff))
	if err != nil {
		return 0, fmt.Errorf("purge oauth states: %w", err)
	}
	return res.RowsAffected()
}
