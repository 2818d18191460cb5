package sdk

import (
	"context"
	"testing"
	"time"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// TestBatchDeadlineIsTheLatest: a batch's deliveries run under the latest deadline its
// requests carry, so none is cut short of its own, and under none when one carries none.
func TestBatchDeadlineIsTheLatest(t *testing.T) {
	req := func(d time.Duration) *pb.IngestWebhookRequest {
		return &pb.IngestWebhookRequest{TimeoutNanos: int64(d)}
	}
	start := time.Now()
	ctx, cancel := batchDeadline(t.Context(), []*pb.IngestWebhookRequest{req(time.Second), req(time.Hour), req(time.Minute)})
	defer cancel()
	if dl, ok := ctx.Deadline(); !ok || dl.Before(start.Add(time.Hour)) {
		t.Fatalf("deadline %v (set: %v), want an hour from the start", dl, ok)
	}
	ctx, cancel = batchDeadline(t.Context(), []*pb.IngestWebhookRequest{req(time.Second), req(0)})
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		t.Fatalf("deadline %v, want none: a request carried none", dl)
	}
	if ctx, cancel := batchDeadline(context.Background(), nil); ctx.Err() != nil {
		cancel()
		t.Fatal("an empty batch's context ended")
	}
}
