package commands_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
	"github.com/poolhost/poolhost/sdk"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func forEachDB(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite:"+filepath.Join(t.TempDir(), "poolhost.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.NewDatabase(t)) })
}

// provider is a provider block and a plugin description, as pluginmgr would hold them.
type provider struct {
	cfg  config.Provider
	desc sdk.Description
}

func (p provider) Config() config.Provider              { return p.cfg }
func (p provider) Description() (sdk.Description, bool) { return p.desc, true }

type providers map[string]provider

func (ps providers) Provider(id string) (commands.Provider, bool) {
	p, ok := ps[id]
	return p, ok
}

// sender records every send, like a provider's API receiving pushes.
type sender struct {
	mu    sync.Mutex
	sends map[string]int // command id -> pushes
	err   error
	ref   string // the provider reference answered, when set
	// during, when set, runs inside each send (what happens while it is with the plugin).
	during func()
}

func (s *sender) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sends == nil {
		s.sends = map[string]int{}
	}
	s.sends[req.CommandID]++
	if s.during != nil {
		s.during()
	}
	if s.err != nil {
		return sdk.CommandResult{}, s.err
	}
	if s.ref != "" {
		return sdk.CommandResult{Status: sdk.CommandSent, ProviderRef: s.ref}, nil
	}
	return sdk.CommandResult{Status: sdk.CommandSent, ProviderRef: "ref-" + req.CommandID}, nil
}

func (s *sender) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.sends {
		n += v
	}
	return n
}

type senders struct{ s *sender }

func (ss senders) Sender(string) (commands.Sender, error) { return ss.s, nil }

type env struct {
	t      testing.TB
	url    string
	st     *store.Store
	srv    *httptest.Server
	svc    *commands.Service
	rec    *audit.Recorder
	kr     *credentials.Keyring
	prov   providers
	send   *sender
	owner  user
	pool   int64
	device store.Device
	eq     int64
}

type user struct {
	id    int64
	token string
}

func newEnv(t testing.TB, dbURL string) *env {
	t.Helper()
	ctx := context.Background()
	key, _ := credentials.GenerateKey()
	kr, _ := credentials.NewKeyring(key)
	st, err := store.Open(ctx, dbURL, store.WithCipher(kr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, url: dbURL, st: st, kr: kr, send: &sender{}, prov: providers{"relay": {
		cfg:  config.Provider{ID: "relay", Enabled: true, Stage: config.StageGA, Access: config.AccessReadWrite, Commands: []string{"pump.set"}},
		desc: sdk.Description{ID: "relay", Capabilities: sdk.Capabilities{Write: true, Commands: []string{"pump.set", "light.set"}}},
	}}}
	e.rec = audit.NewRecorder(audit.StoreWriter(st), nil)
	poolSvc := pools.New(st, e.rec)
	e.svc = commands.New(st, poolSvc, e.prov, e.rec, commands.Config{}, commands.NewMetrics(nil))
	userSvc := users.New(st, e.rec)
	h := httpapi.New(httpapi.Deps{Auth: userSvc, Pools: poolSvc, Users: userSvc, Commands: e.svc,
		HTTP: config.HTTP{MaxBodyBytes: 1 << 20}})
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)

	e.owner = e.newUser("owner")
	p, err := st.CreatePool(ctx, "pool", e.owner.id)
	if err != nil {
		t.Fatal(err)
	}
	e.pool = p.ID
	a, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: e.owner.id, Provider: "relay", ExternalAccountID: "app1",
		Credentials: map[string]string{"downlink_api_key": "k"}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: "relay-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.LinkDevice(ctx, ds[0].ID, p.ID, e.owner.id); err != nil {
		t.Fatal(err)
	}
	e.device, _ = st.GetDevice(ctx, ds[0].ID)
	eq, err := st.CreateEquipment(ctx, p.ID, "pump", "main pump", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.eq = eq.ID
	return e
}

func (e *env) newUser(name string) user {
	e.t.Helper()
	u, err := e.st.CreateUser(context.Background(), fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano()), false)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.st.CreateAPIToken(context.Background(), u.ID, "t")
	if err != nil {
		e.t.Fatal(err)
	}
	return user{id: u.ID, token: tok}
}

func (e *env) do(method, path, token string, body any, header map[string]string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) bind() {
	e.t.Helper()
	if code, b := e.do("PUT", fmt.Sprintf("/v1/pools/%d/equipment/%d/device", e.pool, e.eq), e.owner.token,
		map[string]any{"deviceId": e.device.ID, "channel": "1"}, nil); code != 200 {
		e.t.Fatalf("bind: %d %s", code, b)
	}
}

func (e *env) post(token string, body any, header map[string]string, query string) (int, map[string]any) {
	e.t.Helper()
	code, b := e.do("POST", fmt.Sprintf("/v1/pools/%d/equipment/%d/commands%s", e.pool, e.eq, query), token, body, header)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return code, out
}

func (e *env) dispatcher(owner string) *commands.Dispatcher {
	return commands.NewDispatcher(e.st, senders{e.send}, e.rec, nil, nil, commands.DispatcherConfig{
		CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: owner})
}

func (e *env) audits(action string) []store.AuditEvent {
	e.t.Helper()
	es, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

func (e *env) command(id string) store.Command {
	e.t.Helper()
	c, err := e.st.CommandByPublicID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestCommandAuthorization(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		pump := map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}
		// Not bound yet: a conflict that says so.
		if code, body := e.post(e.owner.token, pump, nil, ""); code != 409 || body["type"] != httpapi.ProblemTypeBase+commands.TypeNotBound {
			t.Fatalf("unbound = %d %v", code, body)
		}
		e.bind()

		viewer, stranger := e.newUser("viewer"), e.newUser("stranger")
		if _, err := e.st.SetPoolMember(context.Background(), e.pool, viewer.id, store.RoleViewer); err != nil {
			t.Fatal(err)
		}
		if code, body := e.post(viewer.token, pump, nil, ""); code != 403 {
			t.Fatalf("viewer = %d %v", code, body)
		}
		if code, body := e.post(stranger.token, pump, nil, ""); code != 404 {
			t.Fatalf("stranger = %d %v", code, body)
		}
		// Not in the provider's commands allow-list: refused and audited.
		if code, body := e.post(e.owner.token, map[string]any{"command": "light.set", "params": map[string]any{"on": true}}, nil, ""); code != 403 ||
			body["type"] != httpapi.ProblemTypeBase+commands.TypeNotApproved {
			t.Fatalf("unapproved command = %d %v", code, body)
		}
		// A read-only provider: refused and audited.
		p := e.prov["relay"]
		p.cfg.Access = config.AccessReadOnly
		e.prov["relay"] = p
		if code, body := e.post(e.owner.token, pump, nil, ""); code != 403 || body["type"] != httpapi.ProblemTypeBase+commands.TypeNotApproved {
			t.Fatalf("read-only provider = %d %v", code, body)
		}
		if n := len(e.audits(commands.ActionRefused)); n != 2 {
			t.Fatalf("refusal audit rows = %d, want 2", n)
		}
		// Invalid parameters: 400 before anything else.
		p.cfg.Access = config.AccessReadWrite
		e.prov["relay"] = p
		if code, body := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true, "speed_percent": 140}}, nil, ""); code != 400 {
			t.Fatalf("out of range = %d %v", code, body)
		}
		// A missing or unknown command says which there are.
		for in, want := range map[string]string{"": "command is required: one of ", "pump.explode": `unknown command "pump.explode": one of `} {
			code, body := e.post(e.owner.token, map[string]any{"command": in, "params": map[string]any{}}, nil, "")
			if detail, _ := body["detail"].(string); code != 400 || body["type"] != httpapi.ProblemTypeBase+commands.TypeInvalid ||
				!strings.HasPrefix(detail, want) || !strings.Contains(detail, "pump.set") {
				t.Errorf("command %q = %d %v, want 400 %s… naming pump.set", in, code, body, want)
			}
		}
		if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 0 {
			t.Fatalf("%d sends for refused commands", n)
		}
		cs, _ := e.st.ListCommands(context.Background(), store.CommandFilter{PoolID: e.pool})
		if len(cs) != 0 {
			t.Fatalf("refused commands were stored: %+v", cs)
		}
	})
}

func TestCommandIdempotencyAndDryRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		pump := map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}
		code, preview := e.post(e.owner.token, pump, nil, "?dryRun=true")
		if code != 200 || preview["dryRun"] != true || preview["providerDeviceId"] != "relay-1" {
			t.Fatalf("dry run = %d %v", code, preview)
		}
		key := map[string]string{"Idempotency-Key": "abc"}
		code, first := e.post(e.owner.token, pump, key, "")
		if code != 202 || first["status"] != "queued" {
			t.Fatalf("first = %d %v", code, first)
		}
		code, again := e.post(e.owner.token, pump, key, "")
		if code != 200 || again["id"] != first["id"] {
			t.Fatalf("same key = %d %v", code, again)
		}
		if code, body := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, key, ""); code != 422 {
			t.Fatalf("same key other body = %d %v", code, body)
		}
		if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 1 {
			t.Fatalf("sends = %d, want exactly 1", n)
		}
		c := e.command(first["id"].(string))
		if c.Status != store.CommandSent || c.Channel != "1" {
			t.Fatalf("command = %+v", c)
		}
		// The provider's ack, for the owning account only.
		if n := e.svc.ApplyUpdates(context.Background(), "relay", c.AccountID+1000, []sdk.CommandUpdate{{CommandID: c.PublicID, Status: sdk.CommandFailed, Reason: "x"}}); n != 0 {
			t.Fatal("another account's update applied")
		}
		if n := e.svc.ApplyUpdates(context.Background(), "relay", c.AccountID, []sdk.CommandUpdate{{CommandID: c.PublicID, Status: sdk.CommandSucceeded}}); n != 1 {
			t.Fatal("own update not applied")
		}
		if got := e.command(c.PublicID); got.Status != store.CommandSucceeded {
			t.Fatalf("after ack = %s", got.Status)
		}
		for _, a := range []string{commands.ActionQueued, commands.ActionSending, commands.ActionSent, commands.ActionSucceeded} {
			if len(e.audits(a)) != 1 {
				t.Errorf("audit %s rows = %d, want 1", a, len(e.audits(a)))
			}
		}
	})
}

func TestCommandUnknownNeverResent(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		e.send.err = fmt.Errorf("send command: %w: connection reset", sdk.ErrOutcomeUnknown)
		_, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		for range 3 {
			if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.send.total(); n != 1 {
			t.Fatalf("sends = %d, want 1", n)
		}
		if got := e.command(c["id"].(string)); got.Status != store.CommandUnknown {
			t.Fatalf("status = %s, want unknown", got.Status)
		}
		// A plugin that died or hung with the send (unavailable, but called) may have
		// sent it: unknown too. Only a call refused before it reached the plugin is
		// queued again.
		e.send.err = fmt.Errorf("%w: relay send_command: connection reset", pluginmgr.ErrUnavailable)
		_, cd := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
		for range 3 {
			if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.send.sends[cd["id"].(string)]; n != 1 {
			t.Fatalf("sends of a command its plugin died with = %d, want 1", n)
		}
		if got := e.command(cd["id"].(string)); got.Status != store.CommandUnknown {
			t.Fatalf("status = %s, want unknown", got.Status)
		}
		e.send.err = fmt.Errorf("%w: relay is restarting (%w)", pluginmgr.ErrUnavailable, pluginmgr.ErrNotCalled)
		_, cn := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := e.command(cn["id"].(string)); got.Status != store.CommandQueued {
			t.Fatalf("status after a send refused before the plugin = %s, want queued", got.Status)
		}
		if _, err := e.st.CancelCommand(context.Background(), e.pool, cn["id"].(string)); err != nil {
			t.Fatal(err)
		}
		// A temporary refusal (nothing sent) is tried again; a permanent one fails.
		e.send.err = sdk.Permanent("no such relay")
		_, c2 := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
		if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := e.command(c2["id"].(string)); got.Status != store.CommandFailed {
			t.Fatalf("permanent refusal = %s, want failed", got.Status)
		}
	})
}

// TestCommandTemporaryRefusalSentAgain: a temporary refusal (the provider certainly did
// not accept the command: a 429) puts it back in the queue, as PLUGINS.md's SendCommand
// table says, no sooner than the provider's Retry-After, and the host sends it again
// with the same CommandID, which a plugin may therefore hand the provider as its
// idempotency key. Nothing tested this path: the test above only names it.
func TestCommandTemporaryRefusalSentAgain(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		tick := func(now func() time.Time) {
			t.Helper()
			d := commands.NewDispatcher(e.st, senders{e.send}, e.rec, nil, nil, commands.DispatcherConfig{
				CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1", Now: now})
			if _, err := d.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		// Refused for an hour (the provider's Retry-After): queued, and not sent again at
		// the next tick.
		e.send.err = sdk.RetryAfter(time.Hour, "quota exceeded (HTTP 429)")
		_, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		id := c["id"].(string)
		tick(time.Now)
		got := e.command(id)
		if got.Status != store.CommandQueued || got.NotBefore.Before(time.Now().Add(59*time.Minute)) {
			t.Fatalf("after a refusal with Retry-After 1h: status %s, not before %s; want queued for an hour", got.Status, got.NotBefore)
		}
		e.send.err = nil
		tick(time.Now)
		if n := e.send.sends[id]; n != 1 {
			t.Fatalf("sends within the provider's Retry-After = %d, want 1", n)
		}
		if _, err := e.st.CancelCommand(context.Background(), e.pool, id); err != nil {
			t.Fatal(err)
		}
		// Refused for now without a Retry-After: tried again after the host's backoff
		// (here already passed: the dispatcher's clock is an hour behind the
		// database's), with the same command id, and sent.
		e.send.err = sdk.Temporary("provider busy (HTTP 503 before accepting)")
		_, c2 := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
		id2 := c2["id"].(string)
		past := func() time.Time { return time.Now().Add(-time.Hour) }
		tick(past)
		if got := e.command(id2); got.Status != store.CommandQueued {
			t.Fatalf("after a temporary refusal: %s, want queued", got.Status)
		}
		e.send.err = nil
		tick(past)
		if got := e.command(id2); got.Status != store.CommandSent || e.send.sends[id2] != 2 {
			t.Fatalf("after the backoff: status %s, sends of %s = %d (%v); want sent on the second send of the same id",
				got.Status, id2, e.send.sends[id2], e.send.sends)
		}
	})
}

// TestCommandRefusedForAReplacedConnection: the provider refuses a send's credentials
// (reauth) because the owner reconnected the account while the send was with the
// plugin. The refusal is of the replaced credentials: the account stays active and the
// command, refused and so not carried out, goes again with the new connection's, where
// it would otherwise have failed. A refusal of the account's current credentials still
// fails the command and marks the account.
func TestCommandRefusedForAReplacedConnection(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		ctx := context.Background()
		e.send.err = sdk.Reauth("token revoked")
		e.send.during = func() {
			// The owner reconnects the same provider account: a new connection generation.
			if _, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: e.owner.id, Provider: "relay", ExternalAccountID: "app1",
				Credentials: map[string]string{"downlink_api_key": "k2"}}); err != nil {
				t.Error(err)
			}
		}
		_, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		// Its clock an hour back, so the retry it sets is due at once by the store's.
		earlier := commands.NewDispatcher(e.st, senders{e.send}, e.rec, nil, nil, commands.DispatcherConfig{
			CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1",
			Now: func() time.Time { return time.Now().Add(-time.Hour) }})
		if _, err := earlier.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		got := e.command(c["id"].(string))
		if got.Status != store.CommandQueued {
			t.Fatalf("refused for a replaced connection: %s (%s), want queued again", got.Status, got.Reason)
		}
		if a, err := e.st.GetAccount(ctx, e.device.AccountID); err != nil || a.Status != store.AccountActive {
			t.Fatalf("account after the refusal: %v %v, want active", a.Status, err)
		}
		// Its retry goes with the new connection's credentials, and is sent.
		e.send.err, e.send.during = nil, nil
		if _, err := e.dispatcher("d1").Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.command(c["id"].(string)); got.Status != store.CommandSent {
			t.Fatalf("the retry: %s (%s), want sent", got.Status, got.Reason)
		}

		// The current credentials refused: failed, and the account needs reconnecting.
		e.send.err = sdk.Reauth("token revoked")
		_, c2 := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
		if _, err := e.dispatcher("d1").Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.command(c2["id"].(string)); got.Status != store.CommandFailed {
			t.Fatalf("refused for the current connection: %s, want failed", got.Status)
		}
		if a, err := e.st.GetAccount(ctx, e.device.AccountID); err != nil || a.Status != store.AccountReauthRequired {
			t.Fatalf("account: %v %v, want reauth_required", a.Status, err)
		}
	})
}

func TestCommandExpiredAndCanceledNeverSent(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		_, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		if code, b := e.do("POST", fmt.Sprintf("/v1/pools/%d/commands/%s/cancel", e.pool, c["id"]), e.owner.token, nil, nil); code != 200 {
			t.Fatalf("cancel = %d %s", code, b)
		}
		_, c2 := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}, "expiresInSeconds": 1}, nil, "")
		d := commands.NewDispatcher(e.st, senders{e.send}, e.rec, nil, nil, commands.DispatcherConfig{
			CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1",
			Now: func() time.Time { return time.Now().Add(time.Hour) }})
		// The store's clock decides expiry: move past it.
		time.Sleep(1100 * time.Millisecond)
		if _, err := d.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 0 {
			t.Fatalf("sends = %d, want 0", n)
		}
		if got := e.command(c2["id"].(string)); got.Status != store.CommandExpired {
			t.Fatalf("status = %s, want expired", got.Status)
		}
		if code, b := e.do("POST", fmt.Sprintf("/v1/pools/%d/commands/%s/cancel", e.pool, c2["id"]), e.owner.token, nil, nil); code != 409 ||
			!strings.Contains(string(b), "the command is expired: only a queued command can be canceled") {
			t.Fatalf("cancel expired = %d %s, want 409 saying it is expired", code, b)
		}
		code, b := e.do("GET", fmt.Sprintf("/v1/pools/%d/commands?status=expired,canceled", e.pool), e.owner.token, nil, nil)
		var list struct{ Commands []commands.Command }
		_ = json.Unmarshal(b, &list)
		if code != 200 || len(list.Commands) != 2 {
			t.Fatalf("list = %d %s", code, b)
		}
	})
}

// TestCommandToRemovedMembersDevice: a member links their own device to the pool and
// the pool's equipment is bound to it. Once the member is removed, the pool no longer
// reaches their device: a new command is refused (409) and one queued before the
// removal is failed by the dispatcher instead of sent with the member's credentials.
func TestCommandToRemovedMembersDevice(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		ctx := context.Background()
		carol := e.newUser("carol")
		if _, err := e.st.SetPoolMember(ctx, e.pool, carol.id, store.RoleEditor); err != nil {
			t.Fatal(err)
		}
		a, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: carol.id, Provider: "relay", ExternalAccountID: "carol-app",
			Credentials: map[string]string{"downlink_api_key": "carols"}})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := e.st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: "carol-relay"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.LinkDevice(ctx, ds[0].ID, e.pool, carol.id); err != nil {
			t.Fatal(err)
		}
		if code, b := e.do("PUT", fmt.Sprintf("/v1/pools/%d/equipment/%d/device", e.pool, e.eq), e.owner.token,
			map[string]any{"deviceId": ds[0].ID}, nil); code != 200 {
			t.Fatalf("bind to carol's device: %d %s", code, b)
		}
		pump := map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}
		code, sent := e.post(e.owner.token, pump, nil, "")
		if code != 202 {
			t.Fatalf("command while carol is a member = %d %v", code, sent)
		}
		if _, err := e.dispatcher("d1").Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 1 {
			t.Fatalf("%d sends while carol is a member, want 1", n)
		}
		code, queued := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
		if code != 202 {
			t.Fatalf("second command while carol is a member = %d %v", code, queued)
		}
		if _, err := e.st.RemovePoolMember(ctx, e.pool, carol.id); err != nil {
			t.Fatal(err)
		}
		if code, body := e.post(e.owner.token, pump, nil, ""); code != 409 || body["type"] != httpapi.ProblemTypeBase+commands.TypeNotBound {
			t.Fatalf("command to a removed member's device = %d %v", code, body)
		}
		if _, err := e.dispatcher("d1").Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 1 {
			t.Fatalf("%d sends to a removed member's device", n-1)
		}
		if c := e.command(queued["id"].(string)); c.Status != store.CommandFailed {
			t.Fatalf("queued command is %s (%s), want failed", c.Status, c.Reason)
		}
		// Her account (she signs its deliveries) no longer writes into the pool's
		// commands either.
		if n := e.svc.ApplyUpdates(ctx, "relay", a.ID, []sdk.CommandUpdate{{CommandID: sent["id"].(string),
			Status: sdk.CommandFailed, Reason: "carol says so"}}); n != 0 {
			t.Fatalf("a removed member's update applied to %d commands", n)
		}
		if c := e.command(sent["id"].(string)); c.Status != store.CommandSent || c.Reason != "" {
			t.Fatalf("sent command is %s (%q) after a removed member's update", c.Status, c.Reason)
		}
	})
}

// TestCommandByRemovedRequester: a command is sent only while whoever asked for it may
// still command the pool. A member's queued command is not sent after they are removed,
// lowered to viewer or disabled: it fails unsent, saying why, audited like any failure.
// The pool's own commands to the same device go on.
func TestCommandByRemovedRequester(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		for _, how := range []string{"removed", "viewer", "disabled"} {
			t.Run(how, func(t *testing.T) {
				e := newEnv(t, dbURL)
				e.bind()
				carol := e.newUser("carol-" + how)
				if _, err := e.st.SetPoolMember(ctx, e.pool, carol.id, store.RoleEditor); err != nil {
					t.Fatal(err)
				}
				code, queued := e.post(carol.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
				if code != 202 {
					t.Fatalf("carol's command while an editor = %d %v", code, queued)
				}
				var err error
				switch how {
				case "removed":
					_, err = e.st.RemovePoolMember(ctx, e.pool, carol.id)
				case "viewer":
					_, err = e.st.SetPoolMember(ctx, e.pool, carol.id, store.RoleViewer)
				case "disabled":
					_, err = e.st.DisableUser(ctx, carol.id)
				}
				if err != nil {
					t.Fatal(err)
				}
				code, own := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
				if code != 202 {
					t.Fatalf("the owner's command = %d %v", code, own)
				}
				for i := 0; i < 2; i++ { // one send per device per claim
					if _, err := e.dispatcher("d1").Tick(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if c := e.command(queued["id"].(string)); c.Status != store.CommandFailed || !strings.Contains(c.Reason, "no longer") {
					t.Errorf("carol's command after she was %s: %s (%q), want failed unsent", how, c.Status, c.Reason)
				}
				if n := e.send.sends[queued["id"].(string)]; n != 0 {
					t.Errorf("carol's command was sent %d times after she was %s", n, how)
				}
				if c := e.command(own["id"].(string)); c.Status != store.CommandSent {
					t.Errorf("the owner's command: %s (%q), want sent", c.Status, c.Reason)
				}
			})
		}
	})
}

// TestEquipmentBusyWhileCommandsQueued: a queued command goes to the device (and
// channel) its equipment was bound to when it was queued. While one waits, the
// equipment's binding does not change and it is not deleted (409 equipment-busy):
// otherwise "pump on" would reach whatever that relay drives after the change. Once
// the command is canceled (or done), the change goes through; re-binding the same device
// and channel is no change and is always accepted.
func TestEquipmentBusyWhileCommandsQueued(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		ctx := context.Background()
		e.bind()
		ds, err := e.st.UpsertDevices(ctx, e.device.AccountID, []store.NewDevice{{ProviderDeviceID: "relay-2"}})
		if err != nil {
			t.Fatal(err)
		}
		other := ds[len(ds)-1].ID
		if _, err := e.st.LinkDevice(ctx, other, e.pool, e.owner.id); err != nil {
			t.Fatal(err)
		}
		code, queued := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		if code != 202 {
			t.Fatalf("command = %d %v", code, queued)
		}
		eqPath := fmt.Sprintf("/v1/pools/%d/equipment/%d", e.pool, e.eq)
		for _, tc := range []struct {
			what, method, path string
			body               any
		}{
			{"rebind to another device", "PUT", eqPath + "/device", map[string]any{"deviceId": other, "channel": "1"}},
			{"move to another channel", "PUT", eqPath + "/device", map[string]any{"deviceId": e.device.ID, "channel": "2"}},
			{"unbind", "DELETE", eqPath + "/device", nil},
			{"delete the equipment", "DELETE", eqPath, nil},
		} {
			code, b := e.do(tc.method, tc.path, e.owner.token, tc.body, nil)
			var p httpapi.Problem
			_ = json.Unmarshal(b, &p)
			if code != 409 || p.Type != httpapi.ProblemTypeBase+"equipment-busy" || !strings.Contains(p.Detail, "cancel") {
				t.Errorf("%s with a command queued: %d %s", tc.what, code, b)
			}
		}
		if code, b := e.do("PUT", eqPath+"/device", e.owner.token, map[string]any{"deviceId": e.device.ID, "channel": "1"}, nil); code != 200 {
			t.Errorf("the same binding again: %d %s", code, b)
		}
		if b, err := e.st.GetEquipmentBinding(ctx, e.pool, e.eq); err != nil || b.DeviceID != e.device.ID || b.Channel != "1" {
			t.Fatalf("binding after the refusals: %+v %v", b, err)
		}
		// A rebinding that slipped in between Submit's read of the binding and the
		// command's insert (done here behind the service's back): the dispatcher sees
		// it and sends nothing to the old relay.
		code, raced := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
		if code != 202 {
			t.Fatalf("second command = %d %v", code, raced)
		}
		if code, b := e.do("POST", fmt.Sprintf("/v1/pools/%d/commands/%s/cancel", e.pool, queued["id"]), e.owner.token, nil, nil); code != 200 {
			t.Fatalf("cancel: %d %s", code, b)
		}
		if _, err := e.st.DB().Exec(e.st.DB().Rebind(`UPDATE equipment SET channel = '2' WHERE id = ?`), e.eq); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dispatcher("d1").Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if c := e.command(raced["id"].(string)); c.Status != store.CommandFailed || !strings.Contains(c.Reason, "rebound") || e.send.total() != 0 {
			t.Fatalf("a command whose equipment was rebound under it: %s (%q), %d sends", c.Status, c.Reason, e.send.total())
		}
		if code, b := e.do("PUT", eqPath+"/device", e.owner.token, map[string]any{"deviceId": other, "channel": "1"}, nil); code != 200 {
			t.Errorf("rebind once idle: %d %s", code, b)
		}
		if code, b := e.do("DELETE", eqPath, e.owner.token, nil, nil); code != 204 {
			t.Errorf("delete once idle: %d %s", code, b)
		}
	})
}

// TestChannelIsText: a binding's channel is a name like any other (host.CheckText): it
// is sent to the plugin, stored, and shown to every member and in the console. A NUL
// (which PostgreSQL refuses, so it was a 500 there), a line break or a bidi override is
// a 400 saying so, and the binding is left as it was.
func TestChannelIsText(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		path := fmt.Sprintf("/v1/pools/%d/equipment/%d/device", e.pool, e.eq)
		for _, ch := range []string{`1\u0000`, `a\nb`, `\u202e1`, `\u0007`} { // JSON escapes
			code, b := e.do("PUT", path, e.owner.token, json.RawMessage(fmt.Sprintf(`{"deviceId": %d, "channel": "%s"}`, e.device.ID, ch)), nil)
			var p httpapi.Problem
			_ = json.Unmarshal(b, &p)
			if code != 400 || !strings.Contains(p.Detail, "channel must not contain control characters") {
				t.Errorf("channel %s: %d %s", ch, code, b)
			}
		}
		if b, err := e.st.GetEquipmentBinding(context.Background(), e.pool, e.eq); err != nil || b.Channel != "1" {
			t.Errorf("binding after the refusals: %+v %v", b, err)
		}
	})
}

// configuredSender is a sender that tells its provider's block as configured now, as
// *pluginmgr.Plugin does.
type configuredSender struct {
	*sender
	cfg *config.Provider
}

func (c configuredSender) Config() config.Provider { return *c.cfg }

type configuredSenders struct{ s configuredSender }

func (ss configuredSenders) Sender(string) (commands.Sender, error) { return ss.s, nil }

// TestCommandApprovalWithdrawn: an operator who withdraws a command's approval (access
// back to read-only, the command off the list, the provider disabled) stops the
// commands already queued too: each fails unsent, saying so, and is audited. Before,
// only Submit asked, and a command queued for up to 24 hours went out after the
// operator had said no.
func TestCommandApprovalWithdrawn(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		for _, how := range []string{"read-only", "unlisted", "disabled", "pilot"} {
			t.Run(how, func(t *testing.T) {
				e := newEnv(t, dbURL)
				e.bind()
				cfg := e.prov["relay"].cfg
				code, queued := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
				if code != 202 {
					t.Fatalf("command = %d %v", code, queued)
				}
				switch how {
				case "read-only":
					cfg.Access = config.AccessReadOnly
				case "unlisted":
					cfg.Commands = []string{"light.set"}
				case "disabled":
					cfg.Enabled = false
				case "pilot":
					cfg.Stage, cfg.PilotUsers = config.StagePilot, []string{"someone-else@example.com"}
				}
				d := commands.NewDispatcher(e.st, configuredSenders{configuredSender{e.send, &cfg}}, e.rec, nil, nil,
					commands.DispatcherConfig{CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1"})
				if _, err := d.Tick(ctx); err != nil {
					t.Fatal(err)
				}
				if n := e.send.total(); n != 0 {
					t.Errorf("%d sends after the approval was withdrawn (%s)", n, how)
				}
				c := e.command(queued["id"].(string))
				if c.Status != store.CommandFailed || !strings.Contains(c.Reason, "no longer approved") {
					t.Errorf("command after the approval was withdrawn (%s): %s (%q), want failed", how, c.Status, c.Reason)
				}
				audited := false
				for _, a := range e.audits(commands.ActionFailed) {
					audited = audited || a.TargetID == c.PublicID
				}
				if !audited {
					t.Errorf("the failure is not audited")
				}
			})
		}
		// Approved still (in pilot, with the requester on its list): sent as before.
		e := newEnv(t, dbURL)
		e.bind()
		cfg := e.prov["relay"].cfg
		cfg.Stage, cfg.PilotUsers = config.StagePilot, []string{strconv.FormatInt(e.owner.id, 10)}
		if code, _ := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, ""); code != 202 {
			t.Fatal(code)
		}
		d := commands.NewDispatcher(e.st, configuredSenders{configuredSender{e.send, &cfg}}, e.rec, nil, nil,
			commands.DispatcherConfig{CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1"})
		if _, err := d.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 1 {
			t.Errorf("%d sends of an approved command, want 1", n)
		}
	})
}

// TestCommandReasonCapped: a plugin's error becomes the command's reason, which every
// member reads in the pool's command list: capped, however long the plugin's words.
func TestCommandReasonCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		code, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		if code != 202 {
			t.Fatalf("command = %d %v", code, c)
		}
		e.send.err = sdk.Permanent("%s", strings.Repeat("é", 1<<20))
		if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := e.command(c["id"].(string))
		if got.Status != store.CommandFailed || len(got.Reason) > commands.MaxReasonBytes || !utf8.ValidString(got.Reason) || !strings.Contains(got.Reason, "é") {
			t.Fatalf("command %s with a %d-byte reason (valid UTF-8: %v)", got.Status, len(got.Reason), utf8.ValidString(got.Reason))
		}
	})
}

// TestCommandProviderRefCapped: a provider reference longer than any provider's id is
// not stored (members read it in the command list); the send stands.
func TestCommandProviderRefCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		code, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		if code != 202 {
			t.Fatalf("command = %d %v", code, c)
		}
		e.send.ref = strings.Repeat("r", 1<<20)
		if _, err := e.dispatcher("d1").Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := e.command(c["id"].(string)); got.Status != store.CommandSent || len(got.ProviderRef) > commands.MaxProviderRefBytes {
			t.Fatalf("command %s with a %d-byte provider reference", got.Status, len(got.ProviderRef))
		}
	})
}

// TestCommandExpiryOutOfRange: expiresInSeconds outside 1..86400 is 400, however far
// outside. Multiplied into a time.Duration before the range check, 9223372037 seconds
// overflowed to a negative duration and was queued (202) already expired, and
// 18446744074 wrapped round to under a second.
func TestCommandExpiryOutOfRange(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		for _, secs := range []int64{-1, 86401, 9223372037, 18446744074, 1<<63 - 1} {
			code, out := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true},
				"expiresInSeconds": secs}, nil, "")
			if code != 400 || out["type"] != httpapi.ProblemTypeBase+commands.TypeInvalid {
				t.Errorf("expiresInSeconds %d: %d %v, want 400 %s", secs, code, out, commands.TypeInvalid)
			}
		}
		if cs, err := e.st.ListCommands(context.Background(), store.CommandFilter{PoolID: e.pool}); err != nil || len(cs) != 0 {
			t.Errorf("commands stored: %d %v, want none", len(cs), err)
		}
		if code, out := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true},
			"expiresInSeconds": 86400}, nil, ""); code != 202 {
			t.Errorf("expiresInSeconds 86400: %d %v, want 202", code, out)
		}
	})
}

// TestIdempotencyKeyIsText: an Idempotency-Key that is not plain text (invalid UTF-8,
// which a header may carry as obs-text bytes) is 400 on both databases and stores
// nothing. SQLite stored it and queued the command (202) where PostgreSQL refused it.
func TestIdempotencyKeyIsText(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		code, out := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}},
			map[string]string{"Idempotency-Key": "k\xff\xfe"}, "")
		if code != 400 {
			t.Errorf("Idempotency-Key of invalid UTF-8: %d %v, want 400", code, out)
		}
		if cs, err := e.st.ListCommands(context.Background(), store.CommandFilter{PoolID: e.pool}); err != nil || len(cs) != 0 {
			t.Errorf("commands stored: %d %v, want none", len(cs), err)
		}
	})
}

// TestCommandQueueFull: a device whose queue holds store.MaxQueuedCommandsPerDevice
// commands refuses another over the API with a 409 problem saying why (nothing is
// queued, on both databases); a command dispatched or canceled makes room.
func TestCommandQueueFull(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		body := map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}
		var first string
		for i := range store.MaxQueuedCommandsPerDevice {
			code, out := e.post(e.owner.token, body, nil, "")
			if code != 202 {
				t.Fatalf("command %d: %d %v", i+1, code, out)
			}
			if i == 0 {
				first, _ = out["id"].(string)
			}
		}
		code, out := e.post(e.owner.token, body, nil, "")
		if code != 409 || out["type"] != httpapi.ProblemTypeBase+"command-queue-full" ||
			!strings.Contains(fmt.Sprint(out["detail"]), fmt.Sprintf("%d commands waiting to be sent", store.MaxQueuedCommandsPerDevice)) {
			t.Fatalf("command %d: %d %v, want 409 command-queue-full", store.MaxQueuedCommandsPerDevice+1, code, out)
		}
		if cs, _ := e.st.ListCommands(context.Background(), store.CommandFilter{PoolID: e.pool}); len(cs) != store.MaxQueuedCommandsPerDevice {
			t.Fatalf("%d commands stored, want %d", len(cs), store.MaxQueuedCommandsPerDevice)
		}
		if _, err := e.st.CancelCommand(context.Background(), e.pool, first); err != nil {
			t.Fatalf("cancel %q: %v", first, err)
		}
		if code, out := e.post(e.owner.token, body, nil, ""); code != 202 {
			t.Fatalf("after a cancel: %d %v", code, out)
		}
	})
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("at most %d commands waiting to be sent (`store.MaxQueuedCommandsPerDevice`", store.MaxQueuedCommandsPerDevice); !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), want) {
		t.Errorf("README.md does not say %q", want)
	}
}

// TestCommandProviderDisabled: a command to a device whose provider the operator
// disabled, or removed from the config, is a 409 provider-disabled saying so (the same
// problem as the account's discovery), audited as refused; nothing is queued or sent.
func TestCommandProviderDisabled(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		for _, how := range []string{"disabled", "removed"} {
			t.Run(how, func(t *testing.T) {
				e := newEnv(t, dbURL)
				e.bind()
				p := e.prov["relay"]
				if how == "disabled" {
					p.cfg.Enabled = false
					e.prov["relay"] = p
				} else {
					delete(e.prov, "relay")
				}
				pump := map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}
				before := len(e.audits(commands.ActionRefused)) // the subtests share a database
				code, body := e.post(e.owner.token, pump, nil, "")
				if code != 409 || body["type"] != httpapi.ProblemTypeBase+commands.TypeProviderDisabled ||
					!strings.Contains(fmt.Sprint(body["detail"]), "provider relay is disabled") {
					t.Fatalf("command to a %s provider = %d %v, want 409 provider-disabled saying so", how, code, body)
				}
				if n := len(e.audits(commands.ActionRefused)) - before; n != 1 {
					t.Errorf("refusal audit rows = %d, want 1", n)
				}
				if n := e.send.total(); n != 0 {
					t.Errorf("%d sends", n)
				}
			})
		}
	})
}

// reloadedSender is a sender whose block is read-write when the dispatcher looks, and
// has been reloaded to what later holds by the time the send's call is made (the
// plugin restart a reload to read-only makes, which a send waits for): it asks the
// approval at the call, as *pluginmgr.Plugin does.
type reloadedSender struct {
	configuredSender
	later *config.Provider
}

func (r reloadedSender) SendCommandIf(ctx context.Context, req sdk.CommandRequest, approve func(config.Provider) error) (sdk.CommandResult, error) {
	if err := approve(*r.later); err != nil {
		return sdk.CommandResult{}, fmt.Errorf("not called: %w", err)
	}
	return r.SendCommand(ctx, req)
}

type reloadedSenders struct{ s reloadedSender }

func (ss reloadedSenders) Sender(string) (commands.Sender, error) { return ss.s, nil }

// TestCommandApprovalWithdrawnDuringTheSend: an approval withdrawn between the
// dispatcher's look at the provider's block and the send's call (a reload to
// read-only restarts the plugin, and the send waits for the new process) stops the
// send there: failed, no longer approved, nothing sent. The dispatcher asked only
// before, and the command went out to a provider its operator had just made read-only.
func TestCommandApprovalWithdrawnDuringTheSend(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		for _, how := range []string{"read-only", "unlisted", "pilot"} {
			t.Run(how, func(t *testing.T) {
				e := newEnv(t, dbURL)
				e.bind()
				now := e.prov["relay"].cfg
				later := now
				switch how {
				case "read-only":
					later.Access = config.AccessReadOnly
				case "unlisted":
					later.Commands = []string{"light.set"}
				case "pilot":
					later.Stage, later.PilotUsers = config.StagePilot, []string{"someone-else@example.com"}
				}
				code, queued := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
				if code != 202 {
					t.Fatalf("command = %d %v", code, queued)
				}
				d := commands.NewDispatcher(e.st, reloadedSenders{reloadedSender{configuredSender{e.send, &now}, &later}}, e.rec, nil, nil,
					commands.DispatcherConfig{CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1"})
				if _, err := d.Tick(ctx); err != nil {
					t.Fatal(err)
				}
				if n := e.send.total(); n != 0 {
					t.Errorf("%d sends after the approval was withdrawn during the send (%s)", n, how)
				}
				c := e.command(queued["id"].(string))
				if c.Status != store.CommandFailed || !strings.Contains(c.Reason, "no longer approved") {
					t.Errorf("command after the approval was withdrawn during the send (%s): %s (%q), want failed", how, c.Status, c.Reason)
				}
			})
		}
		// Approved at the call still: sent once.
		e := newEnv(t, dbURL)
		e.bind()
		cfg := e.prov["relay"].cfg
		if code, _ := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, ""); code != 202 {
			t.Fatal(code)
		}
		d := commands.NewDispatcher(e.st, reloadedSenders{reloadedSender{configuredSender{e.send, &cfg}, &cfg}}, e.rec, nil, nil,
			commands.DispatcherConfig{CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1"})
		if _, err := d.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 1 {
			t.Errorf("%d sends of a command approved at the call, want 1", n)
		}
	})
}

// managerLike finds no sender for a disabled or removed provider, in
// pluginmgr.Manager.Get's words.
type managerLike struct{ s *sender }

func (m managerLike) Sender(id string) (commands.Sender, error) {
	if m.s == nil {
		return nil, fmt.Errorf("%w: %s", pluginmgr.ErrNotFound, id)
	}
	return m.s, nil
}

// TestCommandForADisabledProviderFails: the plugin manager offers no provider its
// operator disabled (or removed from the config). A queued command of it fails, no
// longer approved, as TestCommandApprovalWithdrawn's disabled block does; it was queued
// again, every few seconds until its expiry, and went out if the operator enabled the
// provider again within it.
func TestCommandForADisabledProviderFails(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.bind()
		code, queued := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		if code != 202 {
			t.Fatalf("command = %d %v", code, queued)
		}
		cfg := commands.DispatcherConfig{CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1",
			Now: func() time.Time { return time.Now().Add(-time.Hour) }} // any retry is due at once
		if _, err := commands.NewDispatcher(e.st, managerLike{}, e.rec, nil, nil, cfg).Tick(ctx); err != nil {
			t.Fatal(err)
		}
		// Enabled again: nothing of the time it was disabled goes out.
		if _, err := commands.NewDispatcher(e.st, managerLike{e.send}, e.rec, nil, nil, cfg).Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.send.total(); n != 0 {
			t.Errorf("%d sends of a command queued while its provider was disabled, want none", n)
		}
		c := e.command(queued["id"].(string))
		if c.Status != store.CommandFailed || !strings.Contains(c.Reason, "no longer approved: provider relay is disabled") {
			t.Errorf("command of a disabled provider: %s (%q), want failed, no longer approved", c.Status, c.Reason)
		}
	})
}
