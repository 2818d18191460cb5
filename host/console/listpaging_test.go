package console_test

import (
	"cmp"
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

// These follow the Commands page's Older links and the Accounts page's Next links to the
// end, as the audit trail's and the dead letters' are followed in console_test.go.

var (
	olderLink  = regexp.MustCompile(`<p class="pager"><a href="([^"]+)">Older →</a></p>`)
	nextLink   = regexp.MustCompile(`<p class="pager"><a href="([^"]+)">Next →</a></p>`)
	commandRow = regexp.MustCompile(`<tbody id="command-([^"]+)">`)
	accountRow = regexp.MustCompile(`<tbody id="account-(\d+)">`)
)

// follow opens path, then each page's link (Older or Next) until a page has none, and
// returns the ids row matches on every page in order, and the links followed.
func follow(t *testing.T, e *env, cookie *http.Cookie, path string, link, row *regexp.Regexp) (ids []string, links []url.Values) {
	t.Helper()
	for page := 1; ; page++ {
		code, body := getPage(t, e, cookie, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, code, body)
		}
		for _, m := range row.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		m := link.FindStringSubmatch(body)
		if m == nil {
			return ids, links
		}
		if page > 20 {
			t.Fatalf("still a link to more rows after %d pages: %s", page, m[1])
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
		got, links := follow(t, e, cookie, tc.path, olderLink, commandRow)
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

// TestAccountsPagesWorstFirst: the Accounts page lists 500 accounts needing attention,
// worst first (reauth_required, then the most failed polls, then the newest), then links
// to the next ones by the last one's place in that order, so following the links lists
// each once, in order; a before that is not such a place is a 400 page.
func TestAccountsPagesWorstFirst(t *testing.T) {
	e := newEnv(t, "http://x")
	ctx := context.Background()
	u, err := e.st.CreateUser(ctx, "owner@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	// 560 accounts: every tenth needs nobody (its credentials work, and its last
	// poll or two failed, or none); every tenth after it was rejected, with 0 to 3
	// failed polls; the others' last 3 to 15 polls failed.
	type acct struct {
		id     int64
		reauth bool
		errors int
	}
	var needing []acct
	db := e.st.DB()
	for i := range 560 {
		a, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "acme", ExternalAccountID: fmt.Sprint("x", i)})
		if err != nil {
			t.Fatal(err)
		}
		ac := acct{id: a.ID, errors: 3 + i*7%13}
		switch i % 10 {
		case 0:
			ac.errors = i % 3
		case 1:
			ac.reauth, ac.errors = true, i%4
			if err := e.st.SetAccountStatus(ctx, a.ID, store.AccountReauthRequired); err != nil {
				t.Fatal(err)
			}
		}
		if ac.errors > 0 {
			if err := e.st.EnsurePollState(ctx, a.ID, "acme", time.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE poll_state SET consecutive_errors = ? WHERE account_id = ?`), ac.errors, a.ID); err != nil {
				t.Fatal(err)
			}
		}
		if ac.reauth || ac.errors >= 3 {
			needing = append(needing, ac)
		}
	}
	slices.SortFunc(needing, func(a, b acct) int {
		if a.reauth != b.reauth {
			if a.reauth {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.errors, a.errors), cmp.Compare(b.id, a.id))
	})
	var want []string
	for _, a := range needing {
		want = append(want, fmt.Sprint(a.id))
	}

	cookie := e.signIn(t, e.admin).Cookies()[0]
	got, links := follow(t, e, cookie, "/ui/accounts", nextLink, accountRow)
	if !slices.Equal(got, want) {
		t.Errorf("the Accounts page then Next to the end lists %d accounts, want the %d needing attention once each, worst first; %s",
			len(got), len(want), firstDiff(got, want))
	}
	if len(links) != 1 {
		t.Fatalf("%d pages, want 2 (500 and 4)", len(links)+1)
	}
	if last := needing[499]; links[0].Get("before") != fmt.Sprintf("1.%d.%d", last.errors, last.id) {
		t.Errorf("the Next link's before is %q, want the 500th account's place (1.%d.%d)", links[0].Get("before"), last.errors, last.id)
	}
	for _, bad := range []string{"x", "0", "-5", "1e3", fmt.Sprint(needing[499].id), "1.3", "1.3.4.5", "2.3.4", "-1.3.4", "1.-3.4", "1.3.0",
		"+1.3.4", "1.03.4", "1.3.04", "1.3.4 ", "1..4", "1.3.99999999999999999999", "0.99999999999.4"} {
		code, body := getPage(t, e, cookie, "/ui/accounts?before="+url.QueryEscape(bad))
		if code != http.StatusBadRequest || !strings.Contains(body, `id="problem"`) || !strings.Contains(body, "Before must be where a page of accounts ended") {
			t.Errorf("before=%s: %d, want 400 saying before must be where a page ended\n%s", bad, code, body)
		}
	}
	// Past the least failing account: no rows, and no link.
	if code, body := getPage(t, e, cookie, "/ui/accounts?before=1.0.1"); code != http.StatusOK || !strings.Contains(body, "No further account needs attention.") || nextLink.MatchString(body) {
		t.Errorf("past the last account: %d\n%s", code, body)
	}
}
