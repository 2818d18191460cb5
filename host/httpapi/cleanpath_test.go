package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/httpapi"
)

// TestUncleanPathsAreProblems: a path with an empty, "." or ".." segment — written out
// or encoded (%2f, %2e) — is a 404 problem+json on every method, webhook URLs included,
// never the router's bare 301 to its clean form (a POST that follows a 301 turns into a
// GET, and an encoded "%2f.." chose where the redirect went).
func TestUncleanPathsAreProblems(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{ingest: true})
	u := e.newUser("u", false)
	e.must(http.StatusOK, req{method: "GET", path: "/v1/pools", token: u.Token})
	paths := []string{
		"//v1/pools", "/v1//pools", "/v1/./pools", "/v1/pools/.", "/v1/x/../pools", "/v1/x/%2f../pools",
		"/v1/x/%2e%2e/pools", "/v1/pools/%2e", "/v1/webhooks/generic/..", "/v1/webhooks/generic/%2e%2e",
		"/v1/webhooks//generic", "/v1/webhooks/generic/accounts/1/.", "/v1/webhooks/x/../generic",
	}
	// Forms that reach the handler with a path that is not rooted: "*" (not OPTIONS),
	// an authority (CONNECT), an absolute URI whose path is unclean.
	for _, raw := range []string{"GET * HTTP/1.1", "CONNECT x:443 HTTP/1.1", "GET http://x//v1/pools HTTP/1.1"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, raw+"\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(body), "must begin with") {
			t.Errorf("%s: %d %q %s", raw, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	for _, p := range paths {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			r := e.doRaw(method, p, u.Token)
			if r.StatusCode != http.StatusNotFound || r.Header.Get("Location") != "" {
				t.Errorf("%s %s: %d (Location %q), want a 404: %s", method, p, r.StatusCode, r.Header.Get("Location"), r.Body)
				continue
			}
			pr := r.problem(t)
			if pr.Status != http.StatusNotFound || !strings.Contains(pr.Detail, "segment") {
				t.Errorf("%s %s: problem %+v", method, p, pr)
			}
		}
	}
}

func TestCanonical(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/v1/pools": true, "/v1/pools/": true, "/v1/webhooks/a b": true, "/v1/..x/.y": true,
		"": false, "*": false, "v1/pools": false, "//": false, "//v1": false, "/v1//pools": false,
		"/.": false, "/..": false, "/v1/.": false, "/v1/./x": false, "/v1/../x": false, "/v1/x/..": false,
	} {
		if got := httpapi.Canonical(p); got != want {
			t.Errorf("Canonical(%q) = %v, want %v", p, got, want)
		}
	}
}

// doRaw sends a request outside specTransport, for paths that are no route of the spec
// however its templates would read them ("/v1/pools/." is not pool "."), and follows no
// redirect.
func (e *env) doRaw(method, path, token string) response {
	e.t.Helper()
	rq, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader("{}"))
	if err != nil {
		e.t.Fatal(err)
	}
	rq.Header.Set("Authorization", "Bearer "+token)
	rq.Header.Set("Content-Type", "application/json")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(rq)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp, b}
}
