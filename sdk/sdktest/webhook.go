package sdktest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/judge"
)

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
		} else if err := checkReadings(res.Readings, res.TestSessions, res.CommandUpdates); err != nil {
			r.Err = err
		} else {
			r.Detail = "accepted, " + count(len(res.Readings), "reading")
			if len(res.TestSessions) > 0 {
				r.Detail += ", " + count(len(res.TestSessions), "test session")
			}
			if len(unknown) > 0 {
				r.Detail += fmt.Sprintf("; the host drops and counts as unknown_metric the provider types passed through (%s)", strings.Join(unknown, ", "))
			}
			if n := len(res.CommandUpdates); n > 0 && req.Account == nil {
				// commands.ApplyUpdates: the provider's secret proves no account, and an
				// update applies only to the commands of the account that authenticated it.
				r.Detail += fmt.Sprintf("; the host applies none of its %d command update(s): a provider-level delivery authenticates no account (PLUGINS.md, SendCommand)", n)
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

// count is n and what it counts, in the plural but for one: "1 reading", "2 readings".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
