package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// These follow the Commands and Accounts pages' Older links to the end, as the audit
// trail's and the dead letters' are followed in console_test.go.

var (
	olderLink  = regexp.MustCompile(`<p class="pager"><a href="([^"]+)">Older →</a></p>`)
	commandRow = regexp.MustCompile(`<tbody id="command-([^"]+)">`)
	accountRow = regexp.MustCompile(`<tbody id="account-(\d+)">`)
)

// follow opens path, then each page's Older link until a page has none, and returns
// the ids row matches on every page in order, and the links followed.
func follow(t *testing.T, e *env, cookie *http.Cookie, path string, row *regexp.Regexp) (ids []string, links []url.Values) {
	t.Helper()
	for page := 1; ; page++ {
		code, body := getPage(t, e, cookie, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, code, body)
		}
		for _, m := range row.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		m := olderLink.FindStringSubmatch(body)
		if m == nil {
			return ids, links
		}
		if page > 20 {
			t.Fatalf("still a link to older rows after %d pages: %s", page, m[1])
		}
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		path = u.String()
		links = append(links, u.Query())
	}
}

// firstDiff says where got first differs from want.
func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("row %d is %s, want %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("the first %d rows are right", min(len(got), len(want)))
}

func getPage(t *testing.T, e *env, cookie *http.Cookie, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	req.AddCookie(cookie)
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCommandsPageOlder: the Commands page lists 100 commands, newest first, then
// links to the older ones, keeping its tab and provider, so following the links lists
// every command the tab selects once, in order; a bad before is a 400 page.
func TestCommandsPageOlder(t *testing.T) {
	e := newEnv(t, "http://x")
	ctx := context.Background()
	u, err := e.st.CreateUser(ctx, "owner@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.st.CreatePool(ctx, "P", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A device may have 32 commands queued: ten of acme's, four of another provider's.
	type target struct {
		account int64
		device  store.Device
	}
	targets := map[string][]target{}
	for prov, n := range map[string]int{"acme": 10, "other": 4} {
		a, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: prov, ExternalAccountID: prov})
		if err != nil {
			t.Fatal(err)
		}
		var nds []store.NewDevice
		for i := range n {
			nds = append(nds, store.NewDevice{ProviderDeviceID: fmt.Sprint(prov, "-relay-", i)})
		}
		ds, err := e.st.UpsertDevices(ctx, a.ID, nds)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			targets[prov] = append(targets[prov], target{a.ID, d.Device})
		}
	}

	// 330 commands, newest first in the want lists: every fourth of the other provider,
	// every third past its expiry (expired below, so on the failed tab).
	want := map[string][]string{}
	sent := map[string]int{}
	for i := range 330 {
		prov := "acme"
		if i%4 == 3 {
			prov = "other"
		}
		tg := targets[prov][sent[prov]%len(targets[prov])]
		sent[prov]++
		expires := time.Now().Add(time.Hour)
		if i%3 == 0 {
			expires = time.Now().Add(-time.Minute)
		}
		c, _, err := e.st.CreateCommand(ctx, store.NewCommand{PoolID: p.ID, DeviceID: tg.device.ID, AccountID: tg.account, Provider: prov,
			ProviderDeviceID: tg.device.ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": true}, RequestedBy: u.ID, ExpiresAt: expires})
		if err != nil {
			t.Fatal(i, err)
		}
		add := func(k string) { want[k] = append([]string{c.PublicID}, want[k]...) }
		add("recent")
		if prov == "acme" {
			add("recent acme")
		}
		if i%3 == 0 {
			add("failed")
			if prov == "acme" {
				add("failed acme")
			}
		}
	}
	if exp, err := e.st.ExpireCommands(ctx); err != nil || len(exp) != 110 {
		t.Fatalf("expired %d commands, %v; want 110", len(exp), err)
	}

	cookie := e.signIn(t, e.admin).Cookies()[0]
	for _, tc := range []struct {
		path, want string
		view       string
		provider   string
		pages      int
	}{
		{"/ui/commands", "recent", "recent", "", 4},
		{"/ui/commands?view=recent&provider=acme", "recent acme", "recent", "acme", 3},
		{"/ui/commands?view=failed", "failed", "failed", "", 2},
		{"/ui/commands?provider=acme&view=failed", "failed acme", "failed", "acme", 1},
	} {
		got, links := follow(t, e, cookie, tc.path, commandRow)
		if !slices.Equal(got, want[tc.want]) {
			t.Errorf("%s then Older to the end lists %d commands, want the %d %s ones once each, newest first; %s",
				tc.path, len(got), len(want[tc.want]), tc.want, firstDiff(got, want[tc.want]))
		}
		if len(links) != tc.pages-1 {
			t.Errorf("%s: %d pages, want %d", tc.path, len(links)+1, tc.pages)
		}
		for _, q := range links {
			if q.Get("view") != tc.view || q.Get("provider") != tc.provider {
				t.Errorf("%s: the Older link %s does not keep the view %q and the provider %q", tc.path, q.Encode(), tc.view, tc.provider)
			}
		}
	}
	if code, body := getPage(t, e, cookie, "/ui/commands?view=unknown"); code != http.StatusOK || !strings.Contains(body, "No unknown commands.") || olderLink.MatchString(body) {
		t.Errorf("the unknown tab, empty: %d\n%s", code, body)
	}
	for _, bad := range []string{"x", "0", "-5", "1.5", "99999999999999999999"} {
		code, body := getPage(t, e, cookie, "/ui/commands?view=failed&before="+url.QueryEscape(bad))
		if code != http.StatusBadRequest || !strings.Contains(body, `id="problem"`) || !strings.Contains(body, "Before must be a command id") {
			t.Errorf("before=%s: %d, want 400 saying before must be a command id\n%s", bad, code, body)
		}
	}
}

// TestAccountsPageOlder: the Accounts page lists 500 accounts needing attention, the
// most recently connected first, then links to the older ones, so following the links
// lists each once, in order; a bad before is a 400 page.
func TestAccountsPageOlder(t *testing.T) {
	e := newEnv(t, "http://x")
	ctx := context.Background()
	u, err := e.st.CreateUser(ctx, "owner@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	// 560 accounts: every tenth's credentials work (it needs nobody), the others were
	// rejected.
	var want []string
	for i := range 560 {
		a, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "acme", ExternalAccountID: fmt.Sprint("x", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			continue
		}
		if err := e.st.SetAccountStatus(ctx, a.ID, store.AccountReauthRequired); err != nil {
			t.Fatal(err)
		}
		want = append([]string{fmt.Sprint(a.ID)}, want...)
	}
	cookie := e.signIn(t, e.admin).Cookies()[0]
	got, links := follow(t, e, cookie, "/ui/accounts", accountRow)
	if !slices.Equal(got, want) {
		t.Errorf("the Accounts page then Older to the end lists %d accounts, want the %d needing attention once each, newest first; %s",
			len(got), len(want), firstDiff(got, want))
	}
	if len(links) != 1 {
		t.Errorf("%d pages, want 2 (500 and 4)", len(links)+1)
	}
	for _, bad := range []string{"x", "0", "-5", "1e3"} {
		code, body := getPage(t, e, cookie, "/ui/accounts?before="+url.QueryEscape(bad))
		if code != http.StatusBadRequest || !strings.Contains(body, `id="problem"`) || !strings.Contains(body, "Before must be an account id") {
			t.Errorf("before=%s: %d, want 400 saying before must be an account id\n%s", bad, code, body)
		}
	}
	if code, body := getPage(t, e, cookie, "/ui/accounts?before=1"); code != http.StatusOK || !strings.Contains(body, "No older account needs attention.") {
		t.Errorf("below the oldest account: %d\n%s", code, body)
	}
}
