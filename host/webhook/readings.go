package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// persist validates and stores the readings with the webhook.received audit row in the
// same transaction. If that fails the verified payload is queued instead.
func (s *Service) persist(ctx context.Context, dl Delivery, receivedAt time.Time, wr sdk.WebhookResult, sec secretSource) (Outcome, error) {
	// Before the readings: an update is forward-only and idempotent, so a delivery that
	// is later retried applies nothing twice.
	if s.d.CommandUpdates != nil && len(wr.CommandUpdates) > 0 {
		s.d.CommandUpdates(ctx, dl.Provider, dl.AccountID, wr.CommandUpdates)
	}
	res, err := s.d.Ingest.Ingest(ctx, ingest.Request{
		Provider:          dl.Provider,
		AccountID:         dl.AccountID,
		ProviderAccountID: wr.ProviderAccountID,
		Readings:          wr.Readings,
		TestSessions:      wr.TestSessions,
		ReceivedAt:        receivedAt,
		DeliveryID:        wr.DeliveryID,
		Once:              true,
		// An audit row and nothing else: the delivery may share its transaction with
		// concurrent ones (group commit).
		Audit: func(res ingest.Result) store.AuditEvent {
			return store.AuditEvent{
				At:        receivedAt,
				Action:    ActionReceived,
				Actor:     store.ProviderActor(dl.Provider),
				Provider:  dl.Provider,
				RequestID: dl.RequestID,
				Details:   receivedDetails(dl, wr, res),
			}
		},
	})
	if err != nil {
		out, err := s.keep(ctx, dl, receivedAt, wr.DeliveryID, fmt.Errorf("persist readings: %w", err), sec)
		if err == nil && out.replay && out.Status == OutcomeAccepted {
			// A copy was stored meanwhile: on PostgreSQL, the copy another replica wrote
			// at the same moment, whose statement this one's deadlocked with and lost
			// to. This copy's readings are its duplicates, as any replay's answer counts
			// them; keep knows nothing of them.
			out.Result = ingest.Result{Duplicates: len(wr.Readings)}
			if len(wr.TestSessions) > 0 {
				out.Result.TestSessions = &ingest.SessionsResult{Duplicates: len(wr.TestSessions)}
			}
		}
		return out, err
	}
	if res.Replay {
		return s.replayed(ctx, store.DeliveryKey{Provider: dl.Provider, AccountID: dl.AccountID, DeliveryID: wr.DeliveryID}, res), nil
	}
	return Outcome{Status: OutcomeAccepted, Result: res}, nil
}

func receivedDetails(dl Delivery, wr sdk.WebhookResult, res ingest.Result) store.Details {
	d := store.Details{
		"readings":   len(wr.Readings),
		"accepted":   res.Accepted,
		"duplicates": res.Duplicates,
	}
	if len(res.Dropped) > 0 {
		d["dropped"] = res.Dropped
	}
	if res.TestSessions != nil {
		// Kept, replayed and dropped alike: a delivery of sessions that all were
		// duplicates or dropped is recorded as such.
		d["test_sessions"] = len(wr.TestSessions)
		d["test_sessions_result"] = res.TestSessions
	}
	if len(res.Unowned) > 0 {
		// Which devices a provider-level delivery could not prove an owner for: what an
		// operator needs to spot a squatter or a fleet device nobody was given.
		d["unowned_devices"] = res.Unowned
	}
	if wr.ProviderAccountID != "" {
		d["provider_account_id"] = wr.ProviderAccountID
	}
	if wr.DeliveryID != "" {
		d["delivery_id"] = wr.DeliveryID
	}
	if dl.AccountID != 0 {
		d["account_id"] = dl.AccountID
	}
	return d
}
