package console_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/console"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/internal/browsertest"
	"github.com/poolhost/poolhost/host/store"
)

// The states each console page can be in, beyond the walk in TestConsoleLayout: nothing
// yet, one, more than a page, a service failing, every state of a plugin, and values as
// long as the host lets them be. Each is laid out at every width.

// layoutState is one page state: a console set up, stored into, then its pages opened
// at each width and laid out.
type layoutState struct {
	name string
	env  layoutEnv
	// seed stores the state and may return pages to open instead of pages.
	seed  func(t *testing.T, st *store.Store) []statePage
	pages []statePage
	// checks are more layout checks (JavaScript returning a list of problems).
	checks []string
	// check reads the last page opened (at the widest width).
	check func(t *testing.T, br *browsertest.Browser, base string)
}

type statePage struct {
	path, wait string
	status     int // an error page's status; 0 for 200
	signedOut  bool
}

func (c layoutState) run(t *testing.T, br *browsertest.Browser) {
	base, st, cookie := newLayoutEnvWith(t, c.env)
	pages := c.pages
	if c.seed != nil {
		if p := c.seed(t, st); p != nil {
			pages = p
		}
	}
	for _, p := range pages {
		if p.signedOut {
			if _, err := chromedp.Call(br.Ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
				t.Fatal(err)
			}
		} else {
			withCookie(br, base, cookie)
		}
		for _, w := range browsertest.Widths {
			br.Open(w, base+p.path, p.wait)
			br.Layout(shotName(c.name+" "+p.path), w, c.checks...)
		}
		if p.status != 0 {
			br.ExpectOnly(p.path, p.status)
		} else {
			br.Clean(p.path)
		}
	}
	if c.check != nil {
		c.check(t, br, base)
	}
}

// shotName is a screenshot's file name for a state and a page.
func shotName(s string) string {
	s = strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
	return s[:min(len(s), 100)]
}

var (
	// pluginCrash is what a crashing plugin leaves as its last error: 4 KiB of its
	// stderr, a stack trace of long paths and one unbroken base64 blob.
	pluginCrash = func() string {
		s := "plugin exited: exit status 2: panic: runtime error: index out of range [3] with length 3 goroutine 1 [running]: " +
			strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 12) + " "
		for len(s) < 4096 {
			s += "github.com/acme/poolhost-provider-acme/internal/parse.(*Decoder).readings(0xc000123456, {0xc0001a2000, 0x1f4, 0x200}) " +
				"/home/build/go/src/github.com/acme/poolhost-provider-acme/internal/parse/decode.go:142 +0x1a4 "
		}
		return s[:4096]
	}()
	// longName is a 200-character name without a space: a pool or a device named by a
	// provider that concatenates site, building and serial.
	longName = strings.Repeat("Residence-Les-Pins-Bassin-", 8)[:200]
	// unbroken is 200 characters a browser cannot break between.
	unbroken = strings.Repeat("acme0provider1", 15)[:200]
	// longEmail is a long address, the kind a shared operations mailbox has.
	longEmail = "pool-operations.night-shift.escalations." + strings.Repeat("team", 10) + "@facilities.eu-west.example-pool-company.com"
)

// atMost: a list stays a list and a summary a summary, each of the elements sel
// selects at most px high, however long its values.
func atMost(sel string, px int) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].filter(e => e.getBoundingClientRect().height > %d).slice(0, 3)
  .map(e => %q + (e.id ? " #" + e.id : "") + " is " + Math.round(e.getBoundingClientRect().height) + "px high, more than %d")`, sel, px, sel, px)
}

// readInPlace: on a phone, the rows of the tables sel selects are read where they are,
// not by scrolling each table sideways (a 4 KiB error clipped at every line's end).
func readInPlace(sel string) string {
	return fmt.Sprintf(`document.documentElement.clientWidth >= 600 ? [] : [...document.querySelectorAll(%q)].flatMap(t => [...t.querySelectorAll("td")])
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 3)
  .map(e => "on a phone, " + (e.closest("table").id || e.closest("table").className) + "'s " + (e.dataset.label || e.dataset.field || "cell") + " reaches " + Math.round(e.getBoundingClientRect().right) + "px")`, sel)
}

// moreAccounts is the activity service with more accounts needing attention than a
// page lists (activity.AttentionShown): storing 501 is not needed to show the Next link.
type moreAccounts struct{ console.Activity }

func (m moreAccounts) NeedingAttention(ctx context.Context, a auth.Actor, after store.AttentionCursor) ([]store.AttentionAccount, store.AttentionCursor, error) {
	list, next, err := m.Activity.NeedingAttention(ctx, a, after)
	if err == nil && next == (store.AttentionCursor{}) && len(list) > 0 {
		next = list[len(list)-1].Cursor()
	}
	return list, next, err
}

// downFailures is the dead-letter service with its database gone.
type downFailures struct{ console.Failures }

func (downFailures) List(context.Context, auth.Actor, failures.Filter) ([]store.Failure, int64, error) {
	return nil, 0, host.Errorf(host.EUNAVAILABLE, "the database is not answering: dial tcp 10.20.30.40:5432: connect: connection refused (host=%s)", longName)
}

func layoutStates() []layoutState {
	since := time.Now().Add(-42 * time.Minute).UTC()
	every := pluginStates{
		"generic":  {State: "running", Since: since, Version: "1.4.2", SHA256: strings.Repeat("ab", 32), PID: 401234},
		"iopool":   {State: "starting", Since: since, Restarts: 1},
		"ttn":      {State: "backoff", Since: since, Restarts: 3, LastError: "plugin exited: signal: killed; restarting in 8s"},
		"acme":     {State: "unresponsive", Since: since, Restarts: 0, PID: 401240, LastError: "health check: rpc error: code = DeadlineExceeded desc = context deadline exceeded (plugins.health_timeout 1s)"},
		"ondilo":   {State: "failed", Since: since, Restarts: 5, LastError: pluginCrash},
		"pinned":   {State: "running", Since: since, PID: 401250, SHA256: strings.Repeat("cd", 32), Warning: longError, Refused: longError},
		"disabled": {State: "disabled", Since: since},
	}
	everyConfig := func(c *config.Config) {
		for i := range c.Providers {
			switch c.Providers[i].ID {
			case "disabled":
				c.Providers[i].Enabled = false
			case "generic":
				c.Providers[i].SHA256 = strings.Repeat("ab", 32)
			case "pinned":
				c.Providers[i].SHA256 = strings.Repeat("ef", 32)
				c.Providers[i].Stage, c.Providers[i].PilotUsers = "pilot", []string{longEmail, "ana@example.com"}
			}
		}
	}
	everyProvider := []string{"generic", "iopool", "ttn", "acme", "ondilo", "pinned", "disabled"}

	return []layoutState{
		{
			name: "providers: every plugin state, a 4 KiB error, a stale pin",
			env:  layoutEnv{providers: everyProvider, states: every, config: everyConfig},
			pages: []statePage{
				{path: "/ui/providers", wait: "#provider-disabled"},
				{path: "/ui/", wait: "#down-ondilo"},
			},
			// The Overview sums up: a 4 KiB error in full is on Providers.
			checks: []string{atMost("#status li .err", 100), atMost("section.card", 760)},
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				br.Open(1366, base+"/ui/providers", "#provider-disabled")
				for id, want := range map[string]string{"generic": "running", "iopool": "starting", "ttn": "backoff", "acme": "unresponsive",
					"ondilo": "failed", "pinned": "running", "disabled": "disabled"} {
					if got := br.Text("#provider-" + id + " [data-field=state]"); got != want {
						t.Errorf("%s's state reads %q, want %q", id, got, want)
					}
				}
				if got := br.Text("#provider-acme [data-field=last-error]"); !strings.Contains(got, "DeadlineExceeded") {
					t.Errorf("the unresponsive plugin's error reads %q", got)
				}
				if got := br.Text("#provider-pinned [data-field=pending-config-refused]"); !strings.Contains(got, "refusing to start it") {
					t.Errorf("the stale pin reads %q", got)
				}
				// The pin beside the hash of what runs, so an operator sees they differ.
				if got := br.Text("#provider-pinned [data-field=pinned]"); got != "pinned efefefefefef… not the running plugin's" {
					t.Errorf("the pinned provider's pin reads %q", got)
				}
				if got := br.Text("#provider-generic [data-field=pinned]"); got != "pinned abababababab…" {
					t.Errorf("generic runs what it pins, the page says %q", got)
				}
				if n := browsertest.Get(br, chromedp.Evaluate[int](`document.querySelectorAll("#provider-ttn [data-field=pinned]").length`)); n != 0 {
					t.Errorf("ttn has no pin, the page shows %d", n)
				}
			},
		},
		{
			name: "overview: a hung plugin alone",
			env: layoutEnv{providers: []string{"generic"}, states: pluginStates{
				"generic": {State: "unresponsive", Since: since, PID: 4242, LastError: "health check: context deadline exceeded"}}},
			pages: []statePage{{path: "/ui/", wait: "#down-generic"}},
			check: func(t *testing.T, br *browsertest.Browser, _ string) {
				if got := br.Text("#down-generic"); !strings.Contains(got, "unresponsive") || !strings.Contains(got, "context deadline exceeded") {
					t.Errorf("the overview says of the hung plugin %q", got)
				}
				if got := br.Text("#provider-generic [data-field=state]"); got != "unresponsive" {
					t.Errorf("its card says %q", got)
				}
			},
		},
		{
			name: "nothing yet: every list empty",
			env:  layoutEnv{providers: []string{"generic"}},
			pages: []statePage{{path: "/ui/failures", wait: "#empty"}, {path: "/ui/failures?provider=generic&status=dead", wait: "#empty"},
				{path: "/ui/accounts", wait: "#empty"}, {path: "/ui/commands", wait: "#empty"}, {path: "/ui/commands?view=unknown", wait: "#empty"},
				{path: "/ui/failures/bulk?action=requeue&provider=generic", wait: "#confirm-count"}},
		},
		{
			name: "filters naming a long unbroken provider (a pasted id, a typo'd URL)",
			env:  layoutEnv{providers: []string{"generic"}},
			pages: []statePage{{path: "/ui/failures?provider=" + unbroken, wait: "#empty"}, {path: "/ui/audit?by=all&provider=" + unbroken + "&action=" + unbroken, wait: "#empty"},
				{path: "/ui/failures/bulk?action=discard&provider=" + unbroken, wait: "#confirm-count"},
				{path: "/ui/commands?provider=" + unbroken, wait: "#problem", status: http.StatusBadRequest}},
		},
		{
			name: "accounts of providers disabled and removed, long names",
			env:  layoutEnv{providers: []string{"generic", "ondilo"}, email: longEmail, config: func(c *config.Config) { c.Providers[1].Enabled = false }},
			seed: func(t *testing.T, st *store.Store) []statePage {
				ctx := context.Background()
				u, err := st.GetUserByEmail(ctx, longEmail)
				if err != nil {
					t.Fatal(err)
				}
				// The longest provider id the config takes (63 characters), since removed from it.
				for i, p := range []string{"ondilo", "ondilo", unbroken[:63]} {
					if _, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: p, ExternalAccountID: fmt.Sprint(unbroken, i), DisplayName: longName}); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			},
			pages:  []statePage{{path: "/ui/accounts", wait: "#orphaned-title"}},
			checks: []string{readInPlace("table.orphaned")},
		},
		{
			name: "the longest provider id the config takes, on every page",
			env:  layoutEnv{providers: []string{unbroken[:63]}, states: pluginStates{unbroken[:63]: {State: "failed", Since: since, Restarts: 5, LastError: longError}}},
			seed: func(t *testing.T, st *store.Store) []statePage {
				p := unbroken[:63]
				if _, err := st.EnqueueFailure(context.Background(), store.NewFailure{Provider: p, Payload: []byte("x"), MaxAttempts: 1, Error: "bad", Dead: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.AppendAudit(context.Background(), store.AuditEvent{Action: "webhook.received", Actor: "provider:" + p, Provider: p}); err != nil {
					t.Fatal(err)
				}
				return []statePage{{path: "/ui/", wait: "#down-" + p}, {path: "/ui/providers", wait: "#provider-" + p}, {path: "/ui/failures", wait: "#failure-1"},
					{path: "/ui/failures/1", wait: "#actions"}, {path: "/ui/failures/1/discard", wait: "#confirm"},
					{path: "/ui/failures/bulk?action=discard&provider=" + p, wait: "#confirm"}, {path: "/ui/audit?by=all", wait: "#audit"}}
			},
		},
		{
			name:  "no provider configured",
			pages: []statePage{{path: "/ui/providers", wait: ".empty"}, {path: "/ui/failures", wait: "#empty"}},
		},
		{
			name: "dead letters: more than a page, long errors",
			env:  layoutEnv{providers: []string{"generic", "ttn"}},
			seed: func(t *testing.T, st *store.Store) []statePage {
				for i := range 51 {
					e := "decode: unexpected token at offset 17"
					switch i % 3 {
					case 1:
						e = pluginCrash
					case 2:
						e = longName + longName
					}
					if _, err := st.EnqueueFailure(context.Background(), store.NewFailure{Provider: []string{"generic", "ttn"}[i%2],
						Payload: []byte("x"), MaxAttempts: 5, Error: e, Dead: i%2 == 0, DeliveryID: longName}); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			},
			pages:  []statePage{{path: "/ui/failures", wait: "#failures"}, {path: "/ui/failures?before=2", wait: "#failure-1"}},
			checks: []string{atMost("#failures tbody tr", 300), readInPlace("#failures")}, // a phone stacks a row: 7 lines
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				br.Open(1366, base+"/ui/failures", "#failures")
				if n := browsertest.Get(br, chromedp.Evaluate[int](`document.querySelectorAll("#failures tbody tr").length`)); n != 50 {
					t.Errorf("the first page lists %d, want 50", n)
				}
				next := browsertest.Get(br, chromedp.AttributeValue(chromedp.CSS(".pager a"), "href")).Value
				br.Open(1366, base+next, "#failures")
				if got := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#failures tbody tr")].map(r => r.id)`)); len(got) != 1 || got[0] != "failure-1" {
					t.Errorf("page 2 (%s) lists %q, want failure-1 only", next, got)
				}
			},
		},
		{
			name: "a dead letter with a 4 KiB error, long headers and an unbroken payload",
			env:  layoutEnv{providers: []string{"ttn"}},
			seed: func(t *testing.T, st *store.Store) []statePage {
				f, err := st.EnqueueFailure(context.Background(), store.NewFailure{Provider: "ttn", DeliveryID: longName, MaxAttempts: 1, Error: pluginCrash, Dead: true,
					Headers: map[string][]string{"X-Ttn-Correlation-Ids": {strings.Repeat("as:up:01HZYX9K3M4N5P6Q7R8S9T0V1W", 8)}, "User-Agent": {longName}},
					Payload: []byte(`{"end_device_ids":{"device_id":"` + longName + `"},"uplink_message":{"frm_payload":"` + strings.Repeat("AQIDBAUGBwgJ", 60) + `"}}`)})
				if err != nil {
					t.Fatal(err)
				}
				// A payload past the preview (shown cut, with a download) and a binary one.
				big, err := st.EnqueueFailure(context.Background(), store.NewFailure{Provider: "ttn", MaxAttempts: 1, Error: "bad", Dead: true,
					Payload: []byte(`{"readings":[` + strings.Repeat(`{"metric":"ph","value":7.2,"device":"`+longName+`"},`, 400) + `{}]}`)})
				if err != nil {
					t.Fatal(err)
				}
				bin, err := st.EnqueueFailure(context.Background(), store.NewFailure{Provider: "ttn", MaxAttempts: 1, Error: "bad", Dead: true,
					Payload: []byte{0xff, 0xfe, 0, 1, 2}})
				if err != nil {
					t.Fatal(err)
				}
				id := fmt.Sprint(f.ID)
				return []statePage{{path: fmt.Sprintf("/ui/failures/%d", big.ID), wait: "#payload-truncated"}, {path: fmt.Sprintf("/ui/failures/%d", bin.ID), wait: "#actions"}, {path: "/ui/failures/" + id, wait: "#payload"}, {path: "/ui/failures/" + id + "/discard", wait: "#confirm"},
					{path: "/ui/failures/bulk?action=discard&provider=ttn", wait: "#confirm"}}
			},
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				br.Open(1366, base+"/ui/failures/1", "#history")
				// Times as everywhere else in the console (UTC, to the second), not RFC 3339.
				if got := br.Text("#history tbody td"); !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).MatchString(got) {
					t.Errorf("the error history's time reads %q", got)
				}
			},
		},
		{
			name: "dead letters pending, processing and resolved: what an operator may do with each",
			env:  layoutEnv{providers: []string{"generic"}},
			seed: func(t *testing.T, st *store.Store) []statePage {
				ctx := context.Background()
				for range 3 {
					if _, err := st.EnqueueFailure(ctx, store.NewFailure{Provider: "generic", Payload: []byte(`{"x":1}`), MaxAttempts: 5, Error: "store: database is locked"}); err != nil {
						t.Fatal(err)
					}
				}
				fs, err := st.ClaimFailures(ctx, "test", 3, time.Hour)
				if err != nil || len(fs) != 3 {
					t.Fatalf("claim: %d %v", len(fs), err)
				}
				byID := map[int64]store.Failure{}
				for _, f := range fs {
					byID[f.ID] = f
				}
				if err := st.CompleteFailure(ctx, 1, byID[1].Lease()); err != nil {
					t.Fatal(err)
				}
				if _, err := st.FailFailure(ctx, 2, byID[2].Lease(), store.FailureOutcome{Error: pluginCrash, RetryAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				return nil // 3 stays processing
			},
			pages: []statePage{{path: "/ui/failures/1", wait: "#actions"}, {path: "/ui/failures/2", wait: "#history"}, {path: "/ui/failures/3", wait: "#actions"},
				{path: "/ui/failures", wait: "#failure-3"}},
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				for id, want := range map[int]struct{ status, buttons string }{1: {"resolved", "discard"}, 2: {"pending", "discard"}, 3: {"processing", ""}} {
					br.Open(800, fmt.Sprintf("%s/ui/failures/%d", base, id), "#actions")
					if got := br.Text("#status"); got != want.status {
						t.Errorf("failure %d is %q, want %s", id, got, want.status)
					}
					buttons := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#actions button, #actions a")].map(e => e.id)`))
					if got := strings.Join(buttons, " "); got != want.buttons {
						t.Errorf("%s failure %d offers %q, want %q", want.status, id, got, want.buttons)
					}
				}
			},
		},
		{
			name: "accounts: long names, a long email, a 4 KiB poll error",
			env: layoutEnv{providers: []string{"ondilo"}, email: longEmail,
				activity: func(a console.Activity) console.Activity { return moreAccounts{a} }},
			seed: func(t *testing.T, st *store.Store) []statePage {
				ctx := context.Background()
				u, err := st.GetUserByEmail(ctx, longEmail)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 2 {
					a, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "ondilo", ExternalAccountID: fmt.Sprint(longName, i), DisplayName: longName})
					if err != nil {
						t.Fatal(err)
					}
					if i == 0 {
						if err := st.SetAccountStatus(ctx, a.ID, store.AccountReauthRequired); err != nil {
							t.Fatal(err)
						}
						continue
					}
					if err := st.EnsurePollState(ctx, a.ID, "ondilo", time.Now().Add(-time.Minute)); err != nil {
						t.Fatal(err)
					}
					for range 3 {
						ps, err := st.ClaimDuePolls(ctx, []string{"ondilo"}, "test", 1, time.Minute)
						if err != nil || len(ps) != 1 {
							t.Fatalf("claim poll: %v %v", ps, err)
						}
						if err := st.FailPoll(ctx, a.ID, ps[0].Lease(), pluginCrash, time.Now().Add(-time.Second), nil); err != nil {
							t.Fatal(err)
						}
					}
				}
				return nil
			},
			pages:  []statePage{{path: "/ui/accounts", wait: ".pager a"}, {path: "/ui/", wait: "#polls-failing"}, {path: "/ui/audit", wait: "#audit"}},
			checks: []string{readInPlace("#accounts")},
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				br.Open(1366, base+"/ui/accounts", "#accounts")
				rows := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#accounts tbody")].map(e => e.id)`))
				if len(rows) != 2 {
					t.Fatalf("accounts needing attention: %q, want 2", rows)
				}
				// Worst first: the rejected account, then the one whose last 3 polls
				// failed (rank 1, 3 errors), whose place the Next link carries.
				next := browsertest.Get(br, chromedp.AttributeValue(chromedp.CSS(".pager a"), "href")).Value
				if want := "/ui/accounts?before=1.3." + strings.TrimPrefix(rows[1], "account-"); next != want {
					t.Errorf("more accounts than shown: rows %q, the Next link %q; want the rejected account first, then %q", rows, next, want)
				}
			},
		},
		{
			name: "accounts of providers not enabled: a disabled one, a removed one, long names",
			env:  layoutEnv{providers: everyProvider, states: every, config: everyConfig, email: longEmail},
			seed: func(t *testing.T, st *store.Store) []statePage {
				ctx := context.Background()
				u, err := st.GetUserByEmail(ctx, longEmail)
				if err != nil {
					t.Fatal(err)
				}
				for i, p := range []string{"disabled", "disabled", "gone"} {
					if _, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: p, ExternalAccountID: fmt.Sprint(longName, i), DisplayName: longName}); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			},
			pages:  []statePage{{path: "/ui/accounts", wait: "#orphaned-title"}},
			checks: []string{readInPlace("table.orphaned")},
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				br.Open(375, base+"/ui/accounts", "#orphaned-title")
				for id, want := range map[string]string{"disabled": "disabled 2 connected", "gone": "removed 1 connected"} {
					if got := br.Text("#orphaned-" + id); !strings.Contains(got, want) {
						t.Errorf("#orphaned-%s reads %q, want %q in it", id, got, want)
					}
				}
				if n := browsertest.Get(br, chromedp.Evaluate[int](`document.querySelectorAll("table.orphaned tbody tr").length`)); n != 3 {
					t.Errorf("%d accounts of providers not enabled listed, want 3", n)
				}
			},
		},
		{
			name: "commands: a long device, long parameters, a long reason",
			env:  layoutEnv{providers: []string{"ttn"}},
			seed: func(t *testing.T, st *store.Store) []statePage {
				ctx := context.Background()
				u, err := st.GetUserByEmail(ctx, "ops@example.com")
				if err != nil {
					t.Fatal(err)
				}
				p, err := st.CreatePool(ctx, longName, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				a, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "ttn", ExternalAccountID: "app-1", Credentials: map[string]string{"api_key": "k"}})
				if err != nil {
					t.Fatal(err)
				}
				ds, err := st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: longName, Name: longName}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.LinkDevice(ctx, ds[0].ID, p.ID, u.ID); err != nil {
					t.Fatal(err)
				}
				if _, _, err := st.CreateCommand(ctx, store.NewCommand{PoolID: p.ID, DeviceID: ds[0].ID, AccountID: a.ID, Provider: "ttn",
					ProviderDeviceID: longName, Command: "chlorinator.set_output", Params: store.Details{"output_percent": 65, "note": longName},
					RequestedBy: u.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				cs, err := st.ClaimCommands(ctx, "test", 1, time.Minute, 0)
				if err != nil || len(cs) != 1 {
					t.Fatalf("claim: %d %v", len(cs), err)
				}
				if _, err := st.FinishCommand(ctx, cs[0].ID, cs[0].Lease(), store.CommandOutcome{Status: store.CommandFailed, Reason: pluginCrash}); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			pages:  []statePage{{path: "/ui/commands", wait: "#commands"}, {path: "/ui/commands?view=failed", wait: "#commands"}},
			checks: []string{readInPlace("#commands")},
			check: func(t *testing.T, br *browsertest.Browser, _ string) {
				if n := browsertest.Get(br, chromedp.Evaluate[int](`document.querySelectorAll(".pager").length`)); n != 0 {
					t.Error("one command, and the page links to more")
				}
			},
		},
		{
			name: "commands: more than a page, and the second page",
			env:  layoutEnv{providers: []string{"ttn"}},
			seed: func(t *testing.T, st *store.Store) []statePage {
				ctx := context.Background()
				u, err := st.GetUserByEmail(ctx, "ops@example.com")
				if err != nil {
					t.Fatal(err)
				}
				p, _ := st.CreatePool(ctx, "home", u.ID)
				a, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "ttn", ExternalAccountID: "app-1"})
				if err != nil {
					t.Fatal(err)
				}
				// A device may have only so many commands waiting: several devices.
				ds, err := st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: "relay-1"}, {ProviderDeviceID: "relay-2"},
					{ProviderDeviceID: "relay-3"}, {ProviderDeviceID: "relay-4"}, {ProviderDeviceID: "relay-5"}})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 101 {
					d := ds[i%len(ds)]
					if _, _, err := st.CreateCommand(ctx, store.NewCommand{PoolID: p.ID, DeviceID: d.ID, AccountID: a.ID, Provider: "ttn",
						ProviderDeviceID: d.ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": i%2 == 0}, RequestedBy: u.ID,
						ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			},
			// The second page: the oldest command alone, and no Next link.
			pages: []statePage{{path: "/ui/commands", wait: ".pager a"}, {path: "/ui/commands?view=recent&before=2", wait: "#commands"}},
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				if n := browsertest.Get(br, chromedp.Evaluate[int](`document.querySelectorAll("#commands tbody").length + document.querySelectorAll(".pager").length`)); n != 1 {
					t.Errorf("the second page lists %d commands and pagers, want the oldest command alone", n)
				}
				br.Open(1366, base+"/ui/commands", ".pager a")
				if n := browsertest.Get(br, chromedp.Evaluate[int](`document.querySelectorAll("#commands tbody").length`)); n != 100 {
					t.Errorf("the page lists %d commands, want the latest 100", n)
				}
				if next := browsertest.Get(br, chromedp.AttributeValue(chromedp.CSS(".pager a"), "href")).Value; next != "/ui/commands?before=2&view=recent" {
					t.Errorf("the first page's Next link is %q", next)
				}
				br.Open(1366, base+"/ui/commands?view=unknown", "#empty")
			},
		},
		{
			name: "audit trail: nothing matches, and more than a page",
			env:  layoutEnv{providers: []string{"ttn"}},
			seed: func(t *testing.T, st *store.Store) []statePage {
				for range 60 {
					if _, err := st.AppendAudit(context.Background(), store.AuditEvent{Action: "webhook.received", Actor: "provider:ttn", Provider: "ttn",
						Details: store.Details{"deliveryId": longName, "accepted": 3}}); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			},
			pages: []statePage{{path: "/ui/audit?action=nothing.like.this", wait: "#empty"}, {path: "/ui/audit?by=system", wait: "#audit"}},
			check: func(t *testing.T, br *browsertest.Browser, base string) {
				next := browsertest.Get(br, chromedp.AttributeValue(chromedp.CSS(".pager a"), "href")).Value
				br.Open(1366, base+next, "#audit")
				if n := browsertest.Get(br, chromedp.Evaluate[int](`document.querySelectorAll("#audit tbody").length`)); n != 10 {
					t.Errorf("the audit trail's page 2 (%s) lists %d events, want 10", next, n)
				}
			},
		},
		{
			name: "a service failing, a page that is not there",
			env:  layoutEnv{providers: []string{"ttn"}, failures: func(f console.Failures) console.Failures { return downFailures{f} }},
			pages: []statePage{
				{path: "/ui/failures", wait: "#problem", status: http.StatusServiceUnavailable},
				{path: "/ui/" + strings.Repeat("9f86d081884c7d65", 16), wait: "#problem", status: http.StatusNotFound}, // named in the message, unbroken
			},
		},
		{
			name:  "signed out, then a token refused",
			pages: []statePage{{path: "/ui/signin", wait: "#token", signedOut: true}},
			check: func(t *testing.T, br *browsertest.Browser, _ string) {
				br.Run(chromedp.SendKeys(chromedp.CSS("#token"), "pht_"+longName))
				br.Submit("#signin")
				if got := br.Text(".problem"); !strings.Contains(got, "not valid") {
					t.Errorf("a wrong token: %q", got)
				}
				for _, w := range browsertest.Widths {
					br.Run(chromedp.EmulateViewport(w, 900))
					br.Layout("signin-refused", w)
				}
				br.ExpectOnly("signin (refused)", http.StatusUnauthorized)
			},
		},
	}
}
