package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// CommandStatus is a command's place in its lifecycle. "sending" is the dispatcher's
// lease on the single send a command may get: a lease that expires there becomes
// unknown, never queued again.
type CommandStatus string

const (
	CommandQueued    CommandStatus = "queued"
	CommandSending   CommandStatus = "sending"
	CommandSent      CommandStatus = "sent"
	CommandDelivered CommandStatus = "delivered"
	CommandSucceeded CommandStatus = "succeeded"
	CommandFailed    CommandStatus = "failed"
	CommandExpired   CommandStatus = "expired"
	CommandCanceled  CommandStatus = "canceled"
	CommandUnknown   CommandStatus = "unknown"
)

// Final reports whether nothing more can happen to the command on the host's side.
func (s CommandStatus) Final() bool {
	switch s {
	case CommandSucceeded, CommandFailed, CommandExpired, CommandCanceled:
		return true
	}
	return false
}

// Command is one write/control command.
type Command struct {
	ID               int64         `db:"id"`
	PublicID         string        `db:"public_id"`
	PoolID           int64         `db:"pool_id"`
	EquipmentID      int64         `db:"equipment_id"` // 0 once the equipment is gone
	DeviceID         int64         `db:"device_id"`
	AccountID        int64         `db:"account_id"`
	Provider         string        `db:"provider"`
	ProviderDeviceID string        `db:"provider_device_id"`
	Channel          string        `db:"channel"`
	Command          string        `db:"command"`
	Params           Details       `db:"params"`
	Status           CommandStatus `db:"status"`
	RequestedBy      int64         `db:"requested_by"`
	IdempotencyKey   string        `db:"idempotency_key"`
	RequestHash      string        `db:"request_hash"`
	ProviderRef      string        `db:"provider_ref"`
	Reason           string        `db:"reason"`
	Attempts         int           `db:"attempts"`
	NotBefore        time.Time     `db:"not_before"`
	ExpiresAt        time.Time     `db:"expires_at"`
	LeaseOwner       string        `db:"lease_owner"`
	LeaseToken       string        `db:"lease_token"`
	LeaseExpiresAt   *time.Time    `db:"lease_expires_at"`
	DispatchedAt     *time.Time    `db:"dispatched_at"`
	CreatedAt        time.Time     `db:"created_at"`
	UpdatedAt        time.Time     `db:"updated_at"`
	FinishedAt       *time.Time    `db:"finished_at"`
}

// Lease returns the claim the command was returned under.
func (c Command) Lease() Lease { return Lease{Owner: c.LeaseOwner, Token: c.LeaseToken} }

const commandColumns = `id, public_id, pool_id, COALESCE(equipment_id, 0) AS equipment_id, device_id, account_id,
	provider, provider_device_id, channel, command, params, status, COALESCE(requested_by, 0) AS requested_by,
	COALESCE(idempotency_key, '') AS idempotency_key, request_hash, provider_ref, reason, attempts, not_before,
	expires_at, COALESCE(lease_owner, '') AS lease_owner, COALESCE(lease_token, '') AS lease_token,
	lease_expires_at, dispatched_at, created_at, updated_at, finished_at`

// ErrIdempotencyMismatch: the Idempotency-Key was used before with another request.
var ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")

// NewCommand is a validated, authorized command to queue.
type NewCommand struct {
	PoolID           int64
	EquipmentID      int64
	DeviceID         int64
	AccountID        int64
	Provider         string
	ProviderDeviceID string
	Channel          string
	Command          string
	Params           Details
	RequestedBy      int64
	// IdempotencyKey, when set, makes the insert idempotent per user: the same key again
	// returns the first command (created false) when RequestHash matches, and
	// ErrIdempotencyMismatch when it does not.
	IdempotencyKey string
	RequestHash    string
	ExpiresAt      time.Time
}

func newCommandID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("command id: %w", err)
	}
	return "cmd_" + hex.EncodeToString(b[:]), nil
}

// MaxQueuedCommandsPerDevice bounds the commands waiting to be sent to one device. They
// go out one at a time, in order, at most one per the provider's min interval, and each
// is an actuator order: past a few dozen a queue only piles up orders that will expire
// or arrive long after they made sense, and rows one user can add without end.
const MaxQueuedCommandsPerDevice = 32

// CreateCommand queues a command, or returns the one an earlier request with the same
// idempotency key created (created false). A device with MaxQueuedCommandsPerDevice
// queued already is ErrCommandQueueFull.
func (q queries) CreateCommand(ctx context.Context, n NewCommand) (c Command, created bool, err error) {
	if n.DeviceID == 0 || n.AccountID == 0 || n.Command == "" || n.ExpiresAt.IsZero() {
		return Command{}, false, fmt.Errorf("create command: %w: device, account, command and expiry are required", ErrInvalid)
	}
	if n.IdempotencyKey != "" {
		prev, err := q.commandByKey(ctx, n.RequestedBy, n.IdempotencyKey)
		switch {
		case err == nil:
			if prev.RequestHash != n.RequestHash {
				return Command{}, false, ErrIdempotencyMismatch
			}
			return prev, false, nil
		case !errors.Is(err, ErrNotFound):
			return Command{}, false, err
		}
	}
	id, err := newCommandID()
	if err != nil {
		return Command{}, false, err
	}
	params := n.Params
	if params == nil {
		params = Details{}
	}
	pj, err := jsonValue(params)
	if err != nil {
		return Command{}, false, fmt.Errorf("create command: %w", err)
	}
	now := q.clock()
	var key any
	if n.IdempotencyKey != "" {
		key = n.IdempotencyKey
	}
	var prev *Command
	err = q.inTx(ctx, func(q queries) error {
		// The pool must still be (commands.pool_id references it no more, so that
		// commands outlive their pool as history): FOR KEY SHARE, as that foreign key's
		// check took, so a DeletePool in flight (FOR UPDATE) either waits for this
		// command, and cancels it, or has deleted the pool first: ErrNotFound.
		var pool int64
		if err := q.get(ctx, &pool, `SELECT id FROM pools WHERE id = ?`+q.d.forKeyShareSQL(), n.PoolID); err != nil {
			return err
		}
		// The device's commands take turns (serializeOnSQL), so two at once cannot both
		// take the last place in its queue.
		var dev int64
		if err := q.get(ctx, &dev, `SELECT id FROM integration_devices WHERE id = ?`+q.d.serializeOnSQL(), n.DeviceID); err != nil {
			return err
		}
		if n.IdempotencyKey != "" {
			// Again, in turn: a retry of the same request that looked before the first
			// committed finds it now, rather than count it against the queue's cap and
			// be told the queue is full for a request that was queued.
			c, err := q.commandByKey(ctx, n.RequestedBy, n.IdempotencyKey)
			switch {
			case err == nil:
				prev = &c
				return nil
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		var queued int
		if err := q.get(ctx, &queued, `SELECT COUNT(*) FROM commands WHERE status = 'queued' AND device_id = ?`, n.DeviceID); err != nil {
			return err
		}
		if queued >= MaxQueuedCommandsPerDevice {
			return ErrCommandQueueFull
		}
		if n.EquipmentID != 0 {
			// The caller read the equipment's binding before this transaction. Its row
			// locked here, a rebind or delete (each locks it, then refuses while the
			// equipment has a command queued) comes wholly before this insert, and is
			// refused here, or wholly after it, and is refused there. A delete that
			// slipped in between once left the command queued with equipment_id NULL,
			// which the dispatcher's send check reads as "no equipment": sent anyway.
			var id int64
			err := q.get(ctx, &id, `SELECT id FROM equipment WHERE id = ? AND pool_id = ? AND device_id = ? AND channel = ?`+
				q.d.forUpdateSQL(), n.EquipmentID, n.PoolID, n.DeviceID, n.Channel)
			if errors.Is(err, ErrNotFound) {
				return ErrEquipmentRebound
			}
			if err != nil {
				return err
			}
		}
		return q.get(ctx, &c, `INSERT INTO commands (public_id, pool_id, equipment_id, device_id, account_id, provider,
		provider_device_id, channel, command, params, status, requested_by, idempotency_key, request_hash,
		not_before, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?) RETURNING `+commandColumns,
			id, n.PoolID, nullID(n.EquipmentID), n.DeviceID, n.AccountID, n.Provider, n.ProviderDeviceID, n.Channel,
			n.Command, pj, nullID(n.RequestedBy), key, n.RequestHash, now, ts(n.ExpiresAt), now, now)
	})
	if err != nil {
		if n.IdempotencyKey != "" && errors.Is(err, ErrConflict) {
			// A concurrent request with the same key won the insert: answer as it did.
			prev, gerr := q.commandByKey(ctx, n.RequestedBy, n.IdempotencyKey)
			if gerr != nil {
				return Command{}, false, fmt.Errorf("create command: %w", err)
			}
			if prev.RequestHash != n.RequestHash {
				return Command{}, false, ErrIdempotencyMismatch
			}
			return prev, false, nil
		}
		return Command{}, false, fmt.Errorf("create command: %w", err)
	}
	if prev != nil {
		if prev.RequestHash != n.RequestHash {
			return Command{}, false, ErrIdempotencyMismatch
		}
		return *prev, false, nil
	}
	return c, true, nil
}

func (q queries) commandByKey(ctx context.Context, userID int64, key string) (Command, error) {
	var c Command
	if err := q.get(ctx, &c, `SELECT `+commandColumns+` FROM commands WHERE requested_by = ? AND idempotency_key = ?`, userID, key); err != nil {
		return Command{}, fmt.Errorf("command by idempotency key: %w", err)
	}
	return c, nil
}

// GetCommand returns one of a pool's commands by its public id; another pool's is
// ErrNotFound.
func (q queries) GetCommand(ctx context.Context, poolID int64, publicID string) (Command, error) {
	var c Command
	if err := q.get(ctx, &c, `SELECT `+commandColumns+` FROM commands WHERE pool_id = ? AND public_id = ?`, poolID, publicID); err != nil {
		return Command{}, fmt.Errorf("get command: %w", err)
	}
	return c, nil
}

// CommandByPublicID returns a command whatever its pool (workers, tests).
func (q queries) CommandByPublicID(ctx context.Context, publicID string) (Command, error) {
	var c Command
	if err := q.get(ctx, &c, `SELECT `+commandColumns+` FROM commands WHERE public_id = ?`, publicID); err != nil {
		return Command{}, fmt.Errorf("get command: %w", err)
	}
	return c, nil
}

// SendCheck is what must still hold when a queued command is sent, as the database says
// now (CheckSend).
type SendCheck struct {
	// RequesterMay: whoever asked for it is still an owner or editor of the pool, not
	// disabled (true for a command nobody asked for through the API).
	RequesterMay bool `db:"requester_may"`
	// Bound: its equipment still commands the device and channel it was queued for
	// (true for a command without equipment).
	Bound bool `db:"bound"`
	// RequesterEmail is the requester's email ("" for none), for the provider's pilot
	// list.
	RequesterEmail string `db:"requester_email"`
}

// CheckSend asks, in one statement, whether a queued command may still be sent. Submit
// authorized it by the requester's role and the equipment's binding then; a member
// removed, lowered to viewer or disabled since, or equipment rebound in the instant
// between Submit's read of it and the command's insert, is seen here.
func (q queries) CheckSend(ctx context.Context, c Command) (SendCheck, error) {
	var sc SendCheck
	if err := q.get(ctx, &sc, `SELECT
		(? = 0 OR EXISTS (SELECT 1 FROM pool_members m JOIN users u ON u.id = m.user_id
			WHERE m.pool_id = ? AND m.user_id = ? AND m.role IN ('owner', 'editor') AND u.disabled_at IS NULL)) AS requester_may,
		(? = 0 OR EXISTS (SELECT 1 FROM equipment e
			WHERE e.id = ? AND e.pool_id = ? AND e.device_id = ? AND e.channel = ?)) AS bound,
		COALESCE((SELECT email FROM users WHERE id = ?), '') AS requester_email`,
		c.RequestedBy, c.PoolID, c.RequestedBy, c.EquipmentID, c.EquipmentID, c.PoolID, c.DeviceID, c.Channel, c.RequestedBy); err != nil {
		return SendCheck{}, fmt.Errorf("check send: %w", err)
	}
	return sc, nil
}

// CommandFilter narrows ListCommands; zero fields do not filter.
type CommandFilter struct {
	PoolID   int64
	Statuses []CommandStatus
	Provider string
	// BeforeID lists only commands older than this one (a smaller id): the next page
	// after a page that ended at it. 0 starts from the newest.
	BeforeID int64
	Limit    int // default 100, at most 1000
}

// ListCommands returns commands, newest first.
func (q queries) ListCommands(ctx context.Context, f CommandFilter) ([]Command, error) {
	where, args := "1 = 1", []any{}
	if f.PoolID != 0 {
		where += " AND pool_id = ?"
		args = append(args, f.PoolID)
	}
	if f.Provider != "" {
		where += " AND provider = ?"
		args = append(args, f.Provider)
	}
	if f.BeforeID > 0 {
		where += " AND id < ?"
		args = append(args, f.BeforeID)
	}
	if len(f.Statuses) > 0 {
		where += " AND status IN ("
		for i, s := range f.Statuses {
			if i > 0 {
				where += ", "
			}
			where += "?"
			args = append(args, string(s))
		}
		where += ")"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	args = append(args, limit)
	var cs []Command
	if err := q.sel(ctx, &cs, `SELECT `+commandColumns+` FROM commands WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...); err != nil {
		return nil, fmt.Errorf("list commands: %w", err)
	}
	return cs, nil
}

// CancelCommand cancels a queued command of the pool. ErrConflict when it is no longer
// queued (it may be on its way: canceling then would be a lie).
func (q queries) CancelCommand(ctx context.Context, poolID int64, publicID string) (Command, error) {
	now := q.clock()
	var c Command
	err := q.get(ctx, &c, `UPDATE commands SET status = 'canceled', updated_at = ?, finished_at = ?
		WHERE pool_id = ? AND public_id = ? AND status = 'queued' RETURNING `+commandColumns, now, now, poolID, publicID)
	if errors.Is(err, ErrNotFound) {
		if _, gerr := q.GetCommand(ctx, poolID, publicID); gerr != nil {
			return Command{}, gerr
		}
		return Command{}, fmt.Errorf("cancel command: %w: only a queued command can be canceled", ErrConflict)
	}
	if err != nil {
		return Command{}, fmt.Errorf("cancel command: %w", err)
	}
	return c, nil
}

// ExpireCommands moves queued commands past their expiry to expired and returns them.
func (q queries) ExpireCommands(ctx context.Context) ([]Command, error) {
	now := q.clock()
	var cs []Command
	if err := q.sel(ctx, &cs, `UPDATE commands SET status = 'expired', updated_at = ?, finished_at = ?,
		reason = 'not sent before its expiry'
		WHERE status = 'queued' AND expires_at <= ? RETURNING `+commandColumns, now, now, now); err != nil {
		return nil, fmt.Errorf("expire commands: %w", err)
	}
	return cs, nil
}

// RescueCommands moves commands whose send lease expired (a host that crashed or hung
// mid-send) to unknown and returns them. Never back to queued: the send may have
// happened.
func (q queries) RescueCommands(ctx context.Context) ([]Command, error) {
	now := q.clock()
	var cs []Command
	if err := q.sel(ctx, &cs, `UPDATE commands SET status = 'unknown', updated_at = ?,
		reason = 'the send was interrupted; its outcome is unknown', lease_owner = NULL, lease_token = NULL,
		lease_expires_at = NULL
		WHERE status = 'sending' AND lease_expires_at <= ? RETURNING `+commandColumns, now, now); err != nil {
		return nil, fmt.Errorf("rescue commands: %w", err)
	}
	return cs, nil
}

// ClaimCommands moves up to limit due commands to sending under a lease for owner. Only
// the oldest queued command of a device is due, and only when the device has none in
// flight and none dispatched within minInterval: one at a time per device, in order,
// rate limited. Concurrent claimers (replicas) never get the same command.
func (q queries) ClaimCommands(ctx context.Context, owner string, limit int, lease, minInterval time.Duration) ([]Command, error) {
	if owner == "" || limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim commands: %w: owner, limit and lease are required", ErrInvalid)
	}
	token, err := newLeaseToken()
	if err != nil {
		return nil, err
	}
	now := q.clock()
	var cs []Command
	if err := q.sel(ctx, &cs, q.d.claimCommandsSQL(), owner, token, ts(now.Add(lease)), now, now, now, now,
		ts(now.Add(-minInterval)), limit); err != nil {
		return nil, fmt.Errorf("claim commands: %w", err)
	}
	return cs, nil
}

// CommandOutcome is what a send came to.
type CommandOutcome struct {
	Status      CommandStatus // sent, delivered, succeeded, failed, unknown, or queued (retry later)
	ProviderRef string
	Reason      string
	RetryAt     time.Time // for queued: not before
}

// FinishCommand records a claimed command's send outcome, compare-and-set on the lease.
// ErrLeaseLost when it is no longer sending under this lease (a provider's update
// arrived first, or the lease was rescued).
func (q queries) FinishCommand(ctx context.Context, id int64, l Lease, o CommandOutcome) (Command, error) {
	now := q.clock()
	notBefore := now
	if !o.RetryAt.IsZero() {
		notBefore = ts(o.RetryAt)
	}
	var finished *time.Time
	if o.Status.Final() {
		finished = &now
	}
	var c Command
	err := q.get(ctx, &c, `UPDATE commands SET status = ?, provider_ref = ?, reason = ?, not_before = ?,
		updated_at = ?, finished_at = ?, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE id = ? AND status = 'sending' AND lease_owner = ? AND lease_token = ? RETURNING `+commandColumns,
		string(o.Status), o.ProviderRef, o.Reason, notBefore, now, finished, id, l.Owner, l.Token)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Command{}, fmt.Errorf("finish command: %w", ErrLeaseLost)
		}
		return Command{}, fmt.Errorf("finish command: %w", err)
	}
	return c, nil
}

// updatableFrom is what a provider's update may move a command from: only forward, and
// from unknown too (the provider's word settles what the host could not know).
var updatableFrom = map[CommandStatus][]CommandStatus{
	CommandDelivered: {CommandSending, CommandSent, CommandUnknown},
	CommandSucceeded: {CommandSending, CommandSent, CommandDelivered, CommandUnknown},
	CommandFailed:    {CommandSending, CommandSent, CommandDelivered, CommandUnknown},
}

// ApplyCommandUpdate applies a provider's update to the command it names, by public id
// or provider reference, among accountID's commands only: the account whose
// credential authenticated the update. It returns the command before and after, and
// ErrNotFound when no command of that account, in a state the update may move, matches.
func (q queries) ApplyCommandUpdate(ctx context.Context, accountID int64, publicID, providerRef string,
	status CommandStatus, reason string) (before, after Command, err error) {
	from, ok := updatableFrom[status]
	if !ok {
		return Command{}, Command{}, fmt.Errorf("apply command update: %w: status %q", ErrInvalid, status)
	}
	if accountID == 0 || (publicID == "" && providerRef == "") {
		return Command{}, Command{}, fmt.Errorf("apply command update: %w", ErrNotFound)
	}
	match, arg := "public_id = ?", publicID
	if publicID == "" {
		match, arg = "provider_ref = ?", providerRef
	}
	in := ""
	var fromArgs []any
	for i, s := range from {
		if i > 0 {
			in += ", "
		}
		in += "?"
		fromArgs = append(fromArgs, string(s))
	}
	// Only while the command's device still feeds the command's pool (linkActiveSQL): a
	// member removed from the pool (or lowered to viewer, disabled, disconnected) signs
	// for their own account, and must not write into the pool's commands any more.
	// A provider's reference, unlike the host's id, need not be unique among the
	// account's commands (a provider may reuse its job ids; a plugin may answer one
	// reference for every send): one naming two commands the update may move names
	// neither, and changes nothing. It took whichever row the database returned first,
	// and could settle an older command (unknown, or in another pool) with a later one's
	// outcome.
	var cs []Command
	if err := q.sel(ctx, &cs, `SELECT `+commandColumns+` FROM commands WHERE account_id = ? AND `+match+`
		AND status IN (`+in+`)
		AND EXISTS (SELECT 1 FROM device_pool_links l JOIN integration_accounts a ON a.id = commands.account_id
			WHERE l.device_id = commands.device_id AND l.pool_id = commands.pool_id AND `+linkActiveSQL+`)
		ORDER BY id LIMIT 2`, append([]any{accountID, arg}, fromArgs...)...); err != nil {
		return Command{}, Command{}, fmt.Errorf("apply command update: %w", err)
	}
	switch len(cs) {
	case 0:
		return Command{}, Command{}, fmt.Errorf("apply command update: %w", ErrNotFound)
	case 2:
		return Command{}, Command{}, fmt.Errorf("apply command update: %w: provider reference %q names more than one command", ErrConflict, providerRef)
	}
	before = cs[0]
	now := q.clock()
	var finished *time.Time
	if status.Final() {
		finished = &now
	}
	args := append([]any{string(status), reason, now, finished, before.ID}, fromArgs...)
	// A provider's word ends the send lease too: the dispatcher's own finish then finds
	// the lease lost and keeps the provider's (later, truer) status.
	err = q.get(ctx, &after, `UPDATE commands SET status = ?, reason = ?, updated_at = ?, finished_at = ?,
		lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
		WHERE id = ? AND status IN (`+in+`) RETURNING `+commandColumns, args...)
	if err != nil {
		return Command{}, Command{}, fmt.Errorf("apply command update: %w", err)
	}
	return before, after, nil
}

// EquipmentBinding is the device (and channel) a piece of equipment commands.
type EquipmentBinding struct {
	EquipmentID int64  `db:"id"`
	DeviceID    int64  `db:"device_id"` // 0: not bound
	Channel     string `db:"channel"`
}

// GetEquipmentBinding returns one of a pool's pieces of equipment's binding.
func (q queries) GetEquipmentBinding(ctx context.Context, poolID, equipmentID int64) (EquipmentBinding, error) {
	var b EquipmentBinding
	if err := q.get(ctx, &b, `SELECT id, COALESCE(device_id, 0) AS device_id, channel FROM equipment
		WHERE pool_id = ? AND id = ?`, poolID, equipmentID); err != nil {
		return EquipmentBinding{}, fmt.Errorf("get equipment binding: %w", err)
	}
	return b, nil
}

// ListEquipmentBindings returns the bindings of a pool's equipment, by equipment id.
func (q queries) ListEquipmentBindings(ctx context.Context, poolID int64) (map[int64]EquipmentBinding, error) {
	var bs []EquipmentBinding
	if err := q.sel(ctx, &bs, `SELECT id, COALESCE(device_id, 0) AS device_id, channel FROM equipment
		WHERE pool_id = ?`, poolID); err != nil {
		return nil, fmt.Errorf("list equipment bindings: %w", err)
	}
	out := make(map[int64]EquipmentBinding, len(bs))
	for _, b := range bs {
		out[b.EquipmentID] = b
	}
	return out, nil
}

// BindEquipment binds a pool's equipment to a device linked to the same pool (deviceID
// 0 unbinds). A device not linked to the pool is ErrInvalid. A change of device or
// channel while the equipment has commands queued or being sent is ErrEquipmentBusy:
// each of them goes to the device (and channel) it was queued for, which would then
// drive something else.
func (q queries) BindEquipment(ctx context.Context, poolID, equipmentID, deviceID int64, channel string) (EquipmentBinding, error) {
	if deviceID != 0 {
		var n int
		if err := q.get(ctx, &n, `SELECT COUNT(*) FROM device_pool_links WHERE device_id = ? AND pool_id = ?`, deviceID, poolID); err != nil {
			return EquipmentBinding{}, fmt.Errorf("bind equipment: %w", err)
		}
		if n == 0 {
			return EquipmentBinding{}, fmt.Errorf("bind equipment: %w: the device is not linked to this pool", ErrInvalid)
		}
	} else {
		channel = ""
	}
	var b EquipmentBinding
	err := q.inTx(ctx, func(q queries) error {
		cur, err := q.lockEquipmentBinding(ctx, poolID, equipmentID)
		if err != nil {
			return err
		}
		if cur.DeviceID == deviceID && cur.Channel == channel {
			b = cur
			return nil
		}
		if err := q.equipmentIdle(ctx, equipmentID); err != nil {
			return err
		}
		return q.get(ctx, &b, `UPDATE equipment SET device_id = ?, channel = ?, updated_at = ? WHERE pool_id = ? AND id = ?
			RETURNING id, COALESCE(device_id, 0) AS device_id, channel`, nullID(deviceID), channel, q.clock(), poolID, equipmentID)
	})
	if err != nil {
		return EquipmentBinding{}, fmt.Errorf("bind equipment: %w", err)
	}
	return b, nil
}

// lockEquipmentBinding reads a piece of equipment's binding for a change, its row
// locked (PostgreSQL; SQLite's one writer serializes the transaction), so two changes
// do not interleave.
func (q queries) lockEquipmentBinding(ctx context.Context, poolID, equipmentID int64) (EquipmentBinding, error) {
	var b EquipmentBinding
	if err := q.get(ctx, &b, `SELECT id, COALESCE(device_id, 0) AS device_id, channel FROM equipment
		WHERE pool_id = ? AND id = ?`+q.d.forUpdateSQL(), poolID, equipmentID); err != nil {
		return EquipmentBinding{}, err
	}
	return b, nil
}

// equipmentIdle is ErrEquipmentBusy while the equipment has a command queued or being sent.
func (q queries) equipmentIdle(ctx context.Context, equipmentID int64) error {
	var n int
	if err := q.get(ctx, &n, `SELECT COUNT(*) FROM commands WHERE equipment_id = ? AND status IN ('queued', 'sending')`,
		equipmentID); err != nil {
		return err
	}
	if n > 0 {
		return ErrEquipmentBusy
	}
	return nil
}

// CommandTroubleCount is how many of a provider's commands ended in one troubled
// status (unknown, failed, expired).
type CommandTroubleCount struct {
	Provider string        `db:"provider"`
	Status   CommandStatus `db:"status"`
	Count    int64         `db:"n"`
}

// CommandTrouble counts the commands that became unknown, failed or expired at or
// after since, by provider and status: the Overview's "commands unknown or failed".
func (q queries) CommandTrouble(ctx context.Context, since time.Time) ([]CommandTroubleCount, error) {
	var out []CommandTroubleCount
	if err := q.sel(ctx, &out, `SELECT provider, status, COUNT(*) AS n FROM commands
		WHERE status IN ('unknown', 'failed', 'expired') AND updated_at >= ?
		GROUP BY provider, status ORDER BY provider, status`, ts(since)); err != nil {
		return nil, fmt.Errorf("command trouble: %w", err)
	}
	return out, nil
}
