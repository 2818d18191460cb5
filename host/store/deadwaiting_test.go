package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestDeadLettersWaiting: the overview's count of dead letters per provider, dead ones
// only (pending retries are the worker's, not an operator's).
func TestDeadLettersWaiting(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, f := range []store.NewFailure{
			{Provider: "acme", Payload: []byte("a"), MaxAttempts: 1, Error: "bad", Dead: true},
			{Provider: "acme", Payload: []byte("b"), MaxAttempts: 1, Error: "bad", Dead: true},
			{Provider: "acme", Payload: []byte("c"), MaxAttempts: 3, Error: "upstream 503"},
			{Provider: "zeta", Payload: []byte("d"), MaxAttempts: 1, Error: "bad", Dead: true},
		} {
			if _, err := e.s.EnqueueFailure(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		got, err := e.s.DeadLettersWaiting(ctx)
		if err != nil || fmt.Sprint(got) != "[{acme 2} {zeta 1}]" {
			t.Errorf("dead letters waiting %v %v, want acme 2 and zeta 1", got, err)
		}
	})
}
