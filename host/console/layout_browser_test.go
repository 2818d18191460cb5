package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/console"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/internal/browsertest"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
	"github.com/poolhost/poolhost/host/webhook"
)

// The console's layout in a real Chromium, at the widths operators use, in the states
// that matter: nothing yet, readings dropped, a failed plugin with a long error. Text
// alone does not show a broken page: these compare where the elements are.
// host/cmd/poolhost's TestConsoleInBrowser walks the pages against real plugins.

// pluginStates is the plugin manager's answer the providers page renders: the layout
// is what is under test here, so the states are set, not produced by real processes
// (TestConsoleInBrowser shows real ones).
type pluginStates map[string]connect.PluginState

func (p pluginStates) Adapter(string) (connect.Adapter, error) {
	return nil, connect.ErrPluginUnavailable
}
func (p pluginStates) States() map[string]connect.PluginState { return p }

func newLayoutEnv(t *testing.T, providers []string, states pluginStates) (base string, st *store.Store, cookie *http.Cookie) {
	t.Helper()
	return newLayoutEnvWith(t, layoutEnv{providers: providers, states: states})
}

// layoutEnv is what a layout test's console is built from; zero fields are defaults.
type layoutEnv struct {
	providers []string
	states    pluginStates
	config    func(*config.Config) // after the providers are set up
	email     string               // the admin's, ops@example.com by default
	failures  func(console.Failures) console.Failures
	activity  func(console.Activity) console.Activity
}

func newLayoutEnvWith(t *testing.T, le layoutEnv) (base string, st *store.Store, cookie *http.Cookie) {
	t.Helper()
	ctx := context.Background()
	key, _ := credentials.GenerateKey()
	kr, _ := credentials.NewKeyring(key)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), store.WithCipher(kr)) // accounts for commands
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if le.email == "" {
		le.email = "ops@example.com"
	}
	u, err := st.CreateUser(ctx, le.email, true)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := st.CreateAPIToken(ctx, u.ID, "t")
	if err != nil {
		t.Fatal(err)
	}
	rec := audit.NewRecorder(audit.StoreWriter(st), nil)
	cfg := &config.Config{}
	for _, id := range le.providers {
		cfg.Providers = append(cfg.Providers, config.Provider{ID: id, Enabled: true, Stage: "ga", Access: "read-only", Webhooks: true, Poll: true})
	}
	if le.config != nil {
		le.config(cfg)
	}
	var fs console.Failures = failures.New(st)
	if le.failures != nil {
		fs = le.failures(fs)
	}
	var act console.Activity = activity.New(st, 0)
	if le.activity != nil {
		act = le.activity(act)
	}
	states := le.states
	con := console.New(console.Deps{
		Sessions: users.New(st, rec),
		Providers: connect.New(connect.Deps{Store: st, Audit: rec, Plugins: states, Config: func() *config.Config { return cfg },
			// The file is accepted and changes nothing; what the plugins are in is states'.
			Reload: func(context.Context) (connect.ReloadReport, error) { return connect.ReloadReport{}, nil }}),
		Failures:    fs,
		Activity:    act,
		Commands:    commands.New(st, pools.New(st, rec), nil, rec, commands.Config{}, nil),
		ProviderIDs: func() []string { return le.providers },
	}, console.Config{PublicURL: "http://127.0.0.1"})
	e := &env{srv: httptest.NewServer(con), st: st}
	t.Cleanup(e.srv.Close)
	return e.srv.URL, st, e.signIn(t, tok).Cookies()[0]
}

// withCookie puts the admin's session in the browser.
func withCookie(br *browsertest.Browser, base string, c *http.Cookie) {
	br.T.Helper()
	if _, err := chromedp.Call(br.Ctx, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: base + "/ui/"}); err != nil {
		br.T.Fatal(err)
	}
}

// cardsInGrid: the overview's provider cards all sit in its grid, side by side at the
// same size; a card pushed out of the grid is full width, its chart blown up.
const cardsInGrid = `(() => {
  const out = [], cards = [...document.querySelectorAll("section.card")];
  if (cards.length === 0) return out;
  const w = cards[0].getBoundingClientRect().width, h = cards[0].querySelector("svg.chart").getBoundingClientRect().height;
  for (const c of cards) {
    if (!c.parentElement.classList.contains("grid")) out.push("#" + c.id + " is outside the grid");
    const cw = c.getBoundingClientRect().width, ch = c.querySelector("svg.chart").getBoundingClientRect().height;
    if (Math.abs(cw - w) > 1) out.push("#" + c.id + " is " + Math.round(cw) + "px wide, the first card " + Math.round(w) + "px");
    if (Math.abs(ch - h) > 1) out.push("#" + c.id + "'s chart is " + Math.round(ch) + "px high, the first card's " + Math.round(h) + "px");
  }
  return out;
})()`

// longError is what a stale pin says: a path and two hashes, no spaces to break at.
var longError = "plugin file /var/lib/poolhost/plugins/poolhost-provider-iopool has sha256 " + strings.Repeat("9f86d081884c7d65", 4) +
	", the configuration pins " + strings.Repeat("e3b0c44298fc1c14", 4) + ": refusing to start it"

func TestConsoleLayout(t *testing.T) {
	browsertest.Chromium(t) // skip early, before setting anything up
	br := browsertest.New(t)

	t.Run("overview with nothing yet", func(t *testing.T) {
		br.T = t
		base, _, cookie := newLayoutEnv(t, nil, nil)
		withCookie(br, base, cookie)
		for _, w := range browsertest.Widths {
			br.Open(w, base+"/ui/", ".empty")
			br.Layout("overview-empty", w)
		}
		br.Clean("overview (empty)")
	})

	t.Run("overview with readings dropped", func(t *testing.T) {
		br.T = t
		providers := []string{"acme", "generic", "iopool", "ttn"}
		base, st, cookie := newLayoutEnv(t, providers, nil)
		ctx := context.Background()
		for _, p := range providers {
			ev := store.AuditEvent{Action: "webhook.received", Actor: "provider:" + p, Provider: p, Details: store.Details{"accepted": 3}}
			if p == "acme" { // the first card has drops: everything after it used to leave the grid
				ev.Details["dropped"] = map[string]int{"unknown_metric": 4, "unlinked_device": 1}
			}
			for range 3 {
				if _, err := st.AppendAudit(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		withCookie(br, base, cookie)
		for _, w := range browsertest.Widths {
			br.Open(w, base+"/ui/", "#provider-ttn svg.chart")
			br.Layout("overview-dropped", w, cardsInGrid)
		}
		br.Clean("overview (dropped)")
	})

	t.Run("overview: all clear, then a failed plugin, dead letters and failing polls", func(t *testing.T) {
		br.T = t
		since := time.Now().Add(-42 * time.Minute).UTC()
		states := pluginStates{
			"generic": {State: "running", Since: since, PID: 4242},
			"iopool":  {State: "running", Since: since, PID: 4243},
		}
		base, st, cookie := newLayoutEnv(t, []string{"generic", "iopool"}, states)
		withCookie(br, base, cookie)
		for _, w := range browsertest.Widths {
			br.Open(w, base+"/ui/", "#status")
			if cls := browsertest.Get(br, chromedp.Evaluate[string](`document.querySelector("#status").className`)); !strings.Contains(cls, "status-ok") {
				t.Errorf("everything running and nothing dead: status %q, want all clear", cls)
			}
			br.Layout("overview-all-clear", w)
		}
		states["iopool"] = connect.PluginState{State: "failed", Since: since, Restarts: 5, LastError: longError}
		if _, err := st.EnqueueFailure(context.Background(), store.NewFailure{Provider: "generic", Payload: []byte("x"), MaxAttempts: 1, Error: "bad", Dead: true}); err != nil {
			t.Fatal(err)
		}
		for _, w := range browsertest.Widths {
			br.Open(w, base+"/ui/", "#down-iopool")
			if got := br.Text("#down-iopool"); !strings.Contains(got, "failed") || !strings.Contains(got, "since "+since.Format("2006-01-02 15:04")) || !strings.Contains(got, "refusing to start it") {
				t.Errorf("the failed plugin in the overview: %q", got)
			}
			if got := br.Text("#dead-waiting"); !strings.HasPrefix(got, "1 dead letter") {
				t.Errorf("dead letters waiting: %q", got)
			}
			if got := br.Text("#provider-iopool [data-field=state]"); got != "failed" {
				t.Errorf("iopool's card says %q", got)
			}
			br.Layout("overview-attention", w, cardsInGrid)
		}
		// The page reloads itself (no script: a meta refresh the CSP allows).
		if got := browsertest.Get(br, chromedp.Evaluate[string](`document.querySelector('meta[http-equiv="refresh"]')?.content ?? ""`)); got != "15; url=/ui/" {
			t.Errorf("overview refresh %q", got)
		}
		br.Clean("overview (attention)")

		// A reload that leaves iopool failed says so, on the banner and in the audit row.
		br.Open(1366, base+"/ui/providers", "#reload")
		br.Submit("#reload")
		if got := br.Text("#warn"); !strings.Contains(got, "iopool is failed: "+longError) {
			t.Errorf("after a reload leaving iopool failed the banner says %q", got)
		}
		for _, w := range browsertest.Widths {
			br.Run(chromedp.EmulateViewport(w, 900))
			br.Layout("providers-reloaded-failed", w)
		}
		br.Clean("providers (reloaded, iopool failed)")
		evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "provider.reloaded", Limit: 1})
		if err != nil || len(evs) != 1 || !strings.Contains(fmt.Sprint(evs[0].Details["notRunning"]), "iopool:failed: "+longError) {
			t.Errorf("the reload's audit row: %+v %v", evs, err)
		}
	})

	t.Run("overview: a failed and an unknown command, a replica gone and one degraded", func(t *testing.T) {
		br.T = t
		since := time.Now().Add(-42 * time.Minute).UTC()
		base, st, cookie := newLayoutEnv(t, []string{"ttn"}, pluginStates{"ttn": {State: "running", Since: since, PID: 4242}})
		ctx := context.Background()
		troubledCommands(t, st)
		gone := time.Now().Add(-7 * time.Minute).UTC()
		for _, r := range []store.Replica{
			{ID: "serve-poolhost-a-4242-1a2b3c4d", Hostname: "poolhost-a", Status: store.ReplicaReady},
			{ID: "serve-" + strings.Repeat("poolhost-b.eu-west-3.compute.internal", 2) + "-977-9f8e7d6c", Hostname: strings.Repeat("poolhost-b.eu-west-3.compute.internal", 2),
				Status: store.ReplicaReady, LastSeenAt: gone},
			{ID: "serve-poolhost-c-31-00ff00ff", Hostname: "poolhost-c", Status: store.ReplicaDegraded, Problem: "plugins degraded"},
		} {
			r.Version, r.StartedAt = "1.4.0-rc.2+build.20261206", since
			if err := st.BeatReplica(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		withCookie(br, base, cookie)
		for _, w := range browsertest.Widths {
			br.Open(w, base+"/ui/", "#status")
			if got := br.Text("#commands-unknown"); !strings.HasPrefix(got, "1 command(s) whose outcome is unknown") {
				t.Errorf("unknown commands: %q", got)
			}
			if got := br.Text("#commands-failed"); !strings.HasPrefix(got, "1 command(s) failed or expired") {
				t.Errorf("failed commands: %q", got)
			}
			trouble := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#status li.replica-trouble")].map(e => e.textContent.replace(/\s+/g, " ").trim())`))
			if len(trouble) != 2 || !strings.Contains(trouble[0], "gone: not seen since "+gone.Format("2006-01-02 15:04")) || !strings.Contains(trouble[1], "poolhost-c") || !strings.Contains(trouble[1], "degraded: plugins degraded") {
				t.Errorf("replicas needing attention: %q", trouble)
			}
			states := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#replicas [data-field=state]")].map(e => e.textContent)`))
			if got := strings.Join(states, " "); got != "ready gone degraded" {
				t.Errorf("replica states %q", got)
			}
			br.Layout("overview-commands-replicas", w, cardsInGrid)
		}
		if got := browsertest.Get(br, chromedp.AttributeValue(chromedp.CSS("#commands-failed a"), "href")).Value; got != "/ui/commands?view=failed" {
			t.Errorf("the failed commands link to %q", got)
		}
		br.Clean("overview (commands, replicas)")
	})

	t.Run("providers with a failed plugin and a long error", func(t *testing.T) {
		br.T = t
		since := time.Now().Add(-3 * time.Minute)
		states := pluginStates{
			"generic": {State: "running", Since: since, Version: "1.4.2", SHA256: strings.Repeat("ab", 32), PID: 401234, Restarts: 2},
			"iopool":  {State: "failed", Since: since, Version: "0.9.0-rc.1+build.20261205", SHA256: strings.Repeat("cd", 32), Restarts: 5, LastError: longError},
		}
		base, _, cookie := newLayoutEnv(t, []string{"generic", "iopool"}, states)
		withCookie(br, base, cookie)
		for _, w := range browsertest.Widths {
			br.Open(w, base+"/ui/providers", "#provider-iopool")
			br.Layout("providers-failed", w)
		}
		br.Clean("providers (failed)")
	})

	t.Run("audit trail: people first, by email, a long detail as key/value lines", func(t *testing.T) {
		br.T = t
		base, st, cookie := newLayoutEnv(t, []string{"iopool"}, nil)
		ctx := context.Background()
		ops, err := st.GetUserByEmail(ctx, "ops@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendAudit(ctx, store.AuditEvent{Action: "webhook.received", Actor: "provider:iopool", Provider: "iopool"}); err != nil {
			t.Fatal(err)
		}
		// What a reload leaving iopool on a stale pin records: long words, nested values.
		if _, err := st.AppendAudit(ctx, store.AuditEvent{Action: "provider.reloaded", Actor: store.UserActor(ops.ID), RequestID: strings.Repeat("7f3a", 8),
			Details: store.Details{"ok": false, "changed": []string{}, "notRunning": []string{"iopool:failed: " + longError},
				"kept": map[string]string{"iopool": longError}, "path": "/etc/poolhost/" + strings.Repeat("conf.d/", 12) + "poolhost.hcl"}}); err != nil {
			t.Fatal(err)
		}
		withCookie(br, base, cookie)
		for _, w := range browsertest.Widths {
			br.Open(w, base+"/ui/audit", "#audit dl.details")
			br.Layout("audit-long-detail", w)
		}
		rows := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#audit tbody")].map(b => b.querySelector("code").textContent + " " + b.querySelector("[data-field=actor]").textContent)`))
		if got := strings.Join(rows, "; "); got != "provider.reloaded ops@example.com; console.signed_in ops@example.com" {
			t.Errorf("people's view lists %q, want the reload and the sign-in, by ops@example.com", got)
		}
		keys := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#audit tbody:first-of-type dl.details dt")].map(e => e.textContent)`))
		if got := strings.Join(keys, " "); got != "changed kept notRunning ok path" {
			t.Errorf("detail keys %q", got)
		}
		if got := br.Text("#audit tbody:first-of-type dl.details dd:nth-of-type(3)"); got != "iopool:failed: "+longError {
			t.Errorf("notRunning reads %q", got)
		}
		br.Open(800, base+"/ui/audit?by=system", "#audit")
		if got := br.Text("#audit [data-field=actor]"); got != "provider:iopool" {
			t.Errorf("by=system: actor %q", got)
		}
		br.Layout("audit-system", 800)
		br.Clean("audit trail")
	})

	t.Run("a dead letter: credential headers by name, discard after a review", func(t *testing.T) {
		br.T = t
		base, st, cookie := newLayoutEnv(t, []string{"ttn"}, nil)
		withCookie(br, base, cookie)
		// Stored as the webhook path stores it.
		headers := webhook.KeptHeaders(http.Header{
			"Content-Type":      {"application/json"},
			"Authorization":     {"Bearer ttn-shared-secret"},
			"Webhook-Signature": {"v1,c2lnbmF0dXJl"},
		}, nil)
		f, err := st.EnqueueFailure(context.Background(), store.NewFailure{Provider: "ttn", Payload: []byte(`{"x":1}`),
			Headers: map[string][]string(headers), MaxAttempts: 1, Error: "plugin panicked", Dead: true})
		if err != nil {
			t.Fatal(err)
		}
		page := fmt.Sprintf("%s/ui/failures/%d", base, f.ID)
		for _, w := range browsertest.Widths {
			br.Open(w, page, "#headers")
			br.Layout("failure-dead", w)
		}
		rows := browsertest.Get(br, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#headers tbody tr")].map(r => r.cells[0].textContent + "=" + r.cells[1].textContent)`))
		if got := strings.Join(rows, " "); got != "Authorization=[redacted] Content-Type=application/json Webhook-Signature=[redacted]" {
			t.Errorf("headers shown: %s", got)
		}
		if body := br.Text("main"); strings.Contains(body, "ttn-shared-secret") || strings.Contains(body, "c2lnbmF0dXJl") {
			t.Error("the page shows a credential")
		}
		if got := br.Text("main dl.kv"); !regexp.MustCompile(`next attempt\s*—`).MatchString(got) {
			t.Errorf("a dead letter's next attempt: %q, want —", got)
		}

		// Discard is a review step first, as bulk actions are; nothing changes until
		// the confirmation.
		br.Submit("#discard")
		if got := br.Text("#confirm-discard-what"); !strings.Contains(got, fmt.Sprintf("#%d of ttn", f.ID)) || !strings.Contains(got, "deleted for good") {
			t.Errorf("the review says %q", got)
		}
		for _, w := range browsertest.Widths {
			br.Run(chromedp.EmulateViewport(w, 900))
			br.Layout("failure-discard-review", w)
		}
		if _, err := st.GetFailure(context.Background(), f.ID); err != nil {
			t.Fatalf("the review page discarded already: %v", err)
		}
		br.Submit("#confirm")
		if got := br.Text(".flash"); got != fmt.Sprintf("Failure %d discarded.", f.ID) {
			t.Errorf("after the confirmation: %q", got)
		}
		if _, err := st.GetFailure(context.Background(), f.ID); err == nil {
			t.Error("still there after the confirmation")
		}
		br.Clean("failure discard")
	})

	t.Run("states", func(t *testing.T) {
		for _, c := range layoutStates() {
			t.Run(c.name, func(t *testing.T) { br.T = t; c.run(t, br) })
		}
	})
}

// troubledCommands stores two commands of ttn that need an operator: one failed (the
// provider refused) and one whose send was cut short (unknown).
func troubledCommands(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	u, err := st.GetUserByEmail(ctx, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreatePool(ctx, "home", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "ttn", ExternalAccountID: "app-1", Credentials: map[string]string{"api_key": "k"}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: "relay-1"}, {ProviderDeviceID: "relay-2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if _, err := st.LinkDevice(ctx, d.ID, p.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CreateCommand(ctx, store.NewCommand{PoolID: p.ID, DeviceID: d.ID, AccountID: a.ID, Provider: "ttn",
			ProviderDeviceID: d.ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": true}, RequestedBy: u.ID,
			ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// A lease of a microsecond has run out by the time the rescue looks.
	cs, err := st.ClaimCommands(ctx, "test", 2, time.Microsecond, 0)
	if err != nil || len(cs) != 2 {
		t.Fatalf("claim: %d %v", len(cs), err)
	}
	if _, err := st.FinishCommand(ctx, cs[0].ID, cs[0].Lease(), store.CommandOutcome{Status: store.CommandFailed, Reason: "the relay is offline"}); err != nil {
		t.Fatal(err)
	}
	if rescued, err := st.RescueCommands(ctx); err != nil || len(rescued) != 1 {
		t.Fatalf("rescue: %d %v", len(rescued), err)
	}
}
