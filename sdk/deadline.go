package sdk

import (
	"context"
	"sync"
	"time"
)

// withDeadline is context.WithDeadline(parent, d), with the timer context made only
// when something asks for Done or for an error it would hold: until then Deadline
// answers from d, Value from parent, and Err from parent's error and the clock. A
// webhook adapter that never looks (the generic plugin parses what it was given) costs
// one allocation per batch instead of a timer, a cancelCtx registered with the stream's
// and both undone: context.WithTimeout per batch was 2.7% of the generic plugin's CPU at
// postgres/c64/plugin (perf, 9.3 deliveries a batch).
func withDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	if pd, ok := parent.Deadline(); ok && !d.Before(pd) {
		// parent ends first: WithDeadline would be WithCancel(parent), and is here too.
		return context.WithCancel(parent)
	}
	c := &lazyDeadline{parent: parent, deadline: d}
	return c, c.end
}

type lazyDeadline struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	real   context.Context // context.WithDeadline(parent, deadline), once made
	cancel context.CancelFunc
	ended  bool // the CancelFunc was called
}

func (c *lazyDeadline) Deadline() (time.Time, bool) { return c.deadline, true }

// Value is parent's, or the timer context's once there is one: context.Cause finds a
// context's cause through Value, so once this one is done (its deadline passed, or its
// CancelFunc called), the timer context is made to hold the cause.
func (c *lazyDeadline) Value(key any) any {
	c.mu.Lock()
	if c.real == nil && (c.ended || !time.Now().Before(c.deadline)) {
		c.made()
	}
	real := c.real
	c.mu.Unlock()
	if real != nil {
		return real.Value(key)
	}
	return c.parent.Value(key)
}

func (c *lazyDeadline) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made().Done()
}

// Err is nil while parent's is and the deadline is ahead, as the timer context's would
// be; any other answer comes from the timer context, made then, so that every later
// call gives the same error (context.Context's rule).
func (c *lazyDeadline) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real == nil && !c.ended && c.parent.Err() == nil && time.Now().Before(c.deadline) {
		return nil
	}
	return c.made().Err()
}

// made is the timer context, made on first call (c.mu held), cancelled at once when the
// CancelFunc came first.
func (c *lazyDeadline) made() context.Context {
	if c.real == nil {
		c.real, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.ended {
			c.cancel()
		}
	}
	return c.real
}

// end is the CancelFunc: it cancels the timer context if one was made, and any made
// later is made cancelled.
func (c *lazyDeadline) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
}

// maxAnswerMargin bounds answerMargin's share of a call's time.
const maxAnswerMargin = time.Second

// answerInTime is ctx with its deadline brought forward by a tenth of the time left, at
// most maxAnswerMargin (3 s of a 30 s poll's: 1 s), for the calls that may hand back
// refreshed credentials (DiscoverDevices, PollReadings, SendCommand). Over gRPC an answer sent after
// the caller's deadline never arrives: the host sees DEADLINE_EXCEEDED and nothing else,
// so tokens the adapter rotated before an upstream request hung to the deadline were
// lost with it, and with rotating refresh tokens the stored pair is already dead (the
// user had to reconnect). Ending the adapter's context first leaves it the margin to
// answer its failure, the new tokens on it (WithRefreshedCredentials), in time.
func answerInTime(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	margin := min(time.Until(dl)/10, maxAnswerMargin)
	if margin <= 0 {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, dl.Add(-margin))
}
