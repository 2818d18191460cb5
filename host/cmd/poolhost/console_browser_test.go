package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/poolhost/poolhost/host/internal/browsertest"
	"github.com/poolhost/poolhost/host/store"
)

// The operators' console in a real headless Chromium, against the real host binary and
// real plugin processes. With CI=true a missing Chromium fails the test (.ci/run
// installs it); elsewhere the test is skipped without one.

// browser is browsertest's Chromium, with screenshots of the walk kept for the docs.
type browser struct {
	*browsertest.Browser
	shots string // POOLHOST_CONSOLE_SCREENSHOTS, or a temporary directory
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{Browser: browsertest.New(t), shots: os.Getenv("POOLHOST_CONSOLE_SCREENSHOTS")}
	if b.shots == "" {
		b.shots = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// screenshot keeps a full-page PNG of the walk in b.shots (browsertest's Screenshot
// keeps failures' in the test's artifacts).
func (b *browser) screenshot(name string) {
	b.T.Helper()
	png := browsertest.Get(b.Browser, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.T.Fatal(err)
	}
}

// until reloads url until cond holds on the page.
func (b *browser) until(url, what string, cond func() bool) {
	b.T.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		b.Run(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("%s: not within %v", what, e2eWait)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// signIn goes to url (a console page: the sign-in form comes first) and signs in.
func (b *browser) signIn(url, token string) {
	b.T.Helper()
	b.Run(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token))
	b.Submit("#signin")
}

// signStandard signs a Standard Webhooks delivery with a whsec_ secret.
func signStandard(t *testing.T, secret, id, ts string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func postJSON(t *testing.T, url, token string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

func cliOK(t *testing.T, b e2eBuild, args ...string) string {
	t.Helper()
	code, out, stderr := runCLI(t, b, args...)
	if code != 0 {
		t.Fatalf("poolhost %v exited %d: %s %s", args, code, out, stderr)
	}
	return strings.TrimSpace(out)
}

// TestConsoleInBrowser walks the operators' console as an admin would, in Chromium.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary and drives a browser; skipped in -short mode")
	}
	browsertest.Chromium(t) // skip early, before building anything
	ctx, cancel := context.WithTimeout(context.Background(), 3*e2eWait)
	defer cancel()

	b := buildE2E(t)
	c := writeE2EConfig(t, b, func(s string) string {
		return strings.Replace(s, `interval     = "5s"`, `interval     = "1s"`, 1) // the retry worker's
	})
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	base := c.baseURL

	cliOK(t, b, "users", "create", "--email", "admin@example.com", "--admin", "--config", c.path)
	cliOK(t, b, "users", "create", "--email", "ana@example.com", "--config", c.path)
	adminToken := cliOK(t, b, "tokens", "create", "--email", "admin@example.com", "--name", "console", "--config", c.path)
	userToken := cliOK(t, b, "tokens", "create", "--email", "ana@example.com", "--config", c.path)
	revoked := cliOK(t, b, "tokens", "create", "--email", "admin@example.com", "--name", "old", "--config", c.path)
	cliOK(t, b, "tokens", "revoke", "--token", revoked, "--config", c.path)

	// Ana connects the generic provider; two deliveries her device signs but nobody can
	// parse become dead letters through the real webhook path.
	status, body := postJSON(t, base+"/v1/providers/generic/connect", userToken, map[string]any{"input": map[string]string{"devices": "pool-probe-1"}})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("connect generic: %d %s", status, body)
	}
	var conn struct {
		Account struct{ ID int64 } `json:"account"`
		Webhook struct{ URL, Secret string }
	}
	if err := json.Unmarshal(body, &conn); err != nil || conn.Webhook.URL == "" {
		t.Fatalf("connect answer %s: %v", body, err)
	}
	start := time.Now().UTC().Add(-time.Minute)
	for i := range 2 {
		id, ts, payload := fmt.Sprintf("msg_dead_%d", i), strconv.FormatInt(time.Now().Unix(), 10), []byte("not json "+strconv.Itoa(i))
		req, _ := http.NewRequest(http.MethodPost, conn.Webhook.URL, bytes.NewReader(payload))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", signStandard(t, conn.Webhook.Secret, id, ts, payload))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("unparseable delivery: %d", resp.StatusCode)
		}
	}
	// The host's log says what happened to them: dead, not "kept for retry".
	if out := srv.out.String(); !strings.Contains(out, "kept as a dead letter for an operator") || strings.Contains(out, "kept for retry") {
		t.Errorf("the log of a dead delivery does not say it is dead:\n%s", out)
	}
	// A dead letter whose cause has since been fixed: a well-formed payload, dead when
	// it arrived (as after a plugin bug), with a signature header and a key in the body
	// the console must not show.
	st, err := store.Open(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	good, err := st.EnqueueFailure(ctx, store.NewFailure{
		Provider: "generic", AccountID: conn.Account.ID, MaxAttempts: 3, Dead: true, Error: "plugin panicked (fixed in 1.0.1)",
		Headers: map[string][]string{"Content-Type": {"application/json"}, "Webhook-Signature": {"v1,c2VjcmV0LXNpZ25hdHVyZQ=="}},
		Payload: []byte(`{"device_id":"pool-probe-1","api_key":"sk_live_console_secret","readings":[{"metric":"ph","value":7.3,"recorded_at":"` +
			time.Now().UTC().Format(time.RFC3339) + `"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	goodURL := base + "/ui/failures/" + strconv.FormatInt(good.ID, 10)

	br := newBrowser(t)

	t.Run("sign-in refused without a session, for a non-admin and for a revoked token", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/providers"), chromedp.WaitVisible(chromedp.CSS("#token")))
		if loc := br.Location(); !strings.HasPrefix(loc, base+"/ui/signin?next=") {
			t.Errorf("without a session: at %s, want the sign-in page", loc)
		}
		br.Clean("signin")
		br.screenshot("01-signin")

		br.signIn(base+"/ui/signin", userToken)
		if msg := br.Text(".problem"); !strings.Contains(msg, "admins only") {
			t.Errorf("non-admin sign-in says %q", msg)
		}
		br.ExpectOnly("signin (non-admin)", http.StatusForbidden)
		br.screenshot("02-signin-refused-non-admin")

		br.signIn(base+"/ui/signin", revoked)
		if msg := br.Text(".problem"); !strings.Contains(msg, "revoked") {
			t.Errorf("revoked-token sign-in says %q", msg)
		}
		br.ExpectOnly("signin (revoked)", http.StatusUnauthorized)
		br.screenshot("03-signin-refused-revoked")
	})

	t.Run("sign in as admin: the session cookie", func(t *testing.T) {
		br.T = t
		br.signIn(base+"/ui/providers", adminToken)
		if loc := br.Location(); loc != base+"/ui/providers" {
			t.Errorf("after sign-in: at %s, want back at /ui/providers", loc)
		}
		res, err := chromedp.Call(br.Ctx, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			t.Fatal(err)
		}
		cookies := res.Cookies
		if len(cookies) != 1 {
			t.Fatalf("cookies %+v", cookies)
		}
		ck := cookies[0]
		exp := time.Unix(int64(ck.Expires), 0)
		if ck.Name != "poolhost_console" || !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict || ck.Secure ||
			ck.Path != "/ui/" || exp.Before(time.Now().Add(7*time.Hour)) || exp.After(time.Now().Add(9*time.Hour)) {
			t.Errorf("session cookie %+v (expires %v); want HttpOnly, SameSite=Strict, not Secure over http, 8h", ck, exp)
		}
		if strings.Contains(ck.Value, adminToken) {
			t.Error("the cookie carries the API token")
		}
		br.Clean("providers")
	})

	t.Run("overview", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#provider-generic svg.chart")))
		if got := br.Text("#provider-generic .t-dead"); got != "2" {
			t.Errorf("generic dead deliveries in 24h: %q, want 2", got)
		}
		// The host's own heartbeat: the one replica, marked as the one answering.
		rows := browsertest.Get(br.Browser, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#replicas tbody tr")].map(r => r.textContent.replace(/\s+/g, " ").trim())`))
		if len(rows) != 1 || !strings.Contains(rows[0], "(this one)") || !strings.Contains(rows[0], "serve-") {
			t.Errorf("replicas on the overview: %q, want this host's", rows)
		}
		br.Clean("overview")
		br.screenshot("04-overview")
	})

	t.Run("providers: a plugin killed with SIGKILL comes back", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/providers"), chromedp.WaitVisible(chromedp.CSS("#provider-generic")))
		pid, err := strconv.Atoi(br.Text(`#provider-generic [data-field="pid"]`))
		if err != nil || pid <= 0 {
			t.Fatalf("generic's PID on the page: %v", err)
		}
		restarts, _ := strconv.Atoi(br.Text(`#provider-generic [data-field="restarts"]`))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill plugin %d: %v", pid, err)
		}
		br.until(base+"/ui/providers", "generic running again after SIGKILL", func() bool {
			newPID, _ := strconv.Atoi(br.Text(`#provider-generic [data-field="pid"]`))
			n, _ := strconv.Atoi(br.Text(`#provider-generic [data-field="restarts"]`))
			return br.Text(`#provider-generic [data-field="state"]`) == "running" && n == restarts+1 && newPID != pid && newPID > 0
		})
		br.Clean("providers")
		br.screenshot("05-providers")

		br.Submit("#reload")
		if msg := br.Text(".flash"); !strings.Contains(msg, "reloaded") {
			t.Errorf("after reload: %q", msg)
		}
		br.Clean("providers (reloaded)")
	})

	t.Run("a hung plugin: the operator sees it unresponsive, then restarted and why", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/providers"), chromedp.WaitVisible(chromedp.CSS("#provider-generic")))
		pid, err := strconv.Atoi(br.Text(`#provider-generic [data-field="pid"]`))
		if err != nil || pid <= 0 {
			t.Fatalf("generic's PID on the page: %v", err)
		}
		restarts, _ := strconv.Atoi(br.Text(`#provider-generic [data-field="restarts"]`))
		// Stopped, the process is there but answers nothing: what a deadlocked or
		// swapped-out plugin looks like to the supervisor.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		// The Overview says so within health_interval + health_timeout, for the
		// supervisor's grace (pluginmgr.UnresponsiveGrace, 3 s) before the restart.
		// On a slow box a page load can outlast that window: then the restart (below,
		// and its audit row) is what shows the hang, and TestConsoleLayout lays the
		// unresponsive state out.
		seen := false
		br.until(base+"/ui/", "the Overview showing generic unresponsive, or generic restarted", func() bool {
			if strings.Contains(browsertest.Get(br.Browser, chromedp.Evaluate[string](`document.querySelector("#down-generic")?.textContent ?? ""`)), "unresponsive") {
				seen = true
				return true
			}
			// Restarted: the supervisor killed and reaped the stopped process.
			return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
		})
		if seen {
			if got := br.Text("#provider-generic [data-field=state]"); got != "unresponsive" && got != "backoff" && got != "starting" {
				t.Errorf("generic's card says %q beside the attention list's unresponsive", got)
			}
			for _, w := range browsertest.Widths {
				br.Run(chromedp.EmulateViewport(w, 900))
				br.Layout("overview-hung", w)
			}
			br.Clean("overview (hung)")
			br.screenshot("05b-overview-hung")
		} else {
			t.Log("the unresponsive window passed between two page loads; the restart shows the hang")
		}

		br.until(base+"/ui/providers", "generic restarted after hanging", func() bool {
			newPID, _ := strconv.Atoi(br.Text(`#provider-generic [data-field="pid"]`))
			n, _ := strconv.Atoi(br.Text(`#provider-generic [data-field="restarts"]`))
			return br.Text(`#provider-generic [data-field="state"]`) == "running" && n == restarts+1 && newPID != pid && newPID > 0
		})
		// Why it was restarted is in the system's audit trail.
		br.until(base+"/ui/audit?by=system&action=plugin.restarted", "the restart in the audit trail", func() bool {
			return browsertest.Get(br.Browser, chromedp.Evaluate[bool](`!!document.querySelector("#audit")`))
		})
		if got := br.Text("#audit tbody:first-of-type"); !strings.Contains(got, "unresponsive") || !strings.Contains(got, "system:supervisor") {
			t.Errorf("the restart's audit row reads %q, want the supervisor and unresponsive", got)
		}
		br.Clean("audit (plugin restarted)")
	})

	t.Run("a dead letter requeued from its page is resolved by the retry worker", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/failures?provider=generic&status=dead"), chromedp.WaitVisible(chromedp.CSS("#failures")))
		rows := browsertest.Get(br.Browser, chromedp.Evaluate[int](`document.querySelectorAll("#failures tbody tr").length`))
		if rows != 3 {
			t.Errorf("dead generic failures listed: %d, want 3", rows)
		}
		br.Clean("failures")
		br.screenshot("06-failures")

		br.Run(chromedp.Navigate(goodURL), chromedp.WaitVisible(chromedp.CSS("#requeue")))
		page := browsertest.Get(br.Browser, chromedp.Text(chromedp.CSS("main")))
		if strings.Contains(page, "sk_live_console_secret") || strings.Contains(page, "c2VjcmV0LXNpZ25hdHVyZQ") {
			t.Error("the failure page shows a secret or a signature")
		}
		if !strings.Contains(page, "[redacted]") || !strings.Contains(page, "plugin panicked") || !strings.Contains(page, "pool-probe-1") {
			t.Errorf("the failure page lacks its redactions, error history or payload:\n%s", page)
		}
		br.Clean("failure")
		br.screenshot("07-failure-dead")

		br.Submit("#requeue")
		br.Clean("failure (requeued)")
		br.until(goodURL, "the requeued failure resolved", func() bool { return br.Text("#status") == "resolved" })
		br.Clean("failure (resolved)")
		br.screenshot("08-failure-resolved")
	})

	t.Run("a cross-origin form post is refused", func(t *testing.T) {
		br.T = t
		deadURL := base + "/ui/failures?provider=generic&status=dead"
		br.Run(chromedp.Navigate(deadURL), chromedp.WaitVisible(chromedp.CSS("#failures")))
		firstDead := browsertest.Get(br.Browser, chromedp.AttributeValue(chromedp.CSS("#failures tbody tr td a"), "href")).Value
		// Another origin (same host, other port: the session cookie is even sent)
		// serves a form that posts to the console.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><title>win a prize</title><link rel="icon" href="data:,"><form method="post" action="%s%s/discard"><button id="go">Claim</button></form>`, base, firstDead)
		}))
		defer evil.Close()
		br.Run(chromedp.Navigate(evil.URL), chromedp.WaitVisible(chromedp.CSS("#go")))
		br.Submit("#go")
		if msg := br.Text("#problem"); !strings.Contains(msg, "another site") {
			t.Errorf("cross-origin post answered %q", msg)
		}
		br.ExpectOnly("cross-origin post", http.StatusForbidden)
		br.screenshot("09-cross-origin-refused")
		status, body := get(t, base+"/v1/admin/failures/"+strings.TrimPrefix(firstDead, "/ui/failures/"), adminToken)
		if status != http.StatusOK || !strings.Contains(string(body), `"status":"dead"`) {
			t.Errorf("after the refused post the failure is %d %s, want still dead", status, body)
		}
	})

	t.Run("bulk discard with a confirmation", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/failures?provider=generic"), chromedp.WaitVisible(chromedp.CSS("#bulk-preview")),
			chromedp.SetValue(chromedp.CSS(`#bulk select[name="action"]`), "discard"),
			chromedp.SetValue(chromedp.CSS(`#bulk input[name="from"]`), start.Format("2006-01-02T15:04")),
		)
		br.Submit("#bulk-preview")
		if got := br.Text("#confirm-count"); !strings.HasPrefix(got, "2 dead letter(s) of generic") {
			t.Errorf("confirmation says %q, want 2", got)
		}
		br.Clean("bulk confirm")
		br.screenshot("10-bulk-confirm")
		br.Submit("#confirm")
		if got := br.Text(".flash"); got != "2 dead letter(s) discarded." {
			t.Errorf("after bulk discard: %q", got)
		}
		br.Clean("failures (discarded)")
		br.screenshot("11-failures-after-discard")
		status, body := get(t, base+"/v1/admin/failures?provider=generic&status=dead", adminToken)
		if status != http.StatusOK || strings.Contains(string(body), `"id"`) {
			t.Errorf("dead generic failures left: %d %s", status, body)
		}
	})

	t.Run("accounts needing attention", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/accounts"), chromedp.WaitVisible(chromedp.CSS("#empty")))
		br.Clean("accounts (empty)")
		if err := st.SetAccountStatus(ctx, conn.Account.ID, store.AccountReauthRequired); err != nil {
			t.Fatal(err)
		}
		br.Run(chromedp.Navigate(base+"/ui/accounts"), chromedp.WaitVisible(chromedp.CSS("#accounts")))
		if got := br.Text(fmt.Sprintf("#account-%d", conn.Account.ID)); !strings.Contains(got, "reauth_required") || !strings.Contains(got, "ana@example.com") {
			t.Errorf("account row %q", got)
		}
		br.Clean("accounts")
		br.screenshot("12-accounts")
	})

	t.Run("audit trail: console actions with the admin as actor", func(t *testing.T) {
		br.T = t
		// People's actions first: the console's and the CLI's, not the deliveries'.
		br.Run(chromedp.Navigate(base+"/ui/audit"), chromedp.WaitVisible(chromedp.CSS("#audit")))
		page := browsertest.Get(br.Browser, chromedp.Text(chromedp.CSS("#audit")))
		for _, action := range []string{"ingestion.requeued", "ingestion.discarded", "provider.reloaded", "console.signed_in", "user.created"} {
			if !strings.Contains(page, action) {
				t.Errorf("people's audit trail lacks %s", action)
			}
		}
		if strings.Contains(page, "ingestion.retry_succeeded") || strings.Contains(page, "webhook.received") {
			t.Error("people's audit trail lists the system's rows")
		}
		br.Clean("audit")
		for _, w := range browsertest.Widths {
			br.Run(chromedp.EmulateViewport(w, 900))
			br.Layout("audit", w)
		}
		br.screenshot("13-audit")
		br.Run(chromedp.Navigate(base+"/ui/audit?by=system"), chromedp.WaitVisible(chromedp.CSS("#audit")))
		if page := browsertest.Get(br.Browser, chromedp.Text(chromedp.CSS("#audit"))); !strings.Contains(page, "ingestion.retry_succeeded") || strings.Contains(page, "console.signed_in") {
			t.Errorf("the system's audit trail: %s", page)
		}
		br.Run(chromedp.Navigate(base+"/ui/audit?action=ingestion.discarded"), chromedp.WaitVisible(chromedp.CSS("#audit")))
		rows := browsertest.Get(br.Browser, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#audit [data-field=actor]")].map(e => e.textContent)`))
		if len(rows) != 1 || rows[0] != "admin@example.com" {
			t.Errorf("discard audit actors %q, want the admin once, by email", rows)
		}
		br.Clean("audit (filtered)")
		br.Run(chromedp.Navigate(base+"/ui/failures/999999"), chromedp.WaitVisible(chromedp.CSS("#problem")))
		br.ExpectOnly("missing failure", http.StatusNotFound)
		br.screenshot("14-not-found")
	})

	t.Run("sign out", func(t *testing.T) {
		br.T = t
		br.Run(chromedp.Navigate(base+"/ui/providers"), chromedp.WaitVisible(chromedp.CSS("#providers")))
		br.Submit(`form[action="/ui/signout"] button`)
		if loc := br.Location(); loc != base+"/ui/signin" {
			t.Errorf("after sign-out: at %s", loc)
		}
		br.Run(chromedp.Navigate(base+"/ui/providers"), chromedp.WaitVisible(chromedp.CSS("#token")))
		br.Clean("signin (after sign-out)")
		br.signIn(base+"/ui/providers", adminToken) // for the next step
		br.Run(chromedp.WaitVisible(chromedp.CSS("#providers")))
	})

	t.Run("revoking the token ends the session", func(t *testing.T) {
		br.T = t
		cliOK(t, b, "tokens", "revoke", "--token", adminToken, "--config", c.path)
		br.Run(chromedp.Navigate(base+"/ui/providers"), chromedp.WaitVisible(chromedp.CSS("#token")))
		if loc := br.Location(); !strings.HasPrefix(loc, base+"/ui/signin") {
			t.Errorf("after revocation: at %s, want the sign-in page", loc)
		}
		br.Clean("signin (after revocation)")
	})
	t.Logf("screenshots in %s", br.shots)
}
