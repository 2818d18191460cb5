package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// PoolDeletion is what deleting a pool took with it.
type PoolDeletion struct {
	// Canceled are the pool's commands that were still queued: canceled, never sent.
	Canceled []Command
	// Interrupted are its commands whose send's lease had run out (the host sending
	// them died): now unknown, as the dispatcher's rescue would have made them.
	Interrupted []Command
	// Readings counts the sensor readings deleted; TestSessions the test sessions.
	Readings     int64
	TestSessions int64
	// UnlinkedDevices counts the devices that fed the pool (they stay with their
	// accounts, linked to no pool).
	UnlinkedDevices int64
}

// poolLockClass is the first key of the advisory locks on pools (PostgreSQL): 'pool'
// in ASCII. migrations/postgres/00039's poolhost_hold_pools takes them shared.
const poolLockClass = 1886351212

// DeletePool deletes a pool and everything that is the pool's alone, in one
// transaction: the pool's row (so it no longer counts toward its creator's
// max_pools_per_user), its members, equipment, device links (the devices stay with their accounts,
// free to be linked elsewhere), test sessions, readings, rollups and measured metrics.
// Its queued commands are canceled (never sent) and every command keeps its row, as
// history; so do the audit rows. A pool with a command being sent (status sending,
// its lease running; one whose lease ran out becomes unknown) is ErrPoolBusy: that send may reach the device at any moment, and deleting the pool
// under it would leave an actuator commanded for a pool that no longer is. A pool that
// does not exist (or was deleted meanwhile) is ErrNotFound.
//
// A group commit racing it either wrote its readings before (they are deleted here) or
// finds the pool gone and writes none of them (ErrPoolGone): PostgreSQL's writers hold
// the pool's advisory lock shared (poolhost_hold_pools) and this transaction holds it
// exclusively; SQLite's one writer checks the pools in its transaction.
func (q queries) DeletePool(ctx context.Context, poolID int64) (PoolDeletion, error) {
	var out PoolDeletion
	err := q.inTx(ctx, func(q queries) error {
		out = PoolDeletion{}
		if q.d == dialectPostgres {
			if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(?, (CAST(? AS BIGINT) & 2147483647)::INT)`, poolLockClass, poolID); err != nil {
				return err
			}
		}
		// The rollup worker's turn (AdvanceRollups holds the watermark while it merges):
		// a run that read the pool's readings before they are deleted here commits its
		// rollups first, and those are deleted below; one after finds no readings.
		// Before the pool's row, in the order UpdatePool takes the two (a time zone
		// change), so that the two cannot wait for each other.
		var watermark int64
		if err := q.get(ctx, &watermark, `SELECT watermark FROM rollup_state WHERE name = ?`+q.d.forUpdateSQL(), rollupState); err != nil {
			return err
		}
		var id int64
		if err := q.get(ctx, &id, `SELECT id FROM pools WHERE id = ?`+q.d.forUpdateSQL(), poolID); err != nil {
			return err
		}
		// Queued commands first: a claim in flight holds its command's row, so this waits
		// for it and then leaves the command, sending by then, to the check below.
		now := q.clock()
		if err := q.sel(ctx, &out.Canceled, `UPDATE commands SET status = 'canceled', updated_at = ?, finished_at = ?,
			reason = 'its pool was deleted' WHERE pool_id = ? AND status = 'queued' RETURNING `+commandColumns, now, now, poolID); err != nil {
			return err
		}
		// A send whose lease ran out is over, its outcome unknown, as RescueCommands
		// would say at the dispatcher's next tick (if any dispatcher runs still).
		if err := q.sel(ctx, &out.Interrupted, `UPDATE commands SET status = 'unknown', updated_at = ?,
			reason = 'the send was interrupted; its outcome is unknown', lease_owner = NULL, lease_token = NULL,
			lease_expires_at = NULL
			WHERE pool_id = ? AND status = 'sending' AND lease_expires_at <= ? RETURNING `+commandColumns, now, poolID, now); err != nil {
			return err
		}
		var sending int
		if err := q.get(ctx, &sending, `SELECT COUNT(*) FROM commands WHERE pool_id = ? AND status = 'sending'`, poolID); err != nil {
			return err
		}
		if sending > 0 {
			return ErrPoolBusy
		}
		res, err := q.exec(ctx, `DELETE FROM sensor_readings WHERE pool_id = ?`, poolID)
		if err != nil {
			return err
		}
		if out.Readings, err = res.RowsAffected(); err != nil {
			return err
		}
		tables := []string{"test_results", "reading_rollups", "reading_rollups_daily"}
		if q.d == dialectPostgres {
			tables = append(tables, "measured_metrics") // PostgreSQL's alone (00027)
		}
		for _, table := range tables {
			if _, err := q.exec(ctx, `DELETE FROM `+table+` WHERE pool_id = ?`, poolID); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		if res, err = q.exec(ctx, `DELETE FROM test_sessions WHERE pool_id = ?`, poolID); err != nil {
			return err
		}
		if out.TestSessions, err = res.RowsAffected(); err != nil {
			return err
		}
		if res, err = q.exec(ctx, `DELETE FROM device_pool_links WHERE pool_id = ?`, poolID); err != nil {
			return err
		}
		if out.UnlinkedDevices, err = res.RowsAffected(); err != nil {
			return err
		}
		// Members and equipment go with the row (ON DELETE CASCADE); commands keep
		// theirs, their equipment_id set NULL.
		return q.execOne(ctx, `DELETE FROM pools WHERE id = ?`, poolID)
	})
	if err != nil {
		return PoolDeletion{}, fmt.Errorf("delete pool: %w", err)
	}
	q.measured.forget(poolID)
	return out, nil
}

// holdPools is ErrPoolGone when one of ids (the pools a write is for) was deleted. On
// PostgreSQL it also holds each pool's advisory lock shared until the transaction ends,
// so that DeletePool waits for the write (poolhost_hold_pools); SQLite's one writer
// needs no lock.
func (q queries) holdPools(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if q.d == dialectPostgres {
		var ok bool
		return q.get(ctx, &ok, `SELECT poolhost_hold_pools(CAST(? AS BIGINT[]))`, int8Array(ids))
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	var n int
	if err := q.get(ctx, &n, `SELECT COUNT(*) FROM pools WHERE id IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
		return err
	}
	if n < len(ids) {
		return ErrPoolGone
	}
	return nil
}

// HoldPools is holdPools for ingest's own transactions (ingestOne): ErrPoolGone when
// one of the pools its rows are for was deleted since it resolved their devices. ids
// must be distinct.
func (tx *Tx) HoldPools(ctx context.Context, ids []int64) error {
	if err := tx.holdPools(ctx, ids); err != nil {
		return fmt.Errorf("hold pools: %w", err)
	}
	return nil
}

// poolIDs is the distinct pools of rows, in the order they first appear. A batch's
// rows are of few pools, usually one per delivery.
func poolIDs(rows []Reading) []int64 {
	var ids []int64
	var seen map[int64]bool // once ids is long
	for _, r := range rows {
		if len(ids) > 0 && ids[len(ids)-1] == r.PoolID {
			continue
		}
		if seen == nil && len(ids) < 16 {
			if !slices.Contains(ids, r.PoolID) {
				ids = append(ids, r.PoolID)
			}
			continue
		}
		if seen == nil {
			seen = make(map[int64]bool, 2*len(ids))
			for _, id := range ids {
				seen[id] = true
			}
		}
		if !seen[r.PoolID] {
			seen[r.PoolID] = true
			ids = append(ids, r.PoolID)
		}
	}
	return ids
}
