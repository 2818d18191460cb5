package webhook

import (
	"context"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// ActionDeadLetterDiscarded audits dead letters not kept, at most once per account and
// interval; suppressed_since_last counts the ones in between.
const ActionDeadLetterDiscarded = "webhook.dead_letter_discarded"

// ActionDeadLetterDiscardedSummary counts the discards an interval left out of the
// audit trail beyond its per-provider budget.
const ActionDeadLetterDiscardedSummary = "webhook.dead_letter_discarded_summary"

// DeadLetterCap bounds the dead letters kept for one account-scoped URL, whose secret's
// holder can sign anything: a user could otherwise fill the disk with megabyte
// payloads no plugin will ever parse. Provider-level deliveries are not capped: their
// secret is the provider's.
type DeadLetterCap struct {
	Count int
	Bytes int64
}

// SetDeadLetterCap changes the dead-letter cap per account (on reload). Zero fields
// take the defaults.
func (s *Service) SetDeadLetterCap(c DeadLetterCap) {
	if c.Count <= 0 {
		c.Count = config.DefaultIngest.MaxDeadLettersPerAccount
	}
	if c.Bytes <= 0 {
		c.Bytes = config.DefaultIngest.MaxDeadLetterBytesPerAccount
	}
	s.deadCap.Store(&c)
}

// discard records a dead letter not kept because its account is at its cap: counted in
// the deliveries metric (outcome discarded) every time, audited at most once per account
// and interval with the number left out since, and logged as often as audited.
func (s *Service) discard(ctx context.Context, dl Delivery, receivedAt time.Time, u store.DeadLetterUsage, cause error) {
	c := s.deadCap.Load()
	ok, suppressed, sum := s.discards.Take(dl.Provider, strconv.FormatInt(dl.AccountID, 10), receivedAt)
	if sum != nil {
		s.auditSummary(ctx, dl, ActionDeadLetterDiscardedSummary, "provider", *sum)
	}
	if !ok {
		return
	}
	details := store.Details{
		"account_id":            dl.AccountID,
		"bytes":                 len(dl.Body),
		"error":                 errorText(cause),
		"dead_letters":          u.Count,
		"dead_letter_bytes":     u.Bytes,
		"max_dead_letters":      c.Count,
		"max_dead_letter_bytes": c.Bytes,
	}
	if suppressed > 0 {
		details["suppressed_since_last"] = suppressed
	}
	if _, err := s.d.Store.AppendAudit(ctx, store.AuditEvent{
		At:         receivedAt,
		Action:     ActionDeadLetterDiscarded,
		Actor:      store.ProviderActor(dl.Provider),
		Provider:   dl.Provider,
		TargetType: "account",
		TargetID:   strconv.FormatInt(dl.AccountID, 10),
		RequestID:  dl.RequestID,
		Details:    details,
	}); err != nil {
		s.log.Error("audit discarded dead letter", "provider", dl.Provider, "request_id", dl.RequestID, "error", err)
	}
	s.log.Warn("dead letter not kept: the account is at its cap (ingest.max_dead_letters_per_account, max_dead_letter_bytes_per_account)",
		"provider", dl.Provider, "account", dl.AccountID, "request_id", dl.RequestID, "dead_letters", u.Count,
		"dead_letter_bytes", u.Bytes, "suppressed_since_last", suppressed, "error", cause)
}
