package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/console"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
)

// These tests run the console over the real services and a real SQLite file, without a
// browser: what the cookie says, who is refused, and that cross-origin posts change
// nothing. host/cmd/poolhost's TestConsoleInBrowser walks the pages in Chromium.

type env struct {
	srv                  *httptest.Server
	st                   *store.Store
	cfg                  *config.Config // in force; a test may change it before its requests
	admin, user, revoked string
	deadID               int64
}

func newEnv(t *testing.T, publicURL string) *env {
	t.Helper()
	return newEnvWith(t, publicURL, nil)
}

// newEnvWith is newEnv with the API's client decisions (address, rate limit) beside it.
func newEnvWith(t *testing.T, publicURL string, clients console.Clients) *env {
	t.Helper()
	ctx := context.Background()
	key, _ := credentials.GenerateKey()
	kr, _ := credentials.NewKeyring(key)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), store.WithCipher(kr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{st: st}
	token := func(email string, admin bool) string {
		u, err := st.CreateUser(ctx, email, admin)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := st.CreateAPIToken(ctx, u.ID, "t")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	e.admin, e.user, e.revoked = token("ops@example.com", true), token("ana@example.com", false), token("old@example.com", true)
	if _, err := st.RevokeAPITokenValue(ctx, e.revoked); err != nil {
		t.Fatal(err)
	}
	f, err := st.EnqueueFailure(ctx, store.NewFailure{Provider: "acme", Payload: []byte("x"), MaxAttempts: 1, Error: "bad", Dead: true})
	if err != nil {
		t.Fatal(err)
	}
	e.deadID = f.ID
	rec := audit.NewRecorder(audit.StoreWriter(st), nil)
	e.cfg = &config.Config{Providers: []config.Provider{{ID: "acme", Enabled: true, Stage: "ga", Access: "read-only"}}}
	con := console.New(console.Deps{
		Sessions:    users.New(st, rec),
		Providers:   connect.New(connect.Deps{Store: st, Audit: rec, Config: func() *config.Config { return e.cfg }}),
		Failures:    failures.New(st),
		Activity:    activity.New(st, 0),
		ProviderIDs: func() []string { return []string{"acme"} },
		Clients:     clients,
		Commands:    commands.New(st, pools.New(st, rec), nil, rec, commands.Config{}, nil),
	}, console.Config{PublicURL: publicURL})
	e.srv = httptest.NewServer(con)
	t.Cleanup(e.srv.Close)
	return e
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) signIn(t *testing.T, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ui/signin", strings.NewReader(url.Values{"token": {token}, "next": {"//evil.example/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestSignInCookie(t *testing.T) {
	for _, tc := range []struct {
		publicURL  string
		wantSecure bool
	}{{"https://poolhost.example.com", true}, {"http://127.0.0.1:8080", false}} {
		t.Run(tc.publicURL, func(t *testing.T) {
			e := newEnv(t, tc.publicURL)
			resp := e.signIn(t, e.admin)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
				t.Fatalf("sign-in: %d to %q (an off-site next must fall back to /ui/)", resp.StatusCode, resp.Header.Get("Location"))
			}
			cs := resp.Cookies()
			if len(cs) != 1 {
				t.Fatalf("cookies %v", cs)
			}
			c := cs[0]
			if c.Name != console.CookieName || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tc.wantSecure ||
				c.Path != "/ui/" || c.MaxAge <= 0 || c.Expires.IsZero() || strings.Contains(c.Value, e.admin) {
				t.Errorf("cookie %+v", c)
			}
			raw := resp.Header.Get("Set-Cookie")
			if tc.wantSecure != strings.Contains(raw, "Secure") {
				t.Errorf("Set-Cookie %q", raw)
			}
		})
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t, "http://x")
	for name, tc := range map[string]struct {
		token string
		want  int
	}{"non-admin": {e.user, http.StatusForbidden}, "revoked": {e.revoked, http.StatusUnauthorized}, "unknown": {"pht_nope", http.StatusUnauthorized}, "empty": {"", http.StatusUnauthorized}} {
		t.Run(name, func(t *testing.T) {
			if resp := e.signIn(t, tc.token); resp.StatusCode != tc.want || len(resp.Cookies()) != 0 {
				t.Errorf("status %d cookies %v, want %d and none", resp.StatusCode, resp.Cookies(), tc.want)
			}
		})
	}
	// Without a session every page sends to the sign-in page, remembering where to.
	resp, err := noRedirect().Get(e.srv.URL + "/ui/failures?status=dead")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin?next="+url.QueryEscape("/ui/failures?status=dead") {
		t.Errorf("no session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestCrossOriginPostRefused: a form posted from another origin changes nothing, even
// with a valid session cookie.
func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t, "http://x")
	cookie := e.signIn(t, e.admin).Cookies()[0]
	post := func(site, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ui/failures/1/discard", nil)
		req.AddCookie(cookie)
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden && !strings.Contains(string(body), "another site") {
			t.Errorf("refusal page: %s", body)
		}
		return resp.StatusCode
	}
	if got := post("cross-site", ""); got != http.StatusForbidden {
		t.Errorf("cross-site: %d", got)
	}
	if got := post("same-site", ""); got != http.StatusForbidden {
		t.Errorf("same-site, other origin: %d", got)
	}
	if got := post("", "https://evil.example"); got != http.StatusForbidden {
		t.Errorf("foreign Origin header: %d", got)
	}
	if _, err := e.st.GetFailure(context.Background(), e.deadID); err != nil {
		t.Fatalf("the failure was discarded by a cross-origin post: %v", err)
	}
	if got := post("same-origin", ""); got != http.StatusSeeOther {
		t.Errorf("same-origin: %d", got)
	}
	if _, err := e.st.GetFailure(context.Background(), e.deadID); err == nil {
		t.Fatal("a same-origin discard did nothing")
	}
}

// TestPagesRenderEmptyStates: every page answers 200 on a quiet host, with words, and
// bad input is a 400 page, not a blank one.
func TestPagesRenderEmptyStates(t *testing.T) {
	e := newEnv(t, "http://x")
	cookie := e.signIn(t, e.admin).Cookies()[0]
	get := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.AddCookie(cookie)
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		return resp.StatusCode, string(b)
	}
	for path, want := range map[string]string{
		"/ui/":                         "acme",
		"/ui/providers":                "acme",
		"/ui/failures?status=resolved": "No ingestion failures match",
		"/ui/accounts":                 "No account needs attention",
		"/ui/audit?action=nothing":     "No audit events match",
		"/ui/failures/bulk?action=discard&provider=other": "nothing to discard",
		"/ui/failures?done=discarded&id=<script>":         "Failure ? discarded.",
	} {
		if code, body := get(path); code != http.StatusOK || !strings.Contains(body, want) || strings.Contains(body, "<script>") {
			t.Errorf("%s: %d, want 200 with %q", path, code, want)
		}
	}
	for path, want := range map[string]int{
		"/ui/failures?from=yesterday":                    http.StatusBadRequest,
		"/ui/failures?status=weird":                      http.StatusBadRequest,
		"/ui/failures/abc":                               http.StatusBadRequest,
		"/ui/failures/999":                               http.StatusNotFound,
		"/ui/failures/bulk?action=explode&provider=acme": http.StatusBadRequest,
		"/ui/audit?by=robots":                            http.StatusBadRequest,
		"/ui/nowhere":                                    http.StatusNotFound,
	} {
		if code, body := get(path); code != want || !strings.Contains(body, `id="problem"`) {
			t.Errorf("%s: %d, want %d with a problem", path, code, want)
		}
	}
}

// TestAuditPaging: the audit trail pages by 50, newest first, keeping its filters.
func TestAuditPaging(t *testing.T) {
	e := newEnv(t, "http://x")
	ctx := context.Background()
	for i := range 60 {
		if _, err := e.st.AppendAudit(ctx, store.AuditEvent{Action: "test.event", Actor: "system", Provider: "acme", TargetType: "thing", TargetID: "n" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cookie := e.signIn(t, e.admin).Cookies()[0]
	page := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	first := strings.ReplaceAll(page("/ui/audit?by=system&action=test.event"), "<wbr>", "")
	if n := strings.Count(first, "<code>test.event</code>"); n != 50 || !strings.Contains(first, "n59") {
		t.Fatalf("first page: %d rows", n)
	}
	m := regexp.MustCompile(`href="/ui/audit\?([^"]+)">Older`).FindStringSubmatch(first)
	if m == nil || !strings.Contains(m[1], "action=test.event") || !strings.Contains(m[1], "by=system") {
		t.Fatalf("no next link keeping the filter")
	}
	second := strings.ReplaceAll(page("/ui/audit?"+html.UnescapeString(m[1])), "<wbr>", "")
	if n := strings.Count(second, "<code>test.event</code>"); n != 10 || !strings.Contains(second, "n0<") || strings.Contains(second, ">Older") {
		t.Fatalf("second page: %d rows", n)
	}
}

// TestFailurePaging: the dead-letter list pages by 50 and keeps its filters.
func TestFailurePaging(t *testing.T) {
	e := newEnv(t, "http://x") // one dead acme failure already
	ctx := context.Background()
	for range 54 {
		if _, err := e.st.EnqueueFailure(ctx, store.NewFailure{Provider: "acme", Payload: []byte("x"), MaxAttempts: 1, Error: "bad", Dead: true}); err != nil {
			t.Fatal(err)
		}
	}
	cookie := e.signIn(t, e.admin).Cookies()[0]
	page := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	first := page("/ui/failures?provider=acme&status=dead")
	m := regexp.MustCompile(`href="(/ui/failures\?[^"]+)">Older`).FindStringSubmatch(first)
	if strings.Count(first, `<tr id="failure-`) != 50 || m == nil {
		t.Fatalf("first page: %d rows, next %v", strings.Count(first, `<tr id="failure-`), m)
	}
	second := page(html.UnescapeString(m[1]))
	if n := strings.Count(second, `<tr id="failure-`); n != 5 || !strings.Contains(second, `option value="dead" selected`) {
		t.Fatalf("second page: %d rows", n)
	}
}

// TestRequestIDIsPlain: the console honours a client's X-Request-Id only when it is
// plain, as the API does. The sign-in page is public and a refused sign-in is audited
// with the request id: any bytes up to 64 went into that row, invalid UTF-8 (which
// PostgreSQL refuses, so the attempt went unaudited) and bidi overrides included.
// (Newlines and other control characters net/http refuses in a header already.)
func TestRequestIDIsPlain(t *testing.T) {
	for _, tc := range []struct {
		id   string
		kept bool
	}{{"req-42.a_b:c", true}, {"bad\xff\xfeid", false}, {"id\u202egnp.exe", false}, {"<b>hi</b>", false}, {strings.Repeat("x", 129), false}} {
		e := newEnv(t, "http://x") // a client's first refusal a minute is audited
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ui/signin", strings.NewReader(url.Values{"token": {"pht_nope"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Request-Id", tc.id)
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if (got == tc.id) != tc.kept || got == "" {
			t.Errorf("X-Request-Id %q answered %q, want it kept: %v", tc.id, got, tc.kept)
		}
		evs, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: "console.signin_refused"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || evs[0].RequestID != got {
			t.Errorf("X-Request-Id %q: audit rows %+v, want the refusal under %q", tc.id, evs, got)
		}
	}
}
