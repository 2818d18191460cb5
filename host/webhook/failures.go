package webhook

import (
	"context"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// keep stores a verified payload that could not be ingested now: pending for the retry
// worker, or dead when the plugin says it can never be parsed. Only when even this
// fails does the provider hear 503 and redeliver.
func (s *Service) keep(ctx context.Context, dl Delivery, receivedAt time.Time, deliveryID string, cause error, sec secretSource) (Outcome, error) {
	permanent := sdk.IsKind(cause, sdk.KindPermanent)
	f := store.NewFailure{
		Provider:    dl.Provider,
		AccountID:   dl.AccountID,
		Payload:     dl.Body,
		Headers:     sec.keptHeaders(dl.Headers),
		DeliveryID:  deliveryID,
		ReceivedAt:  receivedAt,
		MaxAttempts: int(s.maxAttempts.Load()),
		Error:       errorText(cause),
		Dead:        permanent,
	}
	action, status := ActionQueuedForRetry, OutcomeQueued
	if permanent {
		action, status = ActionDead, OutcomeDead
	}
	var id int64
	var over *store.DeadLetterUsage // set when the account's dead letters are at their cap
	// The delivery is recorded with the row that keeps it, so a copy on any replica
	// finds it kept (replay.go); a payload whose plugin named no id is recorded under
	// its request's hash.
	once := store.DeliveryKey{Provider: dl.Provider, AccountID: dl.AccountID, DeliveryID: deliveryID}
	if deliveryID == "" {
		once.DeliveryID = "req:" + requestHash(dl.Headers, dl.Body)
	}
	replay := false
	err := s.d.Store.InTx(ctx, func(tx *store.Tx) error {
		replay, over = false, nil
		if permanent && dl.AccountID != 0 {
			// Counted in the transaction that would add one. On PostgreSQL concurrent
			// deliveries of one account may each see room for the last one: the cap can
			// be passed by as many as arrive at once, never without bound.
			u, err := tx.DeadLetterUsage(ctx, dl.Provider, dl.AccountID)
			if err != nil {
				return err
			}
			if c := s.deadCap.Load(); u.Count+1 > c.Count || u.Bytes+int64(len(dl.Body)) > c.Bytes {
				over = &u
				return nil
			}
		}
		first, err := tx.ClaimDelivery(ctx, once, receivedAt)
		if err != nil {
			return err
		}
		if !first {
			replay = true
			return nil
		}
		row, err := tx.EnqueueFailure(ctx, f)
		if err != nil {
			return err
		}
		id = row.ID
		details := store.Details{"error": f.Error, "source": "webhook"}
		if dl.AccountID != 0 {
			details["account_id"] = dl.AccountID
		}
		_, err = tx.AppendAudit(ctx, store.AuditEvent{
			At:         receivedAt,
			Action:     action,
			Actor:      store.ProviderActor(dl.Provider),
			Provider:   dl.Provider,
			TargetType: "ingestion_failure",
			TargetID:   strconv.FormatInt(id, 10),
			RequestID:  dl.RequestID,
			Details:    details,
		})
		return err
	})
	if err != nil {
		s.logStoreError("could not keep verified webhook; provider must redeliver", err, "provider", dl.Provider,
			"request_id", dl.RequestID, "cause", cause)
		return Outcome{}, ErrUnavailable
	}
	if over != nil {
		s.discard(ctx, dl, receivedAt, *over, cause)
		return Outcome{Status: OutcomeDiscarded}, nil
	}
	if replay {
		// A copy was stored or kept before: answered as that copy would be now.
		if deliveryID != "" {
			return s.replayed(ctx, once, ingest.Result{}), nil
		}
		return Outcome{Status: status, replay: true}, nil
	}
	// Say what happened: a dead payload is never retried by itself, and on-call reading
	// "kept for retry" would wait for a retry that never comes.
	if permanent {
		s.log.Warn("webhook payload cannot be parsed; kept as a dead letter for an operator (poolhost failures requeue|discard), never retried automatically",
			tracing.LogArgs(ctx, []any{"provider", dl.Provider, "request_id", dl.RequestID, "failure", id, "status", status, "error", cause})...)
	} else {
		s.log.Warn("webhook kept for retry by the retry worker", tracing.LogArgs(ctx, []any{"provider", dl.Provider, "request_id", dl.RequestID,
			"failure", id, "status", status, "error", cause})...)
	}
	return Outcome{Status: status, FailureID: id}, nil
}

// errorText is a cause as operators see it in the failures table, bounded in size.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	return msg
}
