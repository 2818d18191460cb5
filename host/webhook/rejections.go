package webhook

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// ActionRejectedSummary counts the rejections an interval left out of the audit trail.
const ActionRejectedSummary = "webhook.rejected_summary"

// reject audits a rejected delivery, at most once per provider, client (an IPv6 /64)
// and interval, and at most RejectAuditMax times per provider and interval.
func (s *Service) reject(ctx context.Context, dl Delivery, cause error) error {
	now := s.now()
	reason := sdk.RejectReason(cause)
	if errors.Is(cause, errNoSuchAccount) {
		reason = sdk.ReasonUnknownAccount
	}
	s.metrics.rejections.WithLabelValues(dl.Provider, reason).Inc()
	ok, suppressed, sum := s.throttle.Take(dl.Provider, audit.ClientKey(dl.Client), now)
	if sum != nil {
		s.auditSummary(ctx, dl, ActionRejectedSummary, "anonymous", *sum)
	}
	if ok {
		details := store.Details{"client": dl.Client, "reason": errorText(cause), "reason_code": reason}
		if suppressed > 0 {
			details["suppressed_since_last"] = suppressed
		}
		if dl.AccountID != 0 {
			details["account_id"] = dl.AccountID
		}
		_, err := s.d.Store.AppendAudit(ctx, store.AuditEvent{
			At:        now,
			Action:    ActionRejected,
			Actor:     "anonymous",
			Provider:  dl.Provider,
			RequestID: dl.RequestID,
			Details:   details,
		})
		if err != nil {
			s.log.Error("audit rejected webhook", "provider", dl.Provider, "request_id", dl.RequestID, "error", err)
		}
	}
	// The plugin's reason, for whoever debugs a sender (messages never carry secrets: the
	// SDK's contract). At Info only as often as the audit row is written, so a flood of
	// forgeries cannot flood the log; the metric counts every one.
	level := hclog.Debug
	if ok {
		level = hclog.Info
	}
	s.log.Log(level, "webhook rejected", tracing.LogArgs(ctx, []any{"provider", dl.Provider, "reason", reason, "client", dl.Client,
		"request_id", dl.RequestID, "error", errorText(cause)})...)
	return &Rejection{Reason: reason}
}

// auditSummary writes the one row that stands for the rows (rejections, discards) an
// interval left out of the audit trail.
func (s *Service) auditSummary(ctx context.Context, dl Delivery, action, actor string, sum audit.Summary) {
	if actor == "provider" {
		actor = store.ProviderActor(dl.Provider)
	}
	_, err := s.d.Store.AppendAudit(ctx, store.AuditEvent{
		At:        sum.To,
		Action:    action,
		Actor:     actor,
		Provider:  dl.Provider,
		RequestID: dl.RequestID,
		Details: store.Details{
			"suppressed": sum.Suppressed,
			"from":       sum.From.UTC().Format(time.RFC3339),
			"to":         sum.To.UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		s.log.Error("audit summary", "action", action, "provider", dl.Provider, "error", err)
	}
}
