package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
	"github.com/poolhost/poolhost/sdk/signature"
)

// genericWebhookSecret is the provider-level secret of the generic plugin (envOpts.ingest).
const genericWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// newIngestEnv is the harness env with the ingestion side wired the way `poolhost serve`
// wires it (host/cmd/poolhost/ingest.go): webhook routes, dead-letter admin routes and
// the failures collector, all on the handler's own registry.
func newIngestEnv(t *testing.T, dbURL string) *env {
	t.Helper()
	return newEnv(t, dbURL, envOpts{ingest: true})
}

// ingestRoutes are the webhook and dead-letter routes wired as serve's newIngestion
// wires them.
func ingestRoutes(st *store.Store, mgr *pluginmgr.Manager, cfg *config.Config, log hclog.Logger, reg *prometheus.Registry) []httpapi.Option {
	ing := ingest.New(st, ingest.Config{MaxFutureSkew: cfg.Ingest.MaxFutureSkew, MaxPastAge: cfg.Ingest.MaxPastAge}, log, reg)
	hooks := webhook.New(webhook.Deps{Store: st, Ingest: ing, Plugins: mgr, Logger: log, Registerer: reg},
		webhook.Config{MaxAttempts: cfg.RetryWorker.MaxAttempts})
	return []httpapi.Option{httpapi.WithWebhooks(hooks), httpapi.WithFailures(failures.New(st))}
}

// enqueue stores a failure directly, as the webhook pipeline or retry worker would.
func (e *env) enqueue(provider string, dead bool) store.Failure {
	e.t.Helper()
	f, err := e.st.EnqueueFailure(context.Background(), store.NewFailure{
		Provider: provider, Payload: []byte(`{"device_id": "d1"}`), Headers: map[string][]string{"Webhook-Id": {"msg"}},
		DeliveryID: fmt.Sprintf("dl-%d", e.n.Add(1)), MaxAttempts: 3, Error: "boom", Dead: dead,
	})
	must(e.t, err)
	return f
}

// signedWebhook posts body to the generic provider-level webhook route.
func (e *env) signedWebhook(id string, body []byte, secret string) response {
	e.t.Helper()
	v, err := signature.NewStandardWebhooks(secret)
	must(e.t, err)
	hdr := map[string]string{}
	for k, vs := range v.Headers(id, time.Now(), body) {
		hdr[k] = vs[0]
	}
	return e.do(req{method: "POST", path: "/v1/webhooks/generic", body: body, header: hdr})
}

type failureView struct {
	ID           int64               `json:"id"`
	Provider     string              `json:"provider"`
	Status       string              `json:"status"`
	Attempts     int                 `json:"attempts"`
	MaxAttempts  int                 `json:"maxAttempts"`
	LastError    string              `json:"lastError"`
	ErrorHistory []map[string]any    `json:"errorHistory"`
	Headers      map[string][]string `json:"headers"`
	Payload      []byte              `json:"payload"`
}

type failureList struct {
	Failures   []failureView `json:"failures"`
	NextCursor string        `json:"nextCursor"`
}

func ids(fs []failureView) []int64 {
	var out []int64
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

// TestAdminFailuresRoutes drives the dead-letter admin routes over real HTTP on both
// engines: list filters, get, requeue (one and in bulk by provider and time range) and
// discard, each audited with the actor and the request id, plus the refusals.
func TestAdminFailuresRoutes(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newIngestEnv(t, dbURL)
		admin := e.newUser("admin", true)
		plain := e.newUser("plain", false)

		// A real dead letter through the webhook route (a permanent parse error), plus
		// seeded rows of every kind the filters must tell apart.
		r := e.signedWebhook("msg_dead", []byte(`{"device_id": 12}`), genericWebhookSecret)
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("permanent parse error: %d %s", r.StatusCode, r.Body)
		}
		var viaHook failureList
		e.must(200, req{method: "GET", path: "/v1/admin/failures?status=dead&provider=generic", token: admin.Token}).json(t, &viaHook)
		if len(viaHook.Failures) != 1 {
			t.Fatalf("dead generic failures after the webhook: %+v", viaHook)
		}
		hookDead := viaHook.Failures[0]
		pending := e.enqueue("generic", false)
		otherDead := e.enqueue("ttn", true)

		t.Run("list filters", func(t *testing.T) {
			tests := []struct {
				query string
				want  []int64
			}{
				{"", []int64{otherDead.ID, pending.ID, hookDead.ID}},
				{"?status=dead", []int64{otherDead.ID, hookDead.ID}},
				{"?status=pending", []int64{pending.ID}},
				{"?provider=generic", []int64{pending.ID, hookDead.ID}},
				{"?status=dead&provider=ttn", []int64{otherDead.ID}},
				{"?status=resolved", nil},
				{"?provider=nobody", nil},
			}
			for _, tt := range tests {
				var l failureList
				e.must(200, req{method: "GET", path: "/v1/admin/failures" + tt.query, token: admin.Token}).json(t, &l)
				if !slices.Equal(ids(l.Failures), tt.want) {
					t.Errorf("list%s = %v, want %v", tt.query, ids(l.Failures), tt.want)
				}
				for _, f := range l.Failures {
					if f.Payload != nil || f.Headers != nil {
						t.Errorf("list%s shows a payload or headers: %+v", tt.query, f)
					}
				}
			}
			// Pagination: one per page, the cursor walks all three.
			var got []int64
			path := "/v1/admin/failures?limit=1"
			for range 5 {
				var l failureList
				e.must(200, req{method: "GET", path: path, token: admin.Token}).json(t, &l)
				got = append(got, ids(l.Failures)...)
				if l.NextCursor == "" {
					break
				}
				path = "/v1/admin/failures?limit=1&cursor=" + l.NextCursor
			}
			if want := []int64{otherDead.ID, pending.ID, hookDead.ID}; !slices.Equal(got, want) {
				t.Errorf("paged list = %v, want %v", got, want)
			}
		})

		t.Run("get", func(t *testing.T) {
			var f failureView
			e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/admin/failures/%d", hookDead.ID), token: admin.Token}).json(t, &f)
			if f.Status != "dead" || f.Provider != "generic" || string(f.Payload) != `{"device_id": 12}` || len(f.ErrorHistory) != 1 {
				t.Fatalf("get = %+v", f)
			}
			// The signature is shown by name only: an operator sees it was there.
			if f.Headers["Webhook-Id"] == nil || !slices.Equal(f.Headers["Webhook-Signature"], []string{"[redacted]"}) {
				t.Fatalf("kept headers %v: want webhook-id and the signature [redacted]", f.Headers)
			}
		})

		t.Run("refusals", func(t *testing.T) {
			tests := []struct {
				name     string
				r        req
				status   int
				typ      string
				contains string
			}{
				{"bad status filter", req{method: "GET", path: "/v1/admin/failures?status=zombie", token: admin.Token}, 400, "invalid-request", "status"},
				{"bad limit", req{method: "GET", path: "/v1/admin/failures?limit=0", token: admin.Token}, 400, "invalid-request", "limit"},
				{"forged cursor", req{method: "GET", path: "/v1/admin/failures?cursor=%21%21", token: admin.Token}, 400, "invalid-request", ""},
				{"unknown id", req{method: "GET", path: "/v1/admin/failures/999999", token: admin.Token}, 404, "not-found", "999999"},
				{"non-numeric id", req{method: "GET", path: "/v1/admin/failures/abc", token: admin.Token}, 404, "not-found", ""},
				{"requeue unknown", req{method: "POST", path: "/v1/admin/failures/999999/requeue", token: admin.Token}, 404, "not-found", "999999"},
				{"discard unknown", req{method: "DELETE", path: "/v1/admin/failures/999999", token: admin.Token}, 404, "not-found", "999999"},
				{"requeue a pending one", req{method: "POST", path: fmt.Sprintf("/v1/admin/failures/%d/requeue", pending.ID), token: admin.Token}, 409, "conflict", "not dead"},
				{"bulk without provider", req{method: "POST", path: "/v1/admin/failures/requeue", token: admin.Token, body: map[string]any{}}, 400, "invalid-request", "provider"},
				{"bulk with from after to", req{method: "POST", path: "/v1/admin/failures/requeue", token: admin.Token,
					body: map[string]any{"provider": "generic", "from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}}, 400, "invalid-request", "before"},
				{"bulk with a bad time", req{method: "POST", path: "/v1/admin/failures/requeue", token: admin.Token,
					body: `{"provider": "generic", "from": "yesterday"}`}, 400, "invalid-request", ""},
				// Admin routes are in the published spec: 403 to users, 401 without a token
				// (the authorization matrix's convention for /v1/admin/*).
				{"list as a user", req{method: "GET", path: "/v1/admin/failures", token: plain.Token}, 403, "forbidden", ""},
				{"get as a user", req{method: "GET", path: fmt.Sprintf("/v1/admin/failures/%d", hookDead.ID), token: plain.Token}, 403, "forbidden", ""},
				{"requeue as a user", req{method: "POST", path: fmt.Sprintf("/v1/admin/failures/%d/requeue", hookDead.ID), token: plain.Token}, 403, "forbidden", ""},
				{"bulk as a user", req{method: "POST", path: "/v1/admin/failures/requeue", token: plain.Token, body: map[string]any{"provider": "generic"}}, 403, "forbidden", ""},
				{"discard as a user", req{method: "DELETE", path: fmt.Sprintf("/v1/admin/failures/%d", hookDead.ID), token: plain.Token}, 403, "forbidden", ""},
				{"list anonymously", req{method: "GET", path: "/v1/admin/failures"}, 401, "unauthorized", ""},
				{"discard anonymously", req{method: "DELETE", path: fmt.Sprintf("/v1/admin/failures/%d", hookDead.ID)}, 401, "unauthorized", ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.r.header = map[string]string{"X-Request-ID": "req-" + strings.ReplaceAll(tt.name, " ", "-")}
					resp := e.do(tt.r)
					if resp.StatusCode != tt.status {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
					}
					p := resp.problem(t)
					if p.Type != httpapi.ProblemTypeBase+tt.typ || p.Status != tt.status || p.RequestID != tt.r.header["X-Request-ID"] ||
						!strings.Contains(p.Detail, tt.contains) {
						t.Fatalf("problem %+v, want type %s mentioning %q", p, tt.typ, tt.contains)
					}
				})
			}
			// Nothing above changed a row or wrote an operator audit row.
			if got := e.auditEvents(failures.ActionRequeued); len(got) != 0 {
				t.Fatalf("refused requests audited: %+v", got)
			}
			if f, err := e.st.GetFailure(context.Background(), hookDead.ID); err != nil || f.Status != store.FailureDead {
				t.Fatalf("dead failure after refusals: %+v %v", f, err)
			}
		})

		t.Run("requeue one", func(t *testing.T) {
			// Spend the budget first, as the worker would have, so "fresh" is visible.
			_, err := e.st.DB().Exec(e.st.DB().Rebind(`UPDATE integration_ingestion_failures SET attempts = max_attempts WHERE id = ?`), hookDead.ID)
			must(t, err)
			var f failureView
			e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/admin/failures/%d/requeue", hookDead.ID), token: admin.Token,
				header: map[string]string{"X-Request-ID": "req-requeue-one"}}).json(t, &f)
			if f.Status != "pending" || f.Attempts != 0 || f.MaxAttempts < 1 {
				t.Fatalf("requeued = %+v, want pending with a fresh budget", f)
			}
			stored, err := e.st.GetFailure(context.Background(), hookDead.ID)
			must(t, err)
			if stored.Status != store.FailurePending || stored.Attempts != 0 || stored.NextAttemptAt.After(time.Now().Add(time.Minute)) ||
				len(stored.ErrorHistory) != 1 {
				t.Fatalf("stored after requeue = %+v (error history must be kept, due now)", stored)
			}
			evs := e.auditEvents(failures.ActionRequeued)
			if len(evs) != 1 {
				t.Fatalf("%d requeue audit rows, want 1", len(evs))
			}
			ev := evs[0]
			if ev.Actor != fmt.Sprintf("user:%d", admin.ID) || ev.RequestID != "req-requeue-one" || ev.Provider != "generic" ||
				ev.TargetType != "ingestion_failure" || ev.TargetID != fmt.Sprint(hookDead.ID) {
				t.Fatalf("requeue audit = %+v", ev)
			}
			// Requeueing it again is a conflict: it is no longer dead.
			if resp := e.do(req{method: "POST", path: fmt.Sprintf("/v1/admin/failures/%d/requeue", hookDead.ID), token: admin.Token}); resp.StatusCode != 409 {
				t.Fatalf("second requeue: %d %s", resp.StatusCode, resp.Body)
			}
		})

		t.Run("bulk requeue by provider and time range", func(t *testing.T) {
			early := e.enqueue("generic", true)
			e.offset.Store(int64(2 * time.Hour))
			defer e.offset.Store(0)
			late := e.enqueue("generic", true)
			lateOther := e.enqueue("ttn", true)
			cut := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

			var out struct {
				Requeued int     `json:"requeued"`
				IDs      []int64 `json:"ids"`
			}
			e.must(200, req{method: "POST", path: "/v1/admin/failures/requeue", token: admin.Token,
				header: map[string]string{"X-Request-ID": "req-bulk"},
				body:   map[string]any{"provider": "generic", "from": cut}}).json(t, &out)
			if out.Requeued != 1 || !slices.Equal(out.IDs, []int64{late.ID}) {
				t.Fatalf("bulk from %s = %+v, want only %d", cut, out, late.ID)
			}
			for id, want := range map[int64]store.FailureStatus{early.ID: store.FailureDead, late.ID: store.FailurePending,
				lateOther.ID: store.FailureDead, otherDead.ID: store.FailureDead} {
				f, err := e.st.GetFailure(context.Background(), id)
				if err != nil || f.Status != want {
					t.Errorf("failure %d: %s %v, want %s", id, f.Status, err, want)
				}
			}
			evs := e.auditEvents(failures.ActionRequeued)
			if len(evs) != 2 || evs[0].RequestID != "req-bulk" || evs[0].Actor != fmt.Sprintf("user:%d", admin.ID) ||
				evs[0].Provider != "generic" || fmt.Sprint(evs[0].Details["count"]) != "1" {
				t.Fatalf("bulk requeue audit = %+v", evs)
			}

			// "to" bounds the other side; nothing matching answers an empty list, unaudited.
			e.must(200, req{method: "POST", path: "/v1/admin/failures/requeue", token: admin.Token,
				body: map[string]any{"provider": "generic", "to": cut}}).json(t, &out)
			if out.Requeued != 1 || !slices.Equal(out.IDs, []int64{early.ID}) {
				t.Fatalf("bulk to %s = %+v, want only %d", cut, out, early.ID)
			}
			e.must(200, req{method: "POST", path: "/v1/admin/failures/requeue", token: admin.Token,
				body: map[string]any{"provider": "generic"}}).json(t, &out)
			if out.Requeued != 0 || out.IDs == nil || len(out.IDs) != 0 {
				t.Fatalf("bulk with nothing dead = %+v, want an empty list", out)
			}
			if n := len(e.auditEvents(failures.ActionRequeued)); n != 3 {
				t.Fatalf("%d requeue audit rows, want 3 (an empty bulk requeue is not audited)", n)
			}
		})

		t.Run("discard", func(t *testing.T) {
			resp := e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/admin/failures/%d", otherDead.ID), token: admin.Token,
				header: map[string]string{"X-Request-ID": "req-discard"}})
			if len(resp.Body) != 0 {
				t.Fatalf("204 with a body: %s", resp.Body)
			}
			if _, err := e.st.GetFailure(context.Background(), otherDead.ID); err == nil {
				t.Fatal("discarded failure still stored")
			}
			evs := e.auditEvents(failures.ActionDiscarded)
			if len(evs) != 1 || evs[0].Actor != fmt.Sprintf("user:%d", admin.ID) || evs[0].RequestID != "req-discard" ||
				evs[0].Provider != "ttn" || evs[0].TargetID != fmt.Sprint(otherDead.ID) || evs[0].Details["status"] != "dead" {
				t.Fatalf("discard audit = %+v", evs)
			}
			e.must(404, req{method: "GET", path: fmt.Sprintf("/v1/admin/failures/%d", otherDead.ID), token: admin.Token})
			e.must(404, req{method: "DELETE", path: fmt.Sprintf("/v1/admin/failures/%d", otherDead.ID), token: admin.Token})

			// A row a worker holds cannot be discarded from under it.
			e.enqueue("generic", false)
			claimed, err := e.st.ClaimFailures(context.Background(), "test-worker", 100, time.Hour)
			must(t, err)
			if len(claimed) == 0 {
				t.Fatal("nothing claimed")
			}
			held := claimed[0]
			p := e.must(409, req{method: "DELETE", path: fmt.Sprintf("/v1/admin/failures/%d", held.ID), token: admin.Token}).problem(t)
			if p.Type != httpapi.ProblemTypeBase+"conflict" {
				t.Fatalf("discard of a processing row: %+v", p)
			}
		})
	})
}

// TestSpecMatchesFullyWiredRouter runs the spec⇄router check against a handler with the
// ingestion routes joined as serve joins them: every ingest-group path is routed, and
// nothing routed is missing from openapi.yaml.
func TestSpecMatchesFullyWiredRouter(t *testing.T) {
	e := newIngestEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "poolhost.db"))
	diffs, err := httpapi.CheckSpec(e.handler.Mux(), "ingest")
	must(t, err)
	for _, d := range diffs {
		t.Error(d)
	}
	ops, err := httpapi.SpecOperations()
	must(t, err)
	routed, err := httpapi.RoutedOperations(e.handler.Mux())
	must(t, err)
	// Both directions by hand too: the check must not be satisfied by an empty group.
	for _, want := range []string{
		"POST /v1/webhooks/{provider}", "POST /v1/webhooks/{provider}/accounts/{accountId}",
		"GET /v1/admin/failures", "POST /v1/admin/failures/requeue", "GET /v1/admin/failures/{failureId}",
		"POST /v1/admin/failures/{failureId}/requeue", "DELETE /v1/admin/failures/{failureId}",
	} {
		if !slices.Contains(ops["ingest"], want) {
			t.Errorf("openapi.yaml ingest group misses %s", want)
		}
		if !slices.Contains(routed, want) {
			t.Errorf("wired router misses %s", want)
		}
	}
	all := append(slices.Clone(ops[""]), ops["ingest"]...)
	slices.Sort(all)
	if !slices.Equal(all, routed) {
		t.Errorf("spec operations\n%v\nrouted operations\n%v", all, routed)
	}
	if groups := len(ops); groups != 2 {
		t.Errorf("spec has %d route groups, want the built-in one and ingest: %v", groups, ops)
	}

	// Without the group, the ingest routes are not reported as drift, and a handler
	// without them is told that the group's paths are missing.
	diffs, err = httpapi.CheckSpec(e.handler.Mux())
	must(t, err)
	if len(diffs) != 0 {
		t.Errorf("ungrouped check of the wired router: %v", diffs)
	}
	diffs, err = httpapi.CheckSpec(httpapi.New(httpapi.Deps{}).Mux(), "ingest")
	must(t, err)
	if len(diffs) != len(ops["ingest"]) {
		t.Errorf("unwired router checked with the ingest group: %d diffs %v, want %d", len(diffs), diffs, len(ops["ingest"]))
	}
}
