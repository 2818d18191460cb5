package console_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// TestAuditPeopleFirst: the audit trail opens on what people did — the admin's sign-in
// shown by email, not user:N — without the per-delivery receipts, which are one choice
// away; details read as key/value lines, not JSON.
func TestAuditPeopleFirst(t *testing.T) {
	e := newEnv(t, "http://x")
	ctx := context.Background()
	for range 5 {
		if _, err := e.st.AppendAudit(ctx, store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", Provider: "acme",
			Details: store.Details{"accepted": 3, "dropped": map[string]int{"unknown_metric": 2}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.AppendAudit(ctx, store.AuditEvent{Action: "user.created", Actor: "system:cli", TargetType: "user", TargetID: "9",
		Details: store.Details{"email": "new@example.com", "admin": false, "changed": []string{"acme", "iopool"}}}); err != nil {
		t.Fatal(err)
	}
	cookie := e.signIn(t, e.admin).Cookies()[0]
	page := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return strings.ReplaceAll(string(b), "<wbr>", "") // the break hints in actions and emails
	}
	actions := func(body string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`<td class="words" data-label="action"><code>([a-z_.]+)</code></td>`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}

	people := page("/ui/audit")
	if got := strings.Join(actions(people), " "); got != "console.signed_in user.created" {
		t.Errorf("the default view lists %q, want people's actions only", got)
	}
	if !strings.Contains(people, `<td class="words" data-label="actor" data-field="actor" title="user:1">ops@example.com</td>`) {
		t.Error("the admin's sign-in does not show the admin's email")
	}
	if !strings.Contains(people, `<dt>changed</dt><dd>acme, iopool</dd>`) || !strings.Contains(people, `<dt>email</dt><dd>new@example.com</dd>`) || strings.Contains(people, `{&#34;`) {
		t.Errorf("details are not key/value lines:\n%s", people)
	}

	system := page("/ui/audit?by=system")
	if got := actions(system); len(got) != 5 || got[0] != "webhook.received" {
		t.Errorf("by=system lists %q, want the 5 deliveries", got)
	}
	if !strings.Contains(system, `<dt>dropped</dt><dd>unknown_metric=2</dd>`) {
		t.Errorf("nested details:\n%s", system)
	}
	if got := actions(page("/ui/audit?by=all")); len(got) != 7 {
		t.Errorf("by=all lists %q, want all 7", got)
	}
}
