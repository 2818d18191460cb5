package failures_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

// TestBulkDiscard: the confirmation count is what a bulk discard then changes; only
// admins (or the system) may; the discard is audited with the actor and the ids.
func TestBulkDiscard(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	for i := 0; i < 3; i++ {
		if _, err := st.EnqueueFailure(ctx, store.NewFailure{Provider: "acme", Payload: []byte("x"), MaxAttempts: 1, Error: "bad", Dead: i < 2}); err != nil {
			t.Fatal(err)
		}
	}
	svc := failures.New(st)
	admin := auth.Actor{UserID: 1, Admin: true}
	f := failures.BulkFilter{Provider: "acme", From: time.Now().Add(-time.Hour)}

	if _, err := svc.CountBulk(ctx, auth.Actor{UserID: 2}, f); host.ErrorCode(err) != host.EFORBIDDEN {
		t.Fatalf("non-admin count: %v", err)
	}
	if _, err := svc.DiscardBulk(ctx, auth.Actor{UserID: 2}, f); host.ErrorCode(err) != host.EFORBIDDEN {
		t.Fatalf("non-admin discard: %v", err)
	}
	if _, err := svc.DiscardBulk(ctx, admin, failures.BulkFilter{}); host.ErrorCode(err) != host.EINVALID {
		t.Fatalf("no provider: %v", err)
	}
	n, err := svc.CountBulk(ctx, admin, f)
	if err != nil || n != 2 {
		t.Fatalf("count %d %v", n, err)
	}
	ids, err := svc.DiscardBulk(ctx, admin, f)
	if err != nil || len(ids) != 2 {
		t.Fatalf("discard %v %v", ids, err)
	}
	if ids, err := svc.DiscardBulk(ctx, admin, f); err != nil || len(ids) != 0 {
		t.Fatalf("discard again: %v %v", ids, err)
	}
	ev, err := st.ListAudit(ctx, store.AuditFilter{Action: failures.ActionDiscarded, Limit: 10})
	if err != nil || len(ev) != 1 || ev[0].Actor != "user:1" || ev[0].Details["count"] != float64(2) {
		t.Fatalf("audit %+v %v", ev, err)
	}
	left, _, err := svc.List(ctx, admin, failures.Filter{Provider: "acme"})
	if err != nil || len(left) != 1 || left[0].Status != store.FailurePending {
		t.Fatalf("left %+v %v", left, err)
	}
}
