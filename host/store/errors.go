package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

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

	// ErrTextInvalid: PostgreSQL refused a text value (a NUL, invalid UTF-8).
	ErrTextInvalid = &host.Error{Code: host.EINVALID, Message: "a value holds a NUL or invalid UTF-8, which text cannot"}

	// ErrLeaseLost: the row is no longer processing under the caller's lease (it was
	// rescued, finished or re-claimed). The caller must drop its result, not retry.
	ErrLeaseLost = &host.Error{Code: host.ECONFLICT, Type: "lease-lost", Message: "lease lost"}

	// ErrConnectionReplaced: the account was reconnected since a plugin call read the
	// credentials it refreshed; they belong to the connection the reconnect replaced.
	ErrConnectionReplaced = &host.Error{Code: host.ECONFLICT, Type: "connection-replaced", Message: "the account was reconnected since"}

	// ErrAccountLimit: the user has as many provider accounts as one user may
	// (ingest { max_accounts_per_user }); connecting another is refused.
	ErrAccountLimit = &host.Error{Code: host.ECONFLICT, Type: "account-limit", Message: "you have as many provider accounts as one user may"}

	// ErrPoolLimit: the user has created as many pools as one user may
	// (ingest { max_pools_per_user }); creating another is refused.
	ErrPoolLimit = &host.Error{Code: host.ECONFLICT, Type: "pool-limit", Message: "you have created as many pools as one user may"}

	// ErrTestSessionLimit: the pool holds as many member-entered test sessions as one
	// pool may (ingest { max_test_sessions_per_pool }); entering another is refused.
	ErrTestSessionLimit = &host.Error{Code: host.ECONFLICT, Type: "test-session-limit", Message: "the pool holds as many test sessions as one pool may"}

	// ErrDeviceLimit: a discovery would leave the account with more than
	// MaxDevicesPerAccount devices; nothing of it was stored.
	ErrDeviceLimit = &host.Error{Code: host.EUPSTREAM, Type: "device-limit",
		Message: "the provider lists more devices than an account may hold (" + strconv.Itoa(MaxDevicesPerAccount) + ")"}

	// ErrEquipmentLimit: the pool has MaxEquipmentPerPool pieces of equipment already.
	ErrEquipmentLimit = &host.Error{Code: host.ECONFLICT, Type: "equipment-limit",
		Message: "a pool holds at most " + strconv.Itoa(MaxEquipmentPerPool) + " pieces of equipment: delete one first"}

	// ErrMemberLimit: the pool has MaxMembersPerPool members already.
	ErrMemberLimit = &host.Error{Code: host.ECONFLICT, Type: "member-limit",
		Message: "a pool has at most " + strconv.Itoa(MaxMembersPerPool) + " members: remove one first"}

	// ErrCommandQueueFull: the device has MaxQueuedCommandsPerDevice commands waiting to
	// be sent already.
	ErrCommandQueueFull = &host.Error{Code: host.ECONFLICT, Type: "command-queue-full",
		Message: "the device has " + strconv.Itoa(MaxQueuedCommandsPerDevice) + " commands waiting to be sent, as many as it may: let them go out, or cancel some (POST /v1/pools/{poolId}/commands/{commandId}/cancel)"}

	// ErrLastOwner: the change would leave a pool without an owner.
	ErrLastOwner = &host.Error{Code: host.ECONFLICT, Type: "last-owner", Message: "a pool must keep at least one owner"}

	// ErrEquipmentBusy: the equipment has commands queued or being sent, each bound for
	// the device it commands now; rebinding or deleting it would have them reach whatever
	// the device drives afterwards.
	ErrEquipmentBusy = &host.Error{Code: host.ECONFLICT, Type: "equipment-busy",
		Message: "the equipment has commands queued or on their way to its device: cancel the queued ones (POST /v1/pools/{poolId}/commands/{commandId}/cancel) or let them finish, then change its binding or delete it"}

	// ErrEquipmentRebound: the equipment a command was asked for no longer drives the
	// device and channel it was read bound to (rebound, unbound or deleted since).
	ErrEquipmentRebound = &host.Error{Code: host.ECONFLICT, Type: "equipment-not-bound",
		Message: "the equipment's binding changed (rebound, unbound or deleted) while the command was being queued: look at it and send the command again"}

	// ErrPoolBusy: a command to the pool's equipment is being sent; the pool cannot be
	// deleted under it (DeletePool).
	ErrPoolBusy = &host.Error{Code: host.ECONFLICT, Type: "pool-busy",
		Message: "a command to the pool's equipment is being sent right now: try again once it is sent (seconds; at most the command worker's lease)"}

	// ErrPoolGone: a write was for a pool deleted since its devices were resolved;
	// nothing of it was written. Ingest resolves them again (its readings then drop as
	// unlinked_device). PostgreSQL's poolhost_hold_pools raises it as SQLSTATE PH001.
	ErrPoolGone = &host.Error{Code: host.ECONFLICT, Type: "pool-gone", Message: "a pool this write was for has been deleted"}

	// OAuth state outcomes other than not-found; the callback answers each with a 400.
	ErrOAuthStateExpired = &host.Error{Code: host.EINVALID, Type: "oauth-state-expired", Message: "the authorization state has expired"}
	ErrOAuthStateUsed    = &host.Error{Code: host.EINVALID, Type: "oauth-state-used", Message: "the authorization state was already used"}

	// ErrNoCipher: credentials were read or written on a store opened without a cipher.
	ErrNoCipher = errors.New("store: no credentials cipher configured")
)

// poolGoneCode is the SQLSTATE of poolhost_hold_pools' refusal (migration 00039).
const poolGoneCode = "PH001"

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
		case poolGoneCode:
			return fmt.Errorf("%w: %w", ErrPoolGone, err)
		case pqerror.CharacterNotInRepertoire, pqerror.UntranslatableCharacter:
			// A NUL (or invalid UTF-8) that got past the edges' text checks: the
			// caller's value, a 400, never a 500.
			return fmt.Errorf("%w: %w", ErrTextInvalid, err)
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

// ErrUnavailable: the database could not be reached (refused, cut, shutting down). It is
// the one way every caller tells "retry later" from a fault of its own request.
var ErrUnavailable = &host.Error{Code: host.EUNAVAILABLE, Type: "database-unavailable", Message: "the database is not available; retry later"}

// Unavailable marks err as ErrUnavailable when it says the database could not be reached,
// and returns every other error as it is. The driver error stays the cause, for logs. An
// error that already has a code keeps it: whoever gave it knew better (a request body
// cut by read_timeout is a net.Error too, and the client's fault, not the database's).
func Unavailable(err error) error {
	if err == nil || host.ErrorCode(err) != host.EINTERNAL || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func unreachable(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		// Class 08 is "connection exception"; 57P01–57P03 a server shutting down or
		// starting; 53300 too many connections.
		switch c := string(pqErr.Code); {
		case strings.HasPrefix(c, "08"), c == "57P01", c == "57P02", c == "57P03", c == "53300":
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.As(err, &netErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}
