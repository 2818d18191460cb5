package pluginmgr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/judge"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// Plugin is the handle to one provider's plugin. Its methods mirror sdk.Adapter; each
// applies the provider's deadline for that method and reports ErrNotFound (disabled) or
// ErrUnavailable (not running) before reaching the plugin. Errors from the plugin keep
// their sdk.ErrorKind.
type Plugin struct {
	id string
	m  *Manager

	// mu guards everything below. Never held across an RPC or a process start/stop.
	mu       sync.Mutex
	cfg      config.Provider
	pcfg     config.Plugins
	level    string
	removed  bool
	state    State
	since    time.Time
	inst     *instance // set only while running
	desc     *sdk.Description
	restarts int
	lastErr  string
	sha      string // of the file the running (or last) process was started from
	warning  string // a reload that could not restart the plugin; see keepRunning
	refused  string // the config block a reload could not put in force; see refuseBlock
	pid      int
	failures []time.Time
	sup      *supervisor
	// swap is closed once a planned restart has its new process running or has failed
	// to start it; nil when none is under way (see beginSwap). waiters counts the calls
	// waiting on it (WaitingCalls, for the tests).
	swap    chan struct{}
	waiters int
	// caps are pcfg's caps on what the plugin answers, set with pcfg. Every delivery's
	// answer is judged by them; copying pcfg and filling in the defaults twice per answer,
	// with the histogram's lookup below, cost 1.1-1.5 µs a delivery, now 0.74 (10
	// readings, a throwaway benchmark of refuseAnswer and observe).
	caps judge.Caps

	// okCalls holds each method's histogram for the "ok" outcome once used: looking it
	// up by its three labels (hashed, under the vector's lock) was a cost of every
	// delivery (method -> prometheus.Observer).
	okCalls sync.Map
}

func newPlugin(m *Manager, pc config.Provider) *Plugin {
	p := &Plugin{id: pc.ID, m: m, cfg: pc, state: StateDisabled, since: time.Now(), caps: judgeCaps(config.Plugins{})}
	m.metrics.setState(pc.ID, StateDisabled)
	m.metrics.setRefused(pc.ID, false)
	return p
}

// ID is the provider id.
func (p *Plugin) ID() string { return p.id }

// Config is the provider's current config block.
func (p *Plugin) Config() config.Provider {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// Enabled reports whether the provider is enabled (whatever its plugin's state).
func (p *Plugin) Enabled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.Enabled && !p.removed
}

// Status reports the provider's supervision state.
func (p *Plugin) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{
		Provider:  p.id,
		Enabled:   p.cfg.Enabled && !p.removed,
		Stage:     p.cfg.Stage,
		Access:    p.cfg.Access,
		State:     p.state,
		Since:     p.since,
		Restarts:  p.restarts,
		LastError: p.lastErr,
		Binary:    p.cfg.Binary,
		SHA256:    p.sha,
		Pinned:    p.cfg.SHA256,
		PID:       p.pid,
		Warning:   p.warning,
		Refused:   p.refused,
	}
	if p.desc != nil {
		s.Version = p.desc.Version
		s.ProtocolVersion = p.desc.ProtocolVersion
		s.Capabilities = p.desc.Capabilities
	}
	return s
}

// Description returns the last Describe answer, if the plugin ever started.
func (p *Plugin) Description() (sdk.Description, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.desc == nil {
		return sdk.Description{}, false
	}
	return *p.desc, true
}

// Describe returns the cached description, checked against the config at the last
// start; the plugin is not asked again.
func (p *Plugin) Describe(context.Context) (sdk.Description, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cfg.Enabled || p.removed {
		return sdk.Description{}, fmt.Errorf("%w: %s", ErrNotFound, p.id)
	}
	if p.desc == nil {
		return sdk.Description{}, fmt.Errorf("%w: %s has not started", ErrUnavailable, p.id)
	}
	return *p.desc, nil
}

func (p *Plugin) Connect(ctx context.Context, req sdk.ConnectRequest) (res sdk.ConnectResult, err error) {
	err = p.call(ctx, "connect", func(t config.Timeouts) time.Duration { return t.Connect }, func(ctx context.Context, c *grpcplugin.Client) (err error) {
		res, err = c.Connect(ctx, req)
		return err
	})
	if err == nil && res.Linkage != nil {
		if err = p.refuseLinkage("connect", *res.Linkage); err != nil {
			return sdk.ConnectResult{}, answerRefused(p.id, err)
		}
	}
	if err == nil && res.AuthorizeURL != "" {
		if err = p.refuseAuthorizeURL("connect", res.AuthorizeURL); err != nil {
			return sdk.ConnectResult{}, answerRefused(p.id, err)
		}
	}
	return res, err
}

func (p *Plugin) Callback(ctx context.Context, req sdk.CallbackRequest) (res sdk.Linkage, err error) {
	err = p.call(ctx, "callback", func(t config.Timeouts) time.Duration { return t.Callback }, func(ctx context.Context, c *grpcplugin.Client) (err error) {
		res, err = c.Callback(ctx, req)
		return err
	})
	if err == nil {
		if err = p.refuseLinkage("callback", res); err != nil {
			return sdk.Linkage{}, answerRefused(p.id, err)
		}
	}
	return res, err
}

func (p *Plugin) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (res sdk.DiscoverResult, err error) {
	err = p.call(ctx, "discover_devices", func(t config.Timeouts) time.Duration { return t.Discover }, func(ctx context.Context, c *grpcplugin.Client) (err error) {
		res, err = c.DiscoverDevices(ctx, req)
		return err
	})
	if err == nil {
		// Tokens over the cap refuse the whole answer: nothing of it is stored.
		if err = p.refuseCredentials("discover_devices", res.RefreshedCredentials); err != nil {
			return sdk.DiscoverResult{}, answerRefused(p.id, err)
		}
		if err = p.refuseDevices("discover_devices", res.Devices); err != nil {
			// Tokens the plugin rotated on the way are still the account's.
			return sdk.DiscoverResult{}, sdk.WithRefreshedCredentials(answerRefused(p.id, err), res.RefreshedCredentials)
		}
	}
	return res, err
}

// Subscribe and Unsubscribe (sdk.Subscriber) run under the connect deadline: like
// Connect, they are one call to the provider's cloud on behalf of a user's account.
func (p *Plugin) Subscribe(ctx context.Context, req sdk.SubscribeRequest) error {
	return p.call(ctx, "subscribe", func(t config.Timeouts) time.Duration { return t.Connect }, func(ctx context.Context, c *grpcplugin.Client) error {
		return c.Subscribe(ctx, req)
	})
}

func (p *Plugin) Unsubscribe(ctx context.Context, req sdk.SubscribeRequest) error {
	return p.call(ctx, "unsubscribe", func(t config.Timeouts) time.Duration { return t.Connect }, func(ctx context.Context, c *grpcplugin.Client) error {
		return c.Unsubscribe(ctx, req)
	})
}

func (p *Plugin) VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error {
	return p.call(ctx, "verify_webhook", func(t config.Timeouts) time.Duration { return t.VerifyWebhook }, func(ctx context.Context, c *grpcplugin.Client) error {
		return c.VerifyWebhook(ctx, req)
	})
}

func (p *Plugin) Webhook(ctx context.Context, req sdk.WebhookRequest) (res sdk.WebhookResult, err error) {
	err = p.call(ctx, "webhook", func(t config.Timeouts) time.Duration { return t.Webhook }, func(ctx context.Context, c *grpcplugin.Client) (err error) {
		res, err = c.Webhook(ctx, req)
		return err
	})
	if err == nil {
		if err = p.refuseAnswer("webhook", res.DeliveryID, res.ProviderAccountID, res.Readings, res.TestSessions, res.CommandUpdates); err != nil {
			return sdk.WebhookResult{}, err
		}
	}
	return res, err
}

// IngestWebhook verifies and parses in one round trip (see grpcplugin.Client.IngestWebhook:
// a verified webhook that failed to parse returns a *grpcplugin.ParseError). Its
// deadline is the sum of the verify and parse deadlines.
func (p *Plugin) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (res sdk.WebhookResult, err error) {
	err = p.callWithin(ctx, "ingest_webhook", func(t config.Timeouts) time.Duration { return t.VerifyWebhook + t.Webhook }, func(ctx context.Context, c *grpcplugin.Client, b grpcplugin.Bounds) (err error) {
		res, err = c.IngestWebhookWithin(ctx, req, b)
		return err
	})
	if err == nil {
		// Verified, then unusable: the payload is authentic and kept as a parse failure.
		if err = p.refuseAnswer("ingest_webhook", res.DeliveryID, res.ProviderAccountID, res.Readings, res.TestSessions, res.CommandUpdates); err != nil {
			return sdk.WebhookResult{}, &grpcplugin.ParseError{Err: err}
		}
	}
	return res, err
}

func (p *Plugin) PollReadings(ctx context.Context, req sdk.PollRequest) (res sdk.PollResult, err error) {
	err = p.call(ctx, "poll_readings", func(t config.Timeouts) time.Duration { return t.Poll }, func(ctx context.Context, c *grpcplugin.Client) (err error) {
		res, err = c.PollReadings(ctx, req)
		return err
	})
	if err == nil {
		if err = p.refusePoll("poll_readings", res); err != nil {
			if judge.CapOf(err) == judge.CapCredentials {
				// Tokens over the cap refuse the whole answer: nothing of it is stored.
				return sdk.PollResult{}, err
			}
			// Tokens the plugin rotated on the way are still the account's: losing them
			// would lock it out.
			return sdk.PollResult{}, sdk.WithRefreshedCredentials(err, res.RefreshedCredentials)
		}
	}
	if cursor, ok := sdk.NextCursorOf(err); ok && cursor != req.Cursor {
		// A failed poll's cursor (what it spent of a quota) is stored as a result's is,
		// under the same cap; over it, the cursor stays as it was and the failure stands.
		if p.refuse("poll_readings", func(lim judge.Caps) (string, error) {
			err := lim.CheckCursor(cursor)
			return judge.CapOf(err), err
		}) != nil {
			err = sdk.WithNextCursor(err, req.Cursor)
		}
	}
	return res, err
}

// Health asks the plugin whether it is healthy, under the health deadline.
func (p *Plugin) Health(ctx context.Context) error {
	return p.call(ctx, "health", func(t config.Timeouts) time.Duration { return t.Health }, func(ctx context.Context, c *grpcplugin.Client) error {
		return c.Health(ctx)
	})
}

// call runs fn against the running instance under the method's deadline. The call is
// also cancelled when the instance is stopped or found unresponsive, so nothing waits
// on a dying or hung process. A call that hits its own deadline makes the plugin
// suspect: the supervisor probes it at once (see watch).
func (p *Plugin) call(ctx context.Context, method string, timeout func(config.Timeouts) time.Duration, fn func(context.Context, *grpcplugin.Client) error) error {
	return p.callWithin(ctx, method, timeout, func(ctx context.Context, c *grpcplugin.Client, b grpcplugin.Bounds) error {
		cctx, cancel := context.WithTimeout(ctx, b.Timeout)
		defer cancel()
		stop := context.AfterFunc(b.Abort, cancel)
		defer stop()
		return fn(cctx, c)
	})
}

// callWithin is call for a method that applies the deadline and the instance's end
// itself (grpcplugin.Bounds): the webhook every delivery makes, where a context made
// here for them cost allocations and CPU per delivery (see
// grpcplugin.Client.IngestWebhookWithin).
func (p *Plugin) callWithin(ctx context.Context, method string, timeout func(config.Timeouts) time.Duration, fn func(context.Context, *grpcplugin.Client, grpcplugin.Bounds) error) error {
	start := time.Now()
	ctx, span := p.startSpan(ctx, method)
	defer span.End()
	inst, d, err := p.acquire(ctx, method, timeout)
	if err != nil {
		tracing.Fail(span, err)
		p.observe(method, start, err)
		return err
	}
	defer inst.release()

	limit := timeout(d)
	// hung ends with the instance too: one context to watch for both.
	hung := inst.hungCtx()
	called := time.Now()
	err = fn(ctx, inst.adapter, grpcplugin.Bounds{Timeout: limit, Abort: hung})
	if err != nil {
		switch {
		case inst.ctx.Err() != nil || inst.client.Exited():
			err = fmt.Errorf("%w: %s %s: %w", ErrUnavailable, p.id, method, err)
		case hung.Err() != nil:
			aborted := fmt.Errorf("%w: %s is unresponsive (%s aborted)", ErrUnavailable, p.id, method)
			if sdk.IsOutcomeUnknown(err) {
				// Cut short, not refused: a send may already be with the provider.
				// Unavailable alone says nothing left the host, and the dispatcher
				// would send the command again.
				aborted = fmt.Errorf("%w: %w", aborted, sdk.ErrOutcomeUnknown)
			}
			err = aborted
		default:
			// The call's own deadline passed, not its caller's.
			if time.Since(called) >= limit && ctx.Err() == nil {
				inst.markSuspect(fmt.Sprintf("%s did not answer within its %v deadline", method, limit))
			}
			err = fmt.Errorf("%s %s: %w", p.id, method, err)
		}
	}
	if err != nil {
		err = clipError(p.capErrorCredentials(method, err))
	}
	tracing.Fail(span, err)
	p.observe(method, start, err)
	return err
}

// acquire takes the running instance for one call. Its errors are ErrNotCalled.
//
// During a planned restart (see beginSwap) a call that finds no instance waits for the
// new one, within its caller's context and the method's deadline; the call then runs
// under its whole deadline, as any call does: cut short by the wait, it would make the
// new process suspect for time the host spent. Otherwise it is refused at once.
func (p *Plugin) acquire(ctx context.Context, method string, timeout func(config.Timeouts) time.Duration) (*instance, config.Timeouts, error) {
	// Per delivery: one lock and no allocation while an instance serves; the wait's
	// timer is made only when there is something to wait for.
	var deadline time.Time
	p.mu.Lock()
	for {
		if !p.cfg.Enabled || p.removed {
			p.mu.Unlock()
			return nil, config.Timeouts{}, notCalled{fmt.Errorf("%w: %s", ErrNotFound, p.id)}
		}
		if p.state == StateUnresponsive {
			p.mu.Unlock()
			// Refused at once: a caller (a webhook sender) hears 503 now, not after the
			// deadline, and the plugin is not sent more work it cannot answer.
			return nil, config.Timeouts{}, notCalled{fmt.Errorf("%w: %s is unresponsive", ErrUnavailable, p.id)}
		}
		if inst := p.inst; inst != nil && inst.acquire() {
			d := p.cfg.Timeouts
			p.mu.Unlock()
			return inst, d, nil
		}
		swap, state := p.swap, p.state
		if swap == nil {
			p.mu.Unlock()
			return nil, config.Timeouts{}, notCalled{fmt.Errorf("%w: %s is %s", ErrUnavailable, p.id, state)}
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(timeout(p.cfg.Timeouts))
		}
		p.waiters++
		p.mu.Unlock()
		err := waitSwap(ctx, swap, deadline)
		p.mu.Lock()
		p.waiters--
		if err != nil {
			p.mu.Unlock()
			return nil, config.Timeouts{}, notCalled{fmt.Errorf("%w: %s is restarting: %s: %w", ErrUnavailable, p.id, method, err)}
		}
		// Swapped, or failed to: look again.
	}
}

// errSwapDeadline: the method's deadline passed while the call waited for a restart.
var errSwapDeadline = errors.New("no new process within its deadline")

// waitSwap waits until swap is closed, ctx ends or deadline passes.
func waitSwap(ctx context.Context, swap <-chan struct{}, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-swap:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errSwapDeadline
	}
}

func (p *Plugin) observe(method string, start time.Time, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		outcome = "not_found"
	case errors.Is(err, ErrUnavailable):
		outcome = "unavailable"
	case errors.Is(err, ErrNotCalled):
		// The host's own refusal before the call (SendCommandIf's approval withdrawn):
		// not the plugin's error.
		outcome = "refused"
	case errors.Is(err, context.DeadlineExceeded):
		outcome = "deadline"
	default:
		var pe *grpcplugin.ParseError
		if errors.As(err, &pe) {
			outcome = "parse_" + sdk.KindOf(pe.Err).String()
		} else {
			outcome = sdk.KindOf(err).String()
		}
	}
	took := time.Since(start).Seconds()
	if outcome != "ok" {
		p.m.metrics.calls.WithLabelValues(p.id, method, outcome).Observe(took)
		return
	}
	o, ok := p.okCalls.Load(method)
	if !ok {
		o, _ = p.okCalls.LoadOrStore(method, p.m.metrics.calls.WithLabelValues(p.id, method, outcome))
	}
	o.(prometheus.Observer).Observe(took)
}
