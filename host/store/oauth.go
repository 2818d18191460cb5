package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
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
	CodeVerifier string `db:"code_verifier"`
}

// CodeChallenge is the S256 PKCE challenge of the state's verifier.
func (st OAuthState) CodeChallenge() string {
	sum := sha256.Sum256([]byte(st.CodeVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const oauthColumns = `id, user_id, provider, redirect_uri, created_at, expires_at, used_at, code_verifier`

// CreateOAuthState stores a fresh single-use state for userID that expires after ttl
// and returns its value. Only the value's hash is stored: the value authenticates the
// callback, so a database reader must not be able to forge one.
func (q queries) CreateOAuthState(ctx context.Context, userID int64, provider, redirectURI string, ttl time.Duration) (string, OAuthState, error) {
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
	now := q.clock()
	var st OAuthState
	err := q.get(ctx, &st, `INSERT INTO integration_oauth_states (state_hash, user_id, provider, redirect_uri, created_at, expires_at, code_verifier)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+oauthColumns,
		HashToken(value), userID, provider, redirectURI, now, ts(now.Add(ttl)), verifier)
	if err != nil {
		return "", OAuthState{}, fmt.Errorf("create oauth state: %w", err)
	}
	return value, st, nil
}

// GetOAuthState returns the state with this value, used or not, without consuming it:
// a callback checks who and what the state is for before it spends it, so another
// user's attempt with a stolen state cannot burn it. ErrNotFound when unknown.
func (q queries) GetOAuthState(ctx context.Context, value string) (OAuthState, error) {
	var st OAuthState
	if err := q.get(ctx, &st, `SELECT `+oauthColumns+` FROM integration_oauth_states WHERE state_hash = ?`,
		HashToken(value)); err != nil {
		return OAuthState{}, fmt.Errorf("get oauth state: %w", err)
	}
	return st, nil
}

// ConsumeOAuthState marks the state used and returns it, atomically: of two concurrent
// callbacks with one state, exactly one succeeds. Failures are distinct: ErrNotFound
// (unknown), ErrOAuthStateExpired, ErrOAuthStateUsed. Checking that the state belongs
// to the calling user and provider is the caller's job (it has the returned state).
func (q queries) ConsumeOAuthState(ctx context.Context, value string) (OAuthState, error) {
	now := q.clock()
	var st OAuthState
	err := q.get(ctx, &st, `UPDATE integration_oauth_states SET used_at = ?
		WHERE state_hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING `+oauthColumns, now, HashToken(value), now)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", err)
	}
	// Nothing consumed: say why, reading the row as it is now.
	if err := q.get(ctx, &st, `SELECT `+oauthColumns+` FROM integration_oauth_states WHERE state_hash = ?`,
		HashToken(value)); err != nil {
		return OAuthState{}, fmt.Errorf("consume oauth state: %w", err)
	}
	if st.UsedAt != nil {
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
