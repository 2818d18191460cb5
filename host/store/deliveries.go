package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DeliveryKey names one webhook delivery: the provider's idempotency key (Standard
// Webhooks' webhook-id, TTN's correlation id …) within the endpoint it came through.
// AccountID is 0 for the provider-level URL: ids are unique per sender, and an
// account-scoped URL may be a sender of its own.
type DeliveryKey struct {
	Provider   string
	AccountID  int64
	DeliveryID string
}

// RecordDelivery returns when the delivery was first received: receivedAt when this is
// its first sighting (now recorded), the stored time otherwise. Run it inside the
// transaction that stores the delivery's readings, so a sighting whose readings roll
// back is not remembered either; concurrent first sightings of one id then serialize on
// the primary key and both see the winner's time.
func (q queries) RecordDelivery(ctx context.Context, k DeliveryKey, receivedAt time.Time) (time.Time, error) {
	if k.Provider == "" || k.DeliveryID == "" {
		return time.Time{}, fmt.Errorf("record delivery: %w: provider and delivery id required", ErrInvalid)
	}
	// First sightings are the common case: one round trip, the RETURNING row. A replay
	// returns no row and reads the stored time.
	var first []time.Time
	err := q.sel(ctx, &first, `INSERT INTO webhook_deliveries (provider, account_id, delivery_id, first_received_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (provider, account_id, delivery_id) DO NOTHING
		RETURNING first_received_at`, k.Provider, k.AccountID, k.DeliveryID, ts(receivedAt))
	if err != nil {
		return time.Time{}, fmt.Errorf("record delivery: %w", err)
	}
	if len(first) == 1 {
		return first[0].UTC(), nil
	}
	var at time.Time
	err = q.get(ctx, &at, `SELECT first_received_at FROM webhook_deliveries
		WHERE provider = ? AND account_id = ? AND delivery_id = ?`, k.Provider, k.AccountID, k.DeliveryID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// Only if the row vanished between the two statements (a prune racing us).
			return ts(receivedAt), nil
		}
		return time.Time{}, fmt.Errorf("record delivery: %w", err)
	}
	return at.UTC(), nil
}

// ClaimDelivery records k's first sighting, as RecordDelivery, and reports whether this
// was it: false when a copy of the delivery was recorded before (stored or kept, by this
// host or another replica), so the caller must write nothing of it. Run it inside the
// transaction that stores (or keeps) the delivery: a concurrent first sighting on
// another replica makes it wait for that transaction, and a rolled-back one leaves no
// record.
func (q queries) ClaimDelivery(ctx context.Context, k DeliveryKey, receivedAt time.Time) (bool, error) {
	if k.Provider == "" || k.DeliveryID == "" {
		return false, fmt.Errorf("claim delivery: %w: provider and delivery id required", ErrInvalid)
	}
	first, err := q.claimDelivery(ctx, k, receivedAt)
	if err != nil {
		return false, fmt.Errorf("claim delivery: %w", err)
	}
	return first, nil
}

func (q queries) claimDelivery(ctx context.Context, k DeliveryKey, receivedAt time.Time) (bool, error) {
	res, err := q.exec(ctx, `INSERT INTO webhook_deliveries (provider, account_id, delivery_id, first_received_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (provider, account_id, delivery_id) DO NOTHING`,
		k.Provider, k.AccountID, k.DeliveryID, ts(receivedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// KeptDelivery reports how a delivery that was recorded but may not have been stored
// was kept instead: the status of its ingestion failure row (pending, processing,
// resolved, dead), or ErrNotFound when it was stored directly.
func (q queries) KeptDelivery(ctx context.Context, k DeliveryKey) (FailureStatus, error) {
	var st FailureStatus
	err := q.get(ctx, &st, keptDeliverySQL, k.Provider, k.AccountID, k.DeliveryID)
	if err != nil {
		return "", fmt.Errorf("kept delivery: %w", err)
	}
	return st, nil
}

// keptDeliverySQL finds a delivery's failure row through
// integration_ingestion_failures_delivery_idx (provider, delivery_id; migration 00026):
// every replay of a kept delivery asks, and without the index each ask read all of the
// provider's failures, dead letters kept for months included.
const keptDeliverySQL = `SELECT status FROM integration_ingestion_failures
	WHERE provider = ? AND COALESCE(account_id, 0) = ? AND delivery_id = ? ORDER BY id LIMIT 1`

// PruneDeliveries forgets delivery ids first seen before cutoff and returns how many. A
// replay older than every provider's redelivery window cannot arrive, so its id is dead
// weight; host/retention calls this hourly.
func (q queries) PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM webhook_deliveries WHERE first_received_at < ?`, ts(cutoff))
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return res.RowsAffected()
}
