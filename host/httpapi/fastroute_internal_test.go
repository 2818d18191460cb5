package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/poolhost/poolhost/host/ingest"
)

// TestFastRouteMatchesMux: fastRoute finds a route only where gorilla/mux finds the same
// one, with the same path variables, for a path mux would not redirect; everything else
// it leaves to mux.
func TestFastRouteMatchesMux(t *testing.T) {
	h := New(Deps{}, WithWebhooks(nil))
	paths := []string{
		"/v1/webhooks/acme", "/v1/webhooks/acme/accounts/42", "/v1/webhooks/acme/accounts/x",
		"/v1/webhooks/", "/v1/webhooks//accounts/4", "/v1/webhooks/acme/", "/v1/webhooks/acme/accounts/",
		"/v1/webhooks/acme/accounts/42/", "/v1/webhooks/acme/accounts", "/v1/webhooks/acme/other/42",
		"/v1/webhooks/./accounts/4", "/v1/webhooks/..", "/v1/webhooks/acme/accounts/..",
		"/v1/webhooks/acme/accounts/42/x", "/v1/webhooks/a b", "/v1/webhooks/a%2Fb", "/v1/webhooksacme",
		"/v1/webhooks/acme//accounts/4", "/v1/pools",
		"/v1/webhooks/acme/uplink", "/v1/webhooks/acme/accounts/42/uplink", "/v1/webhooks/acme/uplink/x",
		"/v1/webhooks/acme/accounts/42/uplink/x", "/v1/webhooks/acme/accounts/42/..", "/v1/webhooks/acme/accounts/42/.",
		"/v1/webhooks/acme/..", "/v1/webhooks/acme/accounts//uplink", "/v1/webhooks/acme/uplink/",
	}
	var matched []string
	for _, p := range paths {
		for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodPut} {
			r := httptest.NewRequest(method, "http://host"+strings.ReplaceAll(p, " ", "%20"), nil)
			next, info := h.fastRoute(r)
			if next == nil {
				continue
			}
			matched = append(matched, p)
			var m mux.RouteMatch
			if !h.mux.Match(r, &m) || m.MatchErr != nil || m.Route == nil {
				t.Errorf("%s %s: fastRoute routed it, mux does not (%v)", method, p, m.MatchErr)
				continue
			}
			if path.Clean(r.URL.Path) != r.URL.Path {
				t.Errorf("%s %s: fastRoute routed a path mux would redirect", method, p)
			}
			tmpl, _ := m.Route.GetPathTemplate()
			if tmpl != info.route {
				t.Errorf("%s %s: fastRoute says %s, mux %s", method, p, info.route, tmpl)
			}
			for name, want := range m.Vars {
				r := r.WithContext(withInfo(r.Context(), info))
				if got, ok := routeVar(r, name); !ok || got != want {
					t.Errorf("%s %s: %s is %q (%v), mux says %q", method, p, name, got, ok, want)
				}
			}
		}
	}
	want := []string{"/v1/webhooks/acme", "/v1/webhooks/acme/accounts/42", "/v1/webhooks/acme/accounts/x",
		"/v1/webhooks/acme/accounts", "/v1/webhooks/acme/accounts/42/x", "/v1/webhooks/a b",
		"/v1/webhooks/a%2Fb", // mux matches the decoded path, as fastRoute does: provider a, event b
		"/v1/webhooks/acme/uplink", "/v1/webhooks/acme/accounts/42/uplink"}
	if !slices.Equal(matched, want) {
		t.Errorf("fastRoute routed %q, want the POSTs %q", matched, want)
	}
}

// TestFastRouteOnlyForWebhookRoutes: with another route under /v1/webhooks/, mux decides
// (it tries routes in order), so fastRoute routes nothing.
func TestFastRouteOnlyForWebhookRoutes(t *testing.T) {
	h := New(Deps{}, WithWebhooks(nil), WithRoutes(func(rt *Router) {
		rt.Public(http.MethodPost, "/v1/webhooks/status", plain(func(http.ResponseWriter, *http.Request) {}))
	}))
	r := httptest.NewRequest(http.MethodPost, "/v1/webhooks/status", nil)
	if next, _ := h.fastRoute(r); next != nil {
		t.Fatal("fastRoute routed a request while a route of its own lies under /v1/webhooks/")
	}
}

// TestWebhookRouteAllocs pins the allocations of the middleware chain around a webhook
// delivery (here answered 503: no webhook service), requestID through limitBody and the
// problem answer: 34 while gorilla/mux routed it, every body had a MaxBytesReader, an
// IPv4 client's address was copied and the status recorder and the X-Request-ID
// header's value had an allocation each, 23 since (2026-12-06, go test without -race),
// 22 since ServeHTTP does requestID's work for them (one request copy, not two), 21
// since the requestInfo is the context that carries it.
func TestWebhookRouteAllocs(t *testing.T) {
	h := New(Deps{}, WithWebhooks(nil))
	body := []byte(`{"readings":[]}`)
	// The base URL, and one followed by a message type's path (The Things Stack's).
	for _, path := range []string{"/v1/webhooks/acme", "/v1/webhooks/acme/accounts/42/uplink"} {
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: answer %d %s, want 503 problem+json", path, w.Code, w.Header().Get("Content-Type"))
		}
		if raceEnabled {
			t.Skip("sync.Pool drops items at random under the race detector")
		}
		n := testing.AllocsPerRun(200, func() {
			r.Body = http.NoBody
			w.Body.Reset()
			clear(w.Header())
			h.ServeHTTP(w, r)
		})
		t.Logf("%s: %.0f allocations", path, n)
		if n > 21 {
			t.Errorf("%s: %.0f allocations per webhook request, want at most 21", path, n)
		}
	}
}

// TestWriteAcceptedMatchesJSON: the hand-written answer is byte for byte what WriteJSON
// writes of Result.Reported, and needs no allocation of its own.
func TestWriteAcceptedMatchesJSON(t *testing.T) {
	results := []ingest.Result{
		{Accepted: 10, Dropped: map[string]int{}},
		{Accepted: 0, Duplicates: 10, Dropped: map[string]int{}},
		{Accepted: 3, Duplicates: 1},
		{Accepted: 1234567, Duplicates: 2, Dropped: map[string]int{"unknown_metric": 2, "bad_unit": 1, "too_old": 5}},
		// foreign_device is reported as unknown_device, summed with it.
		{Accepted: 1, Dropped: map[string]int{ingest.DropForeignDevice: 2, ingest.DropUnknownDevice: 3, "absurd_value": 1}},
		{Accepted: 1, Dropped: map[string]int{ingest.DropForeignDevice: 2}},
		// Not the fast path: escaping, sessions.
		{Accepted: 1, Dropped: map[string]int{"<odd>": 1}},
		{Accepted: 1, Dropped: map[string]int{}, TestSessions: &ingest.SessionsResult{Accepted: 1, Dropped: map[string]int{ingest.DropForeignDevice: 1}}},
	}
	for _, res := range results {
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(res.Reported())
		w := httptest.NewRecorder()
		writeAccepted(w, res)
		if w.Body.String() != want.String() || w.Code != http.StatusOK {
			t.Errorf("%+v: answered %d %s, WriteJSON writes %s", res, w.Code, w.Body, want.String())
		}
		for _, h := range []string{"Content-Type", "X-Content-Type-Options"} {
			if got, want := w.Header().Get(h), map[string]string{"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"}[h]; got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
	}
	if raceEnabled {
		return // allocations: see TestWebhookRouteAllocs
	}
	res := results[4]
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _, _ = appendAccepted(buf[:0], res) }); n != 0 {
		t.Errorf("appendAccepted: %.0f allocations, want 0", n)
	}
}

// TestClientIPAllocs: an IPv4 peer's address is the spelling it came in, not a copy.
func TestClientIPAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = ClientIP("203.0.113.5:4711", nil, nil) }); n != 0 {
		t.Errorf("ClientIP of an IPv4 peer: %.0f allocations, want 0", n)
	}
	for remote, want := range map[string]string{
		"[::ffff:203.0.113.5]:80": "203.0.113.5", "[2001:DB8::1]:443": "2001:db8::1", "203.0.113.5:1": "203.0.113.5",
	} {
		if got := ClientIP(remote, nil, nil); got != want {
			t.Errorf("ClientIP(%s) = %s, want %s", remote, got, want)
		}
	}
}

// TestReadBodyClosesTheBody: a body read to its end is closed, so net/http does not read
// it to EOF once more when the answer's header is written; with a declared length and
// chunked, and the kept-alive connection serves the next request.
func TestReadBodyClosesTheBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := readBody(r)
		if err != nil {
			t.Errorf("readBody: %v", err)
		}
		if _, err := r.Body.Read(make([]byte, 1)); err != http.ErrBodyReadAfterClose {
			t.Errorf("body read after readBody: %v, want ErrBodyReadAfterClose", err)
		}
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	for i, chunked := range []bool{false, true, false} {
		body := strings.Repeat("x", 1000+i)
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no length known: sent chunked
		}
		resp, err := srv.Client().Post(srv.URL, "application/json", rd)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != body {
			t.Errorf("chunked %v: echoed %d bytes, want %d", chunked, len(got), len(body))
		}
	}
}
