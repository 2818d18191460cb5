// Package failures is what operators do with integration_ingestion_failures: list and
// inspect them, requeue dead letters (one, or in bulk by provider and time range) with a
// fresh attempt budget, and discard the ones they gave up on. Every change is audited
// with the actor. The HTTP admin routes and `poolhost failures` both call it, so they
// obey the same rules. Nothing here deletes a dead row on its own: only Discard does,
// on an operator's word.
package failures

import (
	"context"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
)

// Audit actions.
const (
	ActionRequeued  = "ingestion.requeued"
	ActionDiscarded = "ingestion.discarded"
)

// Store is what the service needs: *store.Store.
type Store interface {
	ListFailures(ctx context.Context, f store.FailureFilter) ([]store.Failure, error)
	GetFailure(ctx context.Context, id int64) (store.Failure, error)
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
	CountDeadFailures(ctx context.Context, f store.RequeueFilter) (int64, error)
}

// Service manages ingestion failures.
type Service struct {
	s   Store
	now func() time.Time
}

// New returns a Service.
func New(s Store) *Service { return &Service{s: s, now: time.Now} }

// Filter selects failures to list, newest first.
type Filter struct {
	Status   string // pending, processing, resolved, dead or "" for all
	Provider string
	BeforeID int64
	Limit    int
	From, To time.Time // created in [From, To); zero for no bound
}

var statuses = map[string]bool{
	"": true, string(store.FailurePending): true, string(store.FailureProcessing): true,
	string(store.FailureResolved): true, string(store.FailureDead): true,
}

// List returns one page of failures and the BeforeID of the next page (0 on the last).
// Admins (or the system) only: a failure holds a user's raw delivery.
func (s *Service) List(ctx context.Context, actor auth.Actor, f Filter) ([]store.Failure, int64, error) {
	if err := authorize(actor); err != nil {
		return nil, 0, err
	}
	if !statuses[f.Status] {
		return nil, 0, host.Errorf(host.EINVALID, "status must be pending, processing, resolved or dead")
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return nil, 0, host.Errorf(host.EINVALID, "from must be before to")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	// One more than a page tells whether another follows, so a last page that is exactly
	// full does not point at an empty one ("stopped at --limit 1; older ones: ... --before
	// 1" listed nothing), as commands.Service.Recent and pools.Service.List do.
	fs, err := s.s.ListFailures(ctx, store.FailureFilter{
		Status: store.FailureStatus(f.Status), Provider: f.Provider, BeforeID: f.BeforeID, Limit: f.Limit + 1,
		From: f.From, To: f.To,
	})
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(fs) > f.Limit {
		fs = fs[:f.Limit]
		next = fs[f.Limit-1].ID
	}
	return fs, next, nil
}

// Get returns one failure, its payload and headers. Admins (or the system) only.
func (s *Service) Get(ctx context.Context, actor auth.Actor, id int64) (store.Failure, error) {
	if err := authorize(actor); err != nil {
		return store.Failure{}, err
	}
	f, err := s.s.GetFailure(ctx, id)
	if err != nil {
		return store.Failure{}, notFound(err, id)
	}
	return f, nil
}

func notFound(err error, id int64) error {
	if host.ErrorCode(err) == host.ENOTFOUND {
		return host.Wrap(host.ENOTFOUND, err, "no failure %d", id)
	}
	return err
}

// Requeue turns a dead failure back to pending, due now, with a fresh attempt budget.
// Only dead failures can be requeued: another is ECONFLICT, returned with the failure
// as it stands (AlreadyQueued tells one the retry worker will work anyway).
func (s *Service) Requeue(ctx context.Context, actor auth.Actor, id int64) (store.Failure, error) {
	if err := authorize(actor); err != nil {
		return store.Failure{}, err
	}
	var f store.Failure
	err := s.s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if f, err = tx.RequeueFailure(ctx, id); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, s.event(ctx, actor, ActionRequeued, f.Provider, strconv.FormatInt(id, 10),
			store.Details{"last_error": f.LastError}))
		return err
	})
	if err != nil {
		if host.ErrorCode(err) == host.ECONFLICT {
			return f, host.Wrap(host.ECONFLICT, err, "failure %d is %s, not dead: %s", id, f.Status, notDeadReason(f.Status))
		}
		return store.Failure{}, notFound(err, id)
	}
	return f, nil
}

// AlreadyQueued reports whether f, which Requeue refused, is one the retry worker will
// work without it: pending (waiting for its next attempt) or processing (being worked
// now). Asking again for what is already asked is no mistake.
func AlreadyQueued(f store.Failure) bool {
	return f.Status == store.FailurePending || f.Status == store.FailureProcessing
}

// notDeadReason says why a failure in status needs no requeue.
func notDeadReason(status store.FailureStatus) string {
	switch status {
	case store.FailurePending:
		return "it is queued already and the retry worker tries it at its next attempt"
	case store.FailureProcessing:
		return "the retry worker is trying it now"
	case store.FailureResolved:
		return "its delivery was stored; there is nothing to retry"
	}
	return "only dead failures can be requeued"
}

// BulkFilter selects dead failures to requeue together.
type BulkFilter struct {
	Provider string    // required
	From, To time.Time // created in [From, To); zero for no bound
}

// RequeueBulk requeues every dead failure of a provider created in the range and returns
// their ids. One audit row lists them.
func (s *Service) RequeueBulk(ctx context.Context, actor auth.Actor, f BulkFilter) ([]int64, error) {
	return s.bulk(ctx, actor, f, ActionRequeued, (*store.Tx).RequeueFailures)
}

// bulk applies op to the failures f selects and audits what it changed as action, in
// one transaction; nothing changed, nothing audited.
func (s *Service) bulk(ctx context.Context, actor auth.Actor, f BulkFilter, action string,
	op func(*store.Tx, context.Context, store.RequeueFilter) ([]int64, error)) ([]int64, error) {
	if err := checkBulk(actor, f); err != nil {
		return nil, err
	}
	var ids []int64
	err := s.s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if ids, err = op(tx, ctx, store.RequeueFilter{Provider: f.Provider, From: f.From, To: f.To}); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.AppendAudit(ctx, s.event(ctx, actor, action, f.Provider, "", f.details(ids)))
		return err
	})
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []int64{}
	}
	return ids, nil
}

// Discard deletes a failure (not one being processed: ECONFLICT).
func (s *Service) Discard(ctx context.Context, actor auth.Actor, id int64) (store.Failure, error) {
	if err := authorize(actor); err != nil {
		return store.Failure{}, err
	}
	var f store.Failure
	err := s.s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if f, err = tx.DiscardFailure(ctx, id); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, s.event(ctx, actor, ActionDiscarded, f.Provider, strconv.FormatInt(id, 10),
			store.Details{"status": string(f.Status), "attempts": f.Attempts, "last_error": f.LastError,
				"delivery_id": f.DeliveryID, "received_at": f.ReceivedAt.UTC().Format(time.RFC3339Nano)}))
		return err
	})
	if err != nil {
		if host.ErrorCode(err) == host.ECONFLICT {
			return store.Failure{}, host.Wrap(host.ECONFLICT, err, "failure %d is being processed; try again after its attempt", id)
		}
		return store.Failure{}, notFound(err, id)
	}
	return f, nil
}

// CountBulk is how many dead failures a bulk requeue or discard with f would change
// now: what an operator confirms before doing it.
func (s *Service) CountBulk(ctx context.Context, actor auth.Actor, f BulkFilter) (int64, error) {
	if err := checkBulk(actor, f); err != nil {
		return 0, err
	}
	return s.s.CountDeadFailures(ctx, store.RequeueFilter{Provider: f.Provider, From: f.From, To: f.To})
}

// DiscardBulk deletes every dead failure of a provider created in the range and returns
// their ids. Pending and processing rows are left to the retry worker. One audit row
// lists them.
func (s *Service) DiscardBulk(ctx context.Context, actor auth.Actor, f BulkFilter) ([]int64, error) {
	return s.bulk(ctx, actor, f, ActionDiscarded, (*store.Tx).DiscardDeadFailures)
}

func (f BulkFilter) details(ids []int64) store.Details {
	d := store.Details{"ids": ids, "count": len(ids)}
	if !f.From.IsZero() {
		d["from"] = f.From.UTC().Format(time.RFC3339)
	}
	if !f.To.IsZero() {
		d["to"] = f.To.UTC().Format(time.RFC3339)
	}
	return d
}

func checkBulk(actor auth.Actor, f BulkFilter) error {
	if err := authorize(actor); err != nil {
		return err
	}
	if f.Provider == "" {
		return host.Errorf(host.EINVALID, "provider is required")
	}
	if err := host.CheckText("provider", f.Provider, false); err != nil {
		return err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return host.Errorf(host.EINVALID, "from must be before to")
	}
	return nil
}

// authorize: changing dead letters is for admins and the system (the CLI, which has
// the database itself), never for other users.
func authorize(a auth.Actor) error {
	switch {
	case a.IsUser() && !a.Admin:
		return host.Errorf(host.EFORBIDDEN, "this needs an admin")
	case !a.IsUser() && a.System == "":
		return host.Errorf(host.EUNAUTHORIZED, "an admin is required")
	}
	return nil
}

func (s *Service) event(ctx context.Context, actor auth.Actor, action, provider, target string, d store.Details) store.AuditEvent {
	return store.AuditEvent{
		At: s.now(), Action: action, Actor: actor.String(), Provider: provider,
		TargetType: "ingestion_failure", TargetID: target, RequestID: auth.RequestID(ctx), Details: d,
	}
}
