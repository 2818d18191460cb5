package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
)

// tokens authenticates "tok-a" as user 1 and "tok-b" as user 2.
type tokens struct{}

func (tokens) Authenticate(_ context.Context, token string) (auth.Actor, error) {
	switch token {
	case "tok-a":
		return auth.Actor{UserID: 1}, nil
	case "tok-b":
		return auth.Actor{UserID: 2}, nil
	}
	return auth.Actor{}, host.Errorf(host.EUNAUTHORIZED, "invalid token")
}

// limitedAPI serves the API (the test users are no admins: admin routes answer 403,
// which is not 429) with burst 2 and a refill so slow (one request in 1000s) that the third request
// in a row is refused on any machine, without a clock.
func limitedAPI(t *testing.T, trusted ...string) (*httpapi.Handler, *httptest.Server, *http.Client) {
	t.Helper()
	c := config.DefaultHTTP
	c.RateLimit = config.RateLimit{PerToken: 0.001, PerClient: 0.001, Burst: 2}
	for _, p := range trusted {
		c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
	}
	h := httpapi.New(httpapi.Deps{Auth: tokens{}, HTTP: c})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv, &http.Client{Transport: specTransport{t: t, base: http.DefaultTransport}}
}

func send(t *testing.T, cl *http.Client, url, token, xff string) *http.Response {
	t.Helper()
	rq, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		rq.Header.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		rq.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := cl.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestRateLimitPerToken: a token's third request in a row is answered 429 with a
// Retry-After and a problem body; another token, and anonymous requests from the same
// address, are unaffected; health, readiness and metrics are never limited; a reload
// that switches the limit off lets the token through again.
func TestRateLimitPerToken(t *testing.T) {
	h, srv, cl := limitedAPI(t)
	for i := range 2 {
		if r := send(t, cl, srv.URL+"/v1/admin/providers", "tok-a", ""); r.StatusCode != http.StatusForbidden {
			t.Fatalf("request %d of tok-a: %d, want 403 (not an admin), not limited yet", i+1, r.StatusCode)
		}
	}
	rq, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/admin/providers", nil)
	rq.Header.Set("Authorization", "Bearer tok-a")
	resp, err := cl.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p httpapi.Problem
	_ = json.Unmarshal(body, &p)
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != "application/problem+json" ||
		p.Type != httpapi.ProblemTypeBase+"rate-limited" || retry < 900 || retry > 1000 {
		t.Fatalf("third request of tok-a: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	if r := send(t, cl, srv.URL+"/v1/admin/providers", "tok-b", ""); r.StatusCode != http.StatusForbidden {
		t.Errorf("tok-b after tok-a was limited: %d, want 403", r.StatusCode)
	}
	for i := range 2 {
		if r := send(t, cl, srv.URL+"/openapi.yaml", "", ""); r.StatusCode != http.StatusOK {
			t.Errorf("anonymous request %d from the same address: %d; a token's requests must not spend the address's bucket", i+1, r.StatusCode)
		}
	}
	for i := range 5 {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			if r := send(t, cl, srv.URL+path, "tok-a", ""); r.StatusCode == http.StatusTooManyRequests {
				t.Errorf("%s limited (request %d)", path, i+1)
			}
		}
	}

	// A reload with the limits off applies at once.
	off := config.DefaultHTTP
	off.RateLimit = config.RateLimit{}
	h.SetHTTP(off)
	if r := send(t, cl, srv.URL+"/v1/admin/providers", "tok-a", ""); r.StatusCode != http.StatusForbidden {
		t.Errorf("tok-a after the limit was switched off: %d", r.StatusCode)
	}
}

// TestRateLimitPerClient: requests without a valid token spend their address's bucket,
// wrong tokens included (guessing is slowed down: 429, not another 401).
func TestRateLimitPerClient(t *testing.T) {
	_, srv, cl := limitedAPI(t)
	if r := send(t, cl, srv.URL+"/openapi.yaml", "", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("first anonymous request: %d", r.StatusCode)
	}
	if r := send(t, cl, srv.URL+"/v1/admin/providers", "guess-1", ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("first wrong token: %d, want 401", r.StatusCode)
	}
	r := send(t, cl, srv.URL+"/v1/admin/providers", "guess-2", "")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third request without a valid token: %d Retry-After %q, want 429", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := send(t, cl, srv.URL+"/openapi.yaml", "", ""); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("anonymous after the bucket ran out: %d", r.StatusCode)
	}
	// A valid token is limited by its own bucket, not the address's.
	if r := send(t, cl, srv.URL+"/v1/admin/providers", "tok-a", ""); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a valid token from a limited address: %d", r.StatusCode)
	}
}

// TestWrongTokensLimitedOnProbes: health, readiness and metrics are never limited for
// the infrastructure (no token, or a valid one), but a wrong token there spends its
// address's bucket as anywhere else. They answered every guess 401 or 200 at full
// speed, each a database lookup: the one way round the per-client limit on guessing.
func TestWrongTokensLimitedOnProbes(t *testing.T) {
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		t.Run(path, func(t *testing.T) {
			_, srv, cl := limitedAPI(t)
			for i := range 2 {
				if r := send(t, cl, srv.URL+path, "guess-"+strconv.Itoa(i), ""); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong token %d: %d, want 401", i+1, r.StatusCode)
				}
			}
			if r := send(t, cl, srv.URL+path, "guess-3", ""); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
				t.Fatalf("third wrong token from one address: %d Retry-After %q, want 429", r.StatusCode, r.Header.Get("Retry-After"))
			}
			// The probes themselves go on, without a token and with a valid one.
			for i := range 3 {
				if r := send(t, cl, srv.URL+path, "", ""); r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusUnauthorized {
					t.Errorf("anonymous probe %d after the bucket ran out: %d", i+1, r.StatusCode)
				}
				if r := send(t, cl, srv.URL+path, "tok-a", ""); r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusUnauthorized {
					t.Errorf("probe %d with a valid token after the bucket ran out: %d", i+1, r.StatusCode)
				}
			}
		})
	}
}

// TestTrustedProxies: X-Forwarded-For decides the client (here, whose rate-limit bucket
// a request spends) only when the peer is a trusted proxy. A client behind the proxy
// cannot forge its way out by writing its own X-Forwarded-For either: the right-most
// untrusted hop is the client.
func TestTrustedProxies(t *testing.T) {
	t.Run("a forged X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		_, srv, cl := limitedAPI(t) // no trusted proxies
		codes := ""
		for _, forged := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			codes += strconv.Itoa(send(t, cl, srv.URL+"/openapi.yaml", "", forged).StatusCode) + " "
		}
		if codes != "200 200 429 " {
			t.Fatalf("rotating a forged X-Forwarded-For: %s; want 200 200 429 (one client: the peer)", codes)
		}
	})
	t.Run("a trusted proxy's X-Forwarded-For is used", func(t *testing.T) {
		_, srv, cl := limitedAPI(t, "127.0.0.0/8")
		for i := range 2 {
			if r := send(t, cl, srv.URL+"/openapi.yaml", "", "203.0.113.7"); r.StatusCode != http.StatusOK {
				t.Fatalf("request %d of 203.0.113.7: %d", i+1, r.StatusCode)
			}
		}
		if r := send(t, cl, srv.URL+"/openapi.yaml", "", "203.0.113.7"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("third request of 203.0.113.7: %d, want 429", r.StatusCode)
		}
		// Another client behind the same proxy has its own bucket...
		if r := send(t, cl, srv.URL+"/openapi.yaml", "", "203.0.113.8"); r.StatusCode != http.StatusOK {
			t.Fatalf("203.0.113.8 behind the same proxy: %d, want 200", r.StatusCode)
		}
		// ...and 203.0.113.7 prepending a forged hop is still 203.0.113.7.
		if r := send(t, cl, srv.URL+"/openapi.yaml", "", "192.0.2.99, 203.0.113.7"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("203.0.113.7 with a forged left-most hop: %d, want 429", r.StatusCode)
		}
	})
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "203.0.113.5:4711", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:4711", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted peer, one hop", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted wins over forged left hops", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"chained trusted proxies skipped", "10.1.2.3:80", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines read as one list", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"all trusted: the left-most", "10.1.2.3:80", []string{"10.7.7.7, 10.8.8.8"}, "10.7.7.7"},
		{"garbage hop stops at the last trusted", "10.1.2.3:80", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"trusted peer without header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"IPv6 proxy", "[2001:db8::1]:443", []string{"2001:db9::5"}, "2001:db9::5"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpapi.ClientIP(tc.remote, tc.xff, trusted); got != tc.want {
				t.Errorf("ClientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
			}
		})
	}
}

// TestSpecDeclares429: every rate-limited operation says in openapi.yaml that it may
// answer 429 (all but probes, metrics and provider-level webhooks; an account-scoped
// webhook URL is limited per account).
func TestSpecDeclares429(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		// The probes are unlimited but for wrong tokens (TestWrongTokensLimitedOnProbes):
		// they declare 429 too.
		unlimited := path == "/v1/webhooks/{provider}" || path == "/v1/webhooks/{provider}/{event}"
		for method, op := range item.Operations() {
			if has := op.Responses.Status(http.StatusTooManyRequests) != nil; has == unlimited {
				t.Errorf("%s %s: declares 429 = %t, but it is rate-limited = %t", method, path, has, !unlimited)
			}
			// Every route that reads the database (a token check is a read) answers 503
			// while it is down (TestAPIReadsWhileTheDatabaseIsDown).
			if path != "/healthz" && path != "/metrics" && op.Responses.Status(http.StatusServiceUnavailable) == nil {
				t.Errorf("%s %s: does not declare 503, but it needs the database", method, path)
			}
		}
	}
}
