package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SessionPrefix starts every console session value, so neither people nor secret
// scanners take a session cookie for an API token (pht_).
const SessionPrefix = "phs_"

// ConsoleSession is an operators' console session: a random cookie value (only its
// hash is stored) bound to the API token that opened it.
type ConsoleSession struct {
	TokenID   int64     `db:"token_id"`
	CreatedAt time.Time `db:"created_at"`
	ExpiresAt time.Time `db:"expires_at"`
}

// CreateConsoleSession opens a session for tokenID until expires and returns the cookie
// value, shown once. Expired sessions are pruned on the way: sign-ins are rare.
func (q queries) CreateConsoleSession(ctx context.Context, tokenID int64, expires time.Time) (string, error) {
	tok, err := NewTokenValue()
	if err != nil {
		return "", err
	}
	value := SessionPrefix + strings.TrimPrefix(tok, TokenPrefix)
	now := q.clock()
	if _, err := q.exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, now); err != nil {
		return "", fmt.Errorf("prune console sessions: %w", err)
	}
	if _, err := q.exec(ctx, `INSERT INTO console_sessions (id_hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		HashToken(value), tokenID, now, ts(expires)); err != nil {
		return "", fmt.Errorf("create console session: %w", err)
	}
	return value, nil
}

// AuthenticateConsoleSession resolves a session cookie to its user and token. An
// unknown or expired session, or one whose token was revoked, is ErrNotFound.
func (q queries) AuthenticateConsoleSession(ctx context.Context, value string) (User, ConsoleSession, error) {
	var row struct {
		ConsoleSession
		UserID  int64     `db:"user_id"`
		Email   string    `db:"email"`
		IsAdmin bool      `db:"is_admin"`
		UCreate time.Time `db:"user_created_at"`
	}
	err := q.get(ctx, &row, `SELECT s.token_id, s.created_at, s.expires_at,
			u.id AS user_id, u.email, u.is_admin, u.created_at AS user_created_at
		FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id JOIN users u ON u.id = t.user_id
		WHERE s.id_hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL AND u.disabled_at IS NULL`, HashToken(value), q.clock())
	if err != nil {
		return User{}, ConsoleSession{}, fmt.Errorf("authenticate console session: %w", err)
	}
	return User{ID: row.UserID, Email: row.Email, IsAdmin: row.IsAdmin, CreatedAt: row.UCreate}, row.ConsoleSession, nil
}

// DeleteConsoleSession ends a session (sign-out). An unknown one is not an error.
func (q queries) DeleteConsoleSession(ctx context.Context, value string) error {
	if _, err := q.exec(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, HashToken(value)); err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}
