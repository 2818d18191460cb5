package sdktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/judge"
)

// Target is what the conformance checks call: an adapter in this process ([Direct]) or
// a plugin binary's host-side client (*grpcplugin.Client, as `poolhost plugins test`
// uses). IngestWebhook is the host's webhook call: verify, then parse; a verified
// delivery that failed to parse is a *grpcplugin.ParseError.
type Target interface {
	Describe(ctx context.Context) (sdk.Description, error)
	Configure(ctx context.Context, req sdk.ConfigureRequest) error
	IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error)
	Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error)
	DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error)
	PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error)
}

var _ Target = (*grpcplugin.Client)(nil)

// Result is the outcome of one conformance check.
type Result struct {
	Check string // e.g. "webhook/unsigned-rejected"
	// Err is nil when the check passed (or was skipped).
	Err error
	// Skipped says why the check did not apply; empty when it ran.
	Skipped string
	// Detail is what the plugin said, e.g. its rejection reason, for the operator.
	Detail string
}

// Timing of every call the checks make. A call gets the host's default deadline for its
// method (judge.DefaultDeadlines: the same a provider block's timeouts default to), or
// CallDeadline when it is set (the kit's own tests shorten it), and must return within
// that deadline + HangGrace, or the adapter "hangs past its deadline". The grace is
// generous so a slow, loaded machine never fails an honest adapter; only one that
// ignores its context entirely trips it.
var (
	CallDeadline time.Duration
	HangGrace    = 10 * time.Second
)

// deadline is the deadline of a call of method (a provider block's timeouts key, or
// ingest_webhook), and where the host takes it from.
func deadline(method string) (time.Duration, string) {
	if CallDeadline > 0 {
		return CallDeadline, "the kit's CallDeadline"
	}
	d := judge.DefaultDeadlines
	switch method {
	case "describe":
		return d.Describe, "timeouts.describe, the host's default"
	case "configure":
		return d.Configure, "timeouts.configure, the host's default"
	case "ingest_webhook":
		return d.VerifyWebhook + d.Webhook, "timeouts.verify_webhook + timeouts.webhook, the host's default"
	case "webhook":
		return d.Webhook, "timeouts.webhook, the host's default"
	case "discover":
		return d.Discover, "timeouts.discover, the host's default"
	case "poll":
		return d.Poll, "timeouts.poll, the host's default"
	case "send_command":
		return d.SendCommand, "timeouts.send_command, the host's default"
	}
	return d.Describe, "timeouts.describe, the host's default"
}

var (
	errPanicked = errors.New("panicked")
	errHung     = errors.New("hangs past its deadline (ignores the context)")
	errNotRun   = errors.New("not run")
	errExited   = errors.New("the plugin process exited during the call")
)

// lateAdvice follows a call that honoured its deadline but did not answer within it: what
// the host does with one, and what to change, since meeting a deadline is the plugin's job.
const lateAdvice = "a late webhook is kept for retry, a late poll backs off, a late command's outcome is unknown: " +
	"answer sooner, pass ctx to every upstream request, and never wait on the provider inside a webhook"

// Run runs the conformance suite against a, in this process, as one subtest per check.
// Every provider's tests should call it:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, acme.New(), sdktest.Fixtures{Configure: &cfg, Valid: signed})
//	}
//
// It also sends the valid fixtures through the real gRPC shims ([Connect]) so a value
// that does not survive the wire shows up here.
func Run(t *testing.T, a sdk.Adapter, f Fixtures) {
	t.Helper()
	results := Checks(t.Context(), Direct(a), f)
	results = append(results, wireCheck(t, a, f))
	for _, r := range results {
		t.Run(r.Check, func(t *testing.T) {
			switch {
			case r.Skipped != "":
				t.Skip(r.Skipped)
			case r.Err != nil:
				t.Error(r.Err)
			case r.Detail != "":
				t.Log(r.Detail)
			}
		})
	}
}

// wireCheck sends Describe and the valid fixtures over gRPC in-process ([Connect]).
func wireCheck(t *testing.T, a sdk.Adapter, f Fixtures) Result {
	r := Result{Check: "wire/round-trip"}
	c := Connect(t, a)
	limit, _ := deadline("discover") // the longest of the calls it makes
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	if _, err := c.Describe(ctx); err != nil {
		r.Err = fmt.Errorf("describe over gRPC: %w", err)
		return r
	}
	if f.Configure != nil {
		if err := c.Configure(ctx, *f.Configure); err != nil {
			r.Err = fmt.Errorf("configure over gRPC: %w", err)
			return r
		}
	}
	for _, w := range f.Valid {
		if _, err := c.IngestWebhook(ctx, w.Request()); err != nil {
			r.Err = fmt.Errorf("%s over gRPC: %w", w.Name, err)
			return r
		}
	}
	return r
}

// Checks runs every conformance check against target and returns one Result each, in a
// fixed order. It never panics and never waits longer than CallDeadline+HangGrace on a
// call; after one call hung, the remaining calls are reported as not run.
func Checks(ctx context.Context, target Target, f Fixtures) []Result {
	k := &checker{ctx: ctx, t: target}
	var out []Result
	add := func(r Result) { out = append(out, r) }

	d, err := callT(k, "describe", func(ctx context.Context) (sdk.Description, error) { return k.t.Describe(ctx) })
	add(Result{Check: "describe", Err: describeProblem(d, err), Detail: fmt.Sprintf("%s %s, protocol %d", d.ID, d.Version, d.ProtocolVersion)})
	if err != nil {
		return out
	}

	cfg := sdk.ConfigureRequest{Settings: map[string]string{}, Secrets: map[string]string{}}
	if f.Configure != nil {
		cfg = *f.Configure
	}
	add(declarationsCheck(d, f.Configure))
	_, err = callT(k, "configure", func(ctx context.Context) (struct{}, error) { return struct{}{}, k.t.Configure(ctx, cfg) })
	r := Result{Check: "configure"}
	if err != nil {
		r.Err = fmt.Errorf("configure with the fixture settings: %w", err)
	}
	add(r)

	if !d.Capabilities.Webhook {
		add(Result{Check: "webhook", Skipped: "the plugin does not declare webhooks"})
	} else {
		for _, r := range k.webhookChecks(d, f) {
			add(r)
		}
	}
	for _, r := range k.pollChecks(d, f) {
		add(r)
	}
	add(k.refreshCheck(d, f))
	for _, r := range k.commandsChecks(d, f) {
		add(r)
	}
	return out
}

type checker struct {
	ctx    context.Context
	t      Target
	mu     sync.Mutex
	hung   bool
	exited bool // the plugin's process exited during a call (a LaunchTarget target)
}

// exitReporter is a Target whose plugin runs in a process of its own ([LaunchTarget]).
type exitReporter interface {
	exitedDuring(callErr error) error
}

// callT runs fn, a call of method, with its deadline, recovering a panic and giving up
// on a call that outlives its deadline by HangGrace.
func callT[T any](k *checker, method string, fn func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	k.mu.Lock()
	hung, exited := k.hung, k.exited
	k.mu.Unlock()
	if hung {
		return zero, fmt.Errorf("%w: an earlier call hung", errNotRun)
	}
	if exited {
		return zero, fmt.Errorf("%w: the plugin process exited during an earlier call", errNotRun)
	}
	limit, source := deadline(method)
	ctx, cancel := context.WithTimeout(k.ctx, limit)
	defer cancel()
	type outcome struct {
		v   T
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("%w: %v", errPanicked, p)}
			}
		}()
		start := time.Now()
		v, err := fn(ctx)
		// Late by the clock too, as the host's client judges it (its own deadline may end
		// a call a moment before ctx's timer has fired), or answered as out of time in the
		// last tenth of it: the plugin side ends DiscoverDevices' and PollReadings'
		// context early, so their failure (and tokens) reach the host in time.
		late := grpcplugin.ContextEnded(ctx) == context.DeadlineExceeded ||
			errors.Is(err, context.DeadlineExceeded) && time.Since(start) >= limit*9/10
		if err != nil && late && k.ctx.Err() == nil {
			err = fmt.Errorf("did not answer within %s (%s; %s): %w", limit, source, lateAdvice, err)
		}
		done <- outcome{v, err}
	}()
	timer := time.NewTimer(limit + HangGrace)
	defer timer.Stop()
	select {
	case o := <-done:
		if w, ok := k.t.(exitReporter); ok && o.err != nil {
			if err := w.exitedDuring(o.err); err != nil {
				k.mu.Lock()
				k.exited = true
				k.mu.Unlock()
				return zero, err
			}
		}
		return o.v, o.err
	case <-timer.C:
		k.mu.Lock()
		k.hung = true
		k.mu.Unlock()
		return zero, fmt.Errorf("%w: no answer %s after a %s deadline", errHung, HangGrace, limit)
	}
}

func describeProblem(d sdk.Description, err error) error {
	if err != nil {
		return fmt.Errorf("describe failed: %w", err)
	}
	// What the host refuses at start, in its words: the caps first, as the host judges
	// them first (host/pluginmgr), then sdk.Description.Check.
	if err := judge.CheckDescription(d); err != nil {
		return err
	}
	return d.Check()
}

// declarationsCheck checks the settings and inputs a plugin declares (Description.Settings
// and ConnectInputs) and, when the suite has a configuration (configure.json), that
// configuration as the host checks a config block against them: the host would refuse to
// start a plugin configured so.
func declarationsCheck(d sdk.Description, cfg *sdk.ConfigureRequest) Result {
	r := Result{Check: "declarations"}
	var errs []error
	if err := d.CheckDeclarations(); err != nil {
		errs = append(errs, err)
	}
	if cfg != nil {
		if err := d.CheckConfig(cfg.Settings, cfg.Secrets); err != nil {
			errs = append(errs, fmt.Errorf("the host would refuse the fixture's configuration as a config block: %w", err))
		}
	}
	r.Err = errors.Join(errs...)
	if r.Err == nil && len(d.Settings) == 0 && len(d.ConnectInputs) == 0 {
		r.Skipped = "the plugin declares no settings or connect inputs, so the host cannot catch a typo in an operator's config; declare them in Description.Settings"
		return r
	}
	r.Detail = fmt.Sprintf("%d setting(s), %d connect input(s)", len(d.Settings), len(d.ConnectInputs))
	return r
}

func (k *checker) refreshCheck(d sdk.Description, f Fixtures) Result {
	r := Result{Check: "refresh-returns-credentials"}
	if f.Refresh == nil {
		r.Skipped = "no Refresh fixture (refresh.json, or Fixtures.Refresh in a Go test: a call against your fake provider with an expired access token)"
		if d.Capabilities.Connect != sdk.ConnectOAuth2 {
			// The commonest skip of an api_key or webhook_secret plugin: say whether it
			// matters, rather than leave a new team to find out.
			r.Skipped += fmt.Sprintf("; needed only if the plugin refreshes credentials that expire, as an oauth2 plugin's access tokens do, which a %s plugin's usually do not", d.Capabilities.Connect)
		}
		return r
	}
	call, err := f.Refresh()
	if err != nil {
		r.Err = fmt.Errorf("preparing the refresh fixture: %w", err)
		return r
	}
	var creds sdk.Credentials
	switch {
	case call.Poll != nil:
		res, err := callT(k, "poll", func(ctx context.Context) (sdk.PollResult, error) { return k.t.PollReadings(ctx, *call.Poll) })
		if err != nil {
			creds, _ = sdk.RefreshedCredentialsOf(err)
			if creds == nil {
				r.Err = fmt.Errorf("poll with an expired token: %w", err)
				return r
			}
		}
		if creds == nil {
			creds = res.RefreshedCredentials
		}
	case call.Discover != nil:
		res, err := callT(k, "discover", func(ctx context.Context) (sdk.DiscoverResult, error) { return k.t.DiscoverDevices(ctx, *call.Discover) })
		if err != nil {
			r.Err = fmt.Errorf("discover with an expired token: %w", err)
			return r
		}
		creds = res.RefreshedCredentials
	default:
		r.Err = errors.New("the Refresh fixture set neither Poll nor Discover")
		return r
	}
	if len(creds) == 0 {
		r.Err = errors.New("a call with an expired token returned no RefreshedCredentials: the host would keep the old tokens")
	}
	return r
}
