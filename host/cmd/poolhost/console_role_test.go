package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/console"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
)

// TestConsoleSessionFollowsTheRole: an operators' console session and an admin's API
// token hold only while their user is an admin and not disabled, checked at each request
// through a real `poolhost serve`, on SQLite and on PostgreSQL. A demoted admin's session
// ends (403, cookie cleared, and it stays ended when the role comes back); a disabled
// admin's session and token stop at once (sign-in page, 401).
func TestConsoleSessionFollowsTheRole(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var dbURL string
			var edit func(string) string
			if engine == "postgres" {
				dbURL = pgtest.NewDatabase(t)
				edit = func(s string) string {
					return regexp.MustCompile(`(?m)^database_url\s*=.*$`).ReplaceAllLiteralString(s, "database_url = \""+dbURL+"\"")
				}
			}
			c := writeE2EConfig(t, b, edit)
			if dbURL == "" {
				dbURL = c.dbURL
			}
			srv := startServe(t, b, c)
			waitHTTP(t, srv, c.baseURL+"/readyz", "")

			type admin struct {
				id           int64
				email, token string
				cookie       *http.Cookie
			}
			newAdmin := func(name string) *admin {
				t.Helper()
				a := &admin{email: name + "@example.com"}
				out := strings.Fields(cliOK(t, b, "users", "create", "--email", a.email, "--admin", "--config", c.path))
				if len(out) < 3 {
					t.Fatalf("users create printed %v", out)
				}
				a.id, _ = strconv.ParseInt(out[2], 10, 64)
				a.token = cliOK(t, b, "tokens", "create", "--email", a.email, "--config", c.path)
				a.cookie = consoleSignIn(t, c.baseURL, a.token)
				return a
			}
			demoted, disabled := newAdmin("demoted"), newAdmin("disabled")

			page := func(a *admin, method, path string) sweepResp {
				t.Helper()
				req, _ := http.NewRequest(method, c.baseURL+path, nil)
				req.AddCookie(a.cookie)
				req.Header.Set("Origin", c.baseURL)
				resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return sweepResp{status: resp.StatusCode, header: resp.Header, body: body}
			}
			api := func(a *admin) int {
				t.Helper()
				return sweepDo(t, "GET", c.baseURL+"/v1/admin/overview", a.token, nil, nil).status
			}
			for _, a := range []*admin{demoted, disabled} {
				if r := page(a, "GET", "/ui/failures"); r.status != http.StatusOK {
					t.Fatalf("%s's console page while admin: %d", a.email, r.status)
				}
				if code := api(a); code != http.StatusOK {
					t.Fatalf("%s's admin API while admin: %d", a.email, code)
				}
			}

			// There is no demote command: the role is changed in the database, as an
			// operator would, while the host runs.
			st, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			setAdmin := func(id int64, on bool) {
				t.Helper()
				if _, err := st.DB().ExecContext(context.Background(), st.DB().Rebind(`UPDATE users SET is_admin = ? WHERE id = ?`), on, id); err != nil {
					t.Fatal(err)
				}
			}
			setAdmin(demoted.id, false)
			// The first request after the demotion is refused and ends the session; the
			// next, a form post, finds none.
			if r := page(demoted, "GET", "/ui/failures"); r.status != http.StatusForbidden || !clearsCookie(r.header) {
				t.Errorf("demoted admin's session: %d, cookies %v; want 403 clearing the cookie", r.status, r.header.Values("Set-Cookie"))
			}
			if r := page(demoted, "POST", "/ui/providers/reload"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/signin") {
				t.Errorf("demoted admin's session, then a reload: %d %q, want 303 to sign-in", r.status, r.header.Get("Location"))
			}
			if code := api(demoted); code != http.StatusForbidden {
				t.Errorf("demoted admin's token on the admin API: %d, want 403", code)
			}
			// The session was issued to an admin: it does not come back with the role.
			setAdmin(demoted.id, true)
			if r := page(demoted, "GET", "/ui/failures"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/signin") {
				t.Errorf("re-promoted admin's old session: %d %q, want 303 to sign-in", r.status, r.header.Get("Location"))
			}
			if code := api(demoted); code != http.StatusOK {
				t.Errorf("re-promoted admin's token: %d, want 200", code)
			}

			cliOK(t, b, "users", "disable", "--email", disabled.email, "--config", c.path)
			if r := page(disabled, "GET", "/ui/failures"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/signin") {
				t.Errorf("disabled admin's session: %d %q, want 303 to sign-in", r.status, r.header.Get("Location"))
			}
			if code := api(disabled); code != http.StatusUnauthorized {
				t.Errorf("disabled admin's token: %d, want 401", code)
			}
		})
	}
}

// consoleSignIn opens a console session with an admin's token and returns its cookie.
func consoleSignIn(t *testing.T, base, token string) *http.Cookie {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/ui/signin", strings.NewReader(url.Values{"token": {token}, "next": {"/ui/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == console.CookieName {
			return ck
		}
	}
	t.Fatalf("console sign-in: %d, no session cookie in %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	return nil
}

func clearsCookie(h http.Header) bool {
	for _, v := range h.Values("Set-Cookie") {
		if strings.Contains(v, "Max-Age=0") {
			return true
		}
	}
	return false
}
