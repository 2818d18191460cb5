package grpcplugin

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poolhost/poolhost/sdk"
)

// lateTimer is a context whose deadline has passed while its timer has not fired yet:
// Err is still nil, as on a loaded machine for a moment.
type lateTimer struct{ context.Context }

func (lateTimer) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

func TestAPassedDeadlineReadsAsTheContextsEvenBeforeItsTimerFires(t *testing.T) {
	ctx := lateTimer{context.Background()}
	if err := ContextEnded(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("contextEnded = %v, want DeadlineExceeded", err)
	}
	// A plugin answer that arrives then (its own copy of the deadline ended its work)
	// is the caller's deadline, not the plugin's failure.
	err := fromStatus(ctx, "ingest webhook", status.Error(codes.Unavailable, "context deadline exceeded"))
	if !errors.Is(err, context.DeadlineExceeded) || !sdk.IsKind(err, sdk.KindTemporary) {
		t.Fatalf("fromStatus = %v (kind %v), want a temporary DeadlineExceeded", err, sdk.KindOf(err))
	}
	if err := ContextEnded(context.Background()); err != nil {
		t.Fatalf("no deadline: %v", err)
	}
}
