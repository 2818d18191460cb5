package console_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
)

// TestSignInRateLimitedAndAudited is the repro: 150 wrong tokens at the sign-in form
// were 150 × 401, unthrottled and untraced. Now the client's address (behind a trusted
// proxy, the X-Forwarded-For hop) spends from the API's per-client bucket: past the
// burst it is 429 with Retry-After, even with the right token, while another address
// still signs in. Refusals are audited with the address, throttled like webhook
// rejections: one row per client and minute, not one per attempt.
func TestSignInRateLimitedAndAudited(t *testing.T) {
	hc := config.DefaultHTTP
	hc.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	// The default burst, and a refill slow enough that no machine is slow enough to
	// earn a token back during the test.
	hc.RateLimit = config.RateLimit{PerToken: 20, PerClient: 0.001, Burst: 50}
	api := httpapi.New(httpapi.Deps{HTTP: hc})
	e := newEnvWith(t, "http://127.0.0.1", api)

	signIn := func(token, from string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ui/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && !strings.Contains(string(body), "Too many sign-in attempts") {
			t.Errorf("429 page: %s", body)
		}
		return resp
	}
	const attacker = "203.0.113.7"
	counts := map[int]int{}
	for i := range 150 {
		resp := signIn("pht_wrong"+strconv.Itoa(i), attacker)
		counts[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("429 Retry-After %q", resp.Header.Get("Retry-After"))
			}
		}
	}
	if counts[http.StatusUnauthorized] != 50 || counts[http.StatusTooManyRequests] != 100 {
		t.Fatalf("150 wrong sign-ins answered %v, want 50 × 401 then 100 × 429", counts)
	}
	if resp := signIn(e.admin, attacker); resp.StatusCode != http.StatusTooManyRequests || len(resp.Cookies()) != 0 {
		t.Errorf("the right token from a limited address: %d %v", resp.StatusCode, resp.Cookies())
	}
	if resp := signIn(e.user, "203.0.113.9"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-admin from another address: %d", resp.StatusCode)
	}
	if resp := signIn(e.admin, "198.51.100.4"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("admin from another address: %d", resp.StatusCode)
	}

	rows, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: users.ActionConsoleSignInRefused, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byClient := map[string]store.AuditEvent{}
	for _, r := range rows {
		byClient[r.Details["client"].(string)] = r
	}
	if len(rows) != 2 {
		t.Fatalf("%d console.signin_refused rows, want one per client: %+v", len(rows), rows)
	}
	if r := byClient[attacker]; r.Actor != "anonymous" || r.Details["reason"] != "invalid_token" || r.RequestID == "" {
		t.Errorf("wrong-token row %+v", r)
	}
	if r := byClient["203.0.113.9"]; !strings.HasPrefix(r.Actor, "user:") || r.Details["reason"] != "not_admin" {
		t.Errorf("non-admin row %+v", r)
	}
	for _, r := range rows {
		for _, v := range r.Details {
			if s, ok := v.(string); ok && strings.HasPrefix(s, "pht_") {
				t.Errorf("a token in the audit trail: %+v", r)
			}
		}
	}
}
