package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// PollState is an account's place in the pull path.
type PollState struct {
	AccountID         int64      `db:"account_id"`
	Provider          string     `db:"provider"`
	Cursor            string     `db:"cursor"`
	NextPollAt        time.Time  `db:"next_poll_at"`
	LastPolledAt      *time.Time `db:"last_polled_at"`
	LeaseOwner        string     `db:"lease_owner"`
	LeaseToken        string     `db:"lease_token"`
	LeaseExpiresAt    *time.Time `db:"lease_expires_at"`
	ConsecutiveErrors int        `db:"consecutive_errors"`
	LastError         string     `db:"last_error"`
	UpdatedAt         time.Time  `db:"updated_at"`
}

// Lease returns the claim this state was returned under.
func (p PollState) Lease() Lease { return Lease{Owner: p.LeaseOwner, Token: p.LeaseToken} }

const pollColumns = `account_id, provider, cursor, next_poll_at, last_polled_at,
	COALESCE(lease_owner, '') AS lease_owner, COALESCE(lease_token, '') AS lease_token, lease_expires_at,
	consecutive_errors, last_error, updated_at`

// EnsurePollState creates the account's poll state, first due at firstPoll, unless it
// exists (then nothing changes).
func (q queries) EnsurePollState(ctx context.Context, accountID int64, provider string, firstPoll time.Time) error {
	_, err := q.exec(ctx, `INSERT INTO poll_state (account_id, provider, next_poll_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id) DO NOTHING`, accountID, provider, ts(firstPoll), q.clock())
	if err != nil {
		return fmt.Errorf("ensure poll state: %w", err)
	}
	return nil
}

// GetPollState returns an account's poll state.
func (q queries) GetPollState(ctx context.Context, accountID int64) (PollState, error) {
	var p PollState
	if err := q.get(ctx, &p, `SELECT `+pollColumns+` FROM poll_state WHERE account_id = ?`, accountID); err != nil {
		return PollState{}, fmt.Errorf("get poll state: %w", err)
	}
	return p, nil
}

// ClaimDuePolls leases up to limit active accounts of the given providers whose poll is
// due. An expired lease counts as no lease, so a crashed poller's accounts are taken
// over here by compare-and-set.
func (q queries) ClaimDuePolls(ctx context.Context, providers []string, owner string, limit int, lease time.Duration) ([]PollState, error) {
	if len(providers) == 0 {
		return nil, nil
	}
	if owner == "" || limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim polls: %w: owner, limit and lease are required", ErrInvalid)
	}
	token, err := newLeaseToken()
	if err != nil {
		return nil, err
	}
	now := q.clock()
	query, args, err := sqlx.In(q.d.claimPollsSQL(), owner, token, ts(now.Add(lease)), now, providers, now, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim polls: %w", err)
	}
	var ps []PollState
	if err := q.sel(ctx, &ps, query, args...); err != nil {
		return nil, fmt.Errorf("claim polls: %w", err)
	}
	return ps, nil
}

// CompletePoll records a successful poll: the new cursor, the next poll time, errors
// reset, lease released. ErrLeaseLost when the lease is no longer the caller's.
func (q queries) CompletePoll(ctx context.Context, accountID int64, l Lease, cursor string, nextPoll time.Time) error {
	now := q.clock()
	res, err := q.exec(ctx, `UPDATE poll_state SET cursor = ?, next_poll_at = ?, last_polled_at = ?,
			consecutive_errors = 0, last_error = '', updated_at = ?,
			lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE account_id = ? AND lease_owner = ? AND lease_token = ?`,
		cursor, ts(nextPoll), now, now, accountID, l.Owner, l.Token)
	if err != nil {
		return fmt.Errorf("complete poll: %w", err)
	}
	return leaseResult(res, "complete poll")
}

// FailPoll records a failed poll: the error, one more consecutive error, the next poll
// at nextPoll (the caller's backoff), lease released. The cursor is kept, unless cursor
// is set: the one the failed poll handed back (sdk.WithNextCursor, what it spent of a
// quota).
func (q queries) FailPoll(ctx context.Context, accountID int64, l Lease, errMsg string, nextPoll time.Time, cursor *string) error {
	now := q.clock()
	res, err := q.exec(ctx, `UPDATE poll_state SET cursor = COALESCE(?, cursor), next_poll_at = ?, last_polled_at = ?,
			consecutive_errors = consecutive_errors + 1, last_error = ?, updated_at = ?,
			lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE account_id = ? AND lease_owner = ? AND lease_token = ?`,
		cursor, ts(nextPoll), now, errMsg, now, accountID, l.Owner, l.Token)
	if err != nil {
		return fmt.Errorf("fail poll: %w", err)
	}
	return leaseResult(res, "fail poll")
}

// ReleasePoll hands a claimed account back as if its claim had not happened: the lease
// cleared and nothing else, so its cursor, next poll time and error count are as before
// the claim, and another worker claims it at once (it is still due). It is for a poll
// the worker cut short because it is stopping, never for one that failed (FailPoll
// records that). A compare-and-set on the lease like CompletePoll: when the cut-short
// poll's transaction committed after all (the readings and the new cursor stored, the
// lease cleared), or the lease expired and another worker claimed the account, nothing
// changes and the error is ErrLeaseLost. So a release never moves a cursor back and
// never takes an account from its new owner.
func (q queries) ReleasePoll(ctx context.Context, accountID int64, l Lease) error {
	res, err := q.exec(ctx, `UPDATE poll_state SET updated_at = ?,
			lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE account_id = ? AND lease_owner = ? AND lease_token = ?`,
		q.clock(), accountID, l.Owner, l.Token)
	if err != nil {
		return fmt.Errorf("release poll: %w", err)
	}
	return leaseResult(res, "release poll")
}
