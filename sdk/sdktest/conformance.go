package sdktest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
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

// wireCheck sends Describe and the valid fixtures over go-plugin gRPC in-process.
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
	add(k.refreshCheck(f))
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
		v, err := fn(ctx)
		if err != nil && ctx.Err() == context.DeadlineExceeded && k.ctx.Err() == nil {
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

// garbageHeaders carries plausible but wrong credentials in the places providers sign:
// Standard Webhooks, GitHub/Stripe-style HMAC headers, a bearer token, and every header
// the plugin declares its signature travels in (Capabilities.SignatureHeaders) — the
// valid fixture's own value when it has one (a real signature, of another body), so a
// plugin that only checks the header is there, or is well formed, is caught.
func garbageHeaders(now time.Time, declared []string, valid []Webhook) http.Header {
	h := commonGarbage(now)
	for _, name := range declared {
		if h.Get(name) != "" {
			continue // a known scheme's: already plausible, with a fresh timestamp
		}
		v := "sdktest-garbage-" + strings.Repeat("0", 64)
		for _, w := range valid {
			if got := w.Headers.Get(name); got != "" {
				v = got
				break
			}
		}
		h.Set(name, v)
	}
	return h
}

func commonGarbage(now time.Time) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("webhook-id", "msg_sdktest")
	h.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	h.Set("webhook-signature", "v1,c2RrdGVzdCBnYXJiYWdlIHNpZ25hdHVyZSAwMDAwMDAwMDAwMDA=")
	h.Set("X-Signature", strings.Repeat("0", 64))
	h.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	h.Set("Stripe-Signature", fmt.Sprintf("t=%d,v1=%s", now.Unix(), strings.Repeat("0", 64)))
	h.Set("Authorization", "Bearer sdktest-garbage-token")
	h.Set("X-Downlink-Apikey", "sdktest-garbage")
	return h
}

const sampleBody = `{"event":"readings.created","device_id":"sdktest","readings":[{"metric":"ph","value":7.2}]}`

func (k *checker) webhookChecks(d sdk.Description, f Fixtures) []Result {
	var out []Result
	now := time.Now()
	mustReject := func(name string, req sdk.WebhookRequest) {
		_, err := callT(k, "ingest_webhook", func(ctx context.Context) (sdk.WebhookResult, error) { return k.t.IngestWebhook(ctx, req) })
		r := Result{Check: name}
		var pe *grpcplugin.ParseError
		switch {
		case err == nil:
			r.Err = errors.New("accepted; want rejected (KindRejected)")
		case errors.As(err, &pe):
			r.Err = fmt.Errorf("passed verification (then failed to parse: %v); want rejected", pe.Err)
		case !sdk.IsKind(err, sdk.KindRejected):
			r.Err = fmt.Errorf("failed as %s (%v); want rejected (KindRejected)", sdk.KindOf(err), err)
		default:
			// What the host will log and count: the reason code and the message.
			r.Detail = fmt.Sprintf("%s (reason %s)", err, sdk.RejectReason(err))
		}
		out = append(out, r)
	}
	account := &sdk.Account{ID: "sdktest-account", ExternalAccountID: "sdktest"}
	mustReject("webhook/unsigned-rejected", sdk.WebhookRequest{Headers: http.Header{"Content-Type": {"application/json"}}, Body: []byte(sampleBody), ReceivedAt: now})
	garbage := func() http.Header { return garbageHeaders(now, d.Capabilities.SignatureHeaders, f.Valid) }
	mustReject("webhook/garbage-signature-rejected", sdk.WebhookRequest{Headers: garbage(), Body: []byte(sampleBody), ReceivedAt: now})
	mustReject("webhook/account-unsigned-rejected", sdk.WebhookRequest{Headers: http.Header{}, Body: []byte(sampleBody), ReceivedAt: now,
		Account: account, AccountSecret: "whsec_c2RrdGVzdC1hY2NvdW50LXNlY3JldC0wMDA="})
	mustReject("webhook/account-garbage-rejected", sdk.WebhookRequest{Headers: garbage(), Body: []byte(sampleBody), ReceivedAt: now,
		Account: account, AccountSecret: "whsec_c2RrdGVzdC1hY2NvdW50LXNlY3JldC0wMDA="})

	for _, set := range []struct {
		kind string
		ws   []Webhook
	}{{"tampered", f.Tampered}, {"wrong_secret", f.WrongSecret}, {"stale", f.Stale}} {
		if len(set.ws) == 0 {
			out = append(out, Result{Check: "webhook/" + set.kind + "-rejected", Skipped: "no " + set.kind + " fixture"})
		}
		for _, w := range set.ws {
			mustReject("webhook/"+set.kind+"-rejected/"+w.Name, w.Request())
		}
	}

	if len(f.Valid) == 0 {
		out = append(out, Result{Check: "webhook/valid-accepted", Skipped: "no valid fixture"})
	}
	for _, w := range f.Valid {
		req := w.Request()
		res, err := callT(k, "ingest_webhook", func(ctx context.Context) (sdk.WebhookResult, error) { return k.t.IngestWebhook(ctx, req) })
		r := Result{Check: "webhook/valid-accepted/" + w.Name}
		if err != nil {
			r.Err = fmt.Errorf("a valid delivery failed: %w", err)
		} else if unknown, err := judgeAnswer(f, req.ReceivedAt, judge.Answer{DeliveryID: res.DeliveryID, ProviderAccountID: res.ProviderAccountID,
			Readings: res.Readings, TestSessions: res.TestSessions, CommandUpdates: res.CommandUpdates}); err != nil {
			r.Err = err
		} else if err := checkReadings(res.Readings, res.TestSessions); err != nil {
			r.Err = err
		} else {
			r.Detail = fmt.Sprintf("accepted, %d readings", len(res.Readings))
			if len(res.TestSessions) > 0 {
				r.Detail += fmt.Sprintf(", %d test sessions", len(res.TestSessions))
			}
			if len(unknown) > 0 {
				r.Detail += fmt.Sprintf("; the host drops and counts as unknown_metric the provider types passed through (%s)", strings.Join(unknown, ", "))
			}
		}
		out = append(out, r)
	}

	out = append(out, k.parseCheck("webhook/malformed-bodies", f, corpus(f)))
	seed := rand.Uint64()
	out = append(out, k.parseCheck(fmt.Sprintf("webhook/randomized-bodies(seed %d)", seed), f, randomBodies(seed, 200)))
	return out
}

// parseCheck hands each body to Webhook (the parse step, as after a successful
// verification): it must return well-formed readings or a KindPermanent error, without
// panicking or hanging.
func (k *checker) parseCheck(name string, f Fixtures, bodies [][]byte) Result {
	headers := http.Header{"Content-Type": {"application/json"}}
	if len(f.Valid) > 0 {
		headers = f.Valid[0].Headers.Clone()
	}
	r := Result{Check: name}
	for _, b := range bodies {
		req := sdk.WebhookRequest{Headers: headers.Clone(), Body: b, ReceivedAt: time.Now()}
		res, err := callT(k, "webhook", func(ctx context.Context) (sdk.WebhookResult, error) { return k.t.Webhook(ctx, req) })
		if errors.Is(err, errNotRun) {
			r.Err = err
			return r
		}
		var problem error
		switch {
		case errors.Is(err, errPanicked) || errors.Is(err, errHung) || errors.Is(err, errExited):
			problem = err
		case err != nil && !sdk.IsKind(err, sdk.KindPermanent):
			problem = fmt.Errorf("failed as %s (%v); a body that can never parse is KindPermanent", sdk.KindOf(err), err)
		case err != nil && strings.Contains(err.Error(), "panicked"):
			problem = err // a binary's recovered panic arrives as an error naming it
		case err == nil:
			problem = checkShape(res.Readings)
		}
		if problem != nil {
			r.Err = fmt.Errorf("body %s: %w", quoteBody(b), problem)
			return r
		}
	}
	r.Detail = fmt.Sprintf("%d bodies", len(bodies))
	return r
}

func quoteBody(b []byte) string {
	if len(b) > 60 {
		return fmt.Sprintf("%q… (%d bytes)", b[:60], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// corpus is the built-in malformed corpus plus the fixtures' own, and truncations and
// bit flips of every valid fixture body.
func corpus(f Fixtures) [][]byte {
	out := [][]byte{
		nil, []byte(""), []byte(" "), []byte("{"), []byte("}"), []byte("null"), []byte("[]"), []byte("{}"),
		[]byte(`""`), []byte("0"), []byte("-1e999"), []byte("true"), []byte("\x00\xff\xfe"), []byte("<xml/>"),
		[]byte(`{"event":null}`), []byte(`{"event":"readings.created"}`), []byte(`{"event":"readings.created","device_id":""}`),
		[]byte(`{"event":"readings.created","device_id":"d","readings":null}`),
		[]byte(`{"event":"readings.created","device_id":"d","readings":[{"metric":"ph","value":"NaN"}]}`),
		[]byte(`{"event":"readings.created","device_id":"d","readings":[{"metric":"ph","value":1e309}]}`),
		[]byte(`{"event":"readings.created","device_id":"d","readings":[{"metric":"ph","value":7,"recorded_at":"0000-00-00"}]}`),
		[]byte(`{"uplink_message":{"decoded_payload":null}}`), []byte(`{"end_device_ids":{}}`),
		[]byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)),
		[]byte(`{"a":"` + strings.Repeat("x", 1<<20) + `"}`),
	}
	out = append(out, f.Malformed...)
	for _, w := range f.Valid {
		b := w.Body
		for _, n := range []int{len(b) / 2, len(b) - 1, 1} {
			if n > 0 && n < len(b) {
				out = append(out, append([]byte(nil), b[:n]...))
			}
		}
		for _, i := range []int{0, len(b) / 3, len(b) / 2, len(b) - 1} {
			if i >= 0 && i < len(b) {
				c := append([]byte(nil), b...)
				c[i] ^= 0x5a
				out = append(out, c)
			}
		}
	}
	return out
}

// randomBodies builds n bodies from JSON-ish fragments, reproducible from seed.
func randomBodies(seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	frags := []string{"{", "}", "[", "]", ",", ":", `"event"`, `"readings.created"`, `"device_id"`, `"readings"`,
		`"metric"`, `"ph"`, `"value"`, `"recorded_at"`, `"2026-01-01T00:00:00Z"`, "7.2", "-0", "1e308", "null", "true",
		`"\u0000"`, `"`, "\\", " ", "9999999999999999999999", `"uplink_message"`, `"decoded_payload"`}
	out := make([][]byte, n)
	for i := range out {
		var sb strings.Builder
		for range 1 + rng.IntN(40) {
			if rng.IntN(8) == 0 {
				sb.WriteByte(byte(rng.IntN(256)))
			} else {
				sb.WriteString(frags[rng.IntN(len(frags))])
			}
		}
		out[i] = []byte(sb.String())
	}
	return out
}

// checkShape is what any parse result must satisfy, even of a body made up by the
// randomized pass: a metric name, a device id and a finite value. (A plugin that passes
// device-chosen metric names through, like a generic webhook, may emit names outside
// the vocabulary for such bodies; the host drops and counts them.)
func checkShape(rs []sdk.Reading) error {
	for i, r := range rs {
		if r.Metric == "" {
			return fmt.Errorf("reading %d: empty metric name", i)
		}
		if r.ProviderDeviceID == "" {
			return fmt.Errorf("reading %d (%s): no provider device id", i, r.Metric)
		}
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return fmt.Errorf("reading %d (%s): value %v is not finite", i, r.Metric, r.Value)
		}
	}
	return nil
}

// judgeAnswer judges a valid delivery's answer as the host would (sdk/judge, the package
// the host's ingest calls): refused whole with the cap named, or each reading, test
// session and result the host would drop, with the host's reason. One drop is not a
// failure: a provider type outside the vocabulary that the plugin passed through
// unmapped, as PLUGINS.md asks (the host drops and counts it where operators see a new
// type appear); its names are returned. A near miss of a vocabulary name ("pH") is a bug
// and fails.
func judgeAnswer(f Fixtures, receivedAt time.Time, a judge.Answer) ([]string, error) {
	return explain(judge.Judge(f.Caps, window(f), receivedAt, a), a)
}

// window is the time window the fixtures' answers are judged in.
func window(f Fixtures) judge.Window {
	if f.Window == (judge.Window{}) {
		return judge.DefaultWindow
	}
	return f.Window
}

// explain is judgeAnswer's verdict told: the unknown metrics passed through, or what
// the host would not keep.
func explain(v judge.Verdict, a judge.Answer) ([]string, error) {
	var unknown []string
	passedThrough := func(name, reason string) bool {
		if reason != judge.UnknownMetric {
			return reason == ""
		}
		if _, near := judge.NearMetric(name); near {
			return false
		}
		if !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
		return true
	}
	ok := v.Refused == nil
	for i, reason := range v.Readings {
		ok = passedThrough(a.Readings[i].Metric, reason) && ok
	}
	for i, reason := range v.Sessions {
		ok = reason == "" && ok
		for _, d := range v.Results[i] {
			ok = passedThrough(d.Metric, d.Reason) && ok
		}
	}
	if ok {
		return unknown, nil
	}
	problems := v.Problems(a)
	const show = 10
	more := ""
	if len(problems) > show {
		more = fmt.Sprintf("\n… and %d more", len(problems)-show)
		problems = problems[:show]
	}
	return nil, fmt.Errorf("the host would not keep all of it:\n%s%s", strings.Join(problems, "\n"), more)
}

// checkReadings is what judgeAnswer leaves to the host's database, checked as far as the
// kit can: every reading and test session names its device (the host drops one without
// as unknown_device), and a reading's quality is one of the vocabulary's (the host
// stores another as suspect).
func checkReadings(rs []sdk.Reading, ss []sdk.TestSession) error {
	for i, r := range rs {
		if r.ProviderDeviceID == "" {
			return fmt.Errorf("reading %d (%s): no provider device id; the host would drop it as unknown_device", i, r.Metric)
		}
		switch r.Quality {
		case sdk.QualityUnknown, sdk.QualityGood, sdk.QualitySuspect, sdk.QualityOutOfRange:
		default:
			return fmt.Errorf("reading %d (%s): unknown quality %q; the host would store it as suspect", i, r.Metric, r.Quality)
		}
	}
	for i, s := range ss {
		if s.ProviderDeviceID == "" {
			return fmt.Errorf("test session %d: no provider device id; the host would drop it as unknown_device", i)
		}
	}
	return nil
}

func (k *checker) refreshCheck(f Fixtures) Result {
	r := Result{Check: "refresh-returns-credentials"}
	if f.Refresh == nil {
		r.Skipped = "no Refresh fixture (Fixtures.Refresh: a Go test's call against your fake provider with an expired token; plugins test has none, so test refresh in your own tests)"
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

// Direct adapts an in-process adapter to [Target]; IngestWebhook verifies then parses,
// as the plugin side of the wire does.
func Direct(a sdk.Adapter) Target { return direct{a} }

type direct struct{ sdk.Adapter }

// Describe is the adapter's, checked as sdk.Serve checks it: a plugin that claims to
// poll must implement sdk.Poller.
func (d direct) Describe(ctx context.Context) (sdk.Description, error) {
	desc, err := d.Adapter.Describe(ctx)
	if err == nil {
		err = sdk.CheckCapabilities(d.Adapter, desc)
	}
	return desc, err
}

func (d direct) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if err := d.VerifyWebhook(ctx, req); err != nil {
		return sdk.WebhookResult{}, err
	}
	res, err := d.Webhook(ctx, req)
	if err != nil {
		return sdk.WebhookResult{}, &grpcplugin.ParseError{Err: err}
	}
	return res, nil
}

func (d direct) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	p, ok := d.Adapter.(sdk.Poller)
	if !ok {
		return sdk.PollResult{}, sdk.Unsupported("poll")
	}
	return p.PollReadings(ctx, req)
}

// WantKind fails the test unless err has kind want (sdk.KindOf: an *sdk.Error's kind,
// seen through wrapping such as *grpcplugin.ParseError; any other error is temporary).
func WantKind(tb testing.TB, err error, want sdk.ErrorKind) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want kind %s", want)
	}
	if sdk.KindOf(err) != want {
		tb.Fatalf("error %q is kind %s, want %s", err, sdk.KindOf(err), want)
	}
}

// FuzzWebhook is a Go fuzz target body for an adapter's webhook parser: seeds are the
// malformed corpus and the fixtures' bodies, and every input must parse into
// well-formed readings or fail as KindPermanent, without panicking or hanging.
//
//	func FuzzConformance(f *testing.F) { sdktest.FuzzWebhook(f, acme.New(), fixtures) }
func FuzzWebhook(f *testing.F, a sdk.Adapter, fx Fixtures) {
	for _, b := range corpus(fx) {
		if len(b) < 4096 {
			f.Add(b)
		}
	}
	for _, w := range fx.Valid {
		f.Add(w.Body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		k := &checker{ctx: t.Context(), t: Direct(a)}
		if r := k.parseCheck("fuzz", fx, [][]byte{body}); r.Err != nil {
			t.Fatal(r.Err)
		}
	})
}
