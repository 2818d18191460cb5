package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Device is a provider device found by discovery, with what authorization and
// ingestion need to know about it: the account's owner and status, and the pool it is
// linked to (0 when unlinked).
type Device struct {
	ID               int64         `db:"id"`
	AccountID        int64         `db:"account_id"`
	Provider         string        `db:"provider"`
	ProviderDeviceID string        `db:"provider_device_id"`
	Name             string        `db:"name"`
	Model            string        `db:"model"`
	Metadata         Metadata      `db:"metadata"`
	CreatedAt        time.Time     `db:"created_at"`
	UpdatedAt        time.Time     `db:"updated_at"`
	OwnerID          int64         `db:"owner_id"` // the account's user
	AccountStatus    AccountStatus `db:"account_status"`
	PoolID           int64         `db:"pool_id"` // 0 when linked to no pool
	// Verified: the provider listed the device for the account's credentials (see
	// sdk.Device.Verified); false when the user declared it.
	Verified bool `db:"verified"`
	// AccountExternalID is the provider's id of the device's account.
	AccountExternalID string `db:"account_external_id"`
	// Suggestion is the provider's suggested configuration of the device's pool, from
	// the latest discovery; nil when there is none.
	Suggestion Suggestion `db:"suggestion"`
	// LinkActive: the device is linked to a pool and its owner may still feed that pool
	// now — an owner or editor of it, not disabled, with the account connected. A link
	// is authorized when it is made (connect.Link) but must hold for its whole life, so
	// it is judged afresh on every read (linkActiveSQL); ingestion writes only through
	// active links. False when the device is linked to no pool.
	LinkActive bool `db:"link_active"`
}

// linkActiveSQL is the one statement of who may feed a pool through a device link: the
// device account's user, while an owner or editor of the linked pool, not disabled, with
// the account not disconnected. A member removed or lowered to viewer, a disabled user,
// a disconnected account, an owner who left: each stops the link at once, without
// anyone having to find and unlink it, and whatever way in a future change adds.
const linkActiveSQL = `(l.pool_id IS NOT NULL AND a.status <> 'disconnected' AND EXISTS (
		SELECT 1 FROM pool_members m JOIN users u ON u.id = m.user_id
		WHERE m.pool_id = l.pool_id AND m.user_id = a.user_id AND m.role IN ('owner', 'editor')
			AND u.disabled_at IS NULL))`

const deviceSelect = `SELECT d.id, d.account_id, d.provider, d.provider_device_id, d.name, d.model, d.metadata,
		d.created_at, d.updated_at, a.user_id AS owner_id, a.status AS account_status,
		COALESCE(l.pool_id, 0) AS pool_id, d.verified, a.external_account_id AS account_external_id, d.suggestion,
		` + linkActiveSQL + ` AS link_active ` + deviceFrom

// deviceFrom is where a device's row, its account (whose owner and status decide) and
// its pool link come from, for deviceSelect and lookupSelect alike: linkActiveSQL reads
// a, d and l.
const deviceFrom = `FROM integration_devices d
	JOIN integration_accounts a ON a.id = d.account_id
	LEFT JOIN device_pool_links l ON l.device_id = d.id `

// NewDevice is a device as a plugin's DiscoverDevices reports it.
type NewDevice struct {
	ProviderDeviceID string
	Name             string
	Model            string
	Metadata         map[string]string
	// Verified is the provider's word that the account owns the device; a device's
	// provenance is what its latest discovery said.
	Verified bool
	// Suggestion, like the other fields, is what the latest discovery said.
	Suggestion *PoolSuggestion
}

// UpsertedDevice is a device after discovery; Created is false when it was known.
type UpsertedDevice struct {
	Device
	Created bool
}

// UpsertDevices records a discovery — the account's whole device list — in one
// transaction: new devices are inserted, known ones get the new name, model, metadata,
// provenance and suggestion, and known ones the list leaves out lose Verified. Links are
// untouched. A discovery that would leave the account with more than
// MaxDevicesPerAccount devices is ErrDeviceLimit, nothing of it stored.
func (q queries) UpsertDevices(ctx context.Context, accountID int64, devices []NewDevice) ([]UpsertedDevice, error) {
	out := make([]UpsertedDevice, 0, len(devices))
	err := q.inTx(ctx, func(q queries) error {
		// The account's discoveries take turns (serializeOnSQL), so two at once cannot
		// both take the last places.
		var provider string
		if err := q.get(ctx, &provider, `SELECT provider FROM integration_accounts WHERE id = ?`+q.d.serializeOnSQL(), accountID); err != nil {
			return err
		}
		var known []string
		if err := q.sel(ctx, &known, `SELECT provider_device_id FROM integration_devices WHERE account_id = ?`, accountID); err != nil {
			return err
		}
		held := make(map[string]bool, len(known)+len(devices))
		for _, id := range known {
			held[id] = true
		}
		for _, d := range devices {
			held[d.ProviderDeviceID] = true
		}
		if len(held) > MaxDevicesPerAccount {
			return ErrDeviceLimit
		}
		now := q.clock()
		for _, d := range devices {
			if d.ProviderDeviceID == "" {
				return fmt.Errorf("%w: device without provider device id", ErrInvalid)
			}
			var ids []int64
			if err := q.sel(ctx, &ids, `SELECT id FROM integration_devices WHERE account_id = ? AND provider_device_id = ?`,
				accountID, d.ProviderDeviceID); err != nil {
				return err
			}
			var id int64
			created := len(ids) == 0
			if created {
				if err := q.get(ctx, &id, `INSERT INTO integration_devices
					(account_id, provider, provider_device_id, name, model, metadata, created_at, updated_at, verified, suggestion)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
					accountID, provider, d.ProviderDeviceID, d.Name, d.Model, Metadata(d.Metadata), now, now, d.Verified, Suggestion{d.Suggestion}); err != nil {
					return err
				}
			} else {
				id = ids[0]
				if _, err := q.exec(ctx, `UPDATE integration_devices SET name = ?, model = ?, metadata = ?, updated_at = ?, verified = ?,
					suggestion = ? WHERE id = ?`, d.Name, d.Model, Metadata(d.Metadata), now, d.Verified, Suggestion{d.Suggestion}, id); err != nil {
					return err
				}
			}
			dev, err := q.GetDevice(ctx, id)
			if err != nil {
				return err
			}
			out = append(out, UpsertedDevice{Device: dev, Created: created})
		}
		return q.unverifyUnlisted(ctx, accountID, devices, now)
	})
	if err != nil {
		return nil, fmt.Errorf("upsert devices: %w", err)
	}
	return out, nil
}

// MaxDevicesPerAccount bounds an account's devices, whose list is one answer: the devices
// a discovery no longer lists are kept (their links and readings with them), so an
// upstream listing new ids on every call would otherwise add up to 10,000
// (plugins.max_devices_per_call) devices a discovery, without end. One discovery's worth.
const MaxDevicesPerAccount = 10000

// unverifyUnlisted takes Verified from the account's devices a discovery no longer
// lists: the provider vouches for what it lists now, not for what it once listed (a
// device taken out of the operator's fleet_devices, a probe moved to another provider
// account). The device, its link and its readings stay; only the provider-level URL
// stops reaching it.
func (q queries) unverifyUnlisted(ctx context.Context, accountID int64, listed []NewDevice, now time.Time) error {
	var rows []struct {
		ID               int64  `db:"id"`
		ProviderDeviceID string `db:"provider_device_id"`
	}
	if err := q.sel(ctx, &rows, `SELECT id, provider_device_id FROM integration_devices WHERE account_id = ? AND verified = ?`,
		accountID, true); err != nil {
		return err
	}
	still := make(map[string]bool, len(listed))
	for _, d := range listed {
		still[d.ProviderDeviceID] = true
	}
	for _, r := range rows {
		if still[r.ProviderDeviceID] {
			continue
		}
		if _, err := q.exec(ctx, `UPDATE integration_devices SET verified = ?, updated_at = ? WHERE id = ?`, false, now, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// GetDevice returns a device by id, whoever owns it; authorize with OwnerID.
func (q queries) GetDevice(ctx context.Context, id int64) (Device, error) {
	var d Device
	if err := q.get(ctx, &d, deviceSelect+`WHERE d.id = ?`, id); err != nil {
		return Device{}, fmt.Errorf("get device: %w", err)
	}
	return d, nil
}

// ListDevices returns an account's devices.
func (q queries) ListDevices(ctx context.Context, accountID int64) ([]Device, error) {
	var ds []Device
	if err := q.sel(ctx, &ds, deviceSelect+`WHERE d.account_id = ? ORDER BY d.id`, accountID); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// ListDevicesAfter returns a page of an account's devices, by id: at most limit of them
// with ids above afterID.
func (q queries) ListDevicesAfter(ctx context.Context, accountID, afterID int64, limit int) ([]Device, error) {
	var ds []Device
	if err := q.sel(ctx, &ds, deviceSelect+`WHERE d.account_id = ? AND d.id > ? ORDER BY d.id LIMIT ?`, accountID, afterID, limit); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// ListPoolDevices returns the devices linked to a pool.
func (q queries) ListPoolDevices(ctx context.Context, poolID int64) ([]Device, error) {
	var ds []Device
	if err := q.sel(ctx, &ds, deviceSelect+`WHERE l.pool_id = ? ORDER BY d.id`, poolID); err != nil {
		return nil, fmt.Errorf("list pool devices: %w", err)
	}
	return ds, nil
}

// GetDeviceByProviderID returns an account's device by the provider's id for it.
func (q queries) GetDeviceByProviderID(ctx context.Context, accountID int64, providerDeviceID string) (Device, error) {
	var d Device
	if err := q.get(ctx, &d, deviceSelect+`WHERE d.account_id = ? AND d.provider_device_id = ?`,
		accountID, providerDeviceID); err != nil {
		return Device{}, fmt.Errorf("get device: %w", err)
	}
	return d, nil
}

// DeviceLookup selects devices for ingestion.
type DeviceLookup struct {
	Provider          string
	AccountID         int64 // 0: any account of the provider (provider-level webhooks)
	ProviderDeviceIDs []string
}

// LookupDevices returns, in one query, every device of the provider whose provider id is
// listed — confined to one account when AccountID is set. A provider id may match
// several devices (two users linked the same provider account); ingestion decides. An
// id with no match is simply absent.
//
// Each device carries only what ingestion decides with (lookupSelect): ID, AccountID,
// Provider, ProviderDeviceID, OwnerID, AccountStatus, PoolID, Verified,
// AccountExternalID and LinkActive; the rest is left zero.
func (q queries) LookupDevices(ctx context.Context, l DeviceLookup) ([]Device, error) {
	if len(l.ProviderDeviceIDs) == 0 {
		return nil, nil
	}
	in, list, err := q.d.inList(l.ProviderDeviceIDs)
	if err != nil {
		return nil, fmt.Errorf("lookup devices: %w", err)
	}
	// Opaque values (dialect.opaque, inList): prepared, the lookup must keep one plan.
	query := lookupSelect + `WHERE d.provider = ` + q.d.opaque("TEXT") + ` AND (? = 0 OR d.account_id = ?)
		AND d.provider_device_id ` + in + ` ORDER BY d.id`
	args := append([]any{l.Provider, l.AccountID, l.AccountID}, list...)
	ds := make([]Device, 0, len(l.ProviderDeviceIDs))
	// Prepared: the one query every group commit runs, the same text for any number of
	// ids on PostgreSQL (= ANY of an array).
	err = q.eachPrepared(ctx, query, args, func(rows *sql.Rows) error {
		for rows.Next() {
			d := Device{Provider: l.Provider}
			if err := rows.Scan(&d.ID, &d.AccountID, &d.ProviderDeviceID, &d.OwnerID, &d.AccountStatus,
				&d.PoolID, &d.Verified, &d.AccountExternalID, &d.LinkActive); err != nil {
				return err
			}
			ds = append(ds, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("lookup devices: %w", err)
	}
	return ds, nil
}

// lookupSelect is deviceSelect narrowed to the columns ingestion reads, scanned by hand:
// the whole row through sqlx (its reflection, the metadata and suggestion JSON, two
// timestamps) was about 4 µs of the host's CPU per delivery on the group commit's
// lookup (host/bench, postgres/c64/plugin), and PostgreSQL formatted columns nobody read.
const lookupSelect = `SELECT d.id, d.account_id, d.provider_device_id, a.user_id, a.status,
		COALESCE(l.pool_id, 0), d.verified, a.external_account_id, ` + linkActiveSQL + ` ` + deviceFrom

// LinkDevice links a device to a pool, moving it when it was linked elsewhere, and
// returns the previous pool (0 if none). Authorization is the caller's: ownership of
// the device's account and editor rights on the pool.
func (q queries) LinkDevice(ctx context.Context, deviceID, poolID, byUserID int64) (int64, error) {
	var prev int64
	err := q.inTx(ctx, func(q queries) error {
		var prevs []int64
		if err := q.sel(ctx, &prevs, `SELECT pool_id FROM device_pool_links WHERE device_id = ?`, deviceID); err != nil {
			return err
		}
		if len(prevs) > 0 {
			prev = prevs[0]
		}
		_, err := q.exec(ctx, `INSERT INTO device_pool_links (device_id, pool_id, linked_by, linked_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (device_id) DO UPDATE SET pool_id = excluded.pool_id, linked_by = excluded.linked_by,
				linked_at = excluded.linked_at`, deviceID, poolID, nullID(byUserID), q.clock())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("link device: %w", err)
	}
	return prev, nil
}

// UnlinkDevice removes a device's link to poolID. A device not linked to that pool
// (unlinked, or moved to another since the caller read it) is ErrNotFound and keeps
// its link: the caller was authorized for poolID, so only that link is theirs to remove.
// Readings already stored stay with their pool.
func (q queries) UnlinkDevice(ctx context.Context, deviceID, poolID int64) error {
	if err := q.execOne(ctx, `DELETE FROM device_pool_links WHERE device_id = ? AND pool_id = ?`, deviceID, poolID); err != nil {
		return fmt.Errorf("unlink device: %w", err)
	}
	return nil
}

// nullID stores 0 as NULL for optional references.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
