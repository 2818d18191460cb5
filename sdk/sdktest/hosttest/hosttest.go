// Package hosttest runs a plugin inside the real poolhost host, the way
// terraform-plugin-testing drives the real Terraform: [Start] launches `poolhost serve` on
// a temporary SQLite database with your plugin binary configured, creates an admin user
// and token, and hands back a [Host] that a test drives over plain HTTP through the
// public API — connect an account, link a device to a pool, post a signed webhook, then
// assert what was stored (the pool's readings) and what was dropped and why (the
// webhook's answer and the audit log).
//
// It talks to the host only over HTTP and runs its CLI, so the SDK module never imports
// the host. The host binary is found, in this order, at [Config].PoolhostBin, in the
// POOLHOST_BIN environment variable, or as `poolhost` on PATH. When none is found the
// test is skipped with a message saying so — unless CI is set ("true" or "1"), where a
// missing host fails the test instead of passing it silently.
//
//	h := hosttest.Start(t, hosttest.Config{
//		Provider: "acme",
//		Binary:   sdktest.BuildBinary(t, "./cmd/poolhost-provider-acme"),
//		Settings: map[string]string{"base_url": fake.URL},
//		Secrets:  map[string]string{"webhook_secret": "whsec_…"},
//		Webhooks: true,
//	})
//	acct := h.Connect(map[string]string{"devices": "dev-1"})
//	pool := h.CreatePool("Backyard")
//	h.Link(h.Discover(acct.ID)["dev-1"], pool)
//	ans := h.PostWebhook(acct.WebhookURL, headers, body)
//	// ans.Status, ans.Accepted, ans.Dropped["absurd_value"], h.Readings(pool), h.Audit("webhook.rejected")
//
// A plugin that sends commands (sdk.Commander) is tested the same way: [Config].Commands
// approves them in the provider block, and the test binds equipment to a linked device
// and sends one through the host's dispatcher, which calls the plugin's SendCommand once:
//
//	eq := h.CreateEquipment(pool, "pump", "Main pump")
//	h.Bind(pool, eq, device, "")
//	ans := h.SendCommand(pool, eq, "pump.set", map[string]any{"on": true}, "key-1") // ans.Status 202
//	c := h.WaitCommand(pool, ans.Command.ID) // c.Status "sent", "failed" or "unknown"
package hosttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BinEnv names the environment variable that points at the poolhost binary.
const BinEnv = "POOLHOST_BIN"

// Config says which plugin the host runs and how.
type Config struct {
	// Provider is the provider id: the provider block's label, and Describe's ID.
	Provider string
	// Binary is the plugin executable (sdktest.BuildBinary builds one).
	Binary string
	// Settings and Secrets go into the provider block (secrets through file(), as a
	// real config does). Keys the plugin does not declare make the host refuse it.
	Settings, Secrets map[string]string
	// Webhooks and Poll enable those paths in the provider block; poll_interval is the
	// shortest the host accepts when Poll is set. To test polling, leave Poll off and
	// call [Host.StartPolling] once the account's devices are linked: the host polls an
	// account at once when it is connected, and readings of devices not linked yet are
	// dropped while the cursor moves past them.
	Webhooks, Poll bool
	// Commands are the commands the operator approves: when set, the provider block says
	// access = "read-write" and lists them (README's "Commands to equipment"), so an
	// owner can send them to equipment bound to the plugin's device ([Host.SendCommand]).
	// Empty: the provider is read-only, and every command is refused 403.
	Commands []string
	// PoolhostBin is the host binary; empty: $POOLHOST_BIN, then `poolhost` on PATH.
	PoolhostBin string
	// Extra is appended to the config file verbatim (say, an ingest { } block; the
	// file already has an http and a poll_worker block).
	Extra string
}

// Host is a running poolhost with one admin user, whose token every call uses.
type Host struct {
	t     testing.TB
	URL   string // base URL, e.g. http://127.0.0.1:41234
	Token string // the admin user's API token
	cfg   Config
	path  string // the config file
	bin   string
	log   *syncBuffer
	// render is the config file, with the provider block's poll on or off.
	render func(poll bool) string
}

// Start launches `poolhost serve` with cfg's plugin on a fresh SQLite database and waits
// until the host is ready and the plugin running. The host is stopped when the test ends;
// its log is shown if the test failed.
func Start(tb testing.TB, cfg Config) *Host {
	tb.Helper()
	if testing.Short() {
		tb.Skip("hosttest starts poolhost serve")
	}
	bin := findPoolhost(tb, cfg.PoolhostBin)
	if cfg.Provider == "" || cfg.Binary == "" {
		tb.Fatal("hosttest: Config.Provider and Config.Binary are required")
	}
	plugin, err := filepath.Abs(cfg.Binary)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	addr := freeAddr(tb)
	h := &Host{t: tb, URL: "http://" + addr, cfg: cfg, path: filepath.Join(dir, "poolhost.hcl"), bin: bin, log: &syncBuffer{}}

	var secrets strings.Builder
	writeSecret := func(name, value string) string {
		f := filepath.Join(dir, "secret-"+name)
		if err := os.WriteFile(f, []byte(value), 0o600); err != nil {
			tb.Fatal(err)
		}
		return fmt.Sprintf("file(%q)", f)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for _, k := range slices.Sorted(maps.Keys(cfg.Secrets)) {
		fmt.Fprintf(&secrets, "    %q = %s\n", k, writeSecret("provider-"+k, cfg.Secrets[k]))
	}
	var settings strings.Builder
	for _, k := range slices.Sorted(maps.Keys(cfg.Settings)) {
		fmt.Fprintf(&settings, "    %q = %q\n", k, cfg.Settings[k])
	}
	credentialsKey := writeSecret("credentials-key", base64.StdEncoding.EncodeToString(key))
	h.render = func(pollOn bool) string {
		var lines string // the block's optional lines
		if pollOn {
			lines = "  poll = true\n"
		}
		if len(cfg.Commands) > 0 {
			quoted := make([]string, len(cfg.Commands))
			for i, c := range cfg.Commands {
				quoted[i] = strconv.Quote(c)
			}
			lines += "  access   = \"read-write\"\n  commands = [" + strings.Join(quoted, ", ") + "]\n"
		}
		return fmt.Sprintf(`listen          = %q
database_url    = %q
public_url      = %q
plugin_dir      = %q
auto_migrate    = true
log_level       = "debug"
credentials_key = %s

http {
  drain_grace = "10ms" # a test host stops at once
}

poll_worker {
  interval = "1s" # a due account is polled within a second
}

provider %q {
  binary   = %q
  webhooks = %t
%s  settings = {
%s  }
  secrets = {
%s  }
}
%s
`, addr, "sqlite:"+filepath.Join(dir, "poolhost.db"), h.URL, filepath.Dir(plugin), credentialsKey,
			cfg.Provider, plugin, cfg.Webhooks, lines, settings.String(), secrets.String(), cfg.Extra)
	}
	if err := os.WriteFile(h.path, []byte(h.render(cfg.Poll)), 0o600); err != nil {
		tb.Fatal(err)
	}

	// The CLI opens the database itself; it runs before serve so the token exists at once.
	h.cli("migrate", "up", "--config", h.path)
	h.cli("users", "create", "--email", "hosttest@example.com", "--admin", "--config", h.path)
	h.Token = strings.TrimSpace(h.cli("tokens", "create", "--email", "hosttest@example.com", "--config", h.path))

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", h.path)
	cmd.Stdout, cmd.Stderr = h.log, h.log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start %s serve: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		cancel()
		<-done
		if tb.Failed() {
			tb.Logf("poolhost serve log:\n%s", h.log.String())
		}
	})
	h.waitRunning(done)
	return h
}

// waitRunning waits for /readyz and for the provider to be listed as running. No fixed
// deadline beyond a generous one: slow CI machines start plugins slowly.
func (h *Host) waitRunning(done <-chan struct{}) {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-done:
			h.t.Fatalf("poolhost serve exited:\n%s", h.log.String())
		default:
		}
		var st struct {
			Providers []struct {
				ID        string `json:"id"`
				State     string `json:"state"`
				LastError string `json:"lastError"`
			} `json:"providers"`
		}
		if code, body, err := h.do(http.MethodGet, "/v1/admin/providers", nil); err == nil && code == http.StatusOK && json.Unmarshal(body, &st) == nil {
			for _, p := range st.Providers {
				if p.ID == h.cfg.Provider {
					switch p.State {
					case "running":
						return
					case "failed", "disabled":
						h.t.Fatalf("plugin %s is %s: %s", p.ID, p.State, p.LastError)
					}
				}
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("poolhost serve did not run plugin %s within 2 minutes:\n%s", h.cfg.Provider, h.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *Host) cli(args ...string) string {
	h.t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(h.bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("poolhost %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// Log is what poolhost serve has logged so far (the plugin's lines included).
func (h *Host) Log() string { return h.log.String() }

// Do calls the API with the admin token. body is JSON-encoded unless it is nil, a
// []byte or a string. It returns the status and the raw answer.
func (h *Host) Do(method, path string, body any) (int, []byte) {
	h.t.Helper()
	code, b, err := h.do(method, path, body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, b
}

func (h *Host) do(method, path string, body any) (int, []byte, error) {
	return h.doHeader(method, path, nil, body)
}

// doHeader is do with extra request headers (an Idempotency-Key).
func (h *Host) doHeader(method, path string, header http.Header, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = h.URL + path
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.Token)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// DoJSON is [Host.Do] expecting a 2xx answer, decoded into out (when not nil).
func (h *Host) DoJSON(method, path string, body, out any) {
	h.t.Helper()
	code, b := h.Do(method, path, body)
	if code/100 != 2 {
		h.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

var httpClient = &http.Client{Timeout: time.Minute}

// Account is a connected account as the connect answer shows it.
type Account struct {
	ID int64
	// WebhookURL and WebhookSecret are the account-scoped endpoint, for webhook_secret
	// providers; ProviderWebhookURL is the provider-level one, where the host shows it.
	WebhookURL, WebhookSecret, ProviderWebhookURL string
	// AuthorizeURL is set for OAuth2 providers: the account exists once the browser,
	// sent there, comes back to the host's callback.
	AuthorizeURL string
	Raw          json.RawMessage
}

// Connect posts POST /v1/providers/{provider}/connect with the given inputs.
func (h *Host) Connect(input map[string]string) Account {
	h.t.Helper()
	var ans struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
		Webhook struct {
			URL    string `json:"url"`
			Secret string `json:"secret"`
		} `json:"webhook"`
		ProviderWebhookURL string `json:"providerWebhookUrl"`
		AuthorizeURL       string `json:"authorizeUrl"`
	}
	code, b := h.Do(http.MethodPost, "/v1/providers/"+url.PathEscape(h.cfg.Provider)+"/connect", map[string]any{"input": input})
	if code/100 != 2 || json.Unmarshal(b, &ans) != nil {
		h.t.Fatalf("connect %s: %d %s", h.cfg.Provider, code, b)
	}
	return Account{ID: ans.Account.ID, WebhookURL: ans.Webhook.URL, WebhookSecret: ans.Webhook.Secret,
		ProviderWebhookURL: ans.ProviderWebhookURL, AuthorizeURL: ans.AuthorizeURL, Raw: b}
}

// Authorize completes an OAuth2 connect as the user's browser would: it opens the
// account's AuthorizeURL (your fake provider's authorize endpoint, which must redirect
// at once, as a test fake does), takes the redirect to the host's callback, and calls
// the callback with the user's token. It returns the linked account's id.
func (h *Host) Authorize(a Account) int64 {
	h.t.Helper()
	if a.AuthorizeURL == "" {
		h.t.Fatalf("authorize: the connect answer has no authorizeUrl: %s", a.Raw)
	}
	noFollow := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(a.AuthorizeURL)
	if err != nil {
		h.t.Fatalf("authorize: GET %s: %v", a.AuthorizeURL, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(callback, h.URL+"/") {
		h.t.Fatalf("authorize: the provider answered %d, Location %q; want a redirect to the host's callback", resp.StatusCode, callback)
	}
	var ans struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	h.DoJSON(http.MethodGet, callback, nil, &ans)
	return ans.Account.ID
}

// CreatePool creates a pool and returns its id.
func (h *Host) CreatePool(name string) int64 {
	h.t.Helper()
	var p struct {
		ID int64 `json:"id"`
	}
	h.DoJSON(http.MethodPost, "/v1/pools", map[string]string{"name": name}, &p)
	return p.ID
}

// Discover asks the plugin for the account's devices and returns the host's device ids
// by the provider's device id.
func (h *Host) Discover(accountID int64) map[string]int64 {
	h.t.Helper()
	var ans struct {
		Devices []struct {
			ID               int64  `json:"id"`
			ProviderDeviceID string `json:"providerDeviceId"`
		} `json:"devices"`
	}
	h.DoJSON(http.MethodPost, fmt.Sprintf("/v1/accounts/%d/discover", accountID), nil, &ans)
	out := map[string]int64{}
	for _, d := range ans.Devices {
		out[d.ProviderDeviceID] = d.ID
	}
	return out
}

// Link links a device to a pool: its readings are stored from then on.
func (h *Host) Link(deviceID, poolID int64) {
	h.t.Helper()
	h.DoJSON(http.MethodPut, fmt.Sprintf("/v1/devices/%d/link", deviceID), map[string]int64{"poolId": poolID}, nil)
}

// WebhookAnswer is the host's answer to a delivery.
type WebhookAnswer struct {
	Status int
	// Accepted, Duplicates and Dropped (by reason) are the readings' fate (a 200).
	Accepted, Duplicates int
	Dropped              map[string]int
	// TestSessions is the test sessions' fate, nil when the payload carried none.
	TestSessions *SessionsAnswer
	// Problem is the problem+json type of a refusal (401: "…/webhook-rejected").
	Problem string
	Body    []byte
}

// SessionsAnswer is what became of a delivery's test sessions.
type SessionsAnswer struct {
	Accepted, Duplicates int
	// Dropped counts sessions stored nowhere by reason (no_results, too_old, a device
	// reason); ResultsDropped counts results left out of sessions (unknown_metric, …).
	Dropped        map[string]int `json:"dropped"`
	ResultsDropped map[string]int `json:"resultsDropped"`
}

// PostWebhook delivers body with headers to a webhook URL (an account's, or the
// provider-level one) as the provider would: no API token.
func (h *Host) PostWebhook(webhookURL string, headers http.Header, body []byte) WebhookAnswer {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", webhookURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ans := WebhookAnswer{Status: resp.StatusCode, Body: b}
	var parsed struct {
		Accepted   int            `json:"accepted"`
		Duplicates int            `json:"duplicates"`
		Dropped    map[string]int `json:"dropped"`
		Type       string         `json:"type"`
		Sessions   *struct {
			Accepted       int            `json:"accepted"`
			Duplicates     int            `json:"duplicates"`
			Dropped        map[string]int `json:"dropped"`
			ResultsDropped map[string]int `json:"resultsDropped"`
		} `json:"testSessions"`
	}
	_ = json.Unmarshal(b, &parsed)
	ans.Accepted, ans.Duplicates, ans.Dropped = parsed.Accepted, parsed.Duplicates, parsed.Dropped
	if s := parsed.Sessions; s != nil {
		ans.TestSessions = &SessionsAnswer{Accepted: s.Accepted, Duplicates: s.Duplicates, Dropped: s.Dropped, ResultsDropped: s.ResultsDropped}
	}
	if resp.StatusCode/100 != 2 {
		ans.Problem = parsed.Type
	}
	return ans
}

// Reading is a stored reading as GET /v1/pools/{id}/readings shows it.
type Reading struct {
	Metric     string    `json:"metric"`
	Value      float64   `json:"value"`
	Unit       string    `json:"unit"`
	RecordedAt time.Time `json:"recordedAt"`
	Raw        json.RawMessage
}

// StartPolling turns the provider block's poll on and reloads the host (POST
// /v1/admin/reload): every account of the provider is then due, and polled within a
// second. Call it after linking the devices whose polled readings the test expects.
func (h *Host) StartPolling() {
	h.t.Helper()
	if err := os.WriteFile(h.path, []byte(h.render(true)), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if code, body := h.Do(http.MethodPost, "/v1/admin/reload", nil); code != http.StatusOK {
		h.t.Fatalf("reload with poll = true: %d %s", code, body)
	}
}

// WaitReadings waits until the pool has at least n stored readings (polls arrive in their
// own time) and returns them; it fails the test after 30 seconds.
func (h *Host) WaitReadings(poolID int64, n int) []Reading {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs := h.Readings(poolID)
		if len(rs) >= n {
			return rs
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("pool %d has %d readings after 30s, want %d", poolID, len(rs), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Readings returns the pool's stored readings.
func (h *Host) Readings(poolID int64) []Reading {
	h.t.Helper()
	var ans struct {
		Readings []json.RawMessage `json:"readings"`
	}
	h.DoJSON(http.MethodGet, fmt.Sprintf("/v1/pools/%d/readings", poolID), nil, &ans)
	out := make([]Reading, 0, len(ans.Readings))
	for _, raw := range ans.Readings {
		var r Reading
		if err := json.Unmarshal(raw, &r); err != nil {
			h.t.Fatalf("reading %s: %v", raw, err)
		}
		r.Raw = raw
		out = append(out, r)
	}
	return out
}

// TestSession is a stored water test as GET /v1/pools/{id}/test-sessions shows it.
type TestSession struct {
	ID       int64     `json:"id"`
	TakenAt  time.Time `json:"takenAt"`
	Method   string    `json:"method"`
	Notes    string    `json:"notes"`
	Source   string    `json:"source"` // "provider" for a plugin's
	Provider string    `json:"provider"`
	DeviceID int64     `json:"deviceId"`
	Results  []struct {
		Metric  string  `json:"metric"`
		Value   float64 `json:"value"` // in the metric's canonical unit
		Unit    string  `json:"unit"`
		Quality string  `json:"quality"`
	} `json:"results"`
	Raw json.RawMessage `json:"-"`
}

// TestSessions returns the pool's stored test sessions, newest first (the first page).
func (h *Host) TestSessions(poolID int64) []TestSession {
	h.t.Helper()
	var ans struct {
		TestSessions []json.RawMessage `json:"testSessions"`
	}
	h.DoJSON(http.MethodGet, fmt.Sprintf("/v1/pools/%d/test-sessions", poolID), nil, &ans)
	out := make([]TestSession, 0, len(ans.TestSessions))
	for _, raw := range ans.TestSessions {
		var s TestSession
		if err := json.Unmarshal(raw, &s); err != nil {
			h.t.Fatalf("test session %s: %v", raw, err)
		}
		s.Raw = raw
		out = append(out, s)
	}
	return out
}

// AuditEvent is one row of the audit log (GET /v1/admin/audit).
type AuditEvent struct {
	Action    string         `json:"action"`
	Provider  string         `json:"provider"`
	RequestID string         `json:"requestId"`
	Details   map[string]any `json:"details"`
}

// Audit returns the audit events of one action for this provider, newest first:
// "webhook.received" (with each delivery's accepted and dropped counts) and
// "webhook.rejected" (with the plugin's reason and reason_code; the host writes these
// at a bounded rate per provider and summarises the rest), among others.
func (h *Host) Audit(action string) []AuditEvent {
	h.t.Helper()
	var ans struct {
		Events []AuditEvent `json:"events"`
	}
	q := url.Values{"action": {action}, "provider": {h.cfg.Provider}}
	h.DoJSON(http.MethodGet, "/v1/admin/audit?"+q.Encode(), nil, &ans)
	return ans.Events
}

// noBinary says how to get a poolhost binary. The host is not a module a plugin's
// go.mod requires, so `go build <package path>` fails outside a checkout: build it in one.
const noBinary = "hosttest: no poolhost binary: set " + BinEnv + " to one, or put poolhost on PATH " +
	"(in a poolhost checkout, `make build` writes bin/poolhost; or `go build -o /tmp/poolhost ./host/cmd/poolhost` there)"

func findPoolhost(tb testing.TB, explicit string) string {
	tb.Helper()
	for _, p := range []string{explicit, os.Getenv(BinEnv)} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				tb.Fatalf("hosttest: poolhost binary %s: %v", p, err)
			}
			return p
		}
	}
	if p, err := exec.LookPath("poolhost"); err == nil {
		return p
	}
	msg := noBinary
	if ci := os.Getenv("CI"); ci == "true" || ci == "1" {
		tb.Fatal(msg + " (CI is set, so this fails instead of skipping)")
	}
	tb.Skip(msg)
	return ""
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
