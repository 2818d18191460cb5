package sdk

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLazyDeadlineAsWithDeadline: withDeadline's context answers as
// context.WithDeadline's would, whichever is asked first, and makes no timer context
// while nothing asks for Done or an error.
func TestLazyDeadlineAsWithDeadline(t *testing.T) {
	type key struct{}
	parent := context.WithValue(t.Context(), key{}, "v")

	t.Run("unasked", func(t *testing.T) {
		d := time.Now().Add(time.Hour)
		ctx, cancel := withDeadline(parent, d)
		if dl, ok := ctx.Deadline(); !ok || !dl.Equal(d) {
			t.Errorf("deadline %v, %v; want %v", dl, ok, d)
		}
		if ctx.Value(key{}) != "v" || ctx.Err() != nil {
			t.Errorf("value %v, err %v", ctx.Value(key{}), ctx.Err())
		}
		if ctx.(*lazyDeadline).real != nil {
			t.Error("a timer context made for Deadline, Value and Err")
		}
		cancel()
		if !errors.Is(ctx.Err(), context.Canceled) || context.Cause(ctx) != context.Canceled {
			t.Errorf("after cancel: err %v, cause %v", ctx.Err(), context.Cause(ctx))
		}
		select {
		case <-ctx.Done():
		default:
			t.Error("after cancel: Done open")
		}
	})
	t.Run("deadline passes, unasked", func(t *testing.T) {
		ctx, cancel := withDeadline(parent, time.Now().Add(time.Millisecond))
		defer cancel()
		time.Sleep(5 * time.Millisecond)
		if context.Cause(ctx) != context.DeadlineExceeded {
			t.Errorf("cause %v, want DeadlineExceeded", context.Cause(ctx))
		}
		if ctx.Err() != context.DeadlineExceeded {
			t.Errorf("err %v", ctx.Err())
		}
		<-ctx.Done()
		cancel()
		if ctx.Err() != context.DeadlineExceeded {
			t.Errorf("after cancel: err %v, want DeadlineExceeded still", ctx.Err())
		}
	})
	t.Run("deadline passes, Done asked before", func(t *testing.T) {
		ctx, cancel := withDeadline(parent, time.Now().Add(5*time.Millisecond))
		defer cancel()
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Done not closed at the deadline")
		}
		if ctx.Err() != context.DeadlineExceeded || ctx.Value(key{}) != "v" {
			t.Errorf("err %v, value %v", ctx.Err(), ctx.Value(key{}))
		}
	})
	t.Run("parent cancelled", func(t *testing.T) {
		p, pcancel := context.WithCancel(parent)
		ctx, cancel := withDeadline(p, time.Now().Add(time.Hour))
		defer cancel()
		done := ctx.Done()
		pcancel()
		<-done
		if ctx.Err() != context.Canceled {
			t.Errorf("err %v", ctx.Err())
		}
		p2, pcancel2 := context.WithCancel(parent)
		ctx2, cancel2 := withDeadline(p2, time.Now().Add(time.Hour))
		defer cancel2()
		pcancel2()
		if ctx2.Err() != context.Canceled {
			t.Errorf("parent cancelled, unasked: err %v", ctx2.Err())
		}
	})
	t.Run("cancelled, then Done asked", func(t *testing.T) {
		ctx, cancel := withDeadline(parent, time.Now().Add(time.Hour))
		cancel()
		<-ctx.Done()
		if ctx.Err() != context.Canceled {
			t.Errorf("err %v", ctx.Err())
		}
	})
	t.Run("parent ends first", func(t *testing.T) {
		pd := time.Now().Add(time.Minute)
		p, pcancel := context.WithDeadline(parent, pd)
		defer pcancel()
		ctx, cancel := withDeadline(p, time.Now().Add(time.Hour))
		defer cancel()
		if dl, _ := ctx.Deadline(); !dl.Equal(pd) {
			t.Errorf("deadline %v, want the parent's %v", dl, pd)
		}
	})
}
