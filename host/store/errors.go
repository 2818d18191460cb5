package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/poolhost/poolhost/host"
)

// Sentinel errors. Compare with errors.Is; each is a *host.Error so host.ErrorCode maps
// it without this package knowing about HTTP.
var (
	ErrNotFound = &host.Error{Code: host.ENOTFOUND, Message: "not found"}
	ErrConflict = &host.Error{Code: host.ECONFLICT, Message: "conflict"}
	ErrInvalid  = &host.Error{Code: host.EINVALID, Message: "invalid value"}

	// ErrLeaseLost: the row is no longer processing under the caller's lease (it was
	// rescued, finished or re-claimed). The caller must drop its result, not retry.
	ErrLeaseLost = &host.Error{Code: host.ECONFLICT, Type: "lease-lost", Message: "lease lost"}

	// ErrLastOwner: the change would leave a pool without an owner.
	ErrLastOwner = &host.Error{Code: host.ECONFLICT, Type: "last-owner", Message: "a pool must keep at least one owner"}

	// OAuth state outcomes other than not-found; the callback answers each with a 400.
	ErrOAuthStateExpired = &host.Error{Code: host.EINVALID, Type: "oauth-state-expired", Message: "the authorization state has expired"}
	ErrOAuthStateUsed    = &host.Error{Code: host.EINVALID, Type: "oauth-state-used", Message: "the authorization state was already used"}

	// ErrNoCipher: credentials were read or written on a store opened without a cipher.
	ErrNoCipher = errors.New("store: no credentials cipher configured")
)

// mapError turns driver errors into the sentinels above, keeping the driver error as
// the cause for logs. Constraint names and SQL never reach the sentinel's message.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case pqerror.UniqueViolation:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case pqerror.ForeignKeyViolation:
			return fmt.Errorf("%w: referenced row: %w", ErrNotFound, err)
		case pqerror.CheckViolation, pqerror.NotNullViolation:
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: referenced row: %w", ErrNotFound, err)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return err
}
