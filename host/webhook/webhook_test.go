package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

var pluginDir string

func TestMain(m *testing.M) { ingesttest.Main(m, &pluginDir) }

const accountSecret = "whsec_YWNjb3VudC1hLXNlY3JldC1mb3ItdGVzdHMtMTIz"

// env is one engine's running host: store, plugins, HTTP server, and a seeded world:
// "owner" has a generic account (own secret) with device "probe" linked and "loose"
// unlinked, and a faulty account with the same devices; "other" has a generic account
// whose "theirs" is linked to their own pool.
type env struct {
	s        *store.Store
	svc      *webhook.Service
	srv      *httptest.Server
	reg      *prometheus.Registry
	mine     ingesttest.World
	faulty   ingesttest.World
	files    string // switch files of the faulty plugin
	failNext bool
	logs     *logBuffer // the webhook service's log, JSON lines from Info up
}

// logBuffer is a bytes.Buffer safe for the logger and the test at once.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log lines whose message is msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["@message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func newEnv(t *testing.T, eng ingesttest.Engine, mutate func(*webhook.Deps, *ingest.Service)) *env {
	t.Helper()
	return newEnvIn(t, eng, pluginDir, mutate)
}

// newEnvIn is newEnv with the plugin binaries of dir.
func newEnvIn(t *testing.T, eng ingesttest.Engine, pluginDir string, mutate func(*webhook.Deps, *ingest.Service)) *env {
	t.Helper()
	s := eng.Open(t)
	e := &env{s: s, reg: prometheus.NewRegistry(), files: t.TempDir(), logs: &logBuffer{}}
	e.mine = ingesttest.Seed(t, s, "generic", "owner@example.com", map[string]string{"webhook_secret": accountSecret}, []string{"probe"}, []string{"loose"})
	ingesttest.Seed(t, s, "generic", "other@example.com", map[string]string{"webhook_secret": "whsec_b3RoZXItYWNjb3VudC1zZWNyZXQtMTIzNDU2Nzg="}, []string{"theirs"}, nil)
	e.faulty = ingesttest.Seed(t, s, "faulty", "owner2@example.com", nil, []string{"probe"}, []string{"loose"})

	cfg := ingesttest.Config(t, pluginDir, fmt.Sprintf(`settings = {
    fail_file = %q
    crash_file = %q
    verify_unavailable_file = %q
  }`, filepath.Join(e.files, "fail"), filepath.Join(e.files, "crash"), filepath.Join(e.files, "verify")))
	log := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	h := serve(t, s, ingesttest.StartManager(t, cfg, log), log, e.reg,
		hclog.New(&hclog.LoggerOptions{Output: e.logs, Level: hclog.Info, JSONFormat: true}), mutate)
	e.svc, e.srv = h.Pipeline, h.Server
	return e
}

// serve is a host's webhook path on s, as every env in this package runs it: the
// pipeline's and the HTTP API's log to plog, the ingest service's to log.
func serve(t *testing.T, s *store.Store, plugins webhook.Plugins, log hclog.Logger, reg *prometheus.Registry, plog hclog.Logger,
	mutate func(*webhook.Deps, *ingest.Service)) ingesttest.WebhookHost {
	t.Helper()
	return ingesttest.ServeWebhooks(t, ingesttest.Webhooks{Store: s, Plugins: plugins, Log: log, PipelineLog: plog, Registry: reg,
		Ingest:   ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour},
		Pipeline: webhook.Config{MaxAttempts: 8}, HTTP: config.HTTP{MaxBodyBytes: 64 << 10}, Mutate: mutate})
}

func (e *env) touch(t *testing.T, name string) func() {
	t.Helper()
	p := filepath.Join(e.files, name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return func() { os.Remove(p) }
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func (e *env) post(t *testing.T, path string, headers map[string][]string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, raw)
		}
	}
	return r
}

func (e *env) signed(t *testing.T, path, secret, id string, body []byte) reply {
	t.Helper()
	return e.post(t, path, ingesttest.Sign(t, secret, id, time.Now(), body), body)
}

func genericBody(device string, readings ...string) []byte {
	return []byte(fmt.Sprintf(`{"device_id": %q, "readings": [%s]}`, device, strings.Join(readings, ",")))
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func failures(t *testing.T, s *store.Store, status store.FailureStatus) []store.Failure {
	t.Helper()
	fs, err := s.ListFailures(context.Background(), store.FailureFilter{Status: status, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestWebhookRoutes(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			at := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
			body := genericBody("probe",
				fmt.Sprintf(`{"metric": "ph", "value": 7.4, "recorded_at": %q}`, at),
				fmt.Sprintf(`{"metric": "temperature", "value": 77, "unit": "F", "recorded_at": %q}`, at))

			t.Run("accepted", func(t *testing.T) {
				r := e.signed(t, "/v1/webhooks/generic/accounts/"+fmt.Sprint(e.mine.Account.ID), accountSecret, "msg_1", body)
				if r.status != http.StatusOK || num(r.body["accepted"]) != 2 || num(r.body["duplicates"]) != 0 {
					t.Fatalf("got %d %v, want 200 with 2 accepted", r.status, r.body)
				}
				if got := ingesttest.Audit(t, e.s, webhook.ActionReceived); len(got) != 1 || got[0].Details["accepted"] != float64(2) {
					t.Fatalf("webhook.received audit: %+v", got)
				}
			})
			t.Run("replay is idempotent", func(t *testing.T) {
				r := e.signed(t, "/v1/webhooks/generic/accounts/"+fmt.Sprint(e.mine.Account.ID), accountSecret, "msg_1", body)
				if r.status != http.StatusOK || num(r.body["accepted"]) != 0 || num(r.body["duplicates"]) != 2 {
					t.Fatalf("replay: %d %v, want 200 with 2 duplicates", r.status, r.body)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 2 {
					t.Fatalf("%d readings after replay, want 2", n)
				}
			})
			t.Run("provider-level secret", func(t *testing.T) {
				b := genericBody("theirs", `{"metric": "orp", "value": 700}`)
				r := e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_p", b)
				if r.status != http.StatusOK || num(r.body["accepted"]) != 1 {
					t.Fatalf("got %d %v, want 200 with 1 accepted", r.status, r.body)
				}
			})
			t.Run("account-scoped refuses another account's device", func(t *testing.T) {
				b := genericBody("theirs", `{"metric": "orp", "value": 710}`)
				r := e.signed(t, "/v1/webhooks/generic/accounts/"+fmt.Sprint(e.mine.Account.ID), accountSecret, "msg_f", b)
				dropped, _ := r.body["dropped"].(map[string]any)
				// Said as unknown_device: TestForeignAndUnknownDeviceAnswerAlike.
				if r.status != http.StatusOK || num(r.body["accepted"]) != 0 || num(dropped["unknown_device"]) != 1 {
					t.Fatalf("got %d %v, want the reading dropped as unknown_device", r.status, r.body)
				}
			})

			t.Run("unauthorized", func(t *testing.T) {
				before := ingesttest.CountReadings(t, e.s)
				path := "/v1/webhooks/generic/accounts/" + fmt.Sprint(e.mine.Account.ID)
				fresh := genericBody("probe", `{"metric": "ph", "value": 7.1}`)
				good := ingesttest.Sign(t, accountSecret, "msg_u", time.Now(), fresh)
				tests := []struct {
					name    string
					path    string
					headers map[string][]string
					body    []byte
					reason  string
				}{
					{"missing signature", path, nil, fresh, "missing_signature"},
					{"wrong secret", path, ingesttest.Sign(t, ingesttest.GenericSecret, "msg_u", time.Now(), fresh), fresh, "bad_signature"},
					{"tampered body", path, good, genericBody("probe", `{"metric": "ph", "value": 9.9}`), "bad_signature"},
					{"stale timestamp", path, ingesttest.Sign(t, accountSecret, "msg_u", time.Now().Add(-time.Hour), fresh), fresh, "stale_timestamp"},
					{"provider secret on the account URL", path, ingesttest.Sign(t, ingesttest.GenericSecret, "msg_u", time.Now(), fresh), fresh, "bad_signature"},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						r := e.post(t, tt.path, tt.headers, tt.body)
						if r.status != http.StatusUnauthorized || !strings.HasSuffix(fmt.Sprint(r.body["type"]), "/webhook-rejected") {
							t.Fatalf("got %d %v, want a 401 webhook-rejected problem", r.status, r.body)
						}
					})
				}
				if n := ingesttest.CountReadings(t, e.s); n != before {
					t.Fatalf("readings %d -> %d after rejected deliveries", before, n)
				}
				if fs := failures(t, e.s, ""); len(fs) != 0 {
					t.Fatalf("rejected deliveries stored as failures: %+v", fs)
				}
				// Five rejections from one client: one audit row, every one counted.
				if got := ingesttest.Audit(t, e.s, webhook.ActionRejected); len(got) != 1 {
					t.Fatalf("%d webhook.rejected rows, want 1 (rate-limited)", len(got))
				}
				if n := counter(t, e.reg, "generic", webhook.OutcomeRejected); n != float64(len(tests)) {
					t.Fatalf("rejected counter = %v, want %d", n, len(tests))
				}
				// Each is counted by the plugin's reason, a bounded label set.
				want := map[string]float64{}
				for _, tt := range tests {
					want[tt.reason]++
				}
				for reason, n := range want {
					if got := rejections(t, e.reg, "generic", reason); got != n {
						t.Errorf("rejections{reason=%q} = %v, want %v", reason, got, n)
					}
				}
				// The first is logged at Info with its reason and request id (the rest,
				// rate-limited like the audit, at Debug), and no secret.
				logged := e.logs.lines(t, "webhook rejected")
				if len(logged) != 1 || logged[0]["reason"] != "missing_signature" || logged[0]["request_id"] == "" ||
					!strings.Contains(fmt.Sprint(logged[0]["error"]), "missing header") {
					t.Errorf("rejection log lines = %v, want one with reason, request id and the plugin's message", logged)
				}
				// Every rejection's request line says why, rate limit or not.
				var reasons []string
				for _, l := range e.logs.lines(t, "request") {
					if num(l["status"]) == http.StatusUnauthorized {
						reasons = append(reasons, fmt.Sprint(l["reason"]))
					}
				}
				if wantReasons := []string{"missing_signature", "bad_signature", "bad_signature", "stale_timestamp", "bad_signature"}; !slices.Equal(reasons, wantReasons) {
					t.Errorf("401 request lines' reasons = %q, want %q", reasons, wantReasons)
				}
				if strings.Contains(fmt.Sprint(logged), strings.TrimPrefix(accountSecret, "whsec_")) {
					t.Error("a rejection log line carries the account secret")
				}
			})

			t.Run("unknown provider", func(t *testing.T) {
				if r := e.signed(t, "/v1/webhooks/nope", ingesttest.GenericSecret, "x", body); r.status != http.StatusNotFound {
					t.Fatalf("got %d, want 404", r.status)
				}
				// An account the URL's provider does not have is rejected like a bad
				// signature (see TestUnknownAccountsAnswerLikeBadSignatures).
				if r := e.signed(t, "/v1/webhooks/faulty/accounts/"+fmt.Sprint(e.mine.Account.ID), accountSecret, "x", body); r.status != http.StatusUnauthorized {
					t.Fatalf("another provider's account: got %d, want 401", r.status)
				}
			})
			t.Run("body too large", func(t *testing.T) {
				big := bytes.Repeat([]byte(" "), 65<<10)
				if r := e.post(t, "/v1/webhooks/generic", nil, big); r.status != http.StatusRequestEntityTooLarge {
					t.Fatalf("got %d, want 413", r.status)
				}
			})

			t.Run("permanent parse error goes dead", func(t *testing.T) {
				r := e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_bad", []byte(`{"device_id": 12}`))
				if r.status != http.StatusAccepted || r.body["status"] != webhook.OutcomeDead {
					t.Fatalf("got %d %v, want 202 dead", r.status, r.body)
				}
				dead := failures(t, e.s, store.FailureDead)
				if len(dead) != 1 || string(dead[0].Payload) != `{"device_id": 12}` {
					t.Fatalf("dead failures: %+v", dead)
				}
				if got := ingesttest.Audit(t, e.s, webhook.ActionDead); len(got) != 1 {
					t.Fatalf("%d ingestion.dead rows, want 1", len(got))
				}
			})

			t.Run("temporary parse error is queued", func(t *testing.T) {
				b := []byte(`{"device_id": "probe", "fail": "temporary"}`)
				r := e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_tmp", b)
				if r.status != http.StatusAccepted || r.body["status"] != webhook.OutcomeQueued {
					t.Fatalf("got %d %v, want 202 queued", r.status, r.body)
				}
				pending := failures(t, e.s, store.FailurePending)
				if len(pending) != 1 || string(pending[0].Payload) != string(b) || pending[0].Provider != "faulty" {
					t.Fatalf("pending failures: %+v", pending)
				}
				h := http.Header(pending[0].Headers)
				if h.Get("webhook-id") != "msg_tmp" || h.Get("webhook-signature") != "[redacted]" {
					t.Fatalf("kept headers %v: want webhook-id, and the signature by name only", h)
				}
				if !strings.Contains(pending[0].LastError, "asked to fail") {
					t.Fatalf("last error %q", pending[0].LastError)
				}
				q := ingesttest.Audit(t, e.s, webhook.ActionQueuedForRetry)
				if len(q) != 1 || q[0].TargetID != fmt.Sprint(pending[0].ID) || q[0].Provider != "faulty" || q[0].RequestID == "" {
					t.Fatalf("webhook.queued_for_retry audit: %+v", q)
				}
			})

			t.Run("every drop reason over HTTP", func(t *testing.T) {
				now := time.Now().UTC()
				rd := func(metric, value, unit string, at time.Time) string {
					return fmt.Sprintf(`{"metric": %q, "value": %q, "unit": %q, "recorded_at": %q}`, metric, value, unit, at.Format(time.RFC3339Nano))
				}
				b := fmt.Sprintf(`{"device_id": "probe", "readings": [%s]}`, strings.Join([]string{
					rd("ph", "7.5", "", now.Add(-time.Second)),
					rd("turbidity", "1", "", now),
					rd("ph", "NaN", "", now),
					rd("ph", "15", "", now),
					rd("temperature", "20", "furlongs", now),
					rd("orp", "700", "", now.Add(time.Hour)),
					rd("orp", "700", "", now.Add(-72*time.Hour)),
				}, ","))
				r := e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_drops", []byte(b))
				dropped, _ := r.body["dropped"].(map[string]any)
				want := map[string]int{"unknown_metric": 1, "non_finite": 1, "absurd_value": 1, "bad_unit": 1, "too_far_future": 1, "too_old": 1}
				if r.status != http.StatusOK || num(r.body["accepted"]) != 1 || len(dropped) != len(want) {
					t.Fatalf("got %d %v, want 1 accepted and drops %v", r.status, r.body, want)
				}
				for k, n := range want {
					if num(dropped[k]) != n {
						t.Errorf("dropped[%s] = %v, want %d", k, dropped[k], n)
					}
				}
				for _, dev := range []string{"loose", "nobody"} {
					r := e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_"+dev,
						[]byte(fmt.Sprintf(`{"device_id": %q, "readings": [{"metric": "ph", "value": "7.2"}]}`, dev)))
					dropped, _ := r.body["dropped"].(map[string]any)
					reason := map[string]string{"loose": "unlinked_device", "nobody": "unknown_device"}[dev]
					if r.status != http.StatusOK || num(dropped[reason]) != 1 {
						t.Errorf("%s: got %d %v, want %s", dev, r.status, r.body, reason)
					}
				}
			})

			t.Run("verification unavailable is 503", func(t *testing.T) {
				defer e.touch(t, "verify")()
				before := len(failures(t, e.s, ""))
				r := e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_v", []byte(`{"device_id": "probe"}`))
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Fatalf("got %d (Retry-After %q), want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
				}
				if after := len(failures(t, e.s, "")); after != before {
					t.Fatal("an unverified delivery was stored")
				}
			})

			t.Run("crash after verification", func(t *testing.T) {
				before := len(failures(t, e.s, store.FailurePending))
				b := []byte(`{"device_id": "probe", "fail": "crash"}`)
				r := e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_crash", b)
				// Either the restarted plugin confirmed the signature (kept, 202) or it was
				// not back yet (503, nothing stored, the provider redelivers).
				after := len(failures(t, e.s, store.FailurePending))
				switch {
				case r.status == http.StatusAccepted && after == before+1:
				case r.status == http.StatusServiceUnavailable && after == before:
				default:
					t.Fatalf("got %d %v with %d -> %d pending failures", r.status, r.body, before, after)
				}
				waitAccepted(t, e)
			})
		})
	}
}

// waitAccepted waits until the faulty plugin is back after a crash.
func waitAccepted(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_alive", []byte(`{"device_id": "probe"}`))
		if r.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin not back: %d %v", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, provider, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == provider && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func rejections(t *testing.T, reg *prometheus.Registry, provider, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_webhook_rejections_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == provider && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// failingTx makes every transaction fail, like a database that went away mid-request.
type failingTx struct{ *store.Store }

func (failingTx) InTx(context.Context, func(*store.Tx) error) error {
	return errors.New("database unavailable")
}

func TestPersistFailureIsQueued(t *testing.T) {
	e := newEnv(t, ingesttest.Engines[0], func(d *webhook.Deps, ing *ingest.Service) {
		d.Ingest = ingest.New(failingTx{d.Store.(*store.Store)}, ingest.Config{}, nil, nil)
	})
	body := genericBody("probe", `{"metric": "ph", "value": 7.4}`)
	r := e.signed(t, "/v1/webhooks/generic/accounts/"+fmt.Sprint(e.mine.Account.ID), accountSecret, "msg_db", body)
	if r.status != http.StatusAccepted || r.body["status"] != webhook.OutcomeQueued {
		t.Fatalf("got %d %v, want 202 queued", r.status, r.body)
	}
	fs := failures(t, e.s, store.FailurePending)
	if len(fs) != 1 || fs[0].AccountID != e.mine.Account.ID || fs[0].DeliveryID != "msg_db" || !strings.Contains(fs[0].LastError, "persist readings") {
		t.Fatalf("pending failures: %+v", fs)
	}
	if n := ingesttest.CountReadings(t, e.s); n != 0 {
		t.Fatalf("%d readings stored", n)
	}
}

func TestKeepFailureIs503(t *testing.T) {
	e := newEnv(t, ingesttest.Engines[0], func(d *webhook.Deps, ing *ingest.Service) {
		s := d.Store.(*store.Store)
		d.Ingest = ingest.New(failingTx{s}, ingest.Config{}, nil, nil)
		d.Store = failingTx{s}
	})
	body := genericBody("probe", `{"metric": "ph", "value": 7.4}`)
	r := e.signed(t, "/v1/webhooks/generic/accounts/"+fmt.Sprint(e.mine.Account.ID), accountSecret, "msg_db", body)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("got %d, want 503 with Retry-After", r.status)
	}
	if fs := failures(t, e.s, ""); len(fs) != 0 {
		t.Fatalf("failures stored: %+v", fs)
	}
}

// switchableTx fails every transaction while fail is set.
type switchableTx struct {
	*store.Store
	fail *atomic.Bool
}

func (s switchableTx) InTx(ctx context.Context, fn func(*store.Tx) error) error {
	if s.fail.Load() {
		return errors.New("deadlock detected")
	}
	return s.Store.InTx(ctx, fn)
}

// TestReplayFoundWhenKeptCountsItsReadings: a copy of a delivery already stored whose
// own write fails (on PostgreSQL, a deadlock with the copy another replica wrote at the
// same moment; TestReplayAcrossServeReplicas met it) finds, when it is to be kept for
// retry, that a copy was stored: it is answered as a replay, its readings counted as
// duplicates like any replay's, not as a 200 that says none were accepted and none
// were duplicates.
func TestReplayFoundWhenKeptCountsItsReadings(t *testing.T) {
	var fail atomic.Bool
	e := newEnv(t, ingesttest.Engines[0], func(d *webhook.Deps, ing *ingest.Service) {
		d.Ingest = ingest.New(switchableTx{d.Store.(*store.Store), &fail}, ingest.Config{}, nil, nil)
	})
	body := genericBody("probe", `{"metric": "ph", "value": 7.4}, {"metric": "orp", "value": 650}`)
	path := "/v1/webhooks/generic/accounts/" + fmt.Sprint(e.mine.Account.ID)
	if r := e.signed(t, path, accountSecret, "msg_race", body); r.status != http.StatusOK || r.body["accepted"] != 2.0 {
		t.Fatalf("first copy: %d %v", r.status, r.body)
	}
	fail.Store(true)
	r := e.signed(t, path, accountSecret, "msg_race", body)
	if r.status != http.StatusOK || r.body["accepted"] != 0.0 || r.body["duplicates"] != 2.0 {
		t.Fatalf("a copy whose write failed, the delivery stored: %d %v, want 200 with 0 accepted and 2 duplicates", r.status, r.body)
	}
	if fs := failures(t, e.s, ""); len(fs) != 0 {
		t.Fatalf("failures kept for a delivery stored: %+v", fs)
	}
}
